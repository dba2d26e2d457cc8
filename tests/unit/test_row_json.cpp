// The worker protocol's messages survive the trip through JSON, NaN and infinity included.
#include <gtest/gtest.h>

#include <cmath>

#include "evaluator/row_json.h"

namespace ks {
namespace {

TEST(RowJson, RowRoundTripsWithTimingResourcesAndInfiniteError) {
  EvalResult r;
  r.shape = {{"M", 16}, {"K", 4096}, {"N", 6144}};
  r.variant = {{"THREADS", 256}, {"ROWS", 4}};  // order kept, not sorted
  r.status = Status::wrong;
  r.error = "Y[1,2] = nan";
  r.nondeterministic = true;
  r.floor_us = 17.2;
  r.max_scaled = std::numeric_limits<double>::infinity();
  r.rel_l2 = std::numeric_limits<double>::quiet_NaN();
  r.resources = {{"gemv", 40, 8, 16, 32, 1024}};
  r.timing = PairTiming{{10, 9, 11}, {20, 19, 21}, 2.0, 64, 2};
  r.steps = {{"plan.steps[0] (gemv)", 4.5}, {"plan.steps[1] (gemm)", 5.25}};
  EvalResult back = result_from_json(nlohmann::json::parse(to_json(r).dump()));
  ASSERT_EQ(back.steps.size(), 2u);
  EXPECT_EQ(back.steps[1].step, "plan.steps[1] (gemm)");
  EXPECT_EQ(back.steps[1].median_us, 5.25);
  EXPECT_FALSE(to_json(EvalResult{}).contains("steps")) << "rows without a split say nothing of it";
  EXPECT_EQ(back.shape, r.shape);
  EXPECT_EQ(back.variant, r.variant);
  EXPECT_EQ(back.status, Status::wrong);
  EXPECT_EQ(back.error, r.error);
  EXPECT_TRUE(back.nondeterministic);
  EXPECT_TRUE(std::isinf(back.max_scaled));
  EXPECT_TRUE(std::isnan(back.rel_l2));
  ASSERT_EQ(back.resources.size(), 1u);
  EXPECT_EQ(back.resources[0].kernel, "gemv");
  EXPECT_EQ(back.resources[0].spill_load_bytes, 16);
  ASSERT_TRUE(back.timing);
  EXPECT_EQ(back.timing->baseline.p90_us, 21);
  EXPECT_EQ(back.timing->last_set, 2u);
}

TEST(RowJson, RequestRoundTrips) {
  EvalRequest q{"rmsnorm_linear", "a.cu", "/* ksearch {} */", {{"B", 1}, {"A", 2}},
               {{"M", 1}, {"K", 8}, {"N", 8}}, {}};
  q.settings.seed = 18446744073709551615ull;
  q.settings.timer.min_seconds = 0.25;
  q.settings.timer.warmup_seconds = 0.125;
  EvalRequest back = request_from_json(nlohmann::json::parse(to_json(q).dump()));
  EXPECT_EQ(back.source, q.source);
  EXPECT_EQ(back.variant, q.variant);
  EXPECT_EQ(back.settings.seed, q.settings.seed);
  EXPECT_EQ(back.settings.timer.min_seconds, 0.25);
  EXPECT_EQ(back.settings.timer.warmup_seconds, 0.125);
}

// `eval --skeleton`: the request asks for it, a row carries the skeleton's median or why it has
// none; rows and requests without them (older workers, other commands) read as none.
TEST(RowJson, SkeletonFieldsRoundTrip) {
  EvalRequest q{"rmsnorm_linear", "a.cu", "/* ksearch {} */", {}, {{"M", 1}, {"K", 8}, {"N", 8}}, {}};
  EXPECT_FALSE(request_from_json(nlohmann::json::parse(to_json(q).dump())).settings.skeleton);
  q.settings.skeleton = true;
  EXPECT_TRUE(request_from_json(nlohmann::json::parse(to_json(q).dump())).settings.skeleton);
  nlohmann::json old = to_json(q);
  old.erase("skeleton");
  EXPECT_FALSE(request_from_json(old).settings.skeleton);

  EvalResult r;
  r.timing = PairTiming{{10, 9, 11}, {20, 19, 21}, 2.0, 64, 2};
  r.skeleton_us = 4.75;
  EvalResult back = result_from_json(nlohmann::json::parse(to_json(r).dump()));
  EXPECT_EQ(back.skeleton_us, 4.75);
  EXPECT_EQ(back.skeleton_error, "");
  EXPECT_FALSE(to_json(r).contains("skeleton_error"));

  EvalResult e;
  e.skeleton_error = "plan.steps[1] is a gemm step (cuBLASLt): a skeleton replaces kernels only";
  back = result_from_json(nlohmann::json::parse(to_json(e).dump()));
  EXPECT_EQ(back.skeleton_error, e.skeleton_error);
  EXPECT_EQ(back.skeleton_us, 0);
  EXPECT_EQ(back.status, Status::ok) << "a skeleton's failure is no row's";
  EXPECT_FALSE(to_json(EvalResult{}).contains("skeleton_us"));
  EXPECT_FALSE(to_json(EvalResult{}).contains("skeleton_error"));
}

TEST(RowJson, MalformedMessagesAreErrorsNamingTheMessage) {
  try {
    result_from_json(nlohmann::json{{"status", "ok"}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("malformed result row"), std::string::npos) << e.what();
  }
  nlohmann::json bad = to_json(EvalResult{});
  bad["status"] = "fine";
  EXPECT_THROW(result_from_json(bad), Error);
  EXPECT_THROW(request_from_json(nlohmann::json::object()), Error);
}

}  // namespace
}  // namespace ks
