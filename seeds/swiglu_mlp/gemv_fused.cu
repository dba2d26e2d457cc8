/* ksearch
{ "task": "swiglu_mlp", "name": "gemv_fused",
  "params":    { "THREADS": [128, 256], "ROWS": [1, 2, 4] },
  "applies":   "M <= 16",
  "workspace": { "h": "M * I * 2" },
  "steps": [
    { "kernel": "gate_up", "grid": ["cdiv(I, THREADS / 32 * ROWS)"], "block": ["THREADS"],
      "args": ["X", "Wgu", "h", "M", "H", "I"] },
    { "kernel": "down", "grid": ["cdiv(H, THREADS / 32 * ROWS)"], "block": ["THREADS"],
      "args": ["h", "Wd", "Y", "M", "H", "I"] } ] }
*/
// Decode seed (M <= 16): the MLP is two weight streams, so it is memory-bound; each weight byte
// is read once. Step 1 streams the gate and up rows i of the merged Wgu together (16-byte
// evict-first loads) and dots both with every row of X (small, served from L1/L2), in fp32, then
// writes h[m,i] = bf16(silu(g) * u): the gate and up values never leave registers, so the
// baseline's [M, 2I] round trip and its silu-and-mul launch are gone. Step 2 streams each Wd row
// once and dots it with every row of h. Both steps give each warp ROWS output columns: its lanes
// split the reduction dimension in 8-element chunks and a warp shuffle sums them, so there is no
// block barrier. ROWS trades the X (or h) loads per weight load against registers.
#include <cuda_bf16.h>
#include <ks/reduce.cuh>
#include <ks/vec.cuh>

#if !defined(THREADS) || !defined(ROWS)
#error "THREADS and ROWS come from the plan's params"
#endif
#if THREADS % 32 != 0 || THREADS > 1024 || ROWS < 1
#error "THREADS must be a multiple of 32, at most 1024; ROWS at least 1"
#endif

#define WARPS (THREADS / 32)
// X rows per pass over the weights: at most 64 fp32 accumulators per thread (gate_up keeps two
// per (row, column) pair). M above the chunk stays correct; it re-reads the weights (from L2).
#define GU_MCHUNK (32 / ROWS < 16 ? 32 / ROWS : 16)
#define DOWN_MCHUNK (64 / ROWS < 16 ? 64 / ROWS : 16)

// __launch_bounds__(THREADS, 1): without the explicit minimum of one block per SM, ptxas chose
// a lower register target for `down` and spilled (ROWS=2 with THREADS=128, ROWS=4 with 256).

__device__ __forceinline__ float silu_mul(float g, float u) {
  return g / (1.0f + expf(-g)) * u;  // expf(-g) = inf for very negative g gives -0: the limit
}

