/* ksearch
{ "task": "softmax_matmul", "name": "reference",
  "params": {},
  "workspace": { "p": "B * M * N * 4" },
  "steps": [
    { "kernel": "ref_softmax", "grid": ["B * M"], "block": ["256"],
      "args": ["S", "p", "N"] },
    { "kernel": "ref_batched_gemm", "grid": ["cdiv(D, 32)", "cdiv(M, 32)", "B"], "block": ["32", "8"],
      "args": ["p", "V", "O", "M", "N", "D"] } ] }
*/
// The fp32 GPU reference: trusted, so plain code and no shared helpers. Output O is fp32.
// Step 1: P[b,m,:] = softmax(S[b,m,:]) in fp32, one block per (b, m) row: the row max, then the
//         sum of exp(s - max) (max subtracted, so logits of magnitude 80 do not overflow), then
//         P = exp(s - max) / sum, written to the fp32 workspace p. Accurate expf, no fast math.
// Step 2: O[b,m,d] = sum_n P[b,m,n] * V[b,n,d], a 32x32 smem-tiled fp32 GEMM per batch (grid z).
#include <cuda_bf16.h>

#define REF_THREADS 256  // must match the plan's block for ref_softmax (a power of two)
#define TILE 32          // output tile is TILE x TILE; the block is TILE x 8 threads
#define ROWS_PER_THREAD (TILE / 8)
#define REF_NEG_INF __uint_as_float(0xff800000u)  // -inf without <math.h>'s INFINITY

// Tree reduction over the block of REF_THREADS values in red[]; op is max or sum. Every thread
// must call it; every thread gets the result. red is reused by the next call.
__device__ float ref_block_reduce(float v, float* red, bool is_max) {
  red[threadIdx.x] = v;
  __syncthreads();
  for (int stride = REF_THREADS / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) {
      const float o = red[threadIdx.x + stride];
      red[threadIdx.x] = is_max ? fmaxf(red[threadIdx.x], o) : red[threadIdx.x] + o;
    }
    __syncthreads();
  }
  const float r = red[0];
  __syncthreads();  // everyone has read red[0] before a next call overwrites it
  return r;
}

extern "C" __global__ void ref_softmax(const __nv_bfloat16* S, float* P, int N) {
  __shared__ float red[REF_THREADS];
  const size_t row = blockIdx.x;
  const __nv_bfloat16* s = S + row * (size_t)N;
  float* p = P + row * (size_t)N;

  float mx = REF_NEG_INF;
  for (int n = threadIdx.x; n < N; n += REF_THREADS) mx = fmaxf(mx, __bfloat162float(s[n]));
  mx = ref_block_reduce(mx, red, true);

  float sum = 0.0f;
  for (int n = threadIdx.x; n < N; n += REF_THREADS) sum += expf(__bfloat162float(s[n]) - mx);
  sum = ref_block_reduce(sum, red, false);

  const float inv = 1.0f / sum;  // sum >= 1: the max element contributes exp(0)
  for (int n = threadIdx.x; n < N; n += REF_THREADS) p[n] = expf(__bfloat162float(s[n]) - mx) * inv;
}

// Block (TILE, 8), batch b = blockIdx.z: thread (tx, ty) computes O[b, m0 + ty + 8*i, d0 + tx]
// for i < ROWS_PER_THREAD.
extern "C" __global__ void ref_batched_gemm(const float* P, const __nv_bfloat16* V, float* O,
                                            int M, int N, int D) {
  __shared__ float a[TILE][TILE + 1];  // a[row][k] = P[b, m0+row, k0+k]
  __shared__ float v[TILE][TILE + 1];  // v[k][col] = V[b, k0+k, d0+col]
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int d0 = blockIdx.x * TILE, m0 = blockIdx.y * TILE;
  const size_t b = blockIdx.z;
  const float* Pb = P + b * (size_t)M * N;
  const __nv_bfloat16* Vb = V + b * (size_t)N * D;
  float acc[ROWS_PER_THREAD];
  for (int i = 0; i < ROWS_PER_THREAD; ++i) acc[i] = 0.0f;

  for (int k0 = 0; k0 < N; k0 += TILE) {
    for (int i = 0; i < ROWS_PER_THREAD; ++i) {
      const int row = ty + 8 * i;
      const int m = m0 + row, ka = k0 + tx;  // a: row m, column ka (coalesced along n)
      const int kv = k0 + row, d = d0 + tx;  // v: row kv, column d (coalesced along d)
      a[row][tx] = (m < M && ka < N) ? Pb[(size_t)m * N + ka] : 0.0f;
      v[row][tx] = (kv < N && d < D) ? __bfloat162float(Vb[(size_t)kv * D + d]) : 0.0f;
    }
    __syncthreads();
    for (int kk = 0; kk < TILE; ++kk) {
      const float w = v[kk][tx];
      for (int i = 0; i < ROWS_PER_THREAD; ++i) acc[i] += a[ty + 8 * i][kk] * w;
    }
    __syncthreads();
  }

  const int d = d0 + tx;
  for (int i = 0; i < ROWS_PER_THREAD; ++i) {
    const int m = m0 + ty + 8 * i;
    if (m < M && d < D) O[(b * M + m) * (size_t)D + d] = acc[i];
  }
}
