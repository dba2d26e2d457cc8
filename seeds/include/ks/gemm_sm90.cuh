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
//     (8 arrivals: lane 0 of each consumer warp, once its wgmmas on the slot are done).
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
//     (16 arrivals: each consumer warp arrives locally and remotely). Correct on an H200 but
//     3-6x slower than kCluster = 1 as written: untuned, out of the seed's space.
// Ragged M, N, K: the TMA fills boxes outside the tensors with zeros (so K need not be a multiple
// of 64), and the store checks bounds. Requirements: K % 8 == 0 (TMA global strides are 16-byte
// multiples), N even for StoreBF16; kBN 64, 128 or 256 (128 or 256 with kBM = 64); dynamic
// shared memory >= gemm_sm90_smem_bytes(kBM, kBN, kStages, kSplitK).
//
// Hooks (template functors, each called by every consumer thread):
//   Prologue: per-K scale of A. `static constexpr bool kIdentity`; when true A is read by
//     descriptor (wgmma _ss), the fast path. Otherwise `float operator()(int k) const` gives A's
//     column-k scale: each consumer loads its A fragments from shared memory (ldmatrix), scales
//     them in registers (rounded back to bf16) and issues the register-A form (wgmma _rs).
//   Epilogue: `template <int R> void operator()(float (&acc)[R], const GemmFrag& f) const`, edits
//     the accumulators in place; acc[i] is D[f.row(i)][f.col(i)] (global indices, possibly past M
//     or N at ragged edges). Row scale, column scale, residual add: elementwise over i. Pairwise
//     ops between column groups: acc[i] and acc[i + R / 2] are the same row, columns R apart
//     (kBM = 128: kBN / 2 apart, e.g. gate in the tile's first half of columns and up in the
//     second: silu(gate) * up; kBM = 64: kBN / 4 apart, within each consumer's half).
//   Store: `template <int R> void operator()(const float (&acc)[R], const GemmFrag& f) const`,
//     writes the tile's values (StoreBF16: bf16 pairs, bounds-checked).
// Measured (H200, gpu-check.sh gemm, against cuBLASLt in the same replays): the README's table;
// the hooks with runtime identity values cost 0-2% (kBM = 128, no split).
// Not done: a TMA-store epilogue; stream-K.

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
constexpr int kGemmProducerRegs = 40;  // 128 * 40 + 256 * 232 <= 64 K registers per SM
constexpr int kGemmConsumerRegs = 232;

// Dynamic shared memory a kernel needs: the ring, plus slack to align it to 1024 bytes, plus
// (split_k > 1) the tile of fp32 partial sums that the blocks of a split-K cluster exchange.
__host__ __device__ constexpr int gemm_sm90_smem_bytes(int bm, int bn, int stages, int split_k = 1) {
  return stages * (bm + bn) * 128 + 1024 + (split_k > 1 ? bm * bn * 4 : 0);
}

// Where this thread's accumulators sit: acc[i] is D[row(i)][col(i)] (the wgmma layout: warp w
// of consumer c, g = lane / 4, t = lane % 4: rows 64c + 16w + g (+8), columns 8j + 2t (+1)).
struct GemmFrag {
  int m0, n0;  // the tile's origin in D
  int r0, c0;  // this thread's first row and column within the tile
  __device__ __forceinline__ int row(int i) const { return m0 + r0 + 8 * ((i >> 1) & 1); }
  __device__ __forceinline__ int col(int i) const { return n0 + c0 + 8 * (i >> 2) + (i & 1); }
};

