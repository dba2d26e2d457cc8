#pragma once
// Warp-specialized persistent Hopper GEMM mainloop (sm_90a): D[M,N] = A[M,K] @ B[N,K]^T, bf16 in,
// fp32 accumulation, both operands K-major (nn.Linear layout), read through two TMA descriptors
// (ks/tma.cuh) whose boxes are 64 x kBM (A) and 64 x kBN (B) elements with 128B swizzle.
// The pattern of CUTLASS's sm90 "warpspecialized cooperative" kernel and DeepGEMM:
//   - 384 threads: warpgroup 0 is the producer (one thread issues every TMA load; the warpgroup
//     gives its registers back with setmaxnreg), warpgroups 1 and 2 are consumers that take
//     registers. kBM = 128: each consumer owns 64 rows of the 128 x kBN tile; kBM = 64 (M <= 64:
//     no rows of zeros multiplied): each owns kBN / 2 columns of the 64 x kBN tile.
//   - A kStages-deep ring of (A tile, B tile) slots in dynamic shared memory, each with a `full`
//     barrier (1 arrival: the producer's expect_tx; then the TMA's bytes) and an `empty` barrier
//     (2 arrivals: one thread per consumer warpgroup, once its wgmmas on the slot are done: a
//     wgmma group is the warpgroup's, so one warp's wait_group covers all four, as in CUTLASS's
//     consumer_release; one arrival per warp, 8 per slot, was the first version).
//   - Each consumer keeps one wgmma group in flight: a K slice's group is committed before the
//     previous slice's is waited for and its slot released.
//   - Persistent: the grid is at most the SM count; block b takes tiles b, b + grid, ... The ring
//     runs on across tiles, so the producer fills the next tile's slots while the consumers run the
//     current tile's epilogue. Tiles are rasterized in groups of kGroup M-tiles that sweep N
//     together (blocks running at once share B tiles and A tiles in L2).
//   - kSplitK = 2, 4 or 8 (for shapes with fewer tiles than SMs): the kernel is declared
//     __cluster_dims__(kSplitK, 1, 1); the blocks of a cluster take one tile together, each a
//     K range, and sum their partials on chip through distributed shared memory: each consumer
//     warp's rows are finished (summed, epilogue, store) by one block of the cluster, so the
//     epilogue still sees whole accumulators in registers. Measured on an H200: clusters of 4 at
//     one block per SM fill only 120 of the 132 SMs (30 clusters), so split 4 runs a second wave
//     where split 2 does not.
//   - kCluster = 2 (optional): the kernel is declared __cluster_dims__(2, 1, 1); the two blocks of
//     a cluster take M-adjacent tiles of one N column, and each loads half of the shared B tile
//     (b_map's box is then 64 x kBN / 2) and multicasts it into both blocks' slots. A slot is then
//     written by both producers, so its `empty` barrier waits for the consumers of both blocks
//     (4 arrivals: warps 0 and 1 of each consumer warpgroup arrive, one on each block's barrier,
//     in parallel). Those arrivals release at
//     block scope only (mbarrier_arrive_remote_relaxed): with release at cluster scope, once per
//     warp per K slice, the kernel ran 1.8-3x slower on an H200 (its cost, not the multicast's:
//     the same cluster without multicast but with the coupled barriers was as slow). Measured
//     since: as fast as kCluster = 1 within 1% at BN = 256 (148-149 us at 2048 x 4096 x 6144),
//     3% faster at BN = 128 with 6 stages.
//   - kConsumersSplitK (kBM = 64, no split-K cluster, identity prologue): the two consumer
//     warpgroups take alternate ring positions, each multiplying the whole 64 x kBN tile on its
//     K slices (wgmmas of N = kBN instead of kBN / 2, one arrival per slot), and warpgroup 1
//     hands its sums to warpgroup 0 through shared memory at the tile's end (the split-K
//     exchange buffer: gemm_sm90_smem_bytes(..., consumers_split_k = true)); warpgroup 0
//     finishes the tile. For tiles with little work per slot (64 x 64: M <= 128).
// Ragged M, N, K: the TMA fills boxes outside the tensors with zeros (so K need not be a multiple
// of 64), and the store checks bounds. Requirements: K % 8 == 0 (TMA global strides are 16-byte
// multiples), N even for StoreBF16; kBN 64, 128 or 256 (with kBM = 64, each consumer's kBN / 2
// columns are one wgmma of N = 32, 64 or 128); dynamic
// shared memory >= gemm_sm90_smem_bytes(kBM, kBN, kStages, kSplitK).
//
// Hooks (template functors, each called by every consumer thread):
//   Prologue: per-K scale of A. `static constexpr bool kIdentity`; when true A is read by
//     descriptor (wgmma _ss), the fast path. Otherwise `float2 operator()(int k) const` gives the
//     scales of A's columns k and k + 1 (k even; k may reach past K at a ragged edge, where A
//     reads as zeros: return anything there, but read nothing out of bounds): each consumer
//     loads its A fragments from shared memory (ldmatrix), scales them in registers (rounded back
//     to bf16) and issues the register-A form (wgmma _rs). `static constexpr bool
//     kRowSumSquares = true` (optional) also sums the squares of each A row as stored, over all
//     of K (split-K included), into GemmFrag::row_sum_squares(i) for the epilogue: RMSNorm's
//     mean(x^2) with no pass of its own.
//     KScalePrologue<kSumSquares>{scale}: the per-K scale is a bf16 vector in global memory; the
//     producer copies each slice's 64 scales into shared memory with the slot's tiles (a
//     per-fragment global load would sit on the consumers' path).
//   Epilogue: `template <int R> void operator()(float (&acc)[R], const GemmFrag& f) const`, edits
//     the accumulators in place; acc[i] is D[f.row(i)][f.col(i)] (global indices, possibly past M
//     or N at ragged edges). Row scale, column scale, residual add: elementwise over i. Pairwise
//     ops between column groups: acc[i] and acc[i + R / 2] are the same row, columns R apart
//     (kBM = 128: kBN / 2 apart, e.g. gate in the tile's first half of columns and up in the
//     second: silu(gate) * up; kBM = 64: kBN / 4 apart, within each consumer's half).
//   Store: `template <int R> void operator()(const float (&acc)[R], const GemmFrag& f) const`,
//     writes the tile's values (StoreBF16: bf16 pairs, bounds-checked). Or StoreTmaBF16, which
//     the mainloop itself carries out: through a staging tile in shared memory and TMA stores.
// Measured (H200, gpu-check.sh gemm, against cuBLASLt in the same replays): the README's table
// (0.90-1.01 with StoreTmaBF16). The hooks with runtime identity values: the epilogue 0.4-1.3%;
// the register-A prologue 2.6-11% at kBN = 256 and 26% at kBN = 128 (its ldmatrix and scaling sit
// between a slot's arrival and its wgmmas).
// Tried and measured, not kept (H200, 2026-12-03, against cuBLASLt in the same replays):
//   - The prologue in shared memory: the producer warpgroup's 3 idle warps scaled each slot's A
//     tile in place (and summed its rows' squares) between the TMA's `full` and a `ready` barrier,
//     the consumers staying on wgmma _ss. 3 warps cannot keep up: 201.6 us against 146.3 for the
//     register-A path at 2048 x 4096 x 6144 (BN = 256; 134.2 with no prologue), and RMSNorm's
//     prologue 44.3 / 253.7 us against 25.5 / 164.5 at M = 128 / 2048.
//   - Split-K through a global workspace (rank 0 adding the others' partials from L2 after a flag,
//     a first step zeroing the flags), which frees the cluster for B multicast and allows any
//     split: 18.4 us at 128 x 4096 x 4096 (cluster split: 17.8), 53.7 at 256 x 14336 x 4096 with
//     CLUSTER = 2 (53.4 without), 39.3 at 64 x 14336 x 4096 (37.8): no shape gained.
// Not done: stream-K.

