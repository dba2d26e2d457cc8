/* ksearch
{ "task": "swiglu_mlp", "name": "bulk_gemv",
  "params":  { "KC": [1024, 512, 768, 256], "STAGES": [2, 3, 4, 6], "CONSUMERS": [8, 4], "WR": [1, 2], "MT": [2, 1],
               "GRID": [132, 264] },
  "let":     { "STRIDE": "KC * 2 + 64", "LD": "8 * MT + 1",
               "SMEM_UP": "STAGES * (32 * WR + 8 * MT) * STRIDE + STAGES * 16 + CONSUMERS * 32 * WR * LD * 4",
               "SMEM_DOWN": "STAGES * (16 * WR + 8 * MT) * STRIDE + STAGES * 16 + CONSUMERS * 16 * WR * LD * 4" },
  "applies": "M <= 8 * MT && SMEM_UP <= 227 * 1024",
  "workspace": { "h": "M * I * 2" },
  "steps": [
    { "kernel": "gate_up", "grid": ["min(GRID, cdiv(I, 16 * WR))"], "block": ["32 * (CONSUMERS + 1)"],
      "smem": "SMEM_UP",
      "args": ["X", "Wgu", "h", "M", "H", "I"] },
    { "kernel": "down", "grid": ["min(GRID, cdiv(H, 16 * WR))"], "block": ["32 * (CONSUMERS + 1)"],
      "smem": "SMEM_DOWN",
      "args": ["h", "Wd", "Y", "M", "H", "I"] } ] }
*/
// Regime: decode, M <= 8 * MT; Hopper (sm_90: TMA bulk copies).
// Idea: mma_gemv's two kernels fed by the TMA: a producer warp per block streams weight rows
//   with 1-D bulk copies into a STAGES-deep ring of KC-wide K slices: tens of KiB in flight per SM.
// Layout: GRID persistent blocks (a multiple of the SM count) walk tiles of WR x 16 weight rows,
//   the ring running on across tiles; CONSUMERS warps split a slot's 32-wide K chunks (mma.sync).
// Measured: ncu on mma_gemv at M=1: loads capped near 2 TB/s with half the warp slots idle.
// Not: per-lane 16-byte loads (mma_gemv): from 8 to 16 rows at once they are limited by what the
//   load units can track; bulk copies keep the bytes in flight with a handful of instructions.
#include <cuda_bf16.h>
#include <ks/bulk_copy.cuh>
#include <ks/mma_gemv.cuh>

#if !defined(KC) || !defined(STAGES) || !defined(CONSUMERS) || !defined(WR) || !defined(MT) || !defined(GRID)
#error "KC, STAGES, CONSUMERS, WR, MT and GRID come from the plan's params"
#endif
#if KC % 32 != 0 || STAGES < 2 || CONSUMERS < 1 || CONSUMERS > 15
#error "KC a multiple of 32; STAGES >= 2; 1..15 consumer warps"
#endif

// Rows padded to KC * 2 + 64 bytes: the 8 lanes of a shared-memory phase (rows g, g + 1) hit
// distinct banks. Each slot also holds the slice of X (or h) for its K range, after the weight
// rows, so consumers read only shared memory.
// STRIDE (the plan's let, KC * 2 + 64): bytes per row in a slot.

// LD (the plan's let, 8 * MT + 1): the partials' row stride (odd: banks).

__device__ __forceinline__ float silu_mul(float g, float u) {
  return g / (1.0f + expf(-g)) * u;  // expf(-g) = inf for very negative g gives -0: the limit
}

// tile_sum(part, ROWS, r, m): D[r][m] = sum_k W[r][k] X[m][k] from the consumers' partials.
__device__ __forceinline__ float tile_sum(const float* part, int rows, int r, int m) {
  float sum = 0.0f;
#pragma unroll
  for (int w = 0; w < CONSUMERS; ++w) sum += part[(w * rows + r) * LD + m];
  return sum;
}

