// The counter-based normals every input comes from: N(0, 1) in their moments and tails, the two of
// a Box-Muller pair uncorrelated, element i the same whether drawn alone or by pairs, and a
// buffer filled in parallel the same as one filled element by element.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "base/random.h"
#include "tasks/host_buffer.h"

namespace ks {
namespace {

TEST(Random, NormalsHaveTheMomentsAndTailsOfAStandardNormal) {
  const uint64_t stream = stream_seed(7, "X");
  const size_t n = 1 << 21;
  double sum = 0, sq = 0, fourth = 0, pair = 0;
  size_t beyond3 = 0, beyond4 = 0;
  for (size_t j = 0; j < n / 2; ++j) {
    double a, b;
    normal_pair_at(stream, j, a, b);
    for (double v : {a, b}) {
      sum += v;
      sq += v * v;
      fourth += v * v * v * v;
      beyond3 += std::abs(v) > 3;
      beyond4 += std::abs(v) > 4;
    }
    pair += a * b;
  }
  const double mean = sum / n, var = sq / n - mean * mean;
  // Standard errors at n = 2^21: mean 0.0007, variance 0.001, fourth moment 0.0068, pair correlation
  // 0.001, P(|v| > 3) 3.6e-5; the bounds are 5 of them.
  EXPECT_NEAR(mean, 0, 0.0035);
  EXPECT_NEAR(var, 1, 0.005);
  EXPECT_NEAR(fourth / n, 3, 0.034);  // a normal's fourth moment
  EXPECT_NEAR(pair / (n / 2), 0, 0.005);
  EXPECT_NEAR(double(beyond3) / n, 0.0026998, 0.00018);
  EXPECT_NEAR(double(beyond4) / n, 6.334e-5, 2.8e-5);
}

TEST(Random, AnElementIsTheSameAloneOrByPairs) {
  const uint64_t stream = stream_seed(3, "W");
  for (uint64_t i : {0ull, 1ull, 2ull, 3ull, 1001ull, 123456789ull, (1ull << 40) + 1}) {
    double even, odd;
    normal_pair_at(stream, i / 2, even, odd);
    EXPECT_EQ(normal_at(stream, i), i % 2 ? odd : even) << i;
  }
  // Streams differ.
  EXPECT_NE(normal_at(stream_seed(3, "W"), 5), normal_at(stream_seed(3, "X"), 5));
  EXPECT_NE(normal_at(stream_seed(3, "W"), 5), normal_at(stream_seed(4, "W"), 5));
}

TEST(Random, AFilledBufferHoldsEachElementsNormalWhateverItsLength) {
  for (int64_t n : {1, 2, 7, 4097}) {  // odd lengths: the last pair is half used
    HostBuffer b(DType::f32, {n});
    fill_normal(b, 42, 0.5, 0.02);
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(b.get(size_t(i)), double(float(0.5 + 0.02 * normal_at(42, uint64_t(i))))) << n << " " << i;
  }
}

}  // namespace
}  // namespace ks
