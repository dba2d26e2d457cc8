/* ksearch
{ "task": "rmsnorm_linear", "name": "reference",
  "params": {},
  "workspace": { "rinv": "M * 4" },
  "steps": [
    { "kernel": "ref_row_rinv", "grid": ["M"], "block": ["256"],
      "args": ["X", "rinv", "K", "eps"] },
    { "kernel": "ref_gemm", "grid": ["cdiv(N, 32)", "cdiv(M, 32)"], "block": ["32", "8"],
      "args": ["X", "gamma", "W", "rinv", "Y", "M", "N", "K"] } ] }
*/
// The fp32 GPU reference: trusted, so plain code and no shared helpers. Output Y is fp32.
// Step 1: r[m] = 1 / sqrt(mean_k X[m,k]^2 + eps), one block per row, fp32 tree reduction.
// Step 2: Y[m,n] = r[m] * sum_k (X[m,k] * gamma[k]) * W[n,k], a 32x32 smem-tiled fp32 GEMM.
#include <cuda_bf16.h>

#define REF_THREADS 256  // must match the plan's block for ref_row_rinv (a power of two)
#define TILE 32          // output tile is TILE x TILE; the block is TILE x 8 threads
#define ROWS_PER_THREAD (TILE / 8)

extern "C" __global__ void ref_row_rinv(const __nv_bfloat16* X, float* rinv, int K, float eps) {
  __shared__ float partial[REF_THREADS];
  const int m = blockIdx.x;
  const __nv_bfloat16* x = X + (size_t)m * K;
  float ss = 0.0f;
  for (int k = threadIdx.x; k < K; k += REF_THREADS) {
    const float v = __bfloat162float(x[k]);
    ss += v * v;
  }
  partial[threadIdx.x] = ss;
  __syncthreads();
  for (int stride = REF_THREADS / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) rinv[m] = 1.0f / sqrtf(partial[0] / (float)K + eps);
}

// Block (TILE, 8): thread (tx, ty) computes Y[m0 + ty + 8*i, n0 + tx] for i < ROWS_PER_THREAD.
extern "C" __global__ void ref_gemm(const __nv_bfloat16* X, const __nv_bfloat16* gamma,
                                    const __nv_bfloat16* W, const float* rinv, float* Y,
                                    int M, int N, int K) {
  __shared__ float a[TILE][TILE + 1];  // a[row][k] = X[m0+row, k0+k] * gamma[k0+k]
  __shared__ float b[TILE][TILE + 1];  // b[col][k] = W[n0+col, k0+k]
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int n0 = blockIdx.x * TILE, m0 = blockIdx.y * TILE;
  float acc[ROWS_PER_THREAD];
  for (int i = 0; i < ROWS_PER_THREAD; ++i) acc[i] = 0.0f;

  for (int k0 = 0; k0 < K; k0 += TILE) {
    const int k = k0 + tx;  // each thread loads column tx of rows ty, ty+8, ...
    for (int i = 0; i < ROWS_PER_THREAD; ++i) {
      const int row = ty + 8 * i;
      const int m = m0 + row, n = n0 + row;
      a[row][tx] = (m < M && k < K)
                       ? __bfloat162float(X[(size_t)m * K + k]) * __bfloat162float(gamma[k])
                       : 0.0f;
      b[row][tx] = (n < N && k < K) ? __bfloat162float(W[(size_t)n * K + k]) : 0.0f;
    }
    __syncthreads();
    for (int kk = 0; kk < TILE; ++kk) {
      const float w = b[tx][kk];
      for (int i = 0; i < ROWS_PER_THREAD; ++i) acc[i] += a[ty + 8 * i][kk] * w;
    }
    __syncthreads();
  }

  const int n = n0 + tx;
  for (int i = 0; i < ROWS_PER_THREAD; ++i) {
    const int m = m0 + ty + 8 * i;
    if (m < M && n < N) Y[(size_t)m * N + n] = rinv[m] * acc[i];
  }
}
