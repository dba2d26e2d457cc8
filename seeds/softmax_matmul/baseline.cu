/* ksearch
{ "task": "softmax_matmul", "name": "baseline",
  "params": {},
  "workspace": { "p": "B * M * N * 2" },
  "steps": [
    { "kernel": "softmax", "grid": ["B * M"], "block": ["min(1024, max(32, cdiv(N / 8, 32) * 32))"],
      "args": ["S", "p", "N"] },
    { "gemm": { "a": "p", "b": "V", "d": "O", "m": "M", "n": "D", "k": "N", "batch": "B" } } ] }
*/
// Regime: the reference plan for every shape; sm_80+.
// Idea: the unfused pipeline a serving engine runs today: a row softmax kernel, then cuBLASLt.
// Layout: step 1 writes P = bf16(softmax(S)) to the workspace; step 2 a batched cuBLASLt GEMM
//   O[b] = P[b] @ V[b].
// Measured: not measured alone (the baseline the other seeds are timed against).
#include <cuda_bf16.h>
#include <ks/reduce.cuh>
#include <ks/vec.cuh>

#define NEG_INF __uint_as_float(0xff800000u)

// Max of v over the whole block; every thread must call it and gets the max. Same contract as
// ks::block_sum (thread count a multiple of 32, at most 1024; scratch: 32 floats of shared memory).
__device__ __forceinline__ float block_max(float v, float* scratch) {
  const int tid = threadIdx.x, warps = blockDim.x / 32;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  __syncthreads();
  if (tid % 32 == 0) scratch[tid / 32] = v;
  __syncthreads();
  v = tid % 32 < warps ? scratch[tid % 32] : NEG_INF;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// One block per (b, m) row; each thread takes 8-element chunks tid, tid + blockDim, ... of it.
// Pass 1 keeps a running (max, sum of exp(s - max)) per thread, rescaling the sum when the max
// grows, then merges them over the block. Pass 2 reads the row again (from L1/L2) and writes P.
extern "C" __global__ void __launch_bounds__(1024) softmax(const __nv_bfloat16* S, __nv_bfloat16* P, int N) {
  __shared__ float scratch[32];
  const size_t row = blockIdx.x;
  const __nv_bfloat16* s = S + row * (size_t)N;
  __nv_bfloat16* p = P + row * (size_t)N;
  const int chunks = N / 8;

  float mx = NEG_INF, sum = 0.0f;
  for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
    float v[8];
    ks::unpack8(ks::load8(s + 8 * c), v);
    float cmax = v[0];
#pragma unroll
    for (int j = 1; j < 8; ++j) cmax = fmaxf(cmax, v[j]);
    const float mnew = fmaxf(mx, cmax);
    sum *= __expf(mx - mnew);  // mx = -inf on the first chunk: exp(-inf) = 0, and sum is 0
#pragma unroll
    for (int j = 0; j < 8; ++j) sum += __expf(v[j] - mnew);
    mx = mnew;
  }
  const float row_max = block_max(mx, scratch);
  // A thread without chunks has sum 0 and mx = -inf: it adds 0 (never exp(-inf - -inf)).
  const float total = ks::block_sum(sum > 0.0f ? sum * __expf(mx - row_max) : 0.0f, scratch);
  const float inv = 1.0f / total;  // total >= 1: the max element contributes exp(0)

  for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
    float v[8];
    ks::unpack8(ks::load8(s + 8 * c), v);
#pragma unroll
    for (int j = 0; j < 8; ++j) v[j] = __expf(v[j] - row_max) * inv;
    ks::store8(p + 8 * c, ks::pack8(v));
  }
}