struct IdentityPrologue {
  static constexpr bool kIdentity = true;
  __device__ __forceinline__ float operator()(int) const { return 1.0f; }
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

namespace gemm_detail {

template <int kBN>
__device__ __forceinline__ void mma_ss(float (&d)[kBN / 2], unsigned long long a, unsigned long long b) {
  if constexpr (kBN == 64) wgmma_ss_m64n64k16(d, a, b, 1);
  else if constexpr (kBN == 128) wgmma_ss_m64n128k16(d, a, b, 1);
  else if constexpr (kBN == 256) wgmma_ss_m64n256k16(d, a, b, 1);
  else static_assert(kBN == 64, "kBN: 64, 128 or 256");
}

template <int kBN>
__device__ __forceinline__ void mma_rs(float (&d)[kBN / 2], const unsigned (&a)[4], unsigned long long b) {
  if constexpr (kBN == 64) wgmma_rs_m64n64k16(d, a, b, 1);
  else if constexpr (kBN == 128) wgmma_rs_m64n128k16(d, a, b, 1);
  else if constexpr (kBN == 256) wgmma_rs_m64n256k16(d, a, b, 1);
  else static_assert(kBN == 64, "kBN: 64, 128 or 256");
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

// A fragment register (bf16 pair at columns k, k + 1) times the prologue's scales, back to bf16.
template <class Prologue>
__device__ __forceinline__ unsigned scale_pair(unsigned v, const Prologue& pro, int k) {
  float lo, hi;
  unpack2(v, lo, hi);
  return pack2(lo * pro(k), hi * pro(k + 1));
}

// Issues one K slice's wgmmas (kBK = 64 of K) on the ring slot at `slot` for a consumer
// warpgroup's 64 x kWgN part of the tile: its A rows start at a_tile, its B rows at b_tile (both
// 1024-aligned). A by descriptor for an identity prologue, else through the registers `a` (loaded
// from the slot, scaled, then read by the register-A wgmma until its group completes).
template <int kWgN, class Prologue>
__device__ __forceinline__ void issue_slice(float (&acc)[kWgN / 2], unsigned (&a)[4][4], const unsigned char* a_tile,
                                            const unsigned char* b_tile, int warp, int lane, int kt, const Prologue& pro) {
  const unsigned long long db = wgmma_desc_sw128(b_tile);
  if constexpr (Prologue::kIdentity) {
    const unsigned long long da = wgmma_desc_sw128(a_tile);
    wgmma_fence();  // acc was written by ordinary instructions (zeroing, previous tile)
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) mma_ss<kWgN>(acc, da + 2 * kk, db + 2 * kk);
  } else {
    // A from registers: warp w's 16 rows, 16 of K per step, in the mma.sync A layout that
    // ldmatrix_x4 gives (lane l: row l % 16, 16-byte chunk 2kk + l / 16, swizzled).
    const int k0 = kt * 64 + 2 * (lane % 4);
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      ldmatrix_x4(a[kk], a_tile + swizzle128(warp * 16 + lane % 16, 2 * kk + lane / 16));
      const int k = k0 + 16 * kk;
      a[kk][0] = scale_pair(a[kk][0], pro, k);
      a[kk][1] = scale_pair(a[kk][1], pro, k);
      a[kk][2] = scale_pair(a[kk][2], pro, k + 8);
      a[kk][3] = scale_pair(a[kk][3], pro, k + 8);
    }
    wgmma_fence();  // orders the A registers' writes (and acc's) before the wgmmas
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) mma_rs<kWgN>(acc, a[kk], db + 2 * kk);
  }
}

// Ring slot `empty` is free again as far as this consumer warp goes: lane 0 arrives (on both
// blocks' barriers with B multicast: the slot is refilled by both blocks' copies).
template <int kCluster>
__device__ __forceinline__ void release_slot(unsigned long long* empty, int lane) {
  if (lane != 0) return;
  if constexpr (kCluster == 1) mbarrier_arrive(empty);
  else {
    mbarrier_arrive_remote(empty, 0);
    mbarrier_arrive_remote(empty, 1);
  }
}

}  // namespace gemm_detail

// The whole kernel body; call it from a __launch_bounds__(384, 1) kernel with blockDim 384,
// gridDim.x <= kCluster * kSplitK * the number of tiles (extra blocks would only idle), and dynamic
// shared memory of gemm_sm90_smem_bytes(kBM, kBN, kStages, kSplitK). The maps: a_map over A as
// dims {K, M}, box {64, kBM}; b_map over B as dims {K, N}, box {64, kBN / kCluster}; both bf16,
// 128B swizzle, zero OOB fill. kCluster = 2: the kernel has __cluster_dims__(2, 1, 1) and an even
// grid. kSplitK = 2, 4 or 8: the kernel has __cluster_dims__(kSplitK, 1, 1) and a grid that is a
// multiple of it (kCluster and kSplitK do not combine).
template <int kBM, int kBN, int kStages, int kGroup, int kCluster = 1, int kSplitK = 1, class Prologue, class Epilogue,
          class Store>
