/* ksearch
{ "task": "rmsnorm_linear", "name": "baseline",
  "params": {},
  "workspace": { "xn": "M * K * 2" },
  "steps": [
    { "kernel": "rmsnorm", "grid": ["M"], "block": ["min(1024, max(32, cdiv(K / 8, 32) * 32))"],
      "args": ["X", "gamma", "xn", "K", "eps"] },
    { "gemm": { "a": "xn", "b": "W", "d": "Y", "m": "M", "n": "N", "k": "K", "trans_b": true } } ] }
*/
// Regime: the reference plan for every M (decode and prefill); sm_80+.
// Idea: the unfused pipeline a serving engine runs today: a one-pass RMSNorm kernel, then cuBLASLt.
// Layout: step 1 writes xn = bf16(X * r * gamma) ([M, K] workspace); step 2 GEMM Y = xn @ W^T.
// Measured: not measured alone (the baseline the other seeds are timed against).
#include <cuda_bf16.h>
#include <ks/reduce.cuh>
#include <ks/vec.cuh>

// One block per row; each thread handles 8-element chunks tid, tid + blockDim, ... of the row.
// The row is read twice (sum of squares, then normalize): the second read hits L1/L2.
extern "C" __global__ void rmsnorm(const __nv_bfloat16* X, const __nv_bfloat16* gamma,
                                   __nv_bfloat16* xn, int K, float eps) {
  __shared__ float scratch[32];
  const __nv_bfloat16* x = X + (size_t)blockIdx.x * K;
  __nv_bfloat16* y = xn + (size_t)blockIdx.x * K;
  const int chunks = K / 8;

  float ss = 0.0f;
  for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
    float v[8];
    ks::unpack8(ks::load8(x + 8 * c), v);
#pragma unroll
    for (int j = 0; j < 8; ++j) ss += v[j] * v[j];
  }
  const float r = rsqrtf(ks::block_sum(ss, scratch) / (float)K + eps);

  for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
    float v[8], g[8];
    ks::unpack8(ks::load8(x + 8 * c), v);
    ks::unpack8(ks::load8(gamma + 8 * c), g);
#pragma unroll
    for (int j = 0; j < 8; ++j) v[j] = v[j] * r * g[j];
    ks::store8(y + 8 * c, ks::pack8(v));
  }
}
