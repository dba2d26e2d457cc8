#include "tasks/softmax_matmul/softmax_matmul.h"

#include <algorithm>
#include <cmath>

#include "base/parallel.h"
#include "base/random.h"

namespace ks {
namespace {

class SoftmaxMatmul final : public Task {
 public:
  std::string name() const override { return "softmax_matmul"; }
  std::string semantics() const override { return "O[b] = softmax(S[b], -1) @ V[b] (softmax in fp32)"; }
  std::vector<std::string> size_symbols() const override { return {"B", "M", "N", "D"}; }
  // Queries and keys both follow the sequence length; B (batch x heads) and D are the model's.
  std::vector<std::string> bucket_symbols() const override { return {"M", "N"}; }
  std::vector<BufferSpec> buffers() const override {
    return {{"S", DType::bf16, {"B", "M", "N"}, Role::in, {0.0, 2.0}},
            {"V", DType::bf16, {"B", "N", "D"}, Role::in, {0.0, 1.0}},
            {"O", DType::bf16, {"B", "M", "D"}, Role::out}};
  }
  std::vector<Constant> constants() const override { return {}; }
  std::vector<std::string> constraints() const override { return {"N % 8 == 0", "D % 8 == 0"}; }
  std::vector<Shape> search_shapes() const override {
    return {mk(32, 1, 4096, 128), mk(32, 1, 32768, 128), mk(32, 128, 4096, 128), mk(32, 2048, 2048, 128)};
  }
  // N not a power of two, and D = 64.
  std::vector<Shape> audit_shapes() const override {
    return {mk(16, 1, 3000, 128), mk(8, 64, 1000, 64), mk(4, 333, 6000, 128), mk(2, 100, 2040, 64)};
  }
  // bf16 output; the baseline also rounds P to bf16.
  Tolerance tolerance() const override { return {5e-2, 1e-2}; }

  void generate_inputs(const Shape& s, uint64_t seed, InputKind kind, HostBuffers& in) const override {
    in = random_inputs(s, seed);
    if (kind == InputKind::hard) make_hard_logits(in.at("S"), s.at("B") * s.at("M"), s.at("N"), seed);
  }

  std::vector<double> cpu_reference_row(const Shape& s, const Constants&, const HostBuffers& in,
                                        const std::string&, int64_t row) const override {
    const int64_t M = s.at("M"), N = s.at("N"), D = s.at("D");
    const int64_t b = row / M;
    const HostBuffer &logits = in.at("S"), &v = in.at("V");
    std::vector<double> p(static_cast<size_t>(N)), o(static_cast<size_t>(D), 0.0);
    double mx = -INFINITY, sum = 0;
    for (int64_t n = 0; n < N; ++n) mx = std::max(mx, p[n] = logits.get(row * N + n));
    for (auto& x : p) sum += (x = std::exp(x - mx));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t d = 0; d < D; ++d) o[d] += p[n] / sum * v.get((b * N + n) * D + d);
    return o;
  }

  double flops(const Shape& s) const override {
    const double B = s.at("B"), M = s.at("M"), N = s.at("N"), D = s.at("D");
    return 2 * B * M * N * D + 5 * B * M * N;
  }
  double min_bytes(const Shape& s) const override {
    const double B = s.at("B"), M = s.at("M"), N = s.at("N"), D = s.at("D");
    return 2 * (B * M * N + B * N * D + B * M * D);
  }
  std::filesystem::path reference_plan() const override { return "tasks/softmax_matmul/reference.cu"; }

 private:
  static Shape mk(int64_t B, int64_t M, int64_t N, int64_t D) {
    return {{"B", B}, {"M", M}, {"N", N}, {"D", D}};
  }

  // Hard logit rows, by (row + seed) % 5: as drawn; large positive (30 to 100: exp without the
  // max subtraction overflows fp32 past 88.7); large negative (-60 to -120: exp underflows and
  // the sum is 0); one dominant logit; all equal.
  static void make_hard_logits(HostBuffer& s, int64_t rows, int64_t n, uint64_t seed) {
    enum Kind { as_drawn, large, negative, dominant, equal };
    const uint64_t u = stream_seed(seed, "S.hard");
    parallel_for(static_cast<size_t>(rows), [&](size_t b, size_t e) {
      for (size_t r = b; r < e; ++r) {
        const auto kind = static_cast<Kind>((r + seed) % 5);
        const size_t base = r * static_cast<size_t>(n);
        const size_t peak = base + static_cast<size_t>(uniform_at(u, r) * static_cast<double>(n));
        for (size_t i = base; i < base + static_cast<size_t>(n); ++i) {
          double x = s.get(i);
          switch (kind) {
            case as_drawn: break;
            case large: x = 30 + 70 * uniform_at(u, i + 1); break;
            case negative: x = -60 - 60 * uniform_at(u, i + 1); break;
            case dominant: x = i == peak ? 40.0 : x; break;
            case equal: x = 7.5; break;
          }
          s.set(i, x);
        }
      }
    }, 1);
  }
};

}  // namespace

const Task& softmax_matmul_task() {
  static const SoftmaxMatmul task;
  return task;
}

}  // namespace ks
