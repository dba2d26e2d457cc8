/* ksearch
{ "task": "swiglu_mlp", "name": "mma_gemv",
  "params":  { "KSPLIT": [8, 4, 16], "KSPLIT_D": [8, 16, 4], "WR": [1, 2], "UNROLL": [4, 2, 8],
               "MT": [2, 1, 4, 8], "PDL": [0, 1] },
  "applies": "M <= 8 * MT && KSPLIT * 32 * WR * (8 * MT + 1) * 4 <= 48 * 1024 && KSPLIT_D * 16 * WR * (8 * MT + 1) * 4 <= 48 * 1024",
  "workspace": { "h": "M * I * 2" },
  "steps": [
    { "kernel": "gate_up", "grid": ["cdiv(I, 16 * WR)"], "block": ["32 * KSPLIT"],
      "args": ["X", "Wgu", "h", "M", "H", "I"] },
    { "kernel": "down", "grid": ["cdiv(H, 16 * WR)"], "block": ["32 * KSPLIT_D"], "pdl": "PDL",
      "args": ["h", "Wd", "Y", "M", "H", "I"] } ] }
*/
// Regime: decode, M <= 8 * MT (up to 64); sm_80+.
// Idea: two tensor-core kernels (ks/mma_gemv.cuh), each weight byte read once, 16-byte evict-first
//   loads; gate and up never leave the chip (the baseline writes [M, 2I] and reads it back).
// Layout: W rows on the 16-row side of mma.sync, X rows on the 8-wide side, loads straight into
//   fragments; gate_up: KSPLIT warps per block split H; down: Y^T = Wd h^T, KSPLIT_D warps split I.
//   PDL = 1: down is launched with programmatic dependent launch; its blocks start as gate_up's
//   last blocks run and wait (ks::pdl_wait) only before reading h.
// Measured: not measured alone.
// Not: a second pass for split-K: split-K inside the block keeps enough warps (and loads) in flight
//   when the rows alone would not fill the GPU.
#include <cuda_bf16.h>
#include <ks/mma_gemv.cuh>
#include <ks/pdl.cuh>

#if !defined(KSPLIT) || !defined(KSPLIT_D) || !defined(WR) || !defined(UNROLL) || !defined(MT) || !defined(PDL)
#error "KSPLIT, KSPLIT_D, WR, UNROLL, MT and PDL come from the plan's params"
#endif
#define ROWS (16 * WR)   // output columns (i for gate_up, n for down) per block
#define LD (8 * MT + 1)  // partials row stride (odd: banks)

__device__ __forceinline__ float silu_mul(float g, float u) {
  return g / (1.0f + expf(-g)) * u;  // expf(-g) = inf for very negative g gives -0: the limit
}

// This warp's share of `chunks` 32-wide K chunks when `splits` warps split them.
__device__ __forceinline__ void k_range(int K, int splits, int s, int& begin, int& end) {
  const int chunks = (K + 31) / 32, per = (chunks + splits - 1) / splits;
  begin = min(chunks, s * per);
  end = min(chunks, begin + per);
}

// gate_up: each warp multiplies WR tiles of 16 gate rows AND the same rows of up by its X loads,
// so gate and up of an i meet in one block; the block sums its warps' partials in shared memory
// and writes h[m, i] = bf16(silu(gate) * up) (h in bf16, as the baseline's).
extern "C" __global__ void __launch_bounds__(32 * KSPLIT)
    gate_up(const __nv_bfloat16* X, const __nv_bfloat16* Wgu, __nv_bfloat16* h, int M, int H, int I) {
  ks::pdl_launch_dependents();  // with PDL, down's blocks may take SMs this grid no longer fills
  // part[s][r][m]: rows 0..ROWS-1 gate, ROWS..2 ROWS-1 up.
  __shared__ float part[KSPLIT][2 * ROWS * LD];
  const int s = threadIdx.x / 32, i0 = blockIdx.x * ROWS;
  // Tiles 0..WR-1: gate rows i0 + 16v..; tiles WR..2WR-1: up rows I + i0 + 16v.. of the merged
  // [2I, H] Wgu. A gate row past I (last block) reads an up row: computed, never stored.
  int first[2 * WR];
#pragma unroll
  for (int v = 0; v < WR; ++v) first[v] = i0 + 16 * v, first[WR + v] = I + i0 + 16 * v;
  const ks::GemvRows<2 * WR> w(Wgu, first, 2 * I, H);
  int c_begin, c_end;
  k_range(H, KSPLIT, s, c_begin, c_end);
  float d[2 * WR][MT][4] = {};
  ks::mma_gemv_accumulate<2 * WR, MT, UNROLL>(d, w, X, M, H, c_begin, c_end);
  ks::mma_gemv_store<2 * WR, MT, LD>(part[s], d);
  __syncthreads();

  for (int o = threadIdx.x; o < ROWS * M; o += 32 * KSPLIT) {
    const int r = o % ROWS, m = o / ROWS, i = i0 + r;  // i fastest: coalesced stores
    if (i >= I) continue;
    float gs = 0.0f, us = 0.0f;
#pragma unroll
    for (int p = 0; p < KSPLIT; ++p) {
      gs += part[p][r * LD + m];
      us += part[p][(ROWS + r) * LD + m];
    }
    h[(size_t)m * I + i] = __float2bfloat16_rn(silu_mul(gs, us));
  }
}

// down: Y^T = Wd h^T the same way over K = I, KSPLIT_D warps per block.
extern "C" __global__ void __launch_bounds__(32 * KSPLIT_D)
    down(const __nv_bfloat16* h, const __nv_bfloat16* Wd, __nv_bfloat16* Y, int M, int H, int I) {
  __shared__ float part[KSPLIT_D][ROWS * LD];
  const int s = threadIdx.x / 32, n0 = blockIdx.x * ROWS;
  int first[WR];
#pragma unroll
  for (int v = 0; v < WR; ++v) first[v] = n0 + 16 * v;
  const ks::GemvRows<WR> w(Wd, first, H, I);
  int c_begin, c_end;
  k_range(I, KSPLIT_D, s, c_begin, c_end);
  ks::pdl_wait();  // h is gate_up's: with PDL, that grid may still run
  float d[WR][MT][4] = {};
  ks::mma_gemv_accumulate<WR, MT, UNROLL>(d, w, h, M, I, c_begin, c_end);
  ks::mma_gemv_store<WR, MT, LD>(part[s], d);
  __syncthreads();

  for (int o = threadIdx.x; o < ROWS * M; o += 32 * KSPLIT_D) {
    const int r = o % ROWS, m = o / ROWS, n = n0 + r;
    if (n >= H) continue;
    float sum = 0.0f;
#pragma unroll
    for (int p = 0; p < KSPLIT_D; ++p) sum += part[p][r * LD + m];
    Y[(size_t)m * H + n] = __float2bfloat16_rn(sum);
  }
}
