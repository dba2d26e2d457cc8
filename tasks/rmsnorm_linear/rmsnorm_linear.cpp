#include "tasks/rmsnorm_linear/rmsnorm_linear.h"

#include <cmath>

#include "base/parallel.h"
#include "base/random.h"
#include "tasks/hard_rows.h"

namespace ks {
namespace {

// The default; Llama-3 models use 1e-5, which runs and the exported library pass at run time.
constexpr double kEps = 1e-6;

class RmsnormLinear final : public Task {
 public:
  std::string name() const override { return "rmsnorm_linear"; }
  std::string semantics() const override {
    return "Y = (X * rsqrt(mean(X^2, -1) + eps) * gamma) @ W^T";
  }
  std::vector<std::string> size_symbols() const override { return {"M", "K", "N"}; }
  std::vector<BufferSpec> buffers() const override {
    return {{"X", DType::bf16, {"M", "K"}, Role::in, {0.0, 1.0}},
            {"gamma", DType::bf16, {"K"}, Role::in, {1.0, 0.25}},
            {"W", DType::bf16, {"N", "K"}, Role::in, {0.0, 0.02}},
            {"Y", DType::bf16, {"M", "N"}, Role::out}};
  }
  std::vector<Constant> constants() const override {
    return {{"eps", kEps, "added to the mean of squares of a row before the square root", true}};
  }
  // Rows 16-byte aligned, so vector loads need no tail code.
  std::vector<std::string> constraints() const override { return {"K % 8 == 0", "N % 8 == 0"}; }
  std::vector<Shape> search_shapes() const override {
    return {mk(1, 4096, 4096), mk(16, 4096, 6144), mk(128, 4096, 4096), mk(512, 4096, 4096),
            mk(2048, 4096, 6144)};
  }
  std::vector<Shape> audit_shapes() const override {
    return {mk(3, 2048, 5632), mk(48, 5120, 1280), mk(200, 3072, 8192), mk(1000, 8192, 2560)};
  }
  // bf16 output: 2^-9 relative rounding, plus bf16 rounding of a normalized intermediate.
  Tolerance tolerance() const override { return {5e-2, 1e-2}; }

  void generate_inputs(const Shape& s, uint64_t seed, InputKind kind,
                       HostBuffers& in) const override {
    in = random_inputs(s, seed);
    if (kind == InputKind::hard) make_hard_rows(in.at("X"), s.at("M"), s.at("K"), seed);
  }

  std::vector<double> cpu_reference_row(const Shape& s, const Constants& c, const HostBuffers& in,
                                        const std::string&, int64_t m) const override {
    const int64_t K = s.at("K"), N = s.at("N");
    const HostBuffer &x = in.at("X"), &g = in.at("gamma"), &w = in.at("W");
    double ss = 0;
    for (int64_t k = 0; k < K; ++k) ss += x.get(m * K + k) * x.get(m * K + k);
    const double r = 1 / std::sqrt(ss / K + c.at("eps"));
    std::vector<double> xg(static_cast<size_t>(K)), y(static_cast<size_t>(N));
    for (int64_t k = 0; k < K; ++k) xg[k] = x.get(m * K + k) * g.get(k);
    parallel_for(static_cast<size_t>(N), [&](size_t b, size_t e) {
      for (size_t n = b; n < e; ++n) {
        double dot = 0;
        for (int64_t k = 0; k < K; ++k) dot += xg[k] * w.get(n * K + k);
        y[n] = dot * r;
      }
    }, 256);
    return y;
  }

  double flops(const Shape& s) const override {
    const double M = s.at("M"), K = s.at("K"), N = s.at("N");
    return 2 * M * N * K + 3 * M * K;
  }
  double min_bytes(const Shape& s) const override {
    const double M = s.at("M"), K = s.at("K"), N = s.at("N");
    return 2 * (M * K + K + N * K + M * N);
  }
  std::filesystem::path reference_plan() const override {
    return "tasks/rmsnorm_linear/reference.cu";
  }

 private:
  static Shape mk(int64_t M, int64_t K, int64_t N) { return {{"M", M}, {"K", K}, {"N", N}}; }
};

}  // namespace

const Task& rmsnorm_linear_task() {
  static const RmsnormLinear task;
  return task;
}

}  // namespace ks
