#pragma once
// Streamed decode GEMV on the TMA (sm_90): D[n][m] = sum_k W[n][k] * X[m][k] for a few rows m of
// X (M <= 8 * kXTiles) and many weight rows n, each weight byte read once from DRAM at its speed.
// A block is one producer warp and kConsumers consumer warps. The producer issues 1-D bulk copies
// (ks/bulk_copy.cuh) of the weight rows of a tile, and of X's rows, one kKc-wide K slice at a time
// into a kStages-deep ring of shared-memory slots (an mbarrier `full` and `empty` each); the
// consumers split a slot's 32-wide K chunks and multiply on mma.sync, W rows on the 16-row side
// (ks/mma_gemv.cuh's mma_gemv_chunk). Blocks are persistent: block b takes tiles b, b + gridDim.x,
// ..., and the ring runs on across tiles, so the stream never drains between them. At a tile's
// end the consumers put their partial sums in shared memory and call the caller's epilogue.
// The ring's shared memory, in bytes (what the plan's "smem" must give):
//   kStages * (16 * kTiles + 8 * kXTiles) * (2 * kKc + 64)   slots: weight rows, then X rows
//   + kStages * 16                                           the full and empty barriers
//   + kConsumers * 16 * kTiles * (8 * kXTiles + 1) * 4      the partial sums
// A row in a slot is 2 * kKc + 64 bytes: the 8 lanes of a shared-memory phase hit distinct banks.
// With PDL (kPdlX: X is written by the step before, launched with "pdl"), the producer issues the
// first kStages slots' weight copies, then ks::pdl_wait(), then their X copies and the rest: the
// weights stream while the step before drains. The producer calls ks::pdl_launch_dependents()
// once its last copies are issued (a no-op unless the next step is launched with PDL).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900  // first: NVRTC stops at the first #error
#error "ks/stream_gemv.cuh needs sm_90 (TMA bulk copies, mbarriers)"
#endif
#include <cuda_bf16.h>
#include <ks/bulk_copy.cuh>
#include <ks/mma_gemv.cuh>
#include <ks/pdl.cuh>

