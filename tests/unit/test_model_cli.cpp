// --model, --dims, --buckets and --m on run, audit and bench, as a user runs them against the
// fake worker (KSEARCH_WORKER): the combinations refused (one line, exit code 2, nothing run or
// created), and the shapes and constants that reach the search, the audit and the bench.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "db/archive.h"
#include "db/recorded_constants.h"
#include "unit/run_ksearch.h"
#include "unit/temp_dir.h"

namespace ks {
namespace {

using cli_test::ksearch_env;
using cli_test::Outcome;
using cli_test::kFake;
using cli_test::lines;

const std::string kSource = KSEARCH_SOURCE_DIR;
const std::string kTinySeed = kSource + "/tests/fixtures/llm/tiny_seed.cu";

const Task& rms() { return *find_task("rmsnorm_linear"); }

// The shapes a run was given, as the archive keeps them.
std::vector<std::string> run_shapes(const std::string& db, int64_t run) {
  Archive a(db, Archive::Mode::read);
  return nlohmann::json::parse(a.run(run)->options).at("shapes").get<std::vector<std::string>>();
}

// The JSON document a command printed on stdout after its stderr lines.
nlohmann::json printed_json(const std::string& out) { return nlohmann::json::parse(out.substr(out.find("{\n"))); }

TEST(ModelCli, RefusedCombinationsAreOneLineAndRunNothing) {
  test::TempDir t;
  const std::string db = t.file("a.db"), log = t.file("requests.log");
  const std::string no_gemm = t.file("no_gemm.json"), bad = t.file("bad.json");
  std::ofstream(no_gemm) << R"({"model": "Tiny", "tasks": {"rmsnorm_linear": {"buckets": {"M": "1-8"}, "sizes": [{"K": 64, "N": 64}]}}})";
  std::ofstream(bad) << R"({"model": "Bad", "tasks": {"rmsnorm_linear": {"buckets": {"M": "1-8"}, "sizes": [{"K": 64}]}}})";
  const std::string run = "run --task rmsnorm_linear --db " + db + " ";
  const struct {
    std::string args, says;
  } cases[] = {
      {run + "--shape 16,4096,6144 --model llama-3-8b", "--shape gives whole shapes and --model, --dims, --buckets, --m give them by parts"},
      {run + "--shape 16,4096,6144 --dims K=4096,N=6144 --m 1-8", "--shape gives whole shapes"},
      {run + "--model llama-3-8b --dims K=4096,N=6144", "--model and --dims both give the fixed sizes: give one of them"},
      {run + "--m 1-4096", "--m 1-4096: a bucket range needs fixed sizes to cross: give --dims NAME=VALUE,... or --model FILE"},
      {run + "--buckets M=1-8", "--buckets M=1-8: a bucket range needs fixed sizes"},
      {run + "--dims K=4096,N=6144", "--dims K=4096,N=6144: K=4096,N=6144 leaves rmsnorm_linear's M without a value"},
      {run + "--dims K=4096 --m 1-8", "leaves rmsnorm_linear's N without a value"},
      {run + "--dims K=4096,N=6144,H=8 --m 1-8", "--dims K=4096,N=6144,H=8: rmsnorm_linear has no size H (its sizes: M,K,N)"},
      {run + "--dims K=4096,N=x --m 1-8", "--dims 'K=4096,N=x': N=x is not a size"},
      {run + "--dims K=4096,N=6144 --m 0-8", "--m '0-8' is not a range LO-HI"},
      {run + "--dims K=4096,N=6144 --m 64-8", "the range starts above its end"},
      {run + "--dims K=4096,N=6144 --m 1-8 --buckets M=1-64", "M is given two ranges: --m 1-8 and --buckets M=1-64"},
      {run + "--dims N=6144 --m 1-8 --buckets K=8-64", "--buckets K=8-64: K is not a bucket size of rmsnorm_linear (its bucket sizes: M"},
      {run + "--dims K=4095,N=6144 --m 1-8", "rmsnorm_linear: K=4095,N=6144: the task takes none of its 4 shape(s); the first: "
                                             "rmsnorm_linear: shape M=1,K=4095,N=6144 breaks the constraint K % 8 == 0"},
      {run + "--model no-such-model", "--model no-such-model: no such file, and no models/no-such-model.json (the models shipped: "},
      {run + "--model " + bad, bad + ": tasks.rmsnorm_linear.sizes[0]: K=64 leaves rmsnorm_linear's N without a value"},
      {"run --task gemm --db " + db + " --model " + no_gemm, no_gemm + " gives no sizes for gemm (its tasks: rmsnorm_linear)"},
      {"run --task softmax_matmul --db " + db + " --dims B=32,D=128 --m 1-8", "leaves softmax_matmul's N without a value"},
      {"bench --seeds-only --dims K=4096,N=6144 --m 1-8", "--dims gives one task's sizes: name the task (--task)"},
      {"bench --seeds-only --model llama-3-8b --buckets Q=1-8", "--buckets Q=1-8: none of the tasks has a bucket size Q (rmsnorm_linear: M; "},
      {"bench --seeds-only --task gemm --model " + no_gemm, "gives no sizes for gemm"},
      {"audit --task gemm --db " + db + " --model " + no_gemm, "gives no sizes for gemm"},
      {"audit --task rmsnorm_linear --db " + db + " --m 1-8", "a bucket range needs fixed sizes"},
      {"audit --task rmsnorm_linear --db " + db + " --model llama-3-8b --const eps=0", "--const eps=0: eps must be positive"},
  };
  for (auto& c : cases) {
    const Outcome r = ksearch_env(kFake + " KSEARCH_FAKE_REQUESTS=" + log, c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out;
    EXPECT_EQ(lines(r.out), 1) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.says), std::string::npos) << c.args << "\n" << r.out;
  }
  EXPECT_FALSE(std::filesystem::exists(db)) << "a refused command created the archive";
  EXPECT_FALSE(std::filesystem::exists(log)) << "a refused command asked the worker for something";
}

TEST(ModelCli, EveryCommandDocumentsTheOptions) {
  for (const std::string cmd : {"run", "audit", "bench"}) {
    const Outcome r = ksearch_env("", cmd + " --help");
    EXPECT_EQ(r.code, 0) << cmd;
    for (const std::string opt : {"--model", "--dims", "--buckets", "--m "})
      EXPECT_NE(r.out.find(opt), std::string::npos) << cmd << " --help lacks " << opt << "\n" << r.out;
  }
}

TEST(ModelCli, RunSearchesTheDimsAtTheBucketPoints) {
  test::TempDir t;
  const std::string db = t.file("a.db");
  const Outcome r = ksearch_env(kFake, "run --task rmsnorm_linear --seeds " + kTinySeed +
                                           " --dims K=4096,N=6144 --m 3-16 --max-evals 2 --seed 1 --db " + db);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("rmsnorm_linear: 4 shape(s) from --dims, --m 3-16: K=4096,N=6144 at M=3,4,8,16"), std::string::npos)
      << r.out;
  EXPECT_EQ(run_shapes(db, 1), (std::vector<std::string>{"M=3,K=4096,N=6144", "M=4,K=4096,N=6144", "M=8,K=4096,N=6144",
                                                         "M=16,K=4096,N=6144"}));
  // A run continued by its id searches the shapes it recorded.
  const Outcome again = ksearch_env(kFake, "run --run 1 --max-evals 3 --db " + db);
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_NE(again.out.find(" 4 shapes;"), std::string::npos) << again.out;
  EXPECT_EQ(run_shapes(db, 1).size(), 4u);
}

