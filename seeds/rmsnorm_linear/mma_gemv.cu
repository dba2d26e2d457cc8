/* ksearch
{ "task": "rmsnorm_linear", "name": "mma_gemv",
  "params":  { "KSPLIT": [8, 2, 4, 16], "RG": [1, 2], "UNROLL": [4, 1, 2, 8], "MT": [2, 1] },
  "applies": "M <= 8 * MT",
  "steps": [
    { "kernel": "rmsnorm_gemv", "grid": ["cdiv(N, 16 * RG)"], "block": ["32 * KSPLIT * RG"],
      "args": ["X", "gamma", "W", "Y", "M", "N", "K", "eps"] } ] }
*/
// Decode seed (M <= 16), one kernel, on tensor cores with A and B swapped: Y^T = W (X * gamma)^T,
// so W's rows fill the 16-row side of mma.sync m16n8k16 and the few rows of X the 8-wide side
// (MT tiles of 8). Deferred normalization: the sum of X^2 is gathered from the same X loads, and
// the output scaled by r[m] = rsqrt(mean(X[m]^2) + eps) at the end.
//
// A block takes RG groups of 16 W rows; its KSPLIT warps per group split K into contiguous ranges
// (split-K inside the block: enough warps in flight when N alone does not fill the GPU, reduced
// through shared memory, no second kernel). The dot product does not care about the order of K,
// so each lane's 16-byte loads go straight into fragments: lane (g = lane / 4, t = lane % 4) loads
// W[g][k0 + 8t .. +7] and W[g + 8][..], and X[g][k0 + 8t .. +7]; the first 4 of those 8 elements
// are the "k = 2t, 2t+1, 2t+8, 2t+9" of one k16 mma, the last 4 of a second. W is streamed once,
// with 16-byte evict-first loads, UNROLL 32-wide K chunks in flight per warp; X and gamma are
// small and come from L1/L2.
#include <cuda_bf16.h>
#include <ks/mma.cuh>
#include <ks/reduce.cuh>
#include <ks/vec.cuh>

#if !defined(KSPLIT) || !defined(RG) || !defined(UNROLL) || !defined(MT)
#error "KSPLIT, RG, UNROLL and MT come from the plan's params"
#endif
#define THREADS (32 * KSPLIT * RG)

extern "C" __global__ void __launch_bounds__(THREADS)
    rmsnorm_gemv(const __nv_bfloat16* X, const __nv_bfloat16* gamma, const __nv_bfloat16* W,
                 __nv_bfloat16* Y, int M, int N, int K, float eps) {
  __shared__ float acc_part[RG][KSPLIT][16][8 * MT + 1];  // per warp: D[W row][X row] (+1: banks)
  __shared__ float ss_part[KSPLIT][8 * MT];           // per K range: sum of X^2 per X row
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int rg = warp / KSPLIT, s = warp % KSPLIT;
  const int n_base = (blockIdx.x * RG + rg) * 16;
  const uint4 zero = make_uint4(0, 0, 0, 0);

  // This warp's K range, in 32-wide chunks (K % 8 == 0: a lane's 8 elements are all in or out).
  const int chunks = (K + 31) / 32, per_split = (chunks + KSPLIT - 1) / KSPLIT;
  const int c_begin = s * per_split, c_end = min(chunks, c_begin + per_split);
  const bool row_lo = n_base + g < N, row_hi = n_base + g + 8 < N;
  const __nv_bfloat16* w_lo = W + (size_t)(row_lo ? n_base + g : 0) * K + 8 * t;
  const __nv_bfloat16* w_hi = W + (size_t)(row_hi ? n_base + g + 8 : 0) * K + 8 * t;

  float d[MT][4] = {};
  float ss[MT] = {};
  for (int c0 = c_begin; c0 < c_end; c0 += UNROLL) {
    uint4 wl[UNROLL], wh[UNROLL], x[UNROLL][MT], gm[UNROLL];
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) {  // every load of the UNROLL chunks first: all in flight
      const int k = (c0 + u) * 32 + 8 * t;
      const bool in = c0 + u < c_end && k < K;
      wl[u] = in && row_lo ? ks::load8_stream(w_lo + (size_t)(c0 + u) * 32) : zero;
      wh[u] = in && row_hi ? ks::load8_stream(w_hi + (size_t)(c0 + u) * 32) : zero;
      gm[u] = in ? ks::load8(gamma + k) : zero;
#pragma unroll
      for (int i = 0; i < MT; ++i)
        x[u][i] = in && 8 * i + g < M ? ks::load8(X + (size_t)(8 * i + g) * K + k) : zero;
    }
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) {
      float gf[8];
      ks::unpack8(gm[u], gf);
      const unsigned a0[4] = {wl[u].x, wh[u].x, wl[u].y, wh[u].y};
      const unsigned a1[4] = {wl[u].z, wh[u].z, wl[u].w, wh[u].w};
#pragma unroll
      for (int i = 0; i < MT; ++i) {
        float xf[8];
        ks::unpack8(x[u][i], xf);
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          ss[i] += xf[j] * xf[j];
          xf[j] *= gf[j];
        }
        const unsigned b0[2] = {ks::pack2(xf[0], xf[1]), ks::pack2(xf[2], xf[3])};
        const unsigned b1[2] = {ks::pack2(xf[4], xf[5]), ks::pack2(xf[6], xf[7])};
        ks::mma_bf16_16816(d[i], a0, b0);
        ks::mma_bf16_16816(d[i], a1, b1);
      }
    }
  }

  // Lane (g, t) holds D[g][2t..2t+1] and D[g+8][2t..2t+1] of each X tile, and the sum of X^2 of
  // X row 8i + g over its own K elements: the 4 lanes of a group together cover the warp's range.
#pragma unroll
  for (int i = 0; i < MT; ++i) {
    ss[i] += __shfl_xor_sync(0xffffffffu, ss[i], 1);
    ss[i] += __shfl_xor_sync(0xffffffffu, ss[i], 2);
    if (rg == 0 && t == 0) ss_part[s][8 * i + g] = ss[i];
#pragma unroll
    for (int e = 0; e < 4; ++e) acc_part[rg][s][g + 8 * (e / 2)][8 * i + 2 * t + e % 2] = d[i][e];
  }
  __syncthreads();

  for (int o = threadIdx.x; o < RG * 16 * 8 * MT; o += THREADS) {
    const int row = o % (RG * 16), m = o / (RG * 16), n = blockIdx.x * RG * 16 + row;  // n fastest
    if (m >= M || n >= N) continue;
    float sum = 0.0f, sq = 0.0f;
#pragma unroll
    for (int p = 0; p < KSPLIT; ++p) {
      sum += acc_part[row / 16][p][row % 16][m];
      sq += ss_part[p][m];
    }
    Y[(size_t)m * N + n] = __float2bfloat16_rn(sum * rsqrtf(sq / (float)K + eps));
  }
}