__device__ __forceinline__ void gemm_sm90(const TensorMap* a_map, const TensorMap* b_map, int M, int N, int K,
                                          const Prologue& pro, const Epilogue& epi, const Store& store) {
  static_assert(kBM == 128 || kBM == 64, "two consumer warpgroups: of 64 rows each, or of 64 rows and half the columns");
  static_assert(kStages >= 2, "a ring");
  static_assert(kCluster == 1 || kCluster == 2, "1 or 2 blocks per cluster");
  static_assert(kSplitK == 1 || kSplitK == 2 || kSplitK == 4 || kSplitK == 8, "split-K over 1, 2, 4 or 8 blocks");
  static_assert(kCluster == 1 || kSplitK == 1, "B multicast and split-K each take the cluster");
  constexpr int kBK = 64;                         // one 128-byte swizzled row of K per tile row
  constexpr int kABytes = kBM * kBK * 2, kStageBytes = (kBM + kBN) * kBK * 2;
  // Consumer warpgroup c's part of the tile: kBM = 128, rows 64c.. and every column; kBM = 64
  // (for M <= 64: no rows of zeros multiplied), every row and columns c * kBN / 2 ...
  constexpr int kWgN = kBM == 128 ? kBN : kBN / 2;
  constexpr int kR = kWgN / 2;                    // accumulators per consumer thread
  constexpr int kBlocks = kCluster * kSplitK;     // blocks per cluster

  extern __shared__ unsigned char gemm_smem_raw[];
  __shared__ unsigned long long full[kStages], empty[kStages];
  __shared__ unsigned long long part_full, part_empty;  // split-K: the partial-sum exchange
  // Slots 1024-byte aligned (the 128B swizzle's 8-row atoms), whatever the dynamic base's offset.
  unsigned char* ring = gemm_smem_raw + ((1024 - smem_addr(gemm_smem_raw) % 1024) % 1024);
  // Split-K: this block's fp32 partial sums of the rows the other blocks finish, [warp][kR/4][lane].
  float4* part = reinterpret_cast<float4*>(ring + kStages * kStageBytes);

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
      mbarrier_init(&empty[s], 8 * kCluster);  // lane 0 of the 8 consumer warps (of each block)
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
          mbarrier_arrive_expect_tx(&full[s], kStageBytes);  // full boxes, even past the edges
          tma_load_2d(slot, a_map, kt * kBK, mb * kBM, &full[s]);
          if constexpr (kCluster == 1) {
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
      auto step = [&](int kt, unsigned (&a)[4][4]) {
        const int s = it % kStages;
        mbarrier_wait(&full[s], (it / kStages) & 1);  // the slot's bytes have landed
        const unsigned char* slot = ring + s * kStageBytes;
        gemm_detail::issue_slice<kWgN>(acc, a, slot + (kBM == 128 ? c * 64 * 128 : 0),
                                       slot + kABytes + (kBM == 128 ? 0 : c * kWgN * 128), warp, lane, kt, pro);
        wgmma_commit();
        wgmma_wait<1>();
        if (kt > kt_begin) gemm_detail::release_slot<kCluster>(&empty[(it - 1) % kStages], lane);
        ++it;
      };
      int kt = kt_begin;
      for (; kt + 1 < kt_end; kt += 2) {
        step(kt, a0);
        step(kt + 1, a1);
      }
      if (kt < kt_end) step(kt, a0);
      wgmma_wait<0>();
      wgmma_fence_operands(acc);
      if (kt_end > kt_begin) gemm_detail::release_slot<kCluster>(&empty[(it - 1) % kStages], lane);

      bool finish = true;  // this thread's rows of the tile are finished (epilogue, store) here
      if constexpr (kSplitK > 1) {
        // Each consumer warp's rows are finished by block `owner`; the other blocks hand it their
        // partial sums through distributed shared memory (no workspace, no second launch), so the
        // epilogue still sees whole accumulators, in registers, in the same layout.
        const unsigned owner = cw * kSplitK / 8;
        float4* mine = part + cw * (kR / 4) * 32 + lane;
        finish = owner == rank;
        if (!finish) {
          mbarrier_wait_cluster(&part_empty, (tiles_done & 1) ^ 1);  // owner read the last tile's
#pragma unroll
          for (int j = 0; j < kR / 4; ++j) mine[j * 32] = make_float4(acc[4 * j], acc[4 * j + 1], acc[4 * j + 2], acc[4 * j + 3]);
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
            mbarrier_arrive_remote(&part_empty, peer);
          }
        }
      }
      if (finish) {
        const GemmFrag f{mb * kBM, nb * kBN, (kBM == 128 ? c * 64 : 0) + warp * 16 + lane / 4,
                         (kBM == 128 ? 0 : c * kWgN) + 2 * (lane % 4)};
        epi(acc, f);
        store(acc, f);
      }
    }
  }
  // Split-K: no block leaves while another may still read its partials or arrive on its barriers.
  if constexpr (kSplitK > 1) cluster_sync();
}

}  // namespace ks
