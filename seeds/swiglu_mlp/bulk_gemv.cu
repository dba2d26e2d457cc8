/* ksearch
{ "task": "swiglu_mlp", "name": "bulk_gemv",
  "params":  { "KC": [1024, 512, 768, 256], "STAGES": [2, 3, 4, 6], "CONSUMERS": [8, 4], "WR": [1, 2], "MT": [2, 1],
               "GRIDX": [1, 2], "PDL": [1, 0], "WRD": [2, 1, 4] },
  "let":     { "STRIDE": "KC * 2 + 64", "LD": "8 * MT + 1",
               "SMEM_UP": "STAGES * (32 * WR + 8 * MT) * STRIDE + STAGES * 16 + CONSUMERS * 32 * WR * LD * 4",
               "SMEM_DOWN": "STAGES * (16 * WRD + 8 * MT) * STRIDE + STAGES * 16 + CONSUMERS * 16 * WRD * LD * 4" },
  "applies": "M <= 8 * MT && max(SMEM_UP, SMEM_DOWN) <= SMEM_MAX && GRIDX * (max(SMEM_UP, SMEM_DOWN) + 1024) <= SMEM_MAX + 1024",
  "workspace": { "h": "M * I * 2" },
  "steps": [
    { "kernel": "gate_up", "grid": ["min(GRIDX * SMS, cdiv(I, 16 * WR))"], "block": ["32 * (CONSUMERS + 1)"],
      "smem": "SMEM_UP",
      "args": ["X", "Wgu", "h", "M", "H", "I"] },
    { "kernel": "down", "grid": ["min(GRIDX * SMS, cdiv(H, 16 * WRD))"], "block": ["32 * (CONSUMERS + 1)"],
      "smem": "SMEM_DOWN", "pdl": "PDL",
      "args": ["h", "Wd", "Y", "M", "H", "I"] } ] }
*/
// Regime: decode, M <= 8 * MT; Hopper (sm_90: TMA bulk copies).
// Idea: mma_gemv's two kernels fed by the TMA (ks/stream_gemv.cuh): a producer warp per block
//   streams weight rows with 1-D bulk copies into a STAGES-deep ring of KC-wide K slices: tens
//   of KiB in flight per SM. PDL = 1: down starts as gate_up's blocks leave (gate_up lets it go
//   once its last copies are issued) and streams its first STAGES slots of Wd before pdl_wait;
//   only the slices of h wait for gate_up.
// Layout: GRIDX blocks per SM (persistent; GRIDX = 2 only where two rings fit in an SM) walk
//   tiles of weight rows (gate_up: WR x 16 gate rows and as many up rows; down: WRD x 16 rows),
//   the ring running on across tiles; CONSUMERS warps split a slot's 32-wide K chunks (mma.sync).
//   A slot holds the slice of X (or h) after its weight rows: at M = 16 that is 16 rows, so a
//   16-row tile reads as many bytes of h from L2 as of weights (ncu, H200: down at 58% of DRAM
//   bandwidth, L2 68% busy, against gate_up's 77% with 32 weight rows a slot); WRD = 2 halves it.
// Measured: H100, before PDL and GRIDX (GRID = 132): 123.5 us at M = 1 (2.85 TB/s of weights,
//   95% of the floor, 1.09x the baseline), 128.4 at M = 16 (1.06x); ncu on mma_gemv at M = 1:
//   loads capped near 2 TB/s with half the warp slots idle. PDL and GRIDX: not yet on a GPU.
// Not: per-lane 16-byte loads (mma_gemv): from 8 to 16 rows at once they are limited by what the
//   load units can track; bulk copies keep the bytes in flight with a handful of instructions.
#include <cuda_bf16.h>
#include <ks/stream_gemv.cuh>

#if !defined(KC) || !defined(STAGES) || !defined(CONSUMERS) || !defined(WR) || !defined(MT) || !defined(GRIDX) || \
    !defined(PDL) || !defined(WRD)