namespace ks {

// A tile's sums, given to the epilogue: sum(r, m) = D[tile row r][X row m] (r < 16 * kTiles),
// the consumers' partials (in shared memory, [kConsumers][16 * kTiles][8 * kXTiles + 1]) added.
template <int kTiles, int kXTiles, int kConsumers>
struct GemvPartials {
  const float* part;
  __device__ __forceinline__ float sum(int r, int m) const {
    float s = 0.0f;
#pragma unroll
    for (int w = 0; w < kConsumers; ++w) s += part[(w * 16 * kTiles + r) * (8 * kXTiles + 1) + m];
    return s;
  }
};

// Shared-memory bytes stream_gemv uses (the plan's smem expression says the same).
template <int kTiles, int kXTiles, int kKc, int kStages, int kConsumers>
__host__ __device__ constexpr int stream_gemv_smem() {
  return kStages * (16 * kTiles + 8 * kXTiles) * (2 * kKc + 64) + kStages * 16 +
         kConsumers * 16 * kTiles * (8 * kXTiles + 1) * 4;
}

// The whole block calls it (blockDim.x == 32 * (kConsumers + 1)); smem: stream_gemv_smem bytes,
// 128-byte aligned. X is M x K row-major (M <= 8 * kXTiles; K % 8 == 0); `tiles` tiles of
// 16 * kTiles weight rows; row_of(tile, r) is the global pointer of the tile's weight row r (a row
// of K elements), or nullptr past the matrix; epilogue(tile, GemvPartials) runs on the consumer
// threads (threadIdx.x < 32 * kConsumers) once the tile's K is done; they may sync among
// themselves with named barrier 1 (ks::named_barrier_sync(1, 32 * kConsumers)), never with
// __syncthreads (the producer warp returns early). kKc % 32 == 0, kStages >= 2, kConsumers <= 15.
template <int kTiles, int kXTiles, int kKc, int kStages, int kConsumers, bool kPdlX, class RowOf, class Epilogue>
__device__ __forceinline__ void stream_gemv(unsigned char* smem, const __nv_bfloat16* X, int M, int K, int tiles,
                                            RowOf row_of, Epilogue epilogue) {
  static_assert(kKc % 32 == 0 && kStages >= 2 && kConsumers >= 1 && kConsumers <= 15, "stream_gemv's limits");
  constexpr int kRows = 16 * kTiles, kStride = 2 * kKc + 64, kSlot = (kRows + 8 * kXTiles) * kStride;
  constexpr int kLd = 8 * kXTiles + 1;  // odd: banks
  unsigned long long* full = reinterpret_cast<unsigned long long*>(smem + kStages * kSlot);
  unsigned long long* empty = full + kStages;
  float* part = reinterpret_cast<float*>(empty + kStages);  // [kConsumers][kRows][kLd]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int ksteps = (K + kKc - 1) / kKc, xrows = min(M, 8 * kXTiles);

  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) mbarrier_init(&full[s], 1), mbarrier_init(&empty[s], kConsumers);
    fence_mbarrier_init();
  }
  __syncthreads();

  if (warp == kConsumers) {  // the producer warp: its lanes issue a slot's copies together
    const unsigned long long policy = l2_evict_first_policy();
    // Slot use q (slot q % kStages, its (q / kStages)-th use) of K slice kst of `tile`. announce:
    // the slot's byte count, weights and X both, before any of its copies; then the copies asked
    // for. Lane l copies weight rows l, l + 32, ... and X row l (l < xrows <= 8 * kXTiles).
    auto fill = [&](int tile, int kst, int q, bool announce, bool weights, bool acts) {
      const int slot = q % kStages, k0 = kst * kKc;
      const unsigned bytes = min(kKc, K - k0) * 2;  // K % 8 == 0: a multiple of 16
      if (announce) {
        int mine = lane < xrows;
        for (int r = lane; r < kRows; r += 32) mine += row_of(tile, r) != nullptr;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) mine += __shfl_xor_sync(0xffffffffu, mine, o);
        if (lane == 0) mbarrier_arrive_expect_tx(&full[slot], mine * bytes);
        __syncwarp();  // the slot's byte count is announced before any of its copies can land
      }
      unsigned char* s = smem + slot * kSlot;
      if (weights)
        for (int r = lane; r < kRows; r += 32)
          if (const __nv_bfloat16* w = row_of(tile, r)) bulk_copy_stream(s + r * kStride, w + k0, bytes, &full[slot], policy);
      if (acts && lane < xrows) bulk_copy(s + (kRows + lane) * kStride, X + (size_t)lane * K + k0, bytes, &full[slot]);
    };
    int q = 0;  // slot uses so far
    if constexpr (kPdlX) {
      // The first kStages slots' weights do not depend on the step before: issued before the wait.
      for (int tile = blockIdx.x; tile < tiles && q < kStages; tile += gridDim.x)
        for (int kst = 0; kst < ksteps && q < kStages; ++kst, ++q) fill(tile, kst, q, true, true, false);
      pdl_wait();  // X is the step before's: with PDL, that grid may still run
      q = 0;
    }
    for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x)
      for (int kst = 0; kst < ksteps; ++kst, ++q) {
        if (kPdlX && q < kStages) {
          fill(tile, kst, q, false, false, true);  // announced, weights issued: X now
          continue;
        }
        if (q >= kStages) mbarrier_wait(&empty[q % kStages], (q / kStages - 1) & 1);
        fill(tile, kst, q, true, true, true);
      }
    pdl_launch_dependents();  // every load of this block is issued
    return;
  }

  // Consumers. Rows a slot did not receive (past the matrix, or X rows >= M) hold stale bytes:
  // they only reach D rows or columns that are never stored.
  const int g = lane / 4, t = lane % 4;
  const uint4 zero = make_uint4(0, 0, 0, 0);
  float d[kTiles][kXTiles][4] = {};
  int q = 0;
  for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    for (int kst = 0; kst < ksteps; ++kst, ++q) {
      const int slot = q % kStages, k0 = kst * kKc;
      mbarrier_wait(&full[slot], (q / kStages) & 1);
      const unsigned char* s = smem + slot * kSlot;
      // mma_gemv_chunk, W rows on the 16-row side: lane (g, t) takes elements 8t..8t+7 of rows g,
      // g + 8 of a chunk: the k = 2t, 2t+1, 2t+8, 2t+9 of two k16 mmas.
#pragma unroll 2
      for (int c = warp; c < kKc / 32; c += kConsumers) {
        const int k = c * 32 + 8 * t;  // this lane's 8 elements of the chunk
        const bool in = k0 + k < K;    // the last slice may be short
        uint4 w[2 * kTiles], x[kXTiles];
#pragma unroll
        for (int r = 0; r < 2 * kTiles; ++r)
          w[r] = in ? *reinterpret_cast<const uint4*>(s + (16 * (r / 2) + g + 8 * (r % 2)) * kStride + 2 * k) : zero;
#pragma unroll
        for (int i = 0; i < kXTiles; ++i)
          x[i] = in ? *reinterpret_cast<const uint4*>(s + (kRows + 8 * i + g) * kStride + 2 * k) : zero;
        mma_gemv_chunk(d, w, x);
      }
      __syncwarp();
      if (lane == 0) mbarrier_arrive(&empty[slot]);  // this warp is done reading the slot
    }
    // At the tile's end the consumers sum their partials in shared memory and store.
    mma_gemv_store<kTiles, kXTiles, kLd>(part + warp * kRows * kLd, d);
    named_barrier_sync(1, 32 * kConsumers);
    epilogue(tile, GemvPartials<kTiles, kXTiles, kConsumers>{part});
    named_barrier_sync(1, 32 * kConsumers);  // partials read before the next tile's overwrite
#pragma unroll
    for (int v = 0; v < kTiles; ++v)
#pragma unroll
      for (int i = 0; i < kXTiles; ++i)
#pragma unroll
        for (int e = 0; e < 4; ++e) d[v][i][e] = 0.0f;
  }
}

}  // namespace ks