// First, so that this is the message on other architectures (NVRTC stops at the first #error).
#if defined(__CUDA_ARCH__) && !defined(__CUDA_ARCH_FEAT_SM90_ALL)
#error "ks/gemm_sm90.cuh needs sm_90a (wgmma, setmaxnreg)"
#endif
#include <cuda_bf16.h>
#include <ks/cluster.cuh>
#include <ks/mma.cuh>
#include <ks/swizzle.cuh>
#include <ks/tma.cuh>
#include <ks/vec.cuh>
#include <ks/wgmma.cuh>


namespace ks {

constexpr int kGemmThreads = 384;      // producer warpgroup + 2 consumer warpgroups
constexpr int kGemmProducerRegs = 64;  // 128 * 64 + 256 * 216 <= 64 K registers per SM
constexpr int kGemmConsumerRegs = 216;

// Dynamic shared memory a kernel needs: the ring (each slot's A and B tiles, and 128 bytes for a
// KScalePrologue's 64 scales), plus slack to align it to 1024 bytes, plus
// (split_k > 1) the tile of fp32 partial sums that the blocks of a split-K cluster exchange, and
// 16 bytes per consumer thread for its rows' partial sums of squares, plus (tma_store, with
// StoreTmaBF16) the bf16 tile the TMA stores from.
__host__ __device__ constexpr int gemm_sm90_smem_bytes(int bm, int bn, int stages, int split_k = 1, bool tma_store = false,
                                                       bool consumers_split_k = false) {
  return stages * ((bm + bn) * 128 + 128) + 1024 + (split_k > 1 || consumers_split_k ? bm * bn * 4 + 4096 : 0) +
         (tma_store ? bm * bn * 2 : 0);
}

// Where this thread's accumulators sit: acc[i] is D[row(i)][col(i)] (the wgmma layout: warp w
// of consumer c, g = lane / 4, t = lane % 4: rows 64c + 16w + g (+8), columns 8j + 2t (+1)).
struct GemmFrag {
  int m0, n0;  // the tile's origin in D
  int r0, c0;  // this thread's first row and column within the tile
  // With a prologue that asks for them (kRowSumSquares): the sum over all K of A's squared
  // elements (as stored, before the prologue's scale) of row(0) and of row(2), the thread's two rows.
  float row_ss[2];
  __device__ __forceinline__ int row(int i) const { return m0 + r0 + 8 * ((i >> 1) & 1); }
  __device__ __forceinline__ int col(int i) const { return n0 + c0 + 8 * (i >> 2) + (i & 1); }
  __device__ __forceinline__ float row_sum_squares(int i) const { return row_ss[(i >> 1) & 1]; }
};

struct IdentityPrologue {
  static constexpr bool kIdentity = true;
  __device__ __forceinline__ float2 operator()(int) const { return make_float2(1.0f, 1.0f); }
};

// A per-K scale vector in global memory (K bf16, e.g. RMSNorm's gamma): the producer copies each
// K slice's 64 scales into the ring slot with its tiles, so the consumers read them from shared
// memory. kSumSquares: also the rows' sums of squares for the epilogue (GemmFrag::row_sum_squares).
template <bool kSumSquares = false>
struct KScalePrologue {
  static constexpr bool kIdentity = false;
  static constexpr bool kScaleVector = true;
  static constexpr bool kRowSumSquares = kSumSquares;
  const __nv_bfloat16* scale;  // no operator(): k_scales reads the staged copy instead
};

struct IdentityEpilogue {
  template <int R>
  __device__ __forceinline__ void operator()(float (&)[R], const GemmFrag&) const {}
};

// D -> bf16 Y[M][ldy] (round to nearest even), pairs of columns; N even.
struct StoreBF16 {
  __nv_bfloat16* Y;
  int M, N, ldy;
  template <int R>
  __device__ __forceinline__ void operator()(const float (&acc)[R], const GemmFrag& f) const {
#pragma unroll
    for (int i = 0; i < R; i += 2) {
      const int m = f.row(i), n = f.col(i);
      if (m < M && n < N) *reinterpret_cast<unsigned*>(Y + (size_t)m * ldy + n) = pack2(acc[i], acc[i + 1]);
    }
  }
};

// D -> bf16 through shared memory and TMA stores: each consumer warpgroup writes its 64 rows of
// the tile into a 128B-swizzled staging buffer (conflict-free), and one thread stores them with
// one TMA store per 64 columns, which runs on while the warpgroup starts its next tile (the
// direct StoreBF16 keeps the warpgroup issuing 4-byte stores to 8 rows per instruction instead).
// The TMA clips the ragged edges. c_map: over Y as dims {N, M}, box {64, 64}, 128B swizzle; so
// N % 8 == 0 (16-byte row stride). Needs each consumer's columns (kBN, or kBN / 2 with kBM = 64)
// a multiple of 64, split-K of at most 2 and no paired B; and gemm_sm90_smem_bytes(..., true).
struct StoreTmaBF16 {
  static constexpr bool kTmaStore = true;
  const TensorMap* c_map;
};

namespace gemm_detail {

// Whether the store is a StoreTmaBF16-like TMA store (`static constexpr bool kTmaStore`).
template <class S, class = void>
struct TmaStore {
  static constexpr bool value = false;
};
template <class S>
struct TmaStore<S, decltype(void(S::kTmaStore))> {
  static constexpr bool value = S::kTmaStore;
};

// Barrier `id` (1..15; 0 is __syncthreads) over `threads` threads: one consumer warpgroup.
__device__ __forceinline__ void named_barrier_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

// A consumer warpgroup's 64 x kWgN accumulators (epilogue applied) -> bf16 at (x0, y0) of the
// map, through `buf` (64 * kWgN * 2 bytes, 1024-aligned: kWgN / 64 swizzled 64 x 64 boxes).
// Thread 0 of the warpgroup issues the stores and, before the buffer is rewritten, waits until
// the previous tile's have read it.
template <int kWgN>
__device__ __forceinline__ void tma_store_tile(const float (&acc)[kWgN / 2], unsigned char* buf, const TensorMap* map,
                                               int x0, int y0, int c, int warp, int lane) {
  static_assert(kWgN % 64 == 0, "TMA store: 64-column boxes");
  const bool leader = threadIdx.x % 128 == 0;
  if (leader) tma_store_wait<0>();
  named_barrier_sync(1 + c, 128);
#pragma unroll
  for (int i = 0; i < kWgN / 2; i += 2) {
    const int r = warp * 16 + lane / 4 + 8 * ((i >> 1) & 1), col = 8 * (i >> 2) + 2 * (lane % 4);
    // 128B swizzle: the 16-byte chunk j of row r sits at chunk j ^ (r % 8) of the row.
    unsigned char* at = buf + (col / 64) * 8192 + r * 128 + ((((col % 64) / 8) ^ (r % 8)) * 16) + (col % 8) * 2;
    *reinterpret_cast<unsigned*>(at) = pack2(acc[i], acc[i + 1]);
  }
  tma_store_fence();  // the writes above, visible to the TMA
  named_barrier_sync(1 + c, 128);
  if (leader) {
#pragma unroll
    for (int b = 0; b < kWgN / 64; ++b) tma_store_2d(map, x0 + 64 * b, y0, buf + b * 8192);
    tma_store_commit();
  }
}

template <int kBN>
__device__ __forceinline__ void mma_ss(float (&d)[kBN / 2], unsigned long long a, unsigned long long b) {
  if constexpr (kBN == 32) wgmma_ss_m64n32k16(d, a, b, 1);
  else if constexpr (kBN == 64) wgmma_ss_m64n64k16(d, a, b, 1);
  else if constexpr (kBN == 128) wgmma_ss_m64n128k16(d, a, b, 1);
  else if constexpr (kBN == 256) wgmma_ss_m64n256k16(d, a, b, 1);
  else static_assert(kBN == 64, "kBN: 32, 64, 128 or 256");
}

template <int kBN>
__device__ __forceinline__ void mma_rs(float (&d)[kBN / 2], const unsigned (&a)[4], unsigned long long b) {
  if constexpr (kBN == 32) wgmma_rs_m64n32k16(d, a, b, 1);
  else if constexpr (kBN == 64) wgmma_rs_m64n64k16(d, a, b, 1);
  else if constexpr (kBN == 128) wgmma_rs_m64n128k16(d, a, b, 1);
  else if constexpr (kBN == 256) wgmma_rs_m64n256k16(d, a, b, 1);
  else static_assert(kBN == 64, "kBN: 32, 64, 128 or 256");
}

// Grouped rasterization: tiles kGroup M-tiles tall sweep N column by column, M fastest.
template <int kGroup>
__device__ __forceinline__ void tile_coords(int tile, int m_tiles, int n_tiles, int& mb, int& nb) {
  const int per_group = kGroup * n_tiles;
  const int first_m = tile / per_group * kGroup;
  const int rows = min(m_tiles - first_m, kGroup);
  const int in_group = tile % per_group;
  mb = first_m + in_group % rows;
  nb = in_group / rows;
}

// Whether the prologue asks for its rows' sums of squares (`static constexpr bool kRowSumSquares`;
// absent: no).
template <class P, class = void>
struct RowSumSquares {
  static constexpr bool value = false;
};
template <class P>
struct RowSumSquares<P, decltype(void(P::kRowSumSquares))> {
  static constexpr bool value = P::kRowSumSquares;
};

// Whether the prologue is a KScalePrologue-like per-K vector the producer stages
// (`static constexpr bool kScaleVector` and `const __nv_bfloat16* scale`).
template <class P, class = void>
struct ScaleVector {
  static constexpr bool value = false;
};
template <class P>
struct ScaleVector<P, decltype(void(P::kScaleVector))> {
  static constexpr bool value = P::kScaleVector;
};

// A fragment register (bf16 pair at columns k, k + 1) times the scales g, back to bf16; with
// kSumSquares, the pair's squares (as stored) are added to ss.
template <bool kSumSquares>
__device__ __forceinline__ unsigned scale_pair(unsigned v, float2 g, float& ss) {
  float lo, hi;
  unpack2(v, lo, hi);
  if constexpr (kSumSquares) ss += lo * lo + hi * hi;
  return pack2(lo * g.x, hi * g.y);
}

// The scales of columns k, k + 1 (k even): from the slot's staged vector (kScaleVector; 0 past K,
// where A reads as zeros and the staged tail is stale), else the prologue's own.
template <class Prologue>
__device__ __forceinline__ float2 k_scales(const Prologue& pro, const unsigned* staged, int k, int k_local, int K) {
  if constexpr (ScaleVector<Prologue>::value) {
    float lo, hi;
    unpack2(staged[k_local / 2], lo, hi);
    return k < K ? make_float2(lo, hi) : make_float2(0.0f, 0.0f);
  } else {
    return pro(k);
  }
}

// Issues one K slice's wgmmas (kBK = 64 of K) on the ring slot at `slot` for a consumer
// warpgroup's 64 x kWgN part of the tile: its A rows start at a_tile, its B rows at b_tile (both
// 1024-aligned). A by descriptor for an identity prologue, else through the registers `a` (loaded
// from the slot, scaled, then read by the register-A wgmma until its group completes).
// With a prologue's kRowSumSquares, ss[0] and ss[1] gather the squares of rows g and g + 8.
// `staged`: the slot's 64 staged scales (kScaleVector), as bf16 pairs.
template <int kWgN, class Prologue>
__device__ __forceinline__ void issue_slice(float (&acc)[kWgN / 2], unsigned (&a)[4][4], float (&ss)[2],
                                            const unsigned char* a_tile, const unsigned char* b_tile,
                                            const unsigned* staged, int warp, int lane, int kt, int K,
                                            const Prologue& pro) {
  constexpr bool kSS = RowSumSquares<Prologue>::value;
  static_assert(!(kSS && Prologue::kIdentity), "row sums of squares come from the register-A path");
  const unsigned long long db = wgmma_desc_sw128(b_tile);
  if constexpr (Prologue::kIdentity) {
    const unsigned long long da = wgmma_desc_sw128(a_tile);
    wgmma_fence();  // acc was written by ordinary instructions (zeroing, previous tile)
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) mma_ss<kWgN>(acc, da + 2 * kk, db + 2 * kk);
  } else {
    // A from registers: warp w's 16 rows, 16 of K per step, in the mma.sync A layout that
    // ldmatrix_x4 gives (lane l: row l % 16, 16-byte chunk 2kk + l / 16, swizzled).
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      ldmatrix_x4(a[kk], a_tile + swizzle128(warp * 16 + lane % 16, 2 * kk + lane / 16));
      const int kl = 16 * kk + 2 * (lane % 4), k = kt * 64 + kl;  // this thread's columns in the slice
      const float2 g0 = k_scales(pro, staged, k, kl, K), g8 = k_scales(pro, staged, k + 8, kl + 8, K);
      // Registers 0 and 2 hold row g, 1 and 3 row g + 8 (columns k.. and k + 8..).
      a[kk][0] = scale_pair<kSS>(a[kk][0], g0, ss[0]);
      a[kk][1] = scale_pair<kSS>(a[kk][1], g0, ss[1]);
      a[kk][2] = scale_pair<kSS>(a[kk][2], g8, ss[0]);
      a[kk][3] = scale_pair<kSS>(a[kk][3], g8, ss[1]);
    }
    wgmma_fence();  // orders the A registers' writes (and acc's) before the wgmmas
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) mma_rs<kWgN>(acc, a[kk], db + 2 * kk);
  }
}