// --resume is `--run ID` with the latest run's id: that run's shapes (from --dims and --m),
// constants and seeds, not the task's defaults, and what it recorded stays.
TEST(ModelCli, ResumeSearchesTheLatestRunsShapesAndConstants) {
  test::TempDir t;
  const std::string db = t.file("a.db"), log = t.file("requests.log");
  const std::string run = "run --task rmsnorm_linear --db " + db;
  ASSERT_EQ(ksearch_env(kFake, run + " --seeds " + kTinySeed + " --shape 16,4096,6144 --max-evals 1 --seed 1").code, 0);
  Outcome r = ksearch_env(kFake, run + " --seeds " + kTinySeed + " --dims K=64,N=96 --m 1-2 --const eps=1e-5 --max-evals 2 --seed 2");
  ASSERT_EQ(r.code, 0) << r.out;
  // What the run recorded, but its budget (a --max-evals given when resuming replaces it).
  const auto recorded = [&] {
    nlohmann::json j = nlohmann::json::parse(Archive(db, Archive::Mode::read).run(2)->options);
    j.erase("max_evals");
    return j;
  };
  const nlohmann::json options_before = recorded();

  // A --const other than the run's is refused, as `--run 2` refuses it: one line, nothing run.
  r = ksearch_env(kFake + " KSEARCH_FAKE_REQUESTS=" + log, run + " --resume --const eps=1e-6 --max-evals 4");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(lines(r.out), 1) << r.out;
  EXPECT_NE(r.out.find("run 2 checks with eps=1e-05, not eps=1e-06: a run keeps its constants"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(log)) << "a refused resume asked the worker for something";

  r = ksearch_env(kFake + " KSEARCH_FAKE_REQUESTS=" + log, run + " --resume --max-evals 4");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("--resume: continuing run 2, the latest run of rmsnorm_linear on Fake GPU in " + db), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("resuming run 2: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("eps=1e-05, 1 seed file(s), 2 shapes;"), std::string::npos) << r.out;
  Archive a(db, Archive::Mode::read);
  EXPECT_EQ(recorded(), options_before) << "the resumed run's recorded options were overwritten";
  EXPECT_EQ(run_shapes(db, 2), (std::vector<std::string>{"M=1,K=64,N=96", "M=2,K=64,N=96"}));
  EXPECT_EQ(recorded_constants(rms(), a.run(2)->constants), (Constants{{"eps", 1e-5}}));
  int resumed_rows = 0;
  for (auto& e : a.evaluations("rmsnorm_linear", "Fake GPU")) {
    if (e.run_id != 2) continue;
    ++resumed_rows;
    EXPECT_TRUE(e.shape == "M=1,K=64,N=96" || e.shape == "M=2,K=64,N=96") << "not a shape run 2 recorded: " << e.shape;
    EXPECT_EQ(recorded_constants(rms(), e.constants), (Constants{{"eps", 1e-5}})) << e.shape;
    EXPECT_EQ(a.source(a.candidate(e.candidate_id)->source_id)->name, "tiny") << "not run 2's seed, on " << e.shape;
  }
  EXPECT_GT(resumed_rows, 2) << "the resumed run evaluated nothing\n" << r.out;
  EXPECT_EQ(a.run_evaluations(1), 1) << "an earlier run than the latest was continued";
  std::ifstream in(log);
  int asked = 0;
  for (std::string line; std::getline(in, line); ++asked)
    EXPECT_EQ(line.substr(0, line.find(' ')), R"({"eps":1e-05})") << line;
  EXPECT_GT(asked, 0);
}

TEST(ModelCli, RunTakesAModelsShapesAndConstantsUnlessConstOverrides) {
  test::TempDir t;
  const std::string db = t.file("a.db");
  const std::string run = "run --task rmsnorm_linear --seeds " + kTinySeed + " --max-evals 1 --db " + db;
  // --m over a model file replaces its range: the model's three (K, N) at M = 1, 2.
  Outcome r = ksearch_env(kFake, run + " --model llama-3-8b --m 1-2 --seed 1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("6 shape(s) from " + kSource + "/models/llama-3-8b.json (Llama-3-8B), --m 1-2"), std::string::npos)
      << r.out;
  EXPECT_EQ(run_shapes(db, 1), (std::vector<std::string>{"M=1,K=4096,N=6144", "M=2,K=4096,N=6144", "M=1,K=4096,N=28672",
                                                         "M=2,K=4096,N=28672", "M=1,K=4096,N=128256",
                                                         "M=2,K=4096,N=128256"}));
  {
    Archive a(db, Archive::Mode::read);
    EXPECT_EQ(recorded_constants(rms(), a.run(1)->constants), (Constants{{"eps", 1e-5}})) << "the model's eps";
  }
  // --const beats the model file, and a path works as well as a name.
  r = ksearch_env(kFake, run + " --model " + kSource + "/models/llama-3-8b.json --m 1 --const eps=1e-6 --seed 2");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(run_shapes(db, 2).size(), 3u);
  Archive a(db, Archive::Mode::read);
  EXPECT_EQ(recorded_constants(rms(), a.run(2)->constants), (Constants{{"eps", 1e-6}}));
  // A resumed run refuses a model whose constants differ from those it checks with.
  const Outcome refused = ksearch_env(kFake, "run --run 2 --model llama-3-70b --m 1 --max-evals 2 --db " + db);
  EXPECT_EQ(refused.code, 2) << refused.out;
  EXPECT_NE(refused.out.find("run 2 checks with eps=1e-06"), std::string::npos) << refused.out;
}

TEST(ModelCli, RunLeavesOutAndNamesTheBucketPointsTheTaskRefuses) {
  test::TempDir t;
  const std::string db = t.file("a.db");
  const std::string seed = kSource + "/seeds/softmax_matmul/mma_flash.cu";
  const Outcome r = ksearch_env(kFake, "run --task softmax_matmul --seeds " + seed +
                                           " --dims B=4,D=64 --m 1-2 --buckets N=1-16 --max-evals 1 --db " + db);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("left out: softmax_matmul: shape B=4,M=1,N=2,D=64 breaks the constraint N % 8 == 0"), std::string::npos)
      << r.out;
  EXPECT_EQ(run_shapes(db, 1), (std::vector<std::string>{"B=4,M=1,N=8,D=64", "B=4,M=1,N=16,D=64", "B=4,M=2,N=8,D=64",
                                                         "B=4,M=2,N=16,D=64"}));
}

TEST(ModelCli, BenchMeasuresTheChosenShapes) {
  const Outcome r = ksearch_env(kFake, "bench --seeds-only --task rmsnorm_linear --dims K=4096,N=6144 --dims K=4096,N=4096 "
                                       "--m 2-4 --targets '' --min-ms 0 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  std::vector<std::string> shapes;
  const nlohmann::json printed = printed_json(r.out);  // kept: the loop reads into it
  for (auto& row : printed.at("rows")) shapes.push_back(row.at("shape"));
  EXPECT_EQ(shapes, (std::vector<std::string>{"M=2,K=4096,N=6144", "M=4,K=4096,N=6144", "M=2,K=4096,N=4096", "M=4,K=4096,N=4096"}));

  // A model file: its tasks (only those), its constants.
  test::TempDir t;
  const std::string small = t.file("small.json");
  std::ofstream(small) << R"({"model": "Small", "tasks": {"rmsnorm_linear": {"constants": {"eps": 3e-6},
      "buckets": {"M": "1-2"}, "sizes": [{"K": 4096, "N": 4096}]}}})";
  const Outcome m = ksearch_env(kFake, "bench --seeds-only --model " + small + " --targets '' --min-ms 0 --json");
  ASSERT_EQ(m.code, 0) << m.out;
  const auto rows = printed_json(m.out).at("rows");
  ASSERT_EQ(rows.size(), 2u);
  for (auto& row : rows) {
    EXPECT_EQ(row.at("task"), "rmsnorm_linear");
    EXPECT_EQ(row.at("constants").at("eps"), 3e-6);
  }
}

