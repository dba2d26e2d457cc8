#include "evaluator/ceilings.h"

#include <algorithm>
#include <functional>
#include <vector>

#include "base/random.h"

namespace ks {

double Ceilings::floor_us(double flops, double bytes) const {
  return 1e6 * std::max(flops / flops_per_s, bytes / bytes_per_s);
}

// Median milliseconds of `reps` runs of fn after two warm-ups.
static double median_ms(const std::function<void()>& fn, cudaStream_t stream, int reps) {
  Event start = make_event(), stop = make_event();
  std::vector<float> ms;
  for (int i = 0; i < reps + 2; ++i) {
    KS_CUDA(cudaEventRecord(start.get(), stream));
    fn();
    KS_CUDA(cudaEventRecord(stop.get(), stream));
    KS_CUDA(cudaEventSynchronize(stop.get()));
    float t;
    KS_CUDA(cudaEventElapsedTime(&t, start.get(), stop.get()));
    if (i >= 2) ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

Ceilings measure_ceilings(const LtContext& lt, cudaStream_t stream) {
  Ceilings c;
  {
    const size_t bytes = size_t{1} << 30;
    DeviceMemory src(bytes), dst(bytes);
    KS_CUDA(cudaMemset(src.get(), 0x3C, bytes));
    double ms = median_ms([&] { KS_CUDA(cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice, stream)); },
                          stream, 10);
    c.bytes_per_s = 2.0 * static_cast<double>(bytes) / (ms * 1e-3);
  }
  {
    constexpr int64_t n = 8192;
    HostBuffer h(DType::bf16, {n, n});
    fill_normal(h, stream_seed(1, "ceilings"), 0.0, 1.0);  // never time a GEMM on zeros
    DeviceMemory a(h.bytes.size()), b(h.bytes.size()), d(h.bytes.size());
    upload(a.get(), h.bytes.data(), h.bytes.size());
    upload(b.get(), h.bytes.data(), h.bytes.size());
    std::map<std::string, BoundBuffer> bufs = {{"a", {a.get(), DType::bf16, a.size()}},
                                               {"b", {b.get(), DType::bf16, b.size()}},
                                               {"d", {d.get(), DType::bf16, d.size()}}};
    GemmStep step{"a", "b", "d", Expr::parse("8192"), Expr::parse("8192"), Expr::parse("8192"),
                  false, true, std::nullopt};
    LtGemm gemm(step, "ceilings", {}, bufs, lt);
    double ms = median_ms([&] { gemm.enqueue(stream); }, stream, 10);
    c.flops_per_s = 2.0 * n * n * n / (ms * 1e-3);
  }
  return c;
}

}  // namespace ks
