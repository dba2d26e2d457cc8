#include "agent/export/timing_kernels.h"

#include "evaluator/timer.h"

namespace ks::exporter {

namespace {

// No period and no host work: each element from its own 64-bit hash (splitmix64's finalizer of
// seed + (i + 1) * golden ratio), two 24-bit uniforms, Box-Muller. Rounded to the dtype with
// cvt.rn, so no header is needed; a grid-stride loop, so any grid fills any size.
constexpr const char* kFillSource = R"(
extern "C" __global__ void ks_fill_normal(void* p, unsigned long long n, int dtype, float mean, float stddev,
                                          unsigned long long seed) {
  for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (unsigned long long)gridDim.x * blockDim.x) {
    unsigned long long h = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
    h ^= h >> 31;
    const float u1 = (float((h >> 40) & 0xFFFFFF) + 1.0f) * 5.9604645e-8f;  // (0, 1]
    const float u2 = float(h & 0xFFFFFF) * 5.9604645e-8f;                  // [0, 1)
    const float v = mean + stddev * sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2);
    if (dtype == 0 || dtype == 1) {
      unsigned short b;
      if (dtype == 0) asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(b) : "f"(v));
      else asm("cvt.rn.f16.f32 %0, %1;" : "=h"(b) : "f"(v));
      static_cast<unsigned short*>(p)[i] = b;
    } else if (dtype == 2) {
      static_cast<float*>(p)[i] = v;
    } else if (dtype == 3) {
      static_cast<double*>(p)[i] = v;
    } else {
      static_cast<int*>(p)[i] = __float2int_rn(v);
    }
  }
}
)";

}  // namespace

std::string timing_kernels_source() { return std::string(l2_flush_source()) + kFillSource; }

}  // namespace ks::exporter
