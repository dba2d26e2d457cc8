// --const NAME=VALUE on the commands that check candidates (eval, run, audit, bench), against the
// fake worker (KSEARCH_WORKER), which logs every request's constants (KSEARCH_FAKE_REQUESTS): a
// bad one is one line and exit code 2 before anything runs; a good one reaches every request the
// worker gets, is recorded by the archive, and is named where runs and leaders are listed; a
// resumed run keeps its own; an audit checks each shape at them, then at ten times them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

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

// The constants of every request the fake worker logged, by the text it logged them as.
std::multiset<std::string> logged(const std::string& log) {
  std::ifstream in(log);
  std::multiset<std::string> out;
  for (std::string line; std::getline(in, line);) out.insert(line.substr(0, line.find(' ')));  // then the origin
  return out;
}

const Task& rms() { return *find_task("rmsnorm_linear"); }

TEST(ConstCli, ABadConstantIsOneLineAndExitCodeTwoBeforeAnythingRuns) {
  test::TempDir t;
  const std::string db = t.file("a.db"), log = t.file("requests.log");
  const std::string rms_seed = kSource + "/seeds/rmsnorm_linear/baseline.cu";
  const std::string gemm_seed = kSource + "/seeds/gemm/baseline.cu";
  const struct {
    std::string args, says;
  } cases[] = {
      {"eval " + rms_seed + " --const epsilon=1e-5", "--const epsilon: rmsnorm_linear has no constant epsilon (its constants: eps)"},
      {"eval " + rms_seed + " --const eps=abc", "eps=abc: 'abc' is not a number"},
      {"eval " + rms_seed + " --const eps=nan", "'nan' is not a finite number"},
      {"eval " + rms_seed + " --const eps=inf", "'inf' is not a finite number"},
      {"eval " + rms_seed + " --const eps=1e39", "not a finite float"},
      {"eval " + rms_seed + " --const eps=-1e-5", "eps must be positive"},
      {"eval " + rms_seed + " --const eps", "give NAME=VALUE"},
      {"eval " + rms_seed + " --const eps=1e-5 --const eps=1e-6", "eps is given twice"},
      {"eval " + gemm_seed + " --const eps=1e-5", "--const eps: gemm has no constants"},
      {"run --task rmsnorm_linear --const eps=NaN --db " + db, "not a finite number"},
      {"run --task rmsnorm_linear --const eps=0 --db " + db, "eps must be positive"},
      {"run --task gemm --const eps=1e-5 --db " + db, "--const eps: gemm has no constants"},
      {"audit --task gemm --const eps=1e-5 --db " + db, "--const eps: gemm has no constants"},
      {"audit --const beta=1 --db " + db, "--const beta: none of the tasks has a constant beta"},
      {"bench --seeds-only --task softmax_matmul --const eps=1e-5", "--const eps: softmax_matmul has no constants"},
      {"bench --seeds-only --task rmsnorm_linear --const eps=-inf", "not a finite number"},
  };
  for (auto& c : cases) {
    const Outcome r = ksearch_env(kFake + " KSEARCH_FAKE_REQUESTS=" + log, c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out;
    EXPECT_EQ(lines(r.out), 1) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.says), std::string::npos) << c.args << "\n" << r.out;
  }
  EXPECT_FALSE(std::filesystem::exists(db)) << "a run refused for its --const created its archive";
  EXPECT_TRUE(logged(log).empty()) << "a refused command asked the worker for something";
}

TEST(ConstCli, ARunChecksWithTheConstantGivenRecordsItAndBestAndShowSayIt) {
  test::TempDir t;
  const std::string db = t.file("a.db"), log = t.file("requests.log");
  const std::string env = kFake + " KSEARCH_FAKE_REQUESTS=" + log;
  Outcome r = ksearch_env(env, "run --task rmsnorm_linear --seeds " + kTinySeed +
                                   " --shape 16,4096,6144 --max-evals 4 --seed 1 --const eps=1e-5 --db " + db);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("seed 1, eps=1e-05,"), std::string::npos) << r.out;
  const auto asked = logged(log);
  ASSERT_FALSE(asked.empty());
  for (auto& c : asked) EXPECT_EQ(c, R"({"eps":1e-05})") << "a request the worker got";
  {
    Archive a(db, Archive::Mode::read);
    EXPECT_EQ(recorded_constants(rms(), a.run(1)->constants), (Constants{{"eps", 1e-5}}));
    const auto evs = a.evaluations("rmsnorm_linear", "");
    ASSERT_FALSE(evs.empty());
    for (auto& e : evs) EXPECT_EQ(e.constants, R"({"eps":1e-05})");
  }
  Outcome best = ksearch_env("", "best --db " + db);
  EXPECT_NE(best.out.find("rmsnorm_linear on Fake GPU, checked with eps=1e-05"), std::string::npos) << best.out;
  best = ksearch_env("", "best --json --db " + db);
  EXPECT_EQ(nlohmann::json::parse(best.out).at(0).at("constants"), (nlohmann::json{{"eps", 1e-5}})) << best.out;
  const int64_t leader = nlohmann::json::parse(best.out).at(0).at("candidate");
  const Outcome show = ksearch_env("", "show " + std::to_string(leader) + " --no-source --db " + db);
  EXPECT_NE(show.out.find("checked with eps=1e-05"), std::string::npos) << show.out;
  ASSERT_EQ(ksearch_env("", "report --out " + t.file("r.html") + " --db " + db).code, 0);
  std::ifstream html(t.file("r.html"));
  const std::string page{std::istreambuf_iterator<char>(html), {}};
  EXPECT_NE(page.find("<th>constants</th>"), std::string::npos);
  EXPECT_NE(page.find("<td>eps=1e-05</td>"), std::string::npos) << "the runs table names the run's constants";

  // A second run at the default, on another shape: it records the default, written out, and
  // the leaderboard, mixing the two, names each row's constants in a column.
  r = ksearch_env(kFake, "run --task rmsnorm_linear --seeds " + kTinySeed + " --shape 1,4096,4096 --max-evals 4 --seed 2 --db " + db);
  ASSERT_EQ(r.code, 0) << r.out;
  {
    Archive a(db, Archive::Mode::read);
    EXPECT_EQ(a.run(2)->constants, R"({"eps":1e-06})");
  }
  best = ksearch_env("", "best --db " + db);
  EXPECT_EQ(best.out.find("checked with"), std::string::npos) << best.out;
  EXPECT_NE(best.out.find("constants"), std::string::npos) << best.out;
  EXPECT_NE(best.out.find("eps=1e-05"), std::string::npos) << best.out;
  EXPECT_NE(best.out.find("eps=1e-06"), std::string::npos) << best.out;
}