// Ring slot `empty` is free again as far as this consumer warpgroup goes (every warp calls it
// after its wait_group): one thread arrives, lane 0 of warp 0; with B multicast (the slot is
// refilled by both blocks' copies) lane 0 of warp b arrives on block b's barrier.
template <int kCluster>
__device__ __forceinline__ void release_slot(unsigned long long* empty, int warp, int lane) {
  if (lane != 0 || warp >= kCluster) return;
  if constexpr (kCluster == 1) mbarrier_arrive(empty);
  else mbarrier_arrive_remote_relaxed(empty, warp);
}

}  // namespace gemm_detail

// The whole kernel body; call it from a __launch_bounds__(384, 1) kernel with blockDim 384,
// gridDim.x <= kCluster * kSplitK * the number of tiles (extra blocks would only idle), and dynamic
// shared memory of gemm_sm90_smem_bytes(kBM, kBN, kStages, kSplitK). The maps: a_map over A as
// dims {K, M}, box {64, kBM}; b_map over B as dims {K, N}, box {64, kBN / kCluster}; both bf16,
// 128B swizzle, zero OOB fill. kCluster = 2: the kernel has __cluster_dims__(2, 1, 1) and an even
// grid. kSplitK = 2, 4 or 8: the kernel has __cluster_dims__(kSplitK, 1, 1) and a grid that is a
// multiple of it (kCluster and kSplitK do not combine). kPairedB (for gated MLPs): B is two
// stacked halves, b_map 3-D as dims {K, N / 2, 2}, box {64, kBN / 2, 2}: tile nb's columns
// j < kBN / 2 are row nb * kBN / 2 + j of the first half and columns kBN / 2 + j the same row of
// the second (so acc[i] and acc[i + R / 2] pair them: gate and up); N is 2 x the half's rows, and
// GemmFrag's columns count tiles of kBN as if the halves were interleaved tile by tile. With
// kBM = 64 (M <= 64: no rows of zeros) consumer c takes the pairs c kBN / 4 .. (c + 1) kBN / 4 - 1
// (two wgmmas of N = kBN / 4 a step, one on its gate rows, one on its up rows; identity prologue).
template <int kBM, int kBN, int kStages, int kGroup, int kCluster = 1, int kSplitK = 1, bool kPairedB = false,
          bool kConsumersSplitK = false, class Prologue, class Epilogue, class Store>