// The stream shared by both kernels. TILES tiles of 16 weight rows per block tile; row_of(tile, r)
// is the global pointer of the tile's weight row r (0 .. 16 TILES - 1), or nullptr past the
// matrix; X is M x K. epilogue(tile, part) runs on the consumer threads (threadIdx.x <
// 32 * CONSUMERS) once the tile's K is done. The blocks are persistent and the ring runs on
// across tiles, so the stream never drains between tiles and no wave is left half full.
template <int TILES, class RowOf, class Epilogue>
__device__ __forceinline__ void stream_gemv(unsigned char* smem, const __nv_bfloat16* X, int M, int K,
                                            int tiles, RowOf row_of, Epilogue epilogue) {
  constexpr int ROWS = 16 * TILES, SROWS = ROWS + 8 * MT, SLOT = SROWS * STRIDE;
  unsigned long long* full = reinterpret_cast<unsigned long long*>(smem + STAGES * SLOT);
  unsigned long long* empty = full + STAGES;
  float* part = reinterpret_cast<float*>(empty + STAGES);  // [CONSUMERS][ROWS][LD]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int ksteps = (K + KC - 1) / KC, xrows = min(M, 8 * MT);

  if (threadIdx.x == 0) {
    for (int s = 0; s < STAGES; ++s) ks::mbarrier_init(&full[s], 1), ks::mbarrier_init(&empty[s], CONSUMERS);
    ks::fence_mbarrier_init();
  }
  __syncthreads();

  if (warp == CONSUMERS) {  // the producer warp: its lanes issue a slot's copies together
    const unsigned long long policy = ks::l2_evict_first_policy();
    int q = 0;  // slot uses so far: slot q % STAGES, its (q / STAGES)-th use
    for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x)
      for (int kst = 0; kst < ksteps; ++kst, ++q) {
        const int slot = q % STAGES, k0 = kst * KC;
        if (q >= STAGES) ks::mbarrier_wait(&empty[slot], (q / STAGES - 1) & 1);
        const unsigned bytes = min(KC, K - k0) * 2;  // K % 8 == 0: a multiple of 16
        // Lane l copies weight rows l, l + 32, ... and X row l (l < xrows <= 16).
        int mine = lane < xrows;
        for (int r = lane; r < ROWS; r += 32) mine += row_of(tile, r) != nullptr;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) mine += __shfl_xor_sync(0xffffffffu, mine, o);
        if (lane == 0) ks::mbarrier_arrive_expect_tx(&full[slot], mine * bytes);
        __syncwarp();  // the slot's byte count is announced before any of its copies can land
        unsigned char* s = smem + slot * SLOT;
        for (int r = lane; r < ROWS; r += 32)
          if (const __nv_bfloat16* w = row_of(tile, r))
            ks::bulk_copy_stream(s + r * STRIDE, w + k0, bytes, &full[slot], policy);
        if (lane < xrows) ks::bulk_copy(s + (ROWS + lane) * STRIDE, X + (size_t)lane * K + k0, bytes, &full[slot]);
      }
    return;
  }

  // Consumers. Rows a slot did not receive (past the matrix, or X rows >= M) hold stale bytes:
  // they only reach D rows or columns that are never stored.
  const int g = lane / 4, t = lane % 4;
  const uint4 zero = make_uint4(0, 0, 0, 0);
  float d[TILES][MT][4] = {};
  int q = 0;
  for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    for (int kst = 0; kst < ksteps; ++kst, ++q) {
      const int slot = q % STAGES, k0 = kst * KC;
      ks::mbarrier_wait(&full[slot], (q / STAGES) & 1);
      const unsigned char* s = smem + slot * SLOT;
// ks/mma_gemv.cuh's mma_gemv_chunk, W rows on the 16-row side: lane (g, t) takes elements
// 8t..8t+7 of rows g, g + 8 of a chunk: the k = 2t, 2t+1, 2t+8, 2t+9 of two k16 mmas.
#pragma unroll 2
      for (int c = warp; c < KC / 32; c += CONSUMERS) {
        const int k = c * 32 + 8 * t;  // this lane's 8 elements of the chunk
        const bool in = k0 + k < K;    // the last slice may be short
        uint4 w[2 * TILES], x[MT];
#pragma unroll
        for (int r = 0; r < 2 * TILES; ++r)
          w[r] = in ? *reinterpret_cast<const uint4*>(s + (16 * (r / 2) + g + 8 * (r % 2)) * STRIDE + 2 * k) : zero;
#pragma unroll
        for (int i = 0; i < MT; ++i)
          x[i] = in ? *reinterpret_cast<const uint4*>(s + (ROWS + 8 * i + g) * STRIDE + 2 * k) : zero;
        ks::mma_gemv_chunk(d, w, x);
      }
      __syncwarp();
      if (lane == 0) ks::mbarrier_arrive(&empty[slot]);  // this warp is done reading the slot
    }
    // At the tile's end the consumers sum their partials in shared memory and store.
    ks::mma_gemv_store<TILES, MT, LD>(part + warp * ROWS * LD, d);
    ks::named_barrier_sync(1, 32 * CONSUMERS);
    epilogue(tile, part);
    ks::named_barrier_sync(1, 32 * CONSUMERS);  // partials read before the next tile's overwrite
