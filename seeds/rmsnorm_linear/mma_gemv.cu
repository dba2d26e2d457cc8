/* ksearch
{ "task": "rmsnorm_linear", "name": "mma_gemv",
  "params":  { "KSPLIT": [8, 2, 4, 16], "RG": [1, 2], "UNROLL": [4, 1, 2, 8], "MT": [2, 1],
               "WR": [1, 2] },
  "applies": "M <= 8 * MT && RG * KSPLIT * 16 * WR * (8 * MT + 1) * 4 + KSPLIT * 8 * MT * 4 <= 48 * 1024",
  "steps": [
    { "kernel": "rmsnorm_gemv", "grid": ["cdiv(N, 16 * WR * RG)"], "block": ["32 * KSPLIT * RG"],
      "args": ["X", "gamma", "W", "Y", "M", "N", "K", "eps"] } ] }
*/
// Regime: decode, M <= 8 * MT (at most 16); sm_80+.
// Idea: one kernel, Y^T = W (X * gamma)^T on mma.sync m16n8k16: W rows on the 16-row side, X rows
//   (MT tiles of 8) on the 8-wide side; r[m] from the same X loads scales the output at the end.
// Layout: a warp takes WR tiles of 16 W rows (sharing its X loads), a block RG groups of KSPLIT
//   warps that split K into contiguous ranges, reduced through shared memory.
// Measured: not measured alone.
// Not: a second (split-K) kernel: split-K inside the block keeps enough warps in flight when N
//   alone does not fill the GPU.
#include <cuda_bf16.h>
#include <ks/mma.cuh>
#include <ks/reduce.cuh>
#include <ks/vec.cuh>

#if !defined(KSPLIT) || !defined(RG) || !defined(UNROLL) || !defined(MT) || !defined(WR)
#error "KSPLIT, RG, UNROLL, MT and WR come from the plan's params"
#endif
#define THREADS (32 * KSPLIT * RG)
#define ROWS (16 * WR)  // W rows per warp

extern "C" __global__ void __launch_bounds__(THREADS)
    rmsnorm_gemv(const __nv_bfloat16* X, const __nv_bfloat16* gamma, const __nv_bfloat16* W,
                 __nv_bfloat16* Y, int M, int N, int K, float eps) {
  __shared__ float acc_part[RG][KSPLIT][ROWS][8 * MT + 1];  // per warp: D[W row][X row] (+1: banks)
  __shared__ float ss_part[KSPLIT][8 * MT];                 // per K range: sum of X^2 per X row
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int rg = warp / KSPLIT, s = warp % KSPLIT;
  const int n_base = (blockIdx.x * RG + rg) * ROWS;
  const uint4 zero = make_uint4(0, 0, 0, 0);

  // This warp's K range, in 32-wide chunks (K % 8 == 0: a lane's 8 elements are all in or out).
  const int chunks = (K + 31) / 32, per_split = (chunks + KSPLIT - 1) / KSPLIT;
  const int c_begin = s * per_split, c_end = min(chunks, c_begin + per_split);
  bool row_ok[2 * WR];  // this lane's W rows: n_base + 16 w + g, and + 8
  const __nv_bfloat16* w_row[2 * WR];
#pragma unroll
  for (int r = 0; r < 2 * WR; ++r) {
    const int n = n_base + 16 * (r / 2) + g + 8 * (r % 2);
    row_ok[r] = n < N;
    w_row[r] = W + (size_t)(row_ok[r] ? n : 0) * K + 8 * t;
  }

  float d[WR][MT][4] = {};
  float ss[MT] = {};
  // W is streamed once, 16-byte evict-first loads, UNROLL 32-wide K chunks in flight per warp; X
  // and gamma are small and come from L1/L2. The dot product does not care about the order of K,
  // so the loads go straight into fragments: lane (g, t) loads W[g][k0 + 8t .. +7], W[g + 8][..]
  // and X[g][k0 + 8t .. +7]; the first 4 of those 8 elements are the k = 2t, 2t+1, 2t+8, 2t+9 of
  // one k16 mma, the last 4 of a second.
  for (int c0 = c_begin; c0 < c_end; c0 += UNROLL) {
    uint4 w[UNROLL][2 * WR], x[UNROLL][MT], gm[UNROLL];
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) {  // every load of the UNROLL chunks first: all in flight
      const int k = (c0 + u) * 32 + 8 * t;
      const bool in = c0 + u < c_end && k < K;
#pragma unroll
      for (int r = 0; r < 2 * WR; ++r)
        w[u][r] = in && row_ok[r] ? ks::load8_stream(w_row[r] + (size_t)(c0 + u) * 32) : zero;
      gm[u] = in ? ks::load8(gamma + k) : zero;
#pragma unroll
      for (int i = 0; i < MT; ++i)
        x[u][i] = in && 8 * i + g < M ? ks::load8(X + (size_t)(8 * i + g) * K + k) : zero;
    }
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) {
#pragma unroll
      for (int i = 0; i < MT; ++i) {
        const uint4 xg = ks::mul8_sumsq(x[u][i], gm[u], ss[i]);  // bf16(X * gamma), sum of X^2
        const unsigned b0[2] = {xg.x, xg.y}, b1[2] = {xg.z, xg.w};
#pragma unroll
        for (int v = 0; v < WR; ++v) {
          const uint4 lo = w[u][2 * v], hi = w[u][2 * v + 1];
          const unsigned a0[4] = {lo.x, hi.x, lo.y, hi.y}, a1[4] = {lo.z, hi.z, lo.w, hi.w};
          ks::mma_bf16_16816(d[v][i], a0, b0);
          ks::mma_bf16_16816(d[v][i], a1, b1);
        }
      }
    }
  }

  // Lane (g, t) holds D[g][2t..2t+1] and D[g+8][2t..2t+1] of each tile pair, and the sum of X^2
  // of X row 8i + g over its own K elements: the 4 lanes of a group together cover the range.
#pragma unroll
  for (int i = 0; i < MT; ++i) {
    ss[i] += __shfl_xor_sync(0xffffffffu, ss[i], 1);
    ss[i] += __shfl_xor_sync(0xffffffffu, ss[i], 2);
    if (rg == 0 && t == 0) ss_part[s][8 * i + g] = ss[i];
#pragma unroll
    for (int v = 0; v < WR; ++v)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        acc_part[rg][s][16 * v + g + 8 * (e / 2)][8 * i + 2 * t + e % 2] = d[v][i][e];
  }
  __syncthreads();

  for (int o = threadIdx.x; o < RG * ROWS * 8 * MT; o += THREADS) {
    const int row = o % (RG * ROWS), m = o / (RG * ROWS), n = blockIdx.x * RG * ROWS + row;  // n fastest
    if (m >= M || n >= N) continue;
    float sum = 0.0f, sq = 0.0f;
#pragma unroll
    for (int p = 0; p < KSPLIT; ++p) {
      sum += acc_part[row / ROWS][p][row % ROWS][m];
      sq += ss_part[p][m];
    }
    Y[(size_t)m * N + n] = __float2bfloat16_rn(sum * rsqrtf(sq / (float)K + eps));
  }
}
