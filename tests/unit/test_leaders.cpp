// Issue 18, item 5: one rule for the leader of a shape. An ok row without a time (eval --no-time,
// an older ksearch, a merged archive) never leads, so best never prints an unset time
// ("median_us": 3.6e-322), and best and report name the same leader.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "db/archive.h"
#include "db/leaders.h"
#include "run_ksearch.h"
#include "temp_dir.h"

namespace ks {
namespace {

using cli_test::ksearch;

EvaluationRecord row(int64_t id, const char* status, std::optional<double> speedup, std::optional<double> median) {
  EvaluationRecord e;
  e.id = id;
  e.status = *parse_status(status);
  e.speedup = speedup;
  e.median_us = median;
  return e;
}

TEST(Leaders, OnlyOkRowsWithASpeedupAndATimeLead) {
  EXPECT_TRUE(can_lead(row(1, "ok", 1.2, 10.0)));
  EXPECT_FALSE(can_lead(row(1, "ok", 1.2, std::nullopt)));  // no time
  EXPECT_FALSE(can_lead(row(1, "ok", std::nullopt, 10.0)));
  EXPECT_FALSE(can_lead(row(1, "wrong", 1.2, 10.0)));
  EXPECT_FALSE(can_lead(row(1, "ok", std::nan(""), 10.0)));
  EXPECT_FALSE(can_lead(row(1, "ok", 1.2, 0.0)));
  EXPECT_FALSE(can_lead(row(1, "ok", 1.2, -1.0)));
}

TEST(Leaders, RankBySpeedupThenTimeThenTheEarlierRow) {
  EXPECT_TRUE(ranks_before(row(2, "ok", 2.0, 10.0), row(1, "ok", 1.0, 5.0)));
  EXPECT_TRUE(ranks_before(row(2, "ok", 1.0, 5.0), row(1, "ok", 1.0, 6.0)));
  EXPECT_TRUE(ranks_before(row(1, "ok", 1.0, 5.0), row(2, "ok", 1.0, 5.0)));
  EXPECT_FALSE(ranks_before(row(2, "ok", 1.0, 5.0), row(1, "ok", 1.0, 5.0)));
}

// An archive where the fastest-looking row on the shape is ok with a speedup but no time.
// One leaderboard per (device, shape), best first, with its rule a parameter: the same rows rank
// differently by speedup and by time, and rows that cannot lead are left out.
TEST(Leaders, TheLeaderboardGroupsByDeviceAndShapeAndRanksByItsRule) {
  auto at = [](EvaluationRecord e, const char* device, const char* shape) {
    e.device = device;
    e.shape = shape;
    return e;
  };
  const std::vector<EvaluationRecord> rows = {
      at(row(1, "ok", 1.5, 10.0), "H200", "M=1"), at(row(2, "ok", 1.2, 8.0), "H200", "M=1"),
      at(row(3, "ok", 2.0, std::nullopt), "H200", "M=1"), at(row(4, "ok", 1.1, 9.0), "H100", "M=1"),
      at(row(5, "wrong", 3.0, 1.0), "H200", "M=16")};
  const Leaderboard by_speedup = leaderboard(rows);
  ASSERT_EQ(by_speedup.size(), 2u) << "M=16 has no row that can lead";
  const auto& h200 = by_speedup.at({"H200", "M=1"});
  ASSERT_EQ(h200.size(), 2u) << "the untimed row is left out";
  EXPECT_EQ(h200[0].id, 1);
  EXPECT_EQ(by_speedup.at({"H100", "M=1"}).front().id, 4);
  EXPECT_EQ(leaderboard(rows, LeaderRule::time).at({"H200", "M=1"}).front().id, 2) << "8 us before 10 us";
}

TEST(Leaders, BestAndReportAgreeAndAnUntimedRowNeverLeads) {
  test::TempDir t;
  const std::string db = t.file("a.db");
  int64_t timed = 0, untimed = 0;
  {
    Archive a(db);
    auto add = [&](const std::string& name) {
      SourceRecord s{0, "hash-" + name, "rmsnorm_linear", name, "/* ksearch */ // " + name, false};
      CandidateRecord c;
      c.key = s.hash;
      c.task = s.task;
      c.params = "default";
      c.origin = "seed";
      return a.add_candidate(s, c);
    };
    untimed = add("untimed");
    timed = add("timed");
    EvaluationRecord e;
    e.device = "Fake GPU";
    e.shape = "M=1,K=64,N=64";
    e.status = Status::ok;
    e.candidate_id = untimed;
    e.speedup = 9.0;  // no median_us
    a.add_evaluation(e);
    e.candidate_id = timed;
    e.speedup = 1.5;
    e.median_us = 10.0;
    e.baseline_us = 15.0;
    a.add_evaluation(e);
  }
  auto best = ksearch("best --json --top 5 --db " + db);
  ASSERT_EQ(best.code, 0) << best.out;
  const auto j = nlohmann::json::parse(best.out.substr(best.out.find('[')));
  ASSERT_EQ(j.size(), 1u) << best.out;
  EXPECT_EQ(j[0]["candidate"], timed);
  EXPECT_EQ(j[0]["median_us"], 10.0);
  EXPECT_EQ(best.out.find("e-3"), std::string::npos) << best.out;  // no denormal garbage

  auto report = ksearch("report --db " + db + " --out " + t.file("r.html"));
  ASSERT_EQ(report.code, 0) << report.out;
  std::ifstream f(t.file("r.html"));
  std::stringstream html;
  html << f.rdbuf();
  EXPECT_NE(html.str().find("id=\"cand-" + std::to_string(timed) + "\""), std::string::npos);
  EXPECT_EQ(html.str().find("id=\"cand-" + std::to_string(untimed) + "\""), std::string::npos) << "the untimed row leads the report";
  EXPECT_NE(report.out.find("1 leader"), std::string::npos) << report.out;
}

}  // namespace
}  // namespace ks
