/* ksearch
{ "task": "swiglu_mlp", "name": "wgmma_gate_up",
  "params":    { "BM": [64, 128, 256], "BN": [128, 256, 64, 112, 224], "STAGES": [4, 3, 5, 6], "INFLIGHT": [0, 1] },
  "let":       { "THREADS": "BM * 2", "TILE_BYTES": "(BM + BN) * 128", "SMEM": "STAGES * TILE_BYTES + 1024" },
  "applies":   "M >= 17 && STAGES >= 3 + INFLIGHT && SMEM <= 227 * 1024 && (BM < 256 || BN <= 128) && (BM == 64 || 2 * M > BM)",
  "workspace": { "h": "M * I * 2" },
  "steps": [
    { "kernel": "gate_up", "grid": ["cdiv(M, BM)", "cdiv(I, BN / 2)"], "block": ["THREADS"],
      "smem": "SMEM",
      "args": ["X", "Wgu", "h", "M", "H", "I"] },
    { "gemm": { "a": "h", "b": "Wd", "d": "Y", "m": "M", "n": "H", "k": "I", "trans_b": true } } ] }
*/
// Regime: batched decode and prefill, M >= 17; Hopper sm_90a.
// Idea: the baseline's gate-up GEMM and silu-and-mul in one wgmma GEMM, its epilogue writing
//   h = bf16(silu(gate) * up) from fp32 (no [M, 2I] round trip, no launch); cuBLASLt: Y = h @ Wd^T.
// Layout: a BM x BN tile's BN weight rows are BN / 2 gate rows and the same up rows (two halves of
//   one B tile): one wgmma m64nBNk16 gives gate and up of a column i to one thread.
// Measured: H100, whole plan: M = 64 133 us (BN=64); M = 256 168 us (BM=128, BN=224), baseline 172.
// Not: 128 x 256 or 256 x 128 tiles at M = 256: 224 blocks, 1.7 waves on 132 SMs, and BM < M
//   multiplies the L2 -> SM weight traffic: hence BM=128, BN=224 and BM=256, BN=112 (see below).
#include <cuda_bf16.h>
#include <ks/cp_async.cuh>
#include <ks/tile_loader.cuh>
#include <ks/vec.cuh>
#include <ks/wgmma.cuh>

#if !defined(BM) || !defined(BN) || !defined(STAGES) || !defined(INFLIGHT)
#error "BM, BN, STAGES and INFLIGHT come from the plan's params"
#endif
#define BK 64
// THREADS (the plan's let): BM / 64 warpgroups of 128 threads
#define HN (BN / 2)                    // columns of h per block (gate rows = up rows = HN)
// TILE_BYTES (the plan's let): per slot, A tile (BM rows), gate rows, up rows
// Tiles loaded ahead of the one being multiplied. The slot of tile kt + PREFETCH is the one that
// wgmma group kt - 1 - INFLIGHT read, which every warpgroup has waited for before the barrier of
// iteration kt: refilling it right after that barrier is safe.
#define PREFETCH (STAGES - 1 - INFLIGHT)
static_assert(BM % 64 == 0 && HN % 8 == 0, "64-row warpgroups; whole swizzle atoms per half-tile");
// M = 256 (gate-up ~60 GFLOP, as long on the tensor cores as the weight stream on DRAM):
// (a) tiles of 128 x 256 or 256 x 128 make 224 blocks, 1.7 waves on 132 SMs (ncu: SMs busy 80% of
// the kernel); BN = 224 (BM=128) or 112 (BM=256) make 256 blocks, two nearly whole waves, hence
// wgmma m64n112k16 / m64n224k16 (in ks/wgmma.cuh) and HalfTileLoader below. (b) Each M block loads
// its weight tile into its own shared memory, so BM < M multiplies the L2 -> SM weight traffic;
// BM=256 (4 warpgroups, BN <= 128 for registers) loads each once. H100, whole plan, baseline
// 172 us: BM=128, BN=256 187; BM=256, BN=128 179; BM=256, BN=112, STAGES=4 172; BM=128, BN=224,
// STAGES=5, INFLIGHT=1 168.
static_assert(BM < 256 || BN <= 128, "4 warpgroups x 128 threads leave 128 registers a thread");
static_assert(BN == 64 || BN == 112 || BN == 128 || BN == 224 || BN == 256,
              "wgmma m64nBNk16 exists for these");
// INFLIGHT=1 keeps one wgmma group in flight across the barrier (wgmma_wait<1>), at the price of
// one tile less of prefetch (the slot the previous group reads cannot be refilled yet); it helped
// little elsewhere.
static_assert(INFLIGHT == 0 || INFLIGHT == 1, "at most one wgmma group in flight");
static_assert(PREFETCH >= 1, "at least one tile loads while another is multiplied");