__device__ __forceinline__ void gemm_sm90(const TensorMap* a_map, const TensorMap* b_map, int M, int N, int K,
                                          const Prologue& pro, const Epilogue& epi, const Store& store) {
  static_assert(kBM == 128 || kBM == 64, "two consumer warpgroups: of 64 rows each, or of 64 rows and half the columns");
  static_assert(kStages >= 2, "a ring");
  static_assert(kCluster == 1 || kCluster == 2, "1 or 2 blocks per cluster");
  static_assert(kSplitK == 1 || kSplitK == 2 || kSplitK == 4 || kSplitK == 8, "split-K over 1, 2, 4 or 8 blocks");
  static_assert(kCluster == 1 || kSplitK == 1, "B multicast and split-K each take the cluster");
  static_assert(!kPairedB || (kCluster == 1 && !kConsumersSplitK && (kBM == 128 || Prologue::kIdentity)),
                "paired B: each consumer holds both halves of its columns");
  static_assert(!kConsumersSplitK || (kBM == 64 && kSplitK == 1 && !kPairedB && Prologue::kIdentity),
                "consumers on alternate K slices: 64-row tiles, no cluster split-K, A by descriptor");
  static_assert(!kConsumersSplitK || kStages >= 3, "each consumer holds a slot while it waits for its next");
  constexpr bool kTmaStoreC = gemm_detail::TmaStore<Store>::value;
  static_assert(!kTmaStoreC || (kSplitK <= 2 && !kPairedB), "TMA store: each warpgroup's rows finished in one block");
  constexpr int kBK = 64;                         // one 128-byte swizzled row of K per tile row
  constexpr int kABytes = kBM * kBK * 2, kStageBytes = (kBM + kBN) * kBK * 2;
  // Consumer warpgroup c's part of the tile: kBM = 128, rows 64c.. and every column; kBM = 64
  // (for M <= 64: no rows of zeros multiplied), every row and columns c * kBN / 2 ...
  // kConsumersSplitK (kBM = 64): each consumer the whole 64 x kBN tile, on alternate K slices.
  constexpr int kWgN = kBM == 128 || kConsumersSplitK ? kBN : kBN / 2;
  constexpr int kR = kWgN / 2;                    // accumulators per consumer thread
  constexpr int kBlocks = kCluster * kSplitK;     // blocks per cluster

  extern __shared__ unsigned char gemm_smem_raw[];
  __shared__ unsigned long long full[kStages], empty[kStages];
  __shared__ unsigned long long part_full, part_empty;  // split-K: the partial-sum exchange
  // Slots 1024-byte aligned (the 128B swizzle's 8-row atoms), whatever the dynamic base's offset.
  unsigned char* ring = gemm_smem_raw + ((1024 - smem_addr(gemm_smem_raw) % 1024) % 1024);
  // Split-K: this block's fp32 partial sums of the rows the other blocks finish, [warp][kR/4][lane].
  // KScalePrologue: each slot's 64 staged scales (128 bytes), after the ring.
  // StoreTmaBF16: the bf16 tile the TMA stores from, after the ring (1024-aligned as it is).
  constexpr int kCStageBytes = kTmaStoreC ? kBM * kBN * 2 : 0;
  unsigned char* cstage = ring + kStages * kStageBytes;
  __nv_bfloat16* staged = reinterpret_cast<__nv_bfloat16*>(ring + kStages * kStageBytes + kCStageBytes);
  float4* part = reinterpret_cast<float4*>(ring + kStages * (kStageBytes + 128) + kCStageBytes);
  constexpr bool kStaged = gemm_detail::ScaleVector<Prologue>::value;

  const int wg = threadIdx.x / 128, warp = threadIdx.x % 128 / 32, lane = threadIdx.x % 32;
  const int m_tiles = (M + kBM - 1) / kBM, n_tiles = (N + kBN - 1) / kBN;
  const int k_tiles = (K + kBK - 1) / kBK;
  // Scheduling unit: kCluster M-adjacent tiles of one N column, one per block of a cluster (a
  // block whose tile lies past M still loads, multiplies zeros and stores nothing: its cluster
  // partner needs its half of B); with split-K, one tile, block `rank` of the cluster taking the
  // rank-th of kSplitK K ranges.
  const int m_units = (m_tiles + kCluster - 1) / kCluster, units = m_units * n_tiles;
  // The block's rank in its cluster (cluster_rank(), which for clusters along x is blockIdx.x %
  // kBlocks: written so, the compiler knows it is the same for the whole block, and keeps the
  // K loop it bounds free of divergence, which would serialize the wgmmas).
  const unsigned rank = blockIdx.x % kBlocks;
  const int first_unit = blockIdx.x / kBlocks, unit_stride = gridDim.x / kBlocks;
  constexpr int kUnitGroup = kGroup / kCluster > 0 ? kGroup / kCluster : 1;
  const int kt_begin = kSplitK > 1 ? (int)rank * k_tiles / kSplitK : 0;
  const int kt_end = kSplitK > 1 ? ((int)rank + 1) * k_tiles / kSplitK : k_tiles;

  if (threadIdx.x == 0) {
    prefetch_tensormap(a_map);
    prefetch_tensormap(b_map);
    for (int s = 0; s < kStages; ++s) {
      mbarrier_init(&full[s], 1);
      // One thread of each consumer warpgroup that reads the slot (of each block).
      mbarrier_init(&empty[s], (kConsumersSplitK ? 1 : 2) * kCluster);
    }
    // Split-K: each of the 8 consumer warps is finished by one block (kSplitK / 8 warps each); a
    // block's part_full counts every thread of the other blocks handing it those warps' partials,
    // its part_empty every thread of the other blocks that has read its partials.
    if constexpr (kSplitK > 1) {
      mbarrier_init(&part_full, 256 / kSplitK * (kSplitK - 1));
      mbarrier_init(&part_empty, 256 - 256 / kSplitK);
    }
    fence_mbarrier_init();  // visible to the TMA (async proxy) too, and to the cluster
  }
  if constexpr (kBlocks > 1) cluster_sync();  // every block's barriers exist before any remote use
  else __syncthreads();
  // With "pdl": true, the previous step may still run: wait before reading A / B or writing D.
  pdl_wait();

  if (wg == 0) {
    // Producer. setmaxnreg is per warpgroup: all 4 warps give registers back; one thread works.
    warpgroup_reg_dealloc<kGemmProducerRegs>();
    if (threadIdx.x == 0) {
      int it = 0;  // position in the ring, continuing across tiles (same count as the consumers)
      for (int unit = first_unit; unit < units; unit += unit_stride) {
        int mu, nb;
        gemm_detail::tile_coords<kUnitGroup>(unit, m_units, n_tiles, mu, nb);
        const int mb = kCluster > 1 ? mu * kCluster + rank : mu;
        for (int kt = kt_begin; kt < kt_end; ++kt, ++it) {
          const int s = it % kStages;
          // Slot free? Phase parity starts at 1: a fresh barrier counts as having completed it.
          mbarrier_wait(&empty[s], ((it / kStages) & 1) ^ 1);
          unsigned char* slot = ring + s * kStageBytes;
          // Full boxes, even past the edges; a staged scale slice only to K (K % 8 == 0: 16-byte
          // multiples), so a ragged last slice leaves a stale tail the consumers read as 0.
          const unsigned vec_bytes = kStaged ? 2u * (unsigned)min(kBK, K - kt * kBK) : 0u;
          mbarrier_arrive_expect_tx(&full[s], kStageBytes + vec_bytes);
          if constexpr (kStaged) bulk_copy(staged + s * kBK, pro.scale + (size_t)kt * kBK, vec_bytes, &full[s]);
          tma_load_2d(slot, a_map, kt * kBK, mb * kBM, &full[s]);
          if constexpr (kPairedB) {
            tma_load_3d(slot + kABytes, b_map, kt * kBK, nb * (kBN / 2), 0, &full[s]);  // both halves' rows
          } else if constexpr (kCluster == 1) {
            tma_load_2d(slot + kABytes, b_map, kt * kBK, nb * kBN, &full[s]);
          } else {
            // This block's half of B, into the same slot offset of both blocks, counted on each
            // block's full[s] (a peer's bytes may land before this block's expect_tx: allowed).
            constexpr int kHalf = kBN / 2;
            tma_load_2d_multicast(slot + kABytes + rank * kHalf * 128, b_map, kt * kBK, nb * kBN + rank * kHalf,
                                  &full[s], 0x3);
          }
        }
      }
      pdl_launch_dependents();
      if constexpr (kCluster > 1) {
        // Stay until both blocks' consumers are done with every slot: the peer's consumers arrive
        // remotely on this block's empty barriers, which must not outlive the block.
        for (int i = 0; i < kStages; ++i, ++it) mbarrier_wait(&empty[it % kStages], ((it / kStages) & 1) ^ 1);
      }
    }
  } else {
    // Consumers: warpgroup c = wg - 1 owns rows 64c .. 64c + 63 of each tile.
    warpgroup_reg_alloc<kGemmConsumerRegs>();
    const int c = wg - 1;
    const int cw = c * 4 + warp;  // consumer warp 0..7: rows 16cw .. 16cw + 15 of the tile
    int it = 0, tiles_done = 0;
    for (int unit = first_unit; unit < units; unit += unit_stride, ++tiles_done) {
      int mu, nb;
      gemm_detail::tile_coords<kUnitGroup>(unit, m_units, n_tiles, mu, nb);
      const int mb = kCluster > 1 ? mu * kCluster + rank : mu;
      float acc[kR];
#pragma unroll
      for (int i = 0; i < kR; ++i) acc[i] = 0.0f;
      // Each K slice's group is committed before the previous one is waited for (and its slot
      // released), so the tensor cores always have this warpgroup's next group queued. The
      // register-A path alternates between two register sets: the group in flight reads the other.
      unsigned a0[4][4], a1[4][4];
      float ss[2] = {0.0f, 0.0f};  // kRowSumSquares: this thread's share of its two rows
      auto step = [&](int kt, unsigned (&a)[4][4]) {
        const int s = it % kStages;
        mbarrier_wait(&full[s], (it / kStages) & 1);  // the slot's bytes have landed
        const unsigned char* slot = ring + s * kStageBytes;
        if constexpr (kPairedB && kBM == 64) {
          // Two wgmmas a step: the consumer's gate rows c kBN / 4 .. of the first half into
          // acc[0 .. kR / 2), its up rows (kBN / 2 later) into acc[kR / 2 ..).
          const unsigned long long da = wgmma_desc_sw128(slot);
          const unsigned long long dg = wgmma_desc_sw128(slot + kABytes + c * (kBN / 4) * 128);
          const unsigned long long du = wgmma_desc_sw128(slot + kABytes + (kBN / 2 + c * (kBN / 4)) * 128);
          float(&gate)[kR / 2] = *reinterpret_cast<float(*)[kR / 2]>(acc);
          float(&up)[kR / 2] = *reinterpret_cast<float(*)[kR / 2]>(acc + kR / 2);
          wgmma_fence();
#pragma unroll
          for (int kk = 0; kk < 4; ++kk) {
            gemm_detail::mma_ss<kWgN / 2>(gate, da + 2 * kk, dg + 2 * kk);
            gemm_detail::mma_ss<kWgN / 2>(up, da + 2 * kk, du + 2 * kk);
          }
        } else {
          gemm_detail::issue_slice<kWgN>(acc, a, ss, slot + (kBM == 128 ? c * 64 * 128 : 0),
                                         slot + kABytes + (kBM == 128 ? 0 : c * kWgN * 128),
                                         reinterpret_cast<const unsigned*>(staged + s * kBK), warp, lane, kt, K, pro);
        }
        wgmma_commit();
        wgmma_wait<1>();
        if (kt > kt_begin) gemm_detail::release_slot<kCluster>(&empty[(it - 1) % kStages], warp, lane);
        ++it;
      };
      if constexpr (kConsumersSplitK) {
        // This warpgroup takes the ring positions of its parity only (position % 2 == c), in a
        // loop of its own (no skipped steps inside: ptxas serializes wgmmas around those), and
        // releases its own previous slot.
        const int it0 = it;
        int prev = -1;
        for (int kt = kt_begin + ((it0 & 1) != c); kt < kt_end; kt += 2) {
          const int pos = it0 + (kt - kt_begin), s = pos % kStages;
          mbarrier_wait(&full[s], (pos / kStages) & 1);
          const unsigned char* slot = ring + s * kStageBytes;
          gemm_detail::issue_slice<kWgN>(acc, a0, ss, slot, slot + kABytes, nullptr, warp, lane, kt, K, pro);
          wgmma_commit();
          wgmma_wait<1>();
          if (prev >= 0) gemm_detail::release_slot<kCluster>(&empty[prev % kStages], warp, lane);
          prev = pos;
        }
        it = it0 + (kt_end - kt_begin);
        wgmma_wait<0>();
        wgmma_fence_operands(acc);
        if (prev >= 0) gemm_detail::release_slot<kCluster>(&empty[prev % kStages], warp, lane);
      } else {
        int kt = kt_begin;
        for (; kt + 1 < kt_end; kt += 2) {
          step(kt, a0);
          step(kt + 1, a1);
        }
        if (kt < kt_end) step(kt, a0);
        wgmma_wait<0>();
        wgmma_fence_operands(acc);
        if (kt_end > kt_begin) gemm_detail::release_slot<kCluster>(&empty[(it - 1) % kStages], warp, lane);
      }
      constexpr bool kSS = gemm_detail::RowSumSquares<Prologue>::value;
      if constexpr (kSS) {
        // A row's 64 columns of a slice are spread over the 4 lanes of a quad: sum across it.
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          ss[j] += __shfl_xor_sync(0xffffffffu, ss[j], 1);
          ss[j] += __shfl_xor_sync(0xffffffffu, ss[j], 2);
        }
      }

      bool finish = true;  // this thread's rows of the tile are finished (epilogue, store) here
      if constexpr (kConsumersSplitK) {
        // Warpgroup 1 hands its partial sums to warpgroup 0 through shared memory (the split-K
        // exchange buffer, [warp][kR / 4][lane] float4s: conflict-free), which finishes the tile;
        // the second barrier keeps the buffer until warpgroup 0 has read it.
        float4* mine = part + warp * (kR / 4) * 32 + lane;
        if (c == 1) {
#pragma unroll
          for (int j = 0; j < kR / 4; ++j) mine[j * 32] = make_float4(acc[4 * j], acc[4 * j + 1], acc[4 * j + 2], acc[4 * j + 3]);
        }
        gemm_detail::named_barrier_sync(3, 256);
        if (c == 0) {
#pragma unroll
          for (int j = 0; j < kR / 4; ++j) {
            const float4 v = mine[j * 32];
            acc[4 * j] += v.x;
            acc[4 * j + 1] += v.y;
            acc[4 * j + 2] += v.z;
            acc[4 * j + 3] += v.w;
          }
        }
        gemm_detail::named_barrier_sync(4, 256);
        finish = c == 0;
      }
      if constexpr (kSplitK > 1) {
        // Each consumer warp's rows are finished by block `owner`; the other blocks hand it their
        // partial sums through distributed shared memory (no workspace, no second launch), so the
        // epilogue still sees whole accumulators, in registers, in the same layout.
        const unsigned owner = cw * kSplitK / 8;
        float4* mine = part + cw * (kR / 4) * 32 + lane;
        float4* mine_ss = part + 8 * (kR / 4) * 32 + cw * 32 + lane;  // kSS: the rows' squares
        finish = owner == rank;
        if (!finish) {
          mbarrier_wait_cluster(&part_empty, (tiles_done & 1) ^ 1);  // owner read the last tile's
#pragma unroll
          for (int j = 0; j < kR / 4; ++j) mine[j * 32] = make_float4(acc[4 * j], acc[4 * j + 1], acc[4 * j + 2], acc[4 * j + 3]);
          if constexpr (kSS) *mine_ss = make_float4(ss[0], ss[1], 0.0f, 0.0f);
          mbarrier_arrive_remote(&part_full, owner);
        } else {
          mbarrier_wait_cluster(&part_full, tiles_done & 1);
#pragma unroll 1
          for (unsigned peer = 0; peer < kSplitK; ++peer) {
            if (peer == rank) continue;
#pragma unroll
            for (int j = 0; j < kR / 4; ++j) {
              const float4 v = load_cluster_f32x4(mine + j * 32, peer);
              acc[4 * j] += v.x;
              acc[4 * j + 1] += v.y;
              acc[4 * j + 2] += v.z;
              acc[4 * j + 3] += v.w;
            }
            if constexpr (kSS) {
              const float4 v = load_cluster_f32x4(mine_ss, peer);
              ss[0] += v.x;
              ss[1] += v.y;
            }
            mbarrier_arrive_remote(&part_empty, peer);
          }
        }
      }
      if (finish) {
        // kPairedB with kBM = 64: the consumer's pairs start at tile column c kBN / 4.
        const GemmFrag f{mb * kBM, nb * kBN, (kBM == 128 ? c * 64 : 0) + warp * 16 + lane / 4,
                         (kBM == 128 ? 0 : c * (kPairedB ? kBN / 4 : kWgN)) + 2 * (lane % 4), {ss[0], ss[1]}};
        epi(acc, f);
        if constexpr (kTmaStoreC) {
          gemm_detail::tma_store_tile<kWgN>(acc, cstage + c * kWgN * 128, store.c_map,
                                            f.n0 + (kBM == 128 ? 0 : c * kWgN), f.m0 + (kBM == 128 ? c * 64 : 0), c,
                                            warp, lane);
        } else {
          store(acc, f);
        }
      }
    }
    // The staging buffer must outlive the last TMA store's reads of it.
    if constexpr (kTmaStoreC) {
      if (threadIdx.x % 128 == 0) tma_store_wait<0>();
    }
  }
  // Split-K: no block leaves while another may still read its partials or arrive on its barriers.
  if constexpr (kSplitK > 1) cluster_sync();
}

}  // namespace ks