// Warp w of block b owns columns i0 = (b * WARPS + w) * ROWS .. i0 + ROWS - 1 of h, for all M.
extern "C" __global__ void __launch_bounds__(THREADS, 1)
    gate_up(const __nv_bfloat16* X, const __nv_bfloat16* Wgu, __nv_bfloat16* h, int M, int H,
            int I) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int i0 = (blockIdx.x * WARPS + warp) * ROWS;
  if (i0 >= I) return;  // uniform over the warp, and the kernel has no block barrier
  const __nv_bfloat16* Wg = Wgu;                  // Wgu[0]: gate, rows 0..I-1 of [2I, H]
  const __nv_bfloat16* Wu = Wgu + (size_t)I * H;  // Wgu[1]: up
  const int chunks = H / 8;                       // H % 8 == 0

  for (int m0 = 0; m0 < M; m0 += GU_MCHUNK) {
    float g[GU_MCHUNK][ROWS], u[GU_MCHUNK][ROWS];
#pragma unroll
    for (int i = 0; i < GU_MCHUNK; ++i)
#pragma unroll
      for (int r = 0; r < ROWS; ++r) g[i][r] = u[i][r] = 0.0f;

    for (int c = lane; c < chunks; c += 32) {
      float wg[ROWS][8], wu[ROWS][8];
#pragma unroll
      for (int r = 0; r < ROWS; ++r) {
        if (i0 + r < I) {
          ks::unpack8(ks::load8_stream(Wg + (size_t)(i0 + r) * H + 8 * c), wg[r]);
          ks::unpack8(ks::load8_stream(Wu + (size_t)(i0 + r) * H + 8 * c), wu[r]);
        } else {
#pragma unroll
          for (int j = 0; j < 8; ++j) wg[r][j] = wu[r][j] = 0.0f;
        }
      }
#pragma unroll
      for (int i = 0; i < GU_MCHUNK; ++i) {
        if (m0 + i < M) {
          float x[8];
          ks::unpack8(ks::load8(X + (size_t)(m0 + i) * H + 8 * c), x);
#pragma unroll
          for (int j = 0; j < 8; ++j)
#pragma unroll
            for (int r = 0; r < ROWS; ++r) {
              g[i][r] += x[j] * wg[r][j];
              u[i][r] += x[j] * wu[r][j];
            }
        }
      }
    }

#pragma unroll
    for (int i = 0; i < GU_MCHUNK; ++i) {
      if (m0 + i < M) {  // uniform over the warp, so every lane reaches the shuffles
#pragma unroll
        for (int r = 0; r < ROWS; ++r) {
          const float gs = ks::warp_sum(g[i][r]), us = ks::warp_sum(u[i][r]);
          // Every lane holds the sums; spread the stores (and their expf) over the lanes.
          if (lane == (i * ROWS + r) % 32 && i0 + r < I)
            h[(size_t)(m0 + i) * I + i0 + r] = __float2bfloat16_rn(silu_mul(gs, us));
        }
      }
    }
  }
}

// Warp w of block b owns columns n0 = (b * WARPS + w) * ROWS .. n0 + ROWS - 1 of Y, for all M:
// Y[m,n] = sum_i h[m,i] * Wd[n,i].
extern "C" __global__ void __launch_bounds__(THREADS, 1)
    down(const __nv_bfloat16* h, const __nv_bfloat16* Wd, __nv_bfloat16* Y, int M, int H, int I) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int n0 = (blockIdx.x * WARPS + warp) * ROWS;
  if (n0 >= H) return;  // uniform over the warp, and the kernel has no block barrier
  const int chunks = I / 8;  // I % 8 == 0

  for (int m0 = 0; m0 < M; m0 += DOWN_MCHUNK) {
    float acc[DOWN_MCHUNK][ROWS];
#pragma unroll
    for (int i = 0; i < DOWN_MCHUNK; ++i)
#pragma unroll
      for (int r = 0; r < ROWS; ++r) acc[i][r] = 0.0f;

    for (int c = lane; c < chunks; c += 32) {
      float w[ROWS][8];
#pragma unroll
      for (int r = 0; r < ROWS; ++r) {
        if (n0 + r < H) {
          ks::unpack8(ks::load8_stream(Wd + (size_t)(n0 + r) * I + 8 * c), w[r]);
        } else {
#pragma unroll
          for (int j = 0; j < 8; ++j) w[r][j] = 0.0f;
        }
      }
#pragma unroll
      for (int i = 0; i < DOWN_MCHUNK; ++i) {
        if (m0 + i < M) {
          float x[8];
          ks::unpack8(ks::load8(h + (size_t)(m0 + i) * I + 8 * c), x);
#pragma unroll
          for (int j = 0; j < 8; ++j)
#pragma unroll
            for (int r = 0; r < ROWS; ++r) acc[i][r] += x[j] * w[r][j];
        }
      }
    }

#pragma unroll
    for (int i = 0; i < DOWN_MCHUNK; ++i) {
      if (m0 + i < M) {  // uniform over the warp, so every lane reaches the shuffles
#pragma unroll
        for (int r = 0; r < ROWS; ++r) {
          const float s = ks::warp_sum(acc[i][r]);
          if (lane == (i * ROWS + r) % 32 && n0 + r < H)
            Y[(size_t)(m0 + i) * H + n0 + r] = __float2bfloat16_rn(s);
        }
      }
    }
  }
}
