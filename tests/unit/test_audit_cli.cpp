// `ksearch audit` against the fake worker: the best candidates of a short search are re-checked
// on the held-out shapes and the search shapes they lead on, twice each with fresh seeds; every
// row lands in the audits table and `ksearch best` shows the outcome. A candidate that measured ok
// in the search but fails its audit is reported, and the command exits 1.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>

#include "db/archive.h"
#include "tasks/task.h"
#include "unit/run_ksearch.h"
#include "unit/temp_dir.h"

namespace ks {
namespace {

using cli_test::ksearch_env;
using cli_test::Outcome;
using cli_test::kFake;

const std::string kSeed = std::string(KSEARCH_SOURCE_DIR) + "/tests/fixtures/llm/tiny_seed.cu";

TEST(AuditCli, TheBestAreReCheckedOnHeldOutShapesTwiceAndBestShowsIt) {
  test::TempDir t;
  const std::string db = t.file("a.db");
  Outcome r = ksearch_env(kFake, "run --task rmsnorm_linear --seeds " + kSeed + " --shape 16,4096,6144 --max-evals 4 --seed 1 --db " + db);
  ASSERT_EQ(r.code, 0) << r.out;
  r = ksearch_env(kFake, "audit --task rmsnorm_linear --top 1 --seed 5 --db " + db);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("1 candidate(s) audited on Fake GPU: 1 passed every row"), std::string::npos) << r.out;

  Archive a(db, Archive::Mode::existing);
  const Task& task = *find_task("rmsnorm_linear");
  const auto rows = a.audits("rmsnorm_linear", "Fake GPU");
  std::map<std::string, int> per_shape;
  std::set<int64_t> seeds, candidates;
  for (auto& row : rows) {
    ++per_shape[row.shape];
    seeds.insert(row.seed);
    candidates.insert(row.candidate_id);
    EXPECT_EQ(row.status, Status::ok);
    EXPECT_TRUE(row.deterministic);
    EXPECT_TRUE(row.median_us);
  }
  EXPECT_EQ(candidates.size(), 1u) << "--top 1 on one shape";
  for (const Shape& s : task.audit_shapes()) EXPECT_EQ(per_shape[task.format_shape(s)], 2) << task.format_shape(s);
  EXPECT_EQ(per_shape["M=16,K=4096,N=6144"], 2) << "the search shape it leads on";
  EXPECT_EQ(seeds.size(), rows.size()) << "a fresh seed per row";

  const Outcome best = ksearch_env("", "best --db " + db);
  EXPECT_NE(best.out.find("passed " + std::to_string(rows.size()) + "/" + std::to_string(rows.size())), std::string::npos)
      << best.out;
}

TEST(AuditCli, ACandidateThatFailsItsAuditIsReportedAndExitsOne) {
  test::TempDir t;
  const std::string db = t.file("a.db");
  {
    // A candidate the search measured ok, whose code the fake worker finds wrong from now on.
    Archive a(db);
    RunRecord run;
    run.task = "rmsnorm_linear";
    run.device = "Fake GPU";
    run.arch = "sm_90a";
    const int64_t run_id = a.add_run(run);
    std::ifstream in(kSeed);
    std::string text{std::istreambuf_iterator<char>(in), {}};
    text += "// fake-worker: wrong\n";
    SourceRecord s{0, "h-wrong", "rmsnorm_linear", "tiny", text, true};
    CandidateRecord c;
    c.key = "h-wrong:THREADS=128";
    c.task = "rmsnorm_linear";
    c.params = "THREADS=128";
    c.origin = "llm_rewrite";
    c.label = "test";
    c.run_id = run_id;
    const int64_t id = a.add_candidate(s, c);
    EvaluationRecord e;
    e.candidate_id = id;
    e.run_id = run_id;
    e.device = "Fake GPU";
    e.shape = "M=16,K=4096,N=6144";
    e.status = Status::ok;
    e.median_us = 10;
    e.speedup = 10;
    a.add_evaluation(e);
  }
  const Outcome r = ksearch_env(kFake, "audit --db " + db + " --seed 2");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("0 passed every row, 1 did not"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("max scaled error 3.1"), std::string::npos) << r.out;
  const Outcome best = ksearch_env("", "best --db " + db);
  EXPECT_NE(best.out.find("FAILED"), std::string::npos) << best.out;

  const Outcome none = ksearch_env(kFake, "audit --task swiglu_mlp --db " + db);
  EXPECT_EQ(none.code, 2) << none.out;
  EXPECT_NE(none.out.find("nothing to audit: no correct candidate on Fake GPU"), std::string::npos) << none.out;
  const Outcome missing = ksearch_env(kFake, "audit --db " + t.file("missing.db"));
  EXPECT_EQ(missing.code, 2) << missing.out;
}

}  // namespace
}  // namespace ks