// The weight half-tiles: ks::SwizzledTileLoader where HN * 8 chunks split evenly over the threads;
// otherwise (e.g. HN = 56 or 112 over 256 threads) a thread's last copy may fall past the
// half-tile's HN rows, and is then not issued at all (its zeros would land on the other half).
template <int ROWS, int NT, bool RAGGED = (ROWS * 8 % NT != 0)>
struct HalfTileLoader : ks::SwizzledTileLoader<ROWS, NT> {
  __device__ __forceinline__ HalfTileLoader(const __nv_bfloat16* m, int rows, int cols, int ld,
                                            int row0)
      : ks::SwizzledTileLoader<ROWS, NT>(m, rows, cols, ld, row0) {}
};
template <int ROWS, int NT>
struct HalfTileLoader<ROWS, NT, true> {
  static_assert(ROWS % 8 == 0 && NT % 64 == 0, "whole swizzle atoms; one phase per thread");
  static constexpr int kRowStep = NT / 8, kCopies = (ROWS + kRowStep - 1) / kRowStep;
  const __nv_bfloat16* src;  // row row0 + thread / 8, column 8 * (thread % 8), as ks's loader
  const __nv_bfloat16* base;
  long long step;
  int col, cols, dst;
  unsigned rows_ok;          // bit j: this thread's j-th row exists in the matrix
  bool last_in_tile;         // this thread's last row is inside the half-tile
  __device__ __forceinline__ HalfTileLoader(const __nv_bfloat16* m, int rows, int cols_, int ld,
                                            int row0)
      : base(m), step((long long)kRowStep * ld), col(8 * (threadIdx.x % 8)), cols(cols_) {
    const int r = threadIdx.x / 8;
    src = m + (long long)(row0 + r) * ld + col;
    rows_ok = 0;
#pragma unroll
    for (int j = 0; j < kCopies; ++j) rows_ok |= (row0 + r + j * kRowStep < rows ? 1u : 0u) << j;
    last_in_tile = r + (kCopies - 1) * kRowStep < ROWS;
    dst = r * 128 + (((threadIdx.x % 8) ^ (r & 7)) << 4);
  }
  __device__ __forceinline__ void load(unsigned char* tile, int k0) const {
    const bool col_ok = k0 + col < cols;
#pragma unroll
    for (int j = 0; j < kCopies; ++j) {
      const bool ok = col_ok && (rows_ok >> j & 1u);
      if (j < kCopies - 1 || last_in_tile)
        ks::cp_async16_zfill(tile + dst + j * kRowStep * 128, ok ? src + j * step + k0 : base, ok);
    }
  }
};


#define CAT3(a, b, c) a##b##c
#define XCAT3(a, b, c) CAT3(a, b, c)
#define WGMMA XCAT3(ks::wgmma_ss_m64n, BN, k16)  // ks::wgmma_ss_m64n<BN>k16

__device__ __forceinline__ float silu_mul(float g, float u) {
  return g / (1.0f + expf(-g)) * u;  // expf(-g) = inf for very negative g gives -0: the limit
}

