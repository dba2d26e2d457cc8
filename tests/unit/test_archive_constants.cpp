// The task's constants in the archive (schema version 4): runs, evaluations and audits record
// what they were checked with, read back exactly and carried by a merge; an archive from before
// (version 3) is migrated, its rows reading as the defaults they were checked with.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "db/archive.h"
#include "db/recorded_constants.h"
#include "unit/temp_dir.h"

namespace ks {
namespace {

const Task& rms() { return *find_task("rmsnorm_linear"); }

TEST(ArchiveConstants, WrittenAndReadBackExactlyAndMerged) {
  test::TempDir t;
  const std::string path = t.file("a.db");
  const Constants eps5 = {{"eps", 1e-5}}, eps4 = {{"eps", 1e-4}};
  {
    Archive a(path);
    RunRecord r;
    r.task = "rmsnorm_linear";
    r.device = "Fake GPU";
    r.constants = constants_json(eps5);
    const int64_t run = a.add_run(r);
    CandidateRecord c;
    c.key = "h:default";
    c.task = "rmsnorm_linear";
    c.params = "default";
    const int64_t cand = a.add_candidate({0, "h", "rmsnorm_linear", "gemv", "text", false}, c);
    EvaluationRecord e;
    e.candidate_id = cand;
    e.run_id = run;
    e.device = "Fake GPU";
    e.shape = "M=1,K=4096,N=4096";
    e.constants = constants_json(eps5);
    ASSERT_TRUE(a.add_evaluation(e));
    e.constants = constants_json(eps4);
    EXPECT_FALSE(a.add_evaluation(e)) << "a (candidate, shape, device) is evaluated once, whatever its constants";
    AuditRecord au;
    au.candidate_id = cand;
    au.device = "Fake GPU";
    au.shape = "M=3,K=2048,N=5632";
    au.seed = 1;
    au.constants = constants_json(eps4);
    a.add_audit(au);
  }
  const std::string merged = t.file("m.db");
  Archive(merged).merge_from(path);
  for (const std::string& p : {path, merged}) {
    Archive a(p, Archive::Mode::read);
    EXPECT_EQ(recorded_constants(rms(), a.runs().at(0).constants), eps5) << p;
    EXPECT_EQ(recorded_constants(rms(), a.evaluations("", "").at(0).constants), eps5) << p;
    EXPECT_EQ(recorded_constants(rms(), a.audits("", "").at(0).constants), eps4) << p;
  }
  EXPECT_EQ(constants_json(eps5), R"({"eps":1e-05})");
  const double odd = 1.2345678901234567e-6;  // every bit survives the text
  EXPECT_EQ(recorded_constants(rms(), constants_json({{"eps", odd}})).at("eps"), odd);
  EXPECT_THROW(recorded_constants(rms(), "not json"), Error);
}

// A row that names no constant reads as the task's defaults; a task without constants has none.
TEST(ArchiveConstants, ARowNamingNothingReadsAsTheDefaults) {
  EXPECT_EQ(recorded_constants(rms(), "{}"), (Constants{{"eps", 1e-6}}));
  EXPECT_TRUE(recorded_constants(*find_task("gemm"), "{}").empty());
}

// An archive of schema version 3, written as that ksearch wrote it (no constants columns), opens
// with this one: migrated to version 4, its rmsnorm_linear rows say eps = 1e-6 (the only value
// there was), its other tasks' rows name nothing, and its tables have a new archive's columns.
TEST(ArchiveConstants, AVersion3ArchiveOpensAndReadsAsTheDefaults) {
  test::TempDir t;
  const std::string path = t.file("v3.db");
  std::ifstream in(std::string(KSEARCH_SOURCE_DIR) + "/tests/fixtures/archive/schema_v1.sql");
  const Schema v1{1, std::string(std::istreambuf_iterator<char>(in), {}), {}};
  const Schema& now = archive_schema();
  ASSERT_EQ(now.version, 4);
  { Archive a(path, Archive::Mode::create, v1); }
  {
    const Schema v3{3, "", {now.migrations.at(0), now.migrations.at(1)}};
    Archive a(path, Archive::Mode::existing, v3);
    ASSERT_EQ(a.schema_version(), 3);
    sql::Connection& c = a.connection();
    for (const char* task : {"rmsnorm_linear", "gemm"}) {
      const std::string t = task;
      c.exec("INSERT INTO runs (uid, task, device, arch, host, seed, options, state, started_at, updated_at) "
             "VALUES ('u-" + t + "', '" + t + "', 'Fake GPU', 'sm_90a', 'h', 1, '{}', 'budget', 1, 1)");
      const int64_t run = c.last_insert_id();
      CandidateRecord cand;
      cand.key = "h-" + t;
      cand.task = t;
      cand.params = "default";
      const int64_t id = a.add_candidate({0, "h-" + t, t, "x", "text", false}, cand);
      c.exec("INSERT INTO evaluations (candidate_id, run_id, device, shape, status, error, nondeterministic, "
             "resources, seconds, created_at) VALUES (" + std::to_string(id) + ", " + std::to_string(run) +
             ", 'Fake GPU', 'M=1,K=4096,N=4096', 'ok', '', 0, '[]', 1, 1)");
      c.exec("INSERT INTO audits (candidate_id, device, shape, seed, status, error, deterministic, created_at) "
             "VALUES (" + std::to_string(id) + ", 'Fake GPU', 'M=3,K=2048,N=5632', 5, 'ok', '', 1, 1)");
    }
  }
  Archive a(path, Archive::Mode::read);  // a reader upgrades it once, then reads
  EXPECT_EQ(a.schema_version(), 4);
  const auto runs = a.runs();
  const auto evs = a.evaluations("", "");
  const auto audits = a.audits("", "");
  ASSERT_EQ(runs.size(), 2u);
  ASSERT_EQ(evs.size(), 2u);
  ASSERT_EQ(audits.size(), 2u);
  EXPECT_EQ(runs[0].constants, R"({"eps":1e-06})");
  EXPECT_EQ(evs[0].constants, R"({"eps":1e-06})");
  EXPECT_EQ(audits[0].constants, R"({"eps":1e-06})");
  for (const std::string& text : {runs[0].constants, evs[0].constants, audits[0].constants})
    EXPECT_EQ(recorded_constants(rms(), text), resolve_constants(rms(), {}));
  for (const std::string& text : {runs[1].constants, evs[1].constants, audits[1].constants}) EXPECT_EQ(text, "{}");

  auto columns = [](Archive& x, const std::string& table) {
    std::vector<std::string> out;
    sql::Statement s(x.connection(), "SELECT name FROM pragma_table_info('" + table + "') ORDER BY name");
    while (s.step()) out.push_back(s.text(0));
    return out;
  };
  Archive fresh(t.file("fresh.db"));
  for (const char* table : {"runs", "evaluations", "audits"}) EXPECT_EQ(columns(a, table), columns(fresh, table)) << table;
}

}  // namespace
}  // namespace ks
