#include "tasks/swiglu_mlp/swiglu_mlp.h"

#include <cmath>

#include "base/parallel.h"
#include "base/random.h"
#include "tasks/hard_rows.h"

namespace ks {
namespace {

// The gate and up weights come merged, as vLLM and SGLang store them (one [2I, H] matrix whose
// first I rows are the gate): Wgu[0] = Wg, Wgu[1] = Wu. The baseline's single gate-up GEMM needs
// exactly this layout, and a fused kernel loses nothing by it.
class SwigluMlp final : public Task {
 public:
  std::string name() const override { return "swiglu_mlp"; }
  std::string semantics() const override {
    return "Y = (silu(X @ Wg^T) * (X @ Wu^T)) @ Wd^T, Wg = Wgu[0], Wu = Wgu[1]";
  }
  std::vector<std::string> size_symbols() const override { return {"M", "H", "I"}; }
  std::vector<BufferSpec> buffers() const override {
    return {{"X", DType::bf16, {"M", "H"}, Role::in, {0.0, 1.0}},
            {"Wgu", DType::bf16, {"2", "I", "H"}, Role::in, {0.0, 0.02}},
            {"Wd", DType::bf16, {"H", "I"}, Role::in, {0.0, 0.02}},
            {"Y", DType::bf16, {"M", "H"}, Role::out}};
  }
  std::vector<Constant> constants() const override { return {}; }
  std::vector<std::string> constraints() const override { return {"H % 8 == 0", "I % 8 == 0"}; }
  std::vector<Shape> search_shapes() const override {
    return {mk(1, 4096, 14336), mk(16, 4096, 14336), mk(64, 4096, 14336), mk(256, 4096, 14336)};
  }
  // Llama-2-7B's MLP (4096/11008) and a small one (2048/8192), at other batch sizes.
  std::vector<Shape> audit_shapes() const override {
    return {mk(3, 4096, 11008), mk(40, 2048, 8192), mk(100, 4096, 11008), mk(512, 2048, 8192)};
  }
  // bf16 output, and bf16 roundings of the gate/up outputs and of the hidden activation.
  Tolerance tolerance() const override { return {5e-2, 1e-2}; }

  void generate_inputs(const Shape& s, uint64_t seed, InputKind kind, HostBuffers& in) const override {
    in = random_inputs(s, seed);
    if (kind == InputKind::hard) make_hard_rows(in.at("X"), s.at("M"), s.at("H"), seed);
  }

  std::vector<double> cpu_reference_row(const Shape& s, const Constants&, const HostBuffers& in,
                                        const std::string&, int64_t m) const override {
    const int64_t H = s.at("H"), I = s.at("I");
    const HostBuffer &x = in.at("X"), &wgu = in.at("Wgu"), &wd = in.at("Wd");
    std::vector<double> xr(static_cast<size_t>(H)), hidden(static_cast<size_t>(I)), y(static_cast<size_t>(H));
    for (int64_t h = 0; h < H; ++h) xr[h] = x.get(m * H + h);
    parallel_for(static_cast<size_t>(I), [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) {
        double g = 0, u = 0;
        for (int64_t h = 0; h < H; ++h) {
          g += xr[h] * wgu.get(i * H + h);
          u += xr[h] * wgu.get((I + i) * H + h);
        }
        hidden[i] = g / (1 + std::exp(-g)) * u;
      }
    }, 256);
    parallel_for(static_cast<size_t>(H), [&](size_t b, size_t e) {
      for (size_t h = b; h < e; ++h) {
        double acc = 0;
        for (int64_t i = 0; i < I; ++i) acc += hidden[i] * wd.get(h * I + i);
        y[h] = acc;
      }
    }, 256);
    return y;
  }

  double flops(const Shape& s) const override {
    const double M = s.at("M"), H = s.at("H"), I = s.at("I");
    return 6 * M * H * I + 4 * M * I;
  }
  double min_bytes(const Shape& s) const override {
    const double M = s.at("M"), H = s.at("H"), I = s.at("I");
    return 2 * (M * H + 3 * I * H + M * H);
  }
  std::filesystem::path reference_plan() const override { return "tasks/swiglu_mlp/reference.cu"; }

 private:
  static Shape mk(int64_t M, int64_t H, int64_t I) { return {{"M", M}, {"H", H}, {"I", I}}; }
};

}  // namespace

const Task& swiglu_mlp_task() {
  static const SwigluMlp task;
  return task;
}

}  // namespace ks