// M = 64 is memory-bound (it streams 235 MB of Wgu against 15 GFLOP): what matters is weight
// bytes in flight on every SM. The default BM=64, BN=128, STAGES=4 takes 4 * 192 * 128 + 1024 =
// 97 KiB of shared memory and 120 registers x 128 threads, so two blocks fit on an SM (228 KiB per
// SM, 1 KiB of it reserved per block): the 1 x 224 grid of I = 14336 is resident at once, with
// STAGES - 1 tiles of 16 KiB of weights in flight per block, and one block's prologue and epilogue
// overlap the other's stream. (Some SMs hold two blocks and some one; with DRAM the bottleneck
// that costs little, an SM can pull far more than 1/132 of it.) H100, whole plan: one block per
// SM, STAGES=5, measured no slower, 136 against 139 us (the kernel at 2.6 TB/s); BN=64 (448
// blocks, 2 to 3 per SM) best, 133 us.
// Block (bx, by): rows m0 = bx * BM .. of X and h, columns i0 = by * HN .. of h. H % 8 == 0 and
// I % 8 == 0: 16-byte chunks are wholly inside or outside the matrices, and the pairs of h columns
// a thread stores are both valid or both not.
extern "C" __global__ void __launch_bounds__(THREADS, 1)
    gate_up(const __nv_bfloat16* X, const __nv_bfloat16* Wgu, __nv_bfloat16* h, int M, int H,
            int I) {
  extern __shared__ unsigned char smem_raw[];
  // Slots start 1024-byte aligned (the swizzle atoms), whatever the dynamic base's alignment; the
  // up half of a B tile starts HN * 128 bytes in, a multiple of 1024 too (HN % 8 == 0).
  unsigned char* smem = smem_raw + ((1024 - ks::smem_addr(smem_raw) % 1024) % 1024);
  const int tid = threadIdx.x, wg = tid / 128, warp = tid % 128 / 32, lane = tid % 32;
  const int m0 = blockIdx.x * BM, i0 = blockIdx.y * HN;
  auto stage_base = [&](int kt) { return smem + (kt % STAGES) * TILE_BYTES; };

  // Rows past M (X) and past I (gate and up, each an I x H matrix) land as zeros.
  const ks::SwizzledTileLoader<BM, THREADS> a_loader(X, M, H, H, m0);
  const HalfTileLoader<HN, THREADS> g_loader(Wgu, I, H, H, i0);
  const HalfTileLoader<HN, THREADS> u_loader(Wgu + (size_t)I * H, I, H, H, i0);
  auto load_tile = [&](int kt) {
    unsigned char* s = stage_base(kt);
    a_loader.load(s, kt * BK);
    g_loader.load(s + BM * 128, kt * BK);
    u_loader.load(s + (BM + HN) * 128, kt * BK);
  };

  float acc[BN / 2];
#pragma unroll
  for (int i = 0; i < BN / 2; ++i) acc[i] = 0.0f;
  const int k_tiles = (H + BK - 1) / BK;
#pragma unroll
  for (int s = 0; s < PREFETCH; ++s) {
    if (s < k_tiles) load_tile(s);
    ks::cp_async_commit();  // empty groups too: the wait counts below stay uniform
  }

  // The main loop is wgmma_fused's without the RMSNorm: A (X) and B (Wgu) flow through a
  // STAGES-deep cp.async ring of 128-byte-swizzled 64-wide K tiles straight to wgmma, one
  // barrier per K tile. Blocks run M-fastest (blockIdx.x), so the blocks sharing a weight tile
  // are in flight together and the weights, the bulk of the traffic (2 I H bf16 against M H),
  // are read from DRAM once.
  for (int kt = 0; kt < k_tiles; ++kt) {
    ks::cp_async_wait<PREFETCH - 1>();  // tile kt has landed (this thread's copies)
    // This thread's landed copies become visible to wgmma (the async proxy); the barrier makes
    // everyone's visible, and (see PREFETCH) frees the slot refilled below.
    ks::fence_proxy_async();
    __syncthreads();

    const unsigned char* s = stage_base(kt);
    const unsigned long long da = ks::wgmma_desc_sw128(s + wg * 64 * 128);
    const unsigned long long db = ks::wgmma_desc_sw128(s + BM * 128);  // gate rows, then up rows
    ks::wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < BK / 16; ++kk) WGMMA(acc, da + 2 * kk, db + 2 * kk, 1);
    ks::wgmma_commit();

    // While the tensor cores work: the loads of tile kt + PREFETCH.
    if (kt + PREFETCH < k_tiles) load_tile(kt + PREFETCH);
    ks::cp_async_commit();
    ks::wgmma_wait<INFLIGHT>();  // group kt - INFLIGHT done: its slot frees at the next barrier
    ks::wgmma_fence_operands(acc);
  }
  ks::wgmma_wait<0>();
  ks::wgmma_fence_operands(acc);
  ks::cp_async_wait<0>();  // only empty groups are left; no copy outlives the block

  // gate and up stay fp32 here, with no bf16 rounding as the baseline has.
  // Epilogue: warp w of warpgroup wg holds rows 64 wg + 16 w + g (+ 8); acc[4j ..] holds gate
  // columns 8j + 2t (+ 1) for j < BN/16, and acc[4(j + BN/16) ..] the up values of those columns.
  const int g = lane / 4, t = lane % 4;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int m = m0 + wg * 64 + warp * 16 + g + 8 * r;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < BN / 16; ++j) {
      const int i = i0 + 8 * j + 2 * t;
      const float* gate = acc + 4 * j + 2 * r;
      const float* up = acc + 4 * (j + BN / 16) + 2 * r;
      if (i < I)
        *reinterpret_cast<unsigned*>(h + (size_t)m * I + i) =
            ks::pack2(silu_mul(gate[0], up[0]), silu_mul(gate[1], up[1]));
    }
  }
}
