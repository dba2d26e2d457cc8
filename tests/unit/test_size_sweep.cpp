// A task's shapes by parts (tasks/size_sweep.h): bucket ranges and their points, fixed sizes by
// name, the checks of both against the task, and the sweep with its rule for shapes the task
// refuses (left out and named where other points of the fixed set are taken; an error where none).
#include <gtest/gtest.h>

#include "base/error.h"
#include "evaluator/evaluate.h"
#include "tasks/size_sweep.h"

namespace ks {
namespace {

const Task& rms() { return *find_task("rmsnorm_linear"); }
const Task& softmax() { return *find_task("softmax_matmul"); }

// The error a call throws, or "" when it throws none.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string problem(const Task& t, const Shape& s) {
  return error_of([&] { check_shape(t, s); });
}

TEST(SizeSweep, ARangeIsLoToHiOrOneSize) {
  EXPECT_EQ(parse_bucket_range("1-4096").lo, 1);
  EXPECT_EQ(parse_bucket_range("1-4096").hi, 4096);
  EXPECT_EQ(parse_bucket_range("16").lo, 16);
  EXPECT_EQ(parse_bucket_range("16").hi, 16);
  EXPECT_EQ(parse_bucket_range("1-2147483647").hi, 2147483647);
  EXPECT_EQ(format_bucket_range({1, 4096}), "1-4096");
  EXPECT_EQ(format_bucket_range({16, 16}), "16");
  for (const std::string bad : {"", "0-4", "4-", "-4", "a-b", "1-4096x", "1-2147483648", "1.5-8", "1-2-3", " 1-8"}) {
    const std::string e = error_of([&] { parse_bucket_range(bad); });
    EXPECT_NE(e.find("'" + bad + "' is not a range LO-HI"), std::string::npos) << bad << ": " << e;
  }
  EXPECT_NE(error_of([] { parse_bucket_range("64-8"); }).find("'64-8': the range starts above its end"), std::string::npos);
}

TEST(SizeSweep, PointsArePowersOfTwoWithBothEnds) {
  EXPECT_EQ(bucket_points({1, 4096}),
            (std::vector<int64_t>{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096}));
  EXPECT_EQ(bucket_points({3, 1000}), (std::vector<int64_t>{3, 4, 8, 16, 32, 64, 128, 256, 512, 1000}));
  EXPECT_EQ(bucket_points({16, 16}), (std::vector<int64_t>{16}));
  EXPECT_EQ(bucket_points({5, 7}), (std::vector<int64_t>{5, 7}));
  EXPECT_EQ(bucket_points({4, 8}), (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(bucket_points({1, 2147483647}).size(), 32u);  // 2^0 .. 2^30, then the end
  EXPECT_EQ(bucket_points({1, 2147483647}).back(), 2147483647);
}

TEST(SizeSweep, FixedSizesAreNamedPositiveSizes) {
  EXPECT_EQ(parse_fixed_sizes("K=4096,N=6144"), (Shape{{"K", 4096}, {"N", 6144}}));
  const struct {
    std::string text, says;
  } bad[] = {
      {"", "no sizes given"},
      {"K4096", "'K4096' is not NAME=VALUE"},
      {"=4096", "'=4096' is not NAME=VALUE"},
      {"K=0", "K=0 is not a size"},
      {"K=-8", "K=-8 is not a size"},
      {"K=4096.5", "K=4096.5 is not a size"},
      {"K=2147483648", "K=2147483648 is not a size"},
      {"K=8,K=16", "K is given twice"},
  };
  for (auto& b : bad) {
    const std::string e = error_of([&] { parse_fixed_sizes(b.text); });
    EXPECT_NE(e.find(b.says), std::string::npos) << b.text << ": " << e;
    EXPECT_NE(e.find("'" + b.text + "'"), std::string::npos) << "the text is quoted: " << e;
  }
}

TEST(SizeSweep, OnlyBucketSizesTakeRanges) {
  EXPECT_EQ(error_of([] { check_bucket_symbol(rms(), "M"); }), "");
  EXPECT_EQ(error_of([] { check_bucket_symbol(softmax(), "N"); }), "");
  EXPECT_NE(error_of([] { check_bucket_symbol(rms(), "K"); }).find("K is not a bucket size of rmsnorm_linear (its bucket sizes: M"),
            std::string::npos);
  EXPECT_NE(error_of([] { check_bucket_symbol(rms(), "X"); }).find("rmsnorm_linear has no size X (its sizes: M,K,N)"),
            std::string::npos);
}

TEST(SizeSweep, FixedSizesAndRangesGiveEverySizeOnce) {
  const std::map<std::string, BucketRange> m = {{"M", {1, 8}}};
  EXPECT_EQ(error_of([&] { check_fixed_sizes(rms(), {{"K", 4096}, {"N", 6144}}, m); }), "");
  EXPECT_EQ(error_of([&] { check_fixed_sizes(rms(), {{"M", 3}, {"K", 4096}, {"N", 6144}}, {}); }), "");
  EXPECT_NE(error_of([&] { check_fixed_sizes(rms(), {{"K", 4096}}, m); }).find("K=4096 leaves rmsnorm_linear's N without a value"),
            std::string::npos);
  EXPECT_NE(error_of([&] { check_fixed_sizes(rms(), {{"K", 4096}, {"N", 6144}}, {}); }).find("rmsnorm_linear's M without a value"),
            std::string::npos);
  EXPECT_NE(error_of([&] { check_fixed_sizes(rms(), {{"K", 4096}, {"N", 6144}, {"H", 8}}, m); }).find("rmsnorm_linear has no size H"),
            std::string::npos);
  EXPECT_NE(error_of([&] { check_fixed_sizes(rms(), {{"M", 2}, {"K", 4096}, {"N", 6144}}, m); })
                .find("M is given both a value (2) and a range (1-8)"),
            std::string::npos);
}

TEST(SizeSweep, CrossesEachFixedSetWithEveryBucketPoint) {
  SizeSweep sw;
  sw.fixed = {{"qkv", {{"K", 4096}, {"N", 6144}}}, {"", {{"K", 4096}, {"N", 28672}}}};
  sw.buckets = {{"M", {1, 4096}}};
  const SweptShapes got = sweep_shapes(rms(), sw, [](const Shape& s) { return problem(rms(), s); });
  ASSERT_EQ(got.shapes.size(), 26u);
  EXPECT_TRUE(got.dropped.empty());
  EXPECT_EQ(got.shapes[0], (Shape{{"M", 1}, {"K", 4096}, {"N", 6144}}));
  EXPECT_EQ(got.shapes[12], (Shape{{"M", 4096}, {"K", 4096}, {"N", 6144}}));
  EXPECT_EQ(got.shapes[13], (Shape{{"M", 1}, {"K", 4096}, {"N", 28672}}));
  EXPECT_EQ(describe_sweep(rms(), sw),
            "K=4096,N=6144 (qkv); K=4096,N=28672 at M=1,2,4,8,16,32,64,128,256,512,1024,2048,4096");

  // Two bucket sizes: every pair, the first in the task's size order varying slowest.
  SizeSweep att;
  att.fixed = {{"", {{"B", 32}, {"D", 128}}}};
  att.buckets = {{"M", {1, 2}}, {"N", {8, 16}}};
  const SweptShapes a = sweep_shapes(softmax(), att, [](const Shape& s) { return problem(softmax(), s); });
  ASSERT_EQ(a.shapes.size(), 4u);
  EXPECT_EQ(softmax().format_shape(a.shapes[0]), "B=32,M=1,N=8,D=128");
  EXPECT_EQ(softmax().format_shape(a.shapes[1]), "B=32,M=1,N=16,D=128");
  EXPECT_EQ(softmax().format_shape(a.shapes[3]), "B=32,M=2,N=16,D=128");
  EXPECT_EQ(describe_sweep(softmax(), att), "B=32,D=128 at M=1,2 x N=8,16");
}

TEST(SizeSweep, RefusedBucketPointsAreLeftOutAndNamed) {
  // softmax_matmul needs N % 8 == 0: N at 1, 2 and 4 is refused, 8 and 16 taken.
  SizeSweep att;
  att.fixed = {{"", {{"B", 32}, {"D", 128}}}};
  att.buckets = {{"M", {1, 2}}, {"N", {1, 16}}};
  const SweptShapes a = sweep_shapes(softmax(), att, [](const Shape& s) { return problem(softmax(), s); });
  ASSERT_EQ(a.shapes.size(), 4u);
  for (auto& s : a.shapes) EXPECT_GE(s.at("N"), 8);
  ASSERT_EQ(a.dropped.size(), 6u);
  EXPECT_EQ(a.dropped[0], "left out: softmax_matmul: shape B=32,M=1,N=1,D=128 breaks the constraint N % 8 == 0");
}

TEST(SizeSweep, FixedSizesTheTaskRefusesAreAnError) {
  SizeSweep sw;
  sw.fixed = {{"qkv", {{"K", 4096}, {"N", 6144}}}, {"bad", {{"K", 4095}, {"N", 6144}}}};
  sw.buckets = {{"M", {1, 8}}};
  const std::string e = error_of([&] { sweep_shapes(rms(), sw, [](const Shape& s) { return problem(rms(), s); }); });
  EXPECT_NE(e.find("rmsnorm_linear: K=4095,N=6144 (bad): the task takes none of its 4 shape(s); the first: "
                   "rmsnorm_linear: shape M=1,K=4095,N=6144 breaks the constraint K % 8 == 0"),
            std::string::npos)
      << e;
  // What kernels cannot take (tasks/shape_fit.cpp) is refused the same way.
  SizeSweep huge;
  huge.fixed = {{"", {{"K", 2147483640}, {"N", 2147483640}}}};
  huge.buckets = {{"M", {1, 1}}};
  EXPECT_NE(error_of([&] { sweep_shapes(rms(), huge, [](const Shape& s) { return problem(rms(), s); }); })
                .find("buffer W has"),
            std::string::npos);
  // And the sweep is checked before it is crossed.
  SizeSweep k_range;
  k_range.fixed = {{"", {{"N", 8}}}};
  k_range.buckets = {{"M", {1, 1}}, {"K", {8, 64}}};
  EXPECT_NE(error_of([&] { sweep_shapes(rms(), k_range, [](const Shape&) { return std::string(); }); })
                .find("K is not a bucket size of rmsnorm_linear"),
            std::string::npos);
}

}  // namespace
}  // namespace ks