TEST(ConstCli, AResumedRunKeepsItsConstantsAndRefusesOthers) {
  test::TempDir t;
  const std::string db = t.file("a.db"), log = t.file("requests.log");
  // The task's seeds: enough variants for every resumption to find new ones.
  const std::string run = "run --task rmsnorm_linear --shape 16,4096,6144 --db " + db;
  Outcome r = ksearch_env(kFake, run + " --max-evals 2 --seed 1 --const eps=1e-5");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const std::string other : {" --resume", " --run 1"}) {
    r = ksearch_env(kFake, run + other + " --max-evals 4 --const eps=1e-4");
    EXPECT_EQ(r.code, 2) << other << ": " << r.out;
    EXPECT_EQ(lines(r.out), 1) << other << ": " << r.out;
    EXPECT_NE(r.out.find("run 1 checks with eps=1e-05, not eps=0.0001: a run keeps its constants"), std::string::npos)
        << other << ": " << r.out;
  }
  EXPECT_EQ(Archive(db, Archive::Mode::read).run_evaluations(1), 2) << "a refused resume evaluated nothing";
  // Without --const, or with the same value, it resumes with its own.
  r = ksearch_env(kFake + " KSEARCH_FAKE_REQUESTS=" + log, run + " --resume --max-evals 3");
  ASSERT_EQ(r.code, 0) << r.out;
  r = ksearch_env(kFake + " KSEARCH_FAKE_REQUESTS=" + log, run + " --run 1 --max-evals 4 --const eps=1e-5");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto asked = logged(log);
  EXPECT_EQ(asked.size(), 2u);
  for (auto& c : asked) EXPECT_EQ(c, R"({"eps":1e-05})");
}

// The audit checks each shape twice: at the constants (the defaults, or --const), then at ten
// times them, each row recording which. A kernel that computes with an eps of its own passes
// only one of the two (tests/gpu/test_gpu_constants.cpp), and export trusts only all-passing ones.
TEST(ConstCli, AnAuditChecksEachShapeAtTheConstantsThenAtTenTimesThem) {
  test::TempDir t;
  const std::string db = t.file("a.db");
  Outcome r = ksearch_env(kFake, "run --task rmsnorm_linear --seeds " + kTinySeed +
                                     " --shape 16,4096,6144 --max-evals 2 --seed 1 --db " + db);
  ASSERT_EQ(r.code, 0) << r.out;
  for (const auto& [given, first, second] :
       {std::tuple<std::string, double, double>{"", 1e-6, 1e-5}, {" --const eps=2e-5", 2e-5, 2e-4}}) {
    const std::string log = t.file("audit" + std::to_string(given.size()) + ".log");
    r = ksearch_env(kFake + " KSEARCH_FAKE_REQUESTS=" + log, "audit --task rmsnorm_linear --top 1 --seed 5 --db " + db + given);
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("rmsnorm_linear at " + format_constants({{"eps", first}}) + ", then at " +
                         format_constants({{"eps", second}})),
              std::string::npos)
        << r.out;
    const auto asked = logged(log);
    ASSERT_FALSE(asked.empty());
    EXPECT_EQ(asked.count(constants_json({{"eps", first}})), asked.size() / 2) << given;
    EXPECT_EQ(asked.count(constants_json({{"eps", second}})), asked.size() / 2) << given;
    std::map<std::string, std::multiset<double>> per_shape;
    for (auto& row : Archive(db, Archive::Mode::read).audits("rmsnorm_linear", "Fake GPU"))
      per_shape[row.shape].insert(recorded_constants(rms(), row.constants).at("eps"));
    for (const Shape& s : rms().audit_shapes())
      EXPECT_EQ(per_shape[rms().format_shape(s)], (std::multiset<double>{first, second})) << rms().format_shape(s) << given;
    Archive(db, Archive::Mode::existing).connection().exec("DELETE FROM audits");  // the next pass stands alone
  }
}

TEST(ConstCli, BenchChecksEveryContenderWithTheConstantGiven) {
  test::TempDir t;
  const std::string log = t.file("requests.log");
  const Outcome r = ksearch_env(kFake + " KSEARCH_FAKE_REQUESTS=" + log,
                                "bench --seeds-only --task rmsnorm_linear --targets '' --min-ms 0 --json --const eps=3e-6");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("rmsnorm_linear at eps=3e-06"), std::string::npos) << r.out;
  const auto asked = logged(log);
  ASSERT_FALSE(asked.empty());
  for (auto& c : asked) EXPECT_EQ(c, R"({"eps":3e-06})");
  const std::string json = r.out.substr(r.out.find("{\n"));
  for (auto& row : nlohmann::json::parse(json).at("rows")) EXPECT_EQ(row.at("constants").at("eps"), 3e-6);
}

}  // namespace
}  // namespace ks