TEST(ModelCli, AuditChecksTheLeadersOfTheChosenShapesOnThem) {
  test::TempDir t;
  const std::string db = t.file("a.db");
  // Leaders on two sets of shapes: the chosen ones and another.
  ASSERT_EQ(ksearch_env(kFake, "run --task rmsnorm_linear --seeds " + kTinySeed +
                                   " --dims K=64,N=96 --m 1-2 --max-evals 2 --seed 1 --db " + db)
                .code,
            0);
  ASSERT_EQ(ksearch_env(kFake, "run --task rmsnorm_linear --seeds " + kSource + "/seeds/rmsnorm_linear/gemv_fused.cu" +
                                   " --shape 16,4096,6144 --max-evals 1 --seed 2 --db " + db)
                .code,
            0);
  const Outcome r = ksearch_env(kFake, "audit --task rmsnorm_linear --dims K=64,N=96 --m 1-2 --top 1 --seed 3 --min-ms 0 "
                                       "--json --db " + db);
  ASSERT_EQ(r.code, 0) << r.out;
  std::set<std::string> shapes;
  const nlohmann::json printed = printed_json(r.out);  // kept: the loop reads into it
  Archive a(db, Archive::Mode::read);
  for (auto& row : printed.at("rows")) {
    shapes.insert(row.at("shape"));
    EXPECT_EQ(a.candidate(row.at("candidate").get<int64_t>())->run_id, 1)
        << "a leader of the other run's shape, not of the chosen ones, was audited";
  }
  EXPECT_EQ(shapes, (std::set<std::string>{"M=1,K=64,N=96", "M=2,K=64,N=96"}))
      << "the chosen shapes only: no held-out shape, no shape of the other run";
}

}  // namespace
}  // namespace ks
