// The output comparison: what passes, what does not, and what the message says.
#include <gtest/gtest.h>

#include <cmath>

#include "evaluator/compare.h"

namespace ks {
namespace {

HostBuffer rows(std::vector<std::vector<double>> v, DType t) {
  HostBuffer b(t, {static_cast<int64_t>(v.size()), static_cast<int64_t>(v[0].size())});
  size_t i = 0;
  for (auto& r : v)
    for (double x : r) b.set(i++, x);
  return b;
}

const Tolerance tol{3e-2, 1e-2};

TEST(Compare, BfloatRoundingPasses) {
  HostBuffer want = rows({{0.1234567, -2.345678, 1.0}, {3.3333, 0.5, -0.25}}, DType::f32);
  HostBuffer got = rows({{0.1234567, -2.345678, 1.0}, {3.3333, 0.5, -0.25}}, DType::bf16);
  EXPECT_TRUE(compare_output("Y", got, want, tol).ok);
}

TEST(Compare, NaNNeverPasses) {
  HostBuffer want = rows({{1, 2}, {3, 4}}, DType::f32);
  HostBuffer got = rows({{1, 2}, {3, NAN}}, DType::bf16);
  Comparison c = compare_output("Y", got, want, tol);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.not_finite, 1u);
  EXPECT_NE(c.detail.find("Y[1,1] = nan"), std::string::npos) << c.detail;
}

TEST(Compare, ZeroReferenceRowMustBeNearlyZero) {
  HostBuffer want = rows({{1, -1}, {0, 0}}, DType::f32);
  EXPECT_TRUE(compare_output("Y", rows({{1, -1}, {0, 0}}, DType::bf16), want, tol).ok);
  EXPECT_FALSE(compare_output("Y", rows({{1, -1}, {0, 0.05}}, DType::bf16), want, tol).ok);
}

TEST(Compare, OneWrongElementFailsAndIsNamed) {
  HostBuffer want = rows({{1, 2, 3, 4}, {5, 6, 7, 8}}, DType::f32);
  Comparison c = compare_output("Y", rows({{1, 2, 3, 4}, {5, 6, 7.5, 8}}, DType::f32), want, tol);
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.detail.find("Y[1,2]"), std::string::npos) << c.detail;
}

}  // namespace
}  // namespace ks
