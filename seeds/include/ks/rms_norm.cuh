#pragma once
// One row of RMSNorm by one block, as the rmsnorm_linear baseline computes it: fp32 sum of
// squares, r = rsqrt(sum / K + eps), y = bf16(x * r * gamma). The row is read once: each thread
// holds up to kHeld 16-byte chunks of it in registers between the sum and the scaling.
// Needs K % 8 == 0 and blockDim.x a multiple of 32 with blockDim.x * 8 * kHeld >= K.
// kStreamX: X's loads bypass L1 (ld.global.cs; a row read once, never again by this kernel).
#include <cuda_bf16.h>
#include <ks/reduce.cuh>
#include <ks/vec.cuh>

namespace ks {

template <int kHeld, bool kStreamX>
__device__ __forceinline__ void rms_norm_row(const __nv_bfloat16* x, const __nv_bfloat16* gamma, __nv_bfloat16* y,
                                             int K, float eps) {
  __shared__ float scratch[32];
  const int chunks = K / 8;
  uint4 held[kHeld];
  float ss = 0.0f;
#pragma unroll
  for (int j = 0; j < kHeld; ++j) {
    const int c = threadIdx.x + j * blockDim.x;
    held[j] = c < chunks ? (kStreamX ? load8_stream(x + 8 * c) : load8(x + 8 * c)) : make_uint4(0, 0, 0, 0);
    float v[8];
    unpack8(held[j], v);
#pragma unroll
    for (int e = 0; e < 8; ++e) ss += v[e] * v[e];
  }
  const float r = rsqrtf(block_sum(ss, scratch) / (float)K + eps);
#pragma unroll
  for (int j = 0; j < kHeld; ++j) {
    const int c = threadIdx.x + j * blockDim.x;
    if (c >= chunks) break;
    float v[8], g[8];
    unpack8(held[j], v);
    unpack8(load8(gamma + 8 * c), g);
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] = v[e] * r * g[e];
    store8(y + 8 * c, pack8(v));
  }
}

}  // namespace ks
