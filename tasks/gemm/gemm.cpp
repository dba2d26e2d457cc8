#include "tasks/gemm/gemm.h"

#include "base/parallel.h"
#include "base/random.h"
#include "tasks/hard_rows.h"

namespace ks {
namespace {

// A plain GEMM with no fusion: its baseline is one cuBLASLt call, so `ksearch eval` of a
// candidate times a GEMM mainloop against cuBLASLt on the GEMM shapes of the fused tasks.
class Gemm final : public Task {
 public:
  std::string name() const override { return "gemm"; }
  std::string semantics() const override { return "Y = X @ W^T"; }
  std::vector<std::string> size_symbols() const override { return {"M", "K", "N"}; }
  std::vector<BufferSpec> buffers() const override {
    return {{"X", DType::bf16, {"M", "K"}, Role::in, {0.0, 1.0}},
            {"W", DType::bf16, {"N", "K"}, Role::in, {0.0, 0.02}},
            {"Y", DType::bf16, {"M", "N"}, Role::out}};
  }
  std::vector<Constant> constants() const override { return {}; }
  // Rows 16-byte aligned, so vector loads need no tail code.
  std::vector<std::string> constraints() const override { return {"K % 8 == 0", "N % 8 == 0"}; }
  // The GEMMs of the other tasks: rmsnorm_linear's five, then swiglu_mlp's (H = 4096,
  // I = 14336) gate-up (N = 2I over K = H) and down (N = H over K = I) at each of its M.
  std::vector<Shape> search_shapes() const override {
    std::vector<Shape> r = {mk(1, 4096, 4096), mk(16, 4096, 6144), mk(128, 4096, 4096),
                            mk(512, 4096, 4096), mk(2048, 4096, 6144)};
    for (int64_t m : {1, 16, 64, 256}) {
      r.push_back(mk(m, 4096, 28672));
      r.push_back(mk(m, 14336, 4096));
    }
    return r;
  }
  // Ragged M and N (not multiples of 64 or 128), so a tiled kernel's edges are checked.
  std::vector<Shape> audit_shapes() const override {
    return {mk(3, 2048, 5632), mk(100, 4096, 11008), mk(777, 3072, 1000), mk(1000, 8192, 2560)};
  }
  // bf16 output: 2^-9 relative rounding, as rmsnorm_linear's.
  Tolerance tolerance() const override { return {5e-2, 1e-2}; }

  void generate_inputs(const Shape& s, uint64_t seed, InputKind kind,
                       HostBuffers& in) const override {
    in = random_inputs(s, seed);
    if (kind == InputKind::hard) make_hard_rows(in.at("X"), s.at("M"), s.at("K"), seed);
  }

  std::vector<double> cpu_reference_row(const Shape& s, const Constants&, const HostBuffers& in,
                                        const std::string&, int64_t m) const override {
    const int64_t K = s.at("K"), N = s.at("N");
    const HostBuffer &x = in.at("X"), &w = in.at("W");
    std::vector<double> xr(static_cast<size_t>(K)), y(static_cast<size_t>(N));
    for (int64_t k = 0; k < K; ++k) xr[k] = x.get(m * K + k);
    parallel_for(static_cast<size_t>(N), [&](size_t b, size_t e) {
      for (size_t n = b; n < e; ++n) {
        double dot = 0;
        for (int64_t k = 0; k < K; ++k) dot += xr[k] * w.get(n * K + k);
        y[n] = dot;
      }
    }, 256);
    return y;
  }

  double flops(const Shape& s) const override {
    const double M = s.at("M"), K = s.at("K"), N = s.at("N");
    return 2 * M * N * K;
  }
  double min_bytes(const Shape& s) const override {
    const double M = s.at("M"), K = s.at("K"), N = s.at("N");
    return 2 * (M * K + N * K + M * N);
  }
  std::filesystem::path reference_plan() const override { return "tasks/gemm/reference.cu"; }

 private:
  static Shape mk(int64_t M, int64_t K, int64_t N) { return {{"M", M}, {"K", K}, {"N", N}}; }
};

}  // namespace

const Task& gemm_task() {
  static const Gemm task;
  return task;
}

}  // namespace ks
