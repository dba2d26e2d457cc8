// ks/split_softmax.cuh run for real: hand-made split states of a few rows (one of them the
// partials of a real softmax(s) @ v row, cut into ranges, with a stale reference in one split;
// empty splits whose max is -inf, sum 0 and acc NaN; a split whose weight underflows to 0; a row
// with no split at all) merged on the device and compared with the host's fp64 softmax @ V.
#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gpu/gpu_test.h"
#include "gpu/jit_module.h"

namespace ks {
namespace {

using namespace gpu_test;

constexpr const char* kCombine = R"(
#include <ks/split_softmax.cuh>
// Block `row` merges row `row`; its blockDim.x lanes share the columns.
extern "C" __global__ void combine(const float* ml, const float* acc, __nv_bfloat16* O, int D,
                                   int splits) {
  ks::split_softmax_combine(ml, acc, O, blockIdx.x, D, splits, threadIdx.x, blockDim.x);
}
)";

constexpr int kSplits = 4;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// One output row: scores s[n] and V rows v[n][d] (n < N), cut into kSplits ranges [lo, hi)
// (lo == hi: empty), each state relative to its range's max minus shift[i] (0: the running max;
// > 0: a stale reference, as a lazily rescaling kernel leaves).
struct Row {
  std::vector<double> s;
  std::vector<std::vector<double>> v;
  int bounds[kSplits + 1];
  double shift[kSplits];
};

// Appends the row's states to ml and acc in the header's layout; returns the fp64 softmax @ V
// (zeros for a row with no score).
std::vector<double> add_states(const Row& r, int D, std::vector<float>& ml, std::vector<float>& acc) {
  for (int i = 0; i < kSplits; ++i) {
    const int lo = r.bounds[i], hi = r.bounds[i + 1];
    if (lo == hi) {  // empty: max -inf, sum 0, and an acc that must never be read
      ml.push_back(-INFINITY);
      ml.push_back(0.0f);
      for (int d = 0; d < D; ++d) acc.push_back(kNaN);
      continue;
    }
    double mx = -INFINITY;
    for (int n = lo; n < hi; ++n) mx = std::max(mx, r.s[n]);
    const double ref = mx - r.shift[i];
    double sum = 0;
    std::vector<double> a(D, 0.0);
    for (int n = lo; n < hi; ++n) {
      const double p = std::exp(r.s[n] - ref);
      sum += p;
      for (int d = 0; d < D; ++d) a[d] += p * r.v[n][d];
    }
    ml.push_back(static_cast<float>(ref));
    ml.push_back(static_cast<float>(sum));
    for (int d = 0; d < D; ++d) acc.push_back(static_cast<float>(a[d]));
  }
  std::vector<double> o(D, 0.0);
  if (r.s.empty()) return o;
  double mx = -INFINITY, sum = 0;
  for (double x : r.s) mx = std::max(mx, x);
  for (size_t n = 0; n < r.s.size(); ++n) {
    const double p = std::exp(r.s[n] - mx);
    sum += p;
    for (int d = 0; d < D; ++d) o[d] += p * r.v[n][d];
  }
  for (auto& x : o) x /= sum;
  return o;
}

TEST(GpuSplitSoftmax, CombineMergesSplitsSkipsEmptyOnesAndMatchesSoftmax) {
  KS_REQUIRE_GPU();
  JitModule mod(kCombine);
  std::mt19937 rng(21);
  std::normal_distribution<double> nd(0, 1);
  // D = 40 with 2 lanes: 5 chunks of 8, lane 0 takes three; D = 128 with 16 lanes: one each.
  for (auto [d_cols, n_lanes] : {std::pair{40, 2}, std::pair{128, 16}}) {
    const int D = d_cols, lanes = n_lanes;  // (lambdas below capture D)
    SCOPED_TRACE("D=" + std::to_string(D) + " lanes=" + std::to_string(lanes));
    auto make = [&](int N, std::initializer_list<int> bounds, std::initializer_list<double> shift,
                    double scale) {
      Row r;
      for (int n = 0; n < N; ++n) {
        r.s.push_back(scale * nd(rng));
        std::vector<double> vn(D);
        for (auto& x : vn) x = nd(rng);
        r.v.push_back(vn);
      }
      std::copy(bounds.begin(), bounds.end(), r.bounds);
      std::copy(shift.begin(), shift.end(), r.shift);
      return r;
    };
    std::vector<Row> rows;
    // Three even ranges and an empty one; split 1's reference is stale (2.5 below its max).
    rows.push_back(make(48, {0, 16, 32, 48, 48}, {0, 2.5, 0, 0}, 2.0));
    // Empty splits in the middle and at the end.
    rows.push_back(make(40, {0, 31, 31, 40, 40}, {0, 0, 1.0, 0}, 3.0));
    // One dominant score in split 2 (+80) over split 0's -60s: split 0's weight underflows to 0.
    {
      Row r = make(30, {0, 10, 20, 30, 30}, {0, 0, 0, 0}, 1.0);
      for (int n = 0; n < 10; ++n) r.s[n] -= 60;
      r.s[25] = 80;
      rows.push_back(r);
    }
    // No score at all: every split empty, O = 0.
    rows.push_back(make(0, {0, 0, 0, 0, 0}, {0, 0, 0, 0}, 1.0));

    std::vector<float> ml, acc;
    std::vector<std::vector<double>> want;
    for (auto& r : rows) want.push_back(add_states(r, D, ml, acc));
    const int n_rows = static_cast<int>(rows.size());
    DeviceMemory d_ml = to_device(ml), d_acc = to_device(acc), d_o(n_rows * D * 2);
    void *a = d_ml.get(), *b = d_acc.get(), *c = d_o.get();
    int d = D, splits = kSplits;
    mod.run("combine", n_rows, lanes, {&a, &b, &c, &d, &splits});
    auto o = from_device<uint16_t>(d_o);
    for (int r = 0; r < n_rows; ++r)
      for (int j = 0; j < D; ++j) {
        const double got = bf16_to_float(o[r * D + j]), ref = want[r][j];
        // bf16 rounding (2^-9 relative) plus fp32 and __expf error.
        EXPECT_NEAR(got, ref, std::ldexp(std::abs(ref), -8) + 1e-6) << "row " << r << " d " << j;
      }
    for (int j = 0; j < D; ++j) EXPECT_EQ(o[3 * D + j], 0) << "the empty row, d " << j;
  }
}

}  // namespace
}  // namespace ks
