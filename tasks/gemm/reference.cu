/* ksearch
{ "task": "gemm", "name": "reference",
  "params": {},
  "steps": [
    { "kernel": "ref_gemm", "grid": ["cdiv(N, 32)", "cdiv(M, 32)"], "block": ["32", "8"],
      "args": ["X", "W", "Y", "M", "N", "K"] } ] }
*/
// The fp32 GPU reference: trusted, so plain code and no shared helpers. Output Y is fp32.
// Y[m,n] = sum_k X[m,k] * W[n,k], a 32x32 smem-tiled fp32 GEMM.
#include <cuda_bf16.h>

#define TILE 32  // output tile is TILE x TILE; the block is TILE x 8 threads
#define ROWS_PER_THREAD (TILE / 8)

// Block (TILE, 8): thread (tx, ty) computes Y[m0 + ty + 8*i, n0 + tx] for i < ROWS_PER_THREAD.
extern "C" __global__ void ref_gemm(const __nv_bfloat16* X, const __nv_bfloat16* W, float* Y,
                                    int M, int N, int K) {
  __shared__ float a[TILE][TILE + 1];  // a[row][k] = X[m0+row, k0+k]
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
      a[row][tx] = (m < M && k < K) ? __bfloat162float(X[(size_t)m * K + k]) : 0.0f;
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
    if (m < M && n < N) Y[(size_t)m * N + n] = acc[i];
  }
}