#pragma unroll
    for (int v = 0; v < TILES; ++v)
#pragma unroll
      for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int e = 0; e < 4; ++e) d[v][i][e] = 0.0f;
  }
}

// Both kernels: __launch_bounds__(threads, 1): without the minimum of one block per SM, ptxas
// kept `down` at 56 registers and spilled 48 bytes at the default variant (as mma_gemv's kernels
// once did).
// gate_up: a tile is WR x 16 gate rows and the same rows of up (the merged [2I, H] Wgu), so the
// epilogue writes h[m, i] = bf16(silu(gate) * up) from on-chip sums.
extern "C" __global__ void __launch_bounds__(32 * (CONSUMERS + 1), 1)
    gate_up(const __nv_bfloat16* X, const __nv_bfloat16* Wgu, __nv_bfloat16* h, int M, int H, int I) {
  extern __shared__ __align__(128) unsigned char smem[];
  // Tile rows 0 .. 16 WR - 1: gate rows i0 + r; rows 16 WR ..: up rows I + i0 + r - 16 WR.
  auto row_of = [&](int tile, int r) -> const __nv_bfloat16* {
    const int up = r >= 16 * WR, i = tile * 16 * WR + r - (up ? 16 * WR : 0);
    return i < I ? Wgu + ((size_t)(up ? I : 0) + i) * H : nullptr;
  };
  auto epilogue = [&](int tile, const float* part) {
    for (int o = threadIdx.x; o < 16 * WR * M; o += 32 * CONSUMERS) {
      const int r = o % (16 * WR), m = o / (16 * WR), i = tile * 16 * WR + r;  // i fastest: coalesced
      if (i < I)
        h[(size_t)m * I + i] = __float2bfloat16_rn(
            silu_mul(tile_sum(part, 32 * WR, r, m), tile_sum(part, 32 * WR, 16 * WR + r, m)));
    }
  };
  stream_gemv<2 * WR>(smem, X, M, H, (I + 16 * WR - 1) / (16 * WR), row_of, epilogue);
}

// down: a tile is WR x 16 rows of Wd; Y^T = Wd h^T over K = I.
extern "C" __global__ void __launch_bounds__(32 * (CONSUMERS + 1), 1)
    down(const __nv_bfloat16* h, const __nv_bfloat16* Wd, __nv_bfloat16* Y, int M, int H, int I) {
  extern __shared__ __align__(128) unsigned char smem[];
  auto row_of = [&](int tile, int r) -> const __nv_bfloat16* {
    const int n = tile * 16 * WR + r;
    return n < H ? Wd + (size_t)n * I : nullptr;
  };
  auto epilogue = [&](int tile, const float* part) {
    for (int o = threadIdx.x; o < 16 * WR * M; o += 32 * CONSUMERS) {
      const int r = o % (16 * WR), m = o / (16 * WR), n = tile * 16 * WR + r;
      if (n < H) Y[(size_t)m * H + n] = __float2bfloat16_rn(tile_sum(part, 16 * WR, r, m));
    }
  };
  stream_gemv<WR>(smem, h, M, I, (H + 16 * WR - 1) / (16 * WR), row_of, epilogue);
}