#error "KC, STAGES, CONSUMERS, WR, MT, GRIDX, PDL and WRD come from the plan's params"
#endif
#if KC % 32 != 0 || STAGES < 2 || CONSUMERS < 1 || CONSUMERS > 15
#error "KC a multiple of 32; STAGES >= 2; 1..15 consumer warps"
#endif

__device__ __forceinline__ float silu_mul(float g, float u) {
  return g / (1.0f + expf(-g)) * u;  // expf(-g) = inf for very negative g gives -0: the limit
}

// Both kernels: __launch_bounds__(threads, GRIDX): without the minimum of one block per SM, ptxas
// kept `down` at 56 registers and spilled 48 bytes at the default variant (as mma_gemv's kernels
// once did); GRIDX = 2 keeps two blocks' registers within an SM's.
// gate_up: a tile is WR x 16 gate rows and the same rows of up (the merged [2I, H] Wgu), so the
// epilogue writes h[m, i] = bf16(silu(gate) * up) from on-chip sums. Its producer lets down
// launch (ks::pdl_launch_dependents) once its last copies are issued.
extern "C" __global__ void __launch_bounds__(32 * (CONSUMERS + 1), GRIDX)
    gate_up(const __nv_bfloat16* X, const __nv_bfloat16* Wgu, __nv_bfloat16* h, int M, int H, int I) {
  extern __shared__ __align__(128) unsigned char smem[];
  // Tile rows 0 .. 16 WR - 1: gate rows i0 + r; rows 16 WR ..: up rows I + i0 + r - 16 WR.
  auto row_of = [&](int tile, int r) -> const __nv_bfloat16* {
    const int up = r >= 16 * WR, i = tile * 16 * WR + r - (up ? 16 * WR : 0);
    return i < I ? Wgu + ((size_t)(up ? I : 0) + i) * H : nullptr;
  };
  auto epilogue = [&](int tile, const ks::GemvPartials<2 * WR, MT, CONSUMERS>& p) {
    for (int o = threadIdx.x; o < 16 * WR * M; o += 32 * CONSUMERS) {
      const int r = o % (16 * WR), m = o / (16 * WR), i = tile * 16 * WR + r;  // i fastest: coalesced
      if (i < I) h[(size_t)m * I + i] = __float2bfloat16_rn(silu_mul(p.sum(r, m), p.sum(16 * WR + r, m)));
    }
  };
  ks::stream_gemv<2 * WR, MT, KC, STAGES, CONSUMERS, false>(smem, X, M, H, (I + 16 * WR - 1) / (16 * WR), row_of,
                                                             epilogue);
}

// down: a tile is WRD x 16 rows of Wd; Y^T = Wd h^T over K = I. PDL = 1: Wd's first STAGES
// slots are issued before ks::pdl_wait, h's slices after it.
extern "C" __global__ void __launch_bounds__(32 * (CONSUMERS + 1), GRIDX)
    down(const __nv_bfloat16* h, const __nv_bfloat16* Wd, __nv_bfloat16* Y, int M, int H, int I) {
  extern __shared__ __align__(128) unsigned char smem[];
  auto row_of = [&](int tile, int r) -> const __nv_bfloat16* {
    const int n = tile * 16 * WRD + r;
    return n < H ? Wd + (size_t)n * I : nullptr;
  };
  auto epilogue = [&](int tile, const ks::GemvPartials<WRD, MT, CONSUMERS>& p) {
    for (int o = threadIdx.x; o < 16 * WRD * M; o += 32 * CONSUMERS) {
      const int r = o % (16 * WRD), m = o / (16 * WRD), n = tile * 16 * WRD + r;
      if (n < H) Y[(size_t)m * H + n] = __float2bfloat16_rn(p.sum(r, m));
    }
  };
  ks::stream_gemv<WRD, MT, KC, STAGES, CONSUMERS, PDL != 0>(smem, h, M, I, (H + 16 * WRD - 1) / (16 * WRD), row_of,
                                                             epilogue);
}
