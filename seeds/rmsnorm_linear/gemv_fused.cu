/* ksearch
{ "task": "rmsnorm_linear", "name": "gemv_fused",
  "params":    { "THREADS": [128, 32, 64, 96, 160, 192, 224, 256], "ROWS": [1, 2, 3, 4, 5, 6, 7, 8],
                "MAX_M": [16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] },
  "applies":   "M <= 16",
  "workspace": { "rinv": "M * 4" },
  "steps": [
    { "kernel": "row_rinv", "grid": ["M"], "block": ["THREADS"],
      "args": ["X", "rinv", "K", "eps"] },
    { "kernel": "gemv", "grid": ["cdiv(N, ROWS)"], "block": ["THREADS"],
      "args": ["X", "gamma", "W", "rinv", "Y", "M", "N", "K"] } ] }
*/
// Regime: decode, M <= 16; sm_80+.
// Idea: deferred normalization, Y[m,n] = r[m] * sum_k (X[m,k] * gamma[k]) * W[n,k], fp32 sums.
// Layout: step 1 computes r[m]; step 2 streams each W row once (16-byte loads) and dots it with
//   every row of X * gamma (small, served from L1/L2).
// Measured: not measured alone.
#include <cuda_bf16.h>
#include <ks/reduce.cuh>
#include <ks/vec.cuh>

#if !defined(THREADS) || !defined(ROWS) || !defined(MAX_M)
#error "THREADS, ROWS and MAX_M come from the plan's params"
#endif
#if THREADS % 32 != 0 || THREADS > 1024
#error "THREADS must be a multiple of 32, at most 1024"
#endif

// MAX_M: X rows per pass over W (their accumulators live in registers); M > MAX_M stays correct
// (more passes over W) but is slow, and MAX_M far above M wastes registers.

// One block per row: rinv[m] = 1 / sqrt(mean_k X[m,k]^2 + eps), in fp32.
extern "C" __global__ void __launch_bounds__(THREADS)
    row_rinv(const __nv_bfloat16* X, float* rinv, int K, float eps) {
  __shared__ float scratch[32];
  const __nv_bfloat16* x = X + (size_t)blockIdx.x * K;
  float ss = 0.0f;
  for (int c = threadIdx.x; c < K / 8; c += THREADS) {
    float v[8];
    ks::unpack8(ks::load8(x + 8 * c), v);
#pragma unroll
    for (int j = 0; j < 8; ++j) ss += v[j] * v[j];
  }
  ss = ks::block_sum(ss, scratch);
  if (threadIdx.x == 0) rinv[blockIdx.x] = rsqrtf(ss / (float)K + eps);
}

// Block b computes columns n0 = b * ROWS .. n0 + ROWS - 1 of Y for every row m. Each thread
// takes 8-element chunks c = tid, tid + THREADS, ... of K, then the block reduces.
extern "C" __global__ void __launch_bounds__(THREADS)
    gemv(const __nv_bfloat16* X, const __nv_bfloat16* gamma, const __nv_bfloat16* W,
         const float* rinv, __nv_bfloat16* Y, int M, int N, int K) {
  __shared__ float partial[THREADS / 32][MAX_M * ROWS];  // per-warp sums
  const int n0 = blockIdx.x * ROWS;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  for (int m0 = 0; m0 < M; m0 += MAX_M) {
    float acc[MAX_M][ROWS];
#pragma unroll
    for (int i = 0; i < MAX_M; ++i)
#pragma unroll
      for (int r = 0; r < ROWS; ++r) acc[i][r] = 0.0f;

    for (int c = threadIdx.x; c < K / 8; c += THREADS) {
      float w[ROWS][8];
#pragma unroll
      for (int r = 0; r < ROWS; ++r) {
        if (n0 + r < N) {
          ks::unpack8(ks::load8_stream(W + (size_t)(n0 + r) * K + 8 * c), w[r]);
        } else {
#pragma unroll
          for (int j = 0; j < 8; ++j) w[r][j] = 0.0f;
        }
      }
      float g[8];
      ks::unpack8(ks::load8(gamma + 8 * c), g);
#pragma unroll
      for (int i = 0; i < MAX_M; ++i) {
        if (m0 + i < M) {
          float x[8];
          ks::unpack8(ks::load8(X + (size_t)(m0 + i) * K + 8 * c), x);
#pragma unroll
          for (int j = 0; j < 8; ++j) {
            const float xg = x[j] * g[j];
#pragma unroll
            for (int r = 0; r < ROWS; ++r) acc[i][r] += xg * w[r][j];
          }
        }
      }
    }

#pragma unroll
    for (int i = 0; i < MAX_M; ++i) {
      if (m0 + i < M) {  // uniform over the block, so every lane reaches the shuffles
#pragma unroll
        for (int r = 0; r < ROWS; ++r) {
          const float s = ks::warp_sum(acc[i][r]);
          if (lane == 0) partial[warp][i * ROWS + r] = s;
        }
      }
    }
    __syncthreads();
    for (int t = threadIdx.x; t < MAX_M * ROWS; t += THREADS) {
      const int m = m0 + t / ROWS, n = n0 + t % ROWS;
      if (m < M && n < N) {
        float s = 0.0f;
        for (int v = 0; v < THREADS / 32; ++v) s += partial[v][t];
        Y[(size_t)m * N + n] = __float2bfloat16_rn(s * rinv[m]);
      }
    }
    __syncthreads();  // partial is rewritten by the next pass
  }
}
