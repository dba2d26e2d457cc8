/* ksearch
{ "task": "rmsnorm_linear", "name": "wgmma_fused",
  "params":  { "BM": [128, 64, 256], "BN": [256, 64, 128], "STAGES": [4, 3, 5] },
  "let":     { "THREADS": "BM * 2", "TILE_BYTES": "(BM + BN) * 128",
               "SMEM": "STAGES * (TILE_BYTES + 128) + BM * 4 + 1024" },
  "applies": "(BM < 256 || BN < 256) && SMEM <= 227 * 1024",
  "steps": [
    { "kernel": "rmsnorm_gemm", "grid": ["cdiv(M, BM)", "cdiv(N, BN)"], "block": ["THREADS"],
      "smem": "SMEM",
      "args": ["X", "gamma", "W", "Y", "M", "N", "K", "eps"] } ] }
*/
// Regime: prefill (large M), Hopper sm_90a.
// Idea: mma_fused's design (deferred normalization, tile kt + 1 prepared in place while tile kt is
//   multiplied) with one wgmma m64nBNk16 per 16 of K, A and B read by descriptor from smem.
// Layout: BM / 64 warpgroups own 64 rows each of the BM x BN tile; 64-wide K tiles, 128-byte
//   swizzled, through a STAGES-deep cp.async ring, one barrier each; blocks M-fastest (share W).
// Measured: H100, M=2048, K=4096, N=6144: 239 us; a warp-specialized version 346 us.
// Not: warp specialization (one producer warpgroup feeding the ring through mbarriers): slower.
#include <cuda_bf16.h>
#include <ks/cp_async.cuh>
#include <ks/tile_loader.cuh>
#include <ks/vec.cuh>
#include <ks/wgmma.cuh>

#if !defined(BM) || !defined(BN) || !defined(STAGES)
#error "BM, BN and STAGES come from the plan's params"
#endif
#define BK 64
// THREADS (the plan's let): BM / 64 warpgroups of 128 threads
#define A_CHUNKS 4                     // BM * 8 / THREADS: A chunks each thread prepares
// TILE_BYTES (the plan's let): A tile then B tile per slot; the slots' gammas after them
static_assert(BM % 64 == 0 && STAGES >= 3, "64-row warpgroups; tile kt + 1 prepared during kt");

#define CAT3(a, b, c) a##b##c
#define XCAT3(a, b, c) CAT3(a, b, c)
#define WGMMA XCAT3(ks::wgmma_ss_m64n, BN, k16)  // ks::wgmma_ss_m64n<BN>k16

extern "C" __global__ void __launch_bounds__(THREADS, 1)
    rmsnorm_gemm(const __nv_bfloat16* X, const __nv_bfloat16* gamma, const __nv_bfloat16* W,
                 __nv_bfloat16* Y, int M, int N, int K, float eps) {
  extern __shared__ unsigned char smem_raw[];
  // Slots start 1024-byte aligned (the swizzle atoms), whatever the dynamic base's alignment.
  unsigned char* smem = smem_raw + ((1024 - ks::smem_addr(smem_raw) % 1024) % 1024);
  unsigned char* gammas = smem + STAGES * TILE_BYTES;                    // [STAGES][128 B]
  float* row_scale = reinterpret_cast<float*>(gammas + STAGES * 128);    // r[m], BM of them
  const int tid = threadIdx.x, wg = tid / 128, warp = tid % 128 / 32, lane = tid % 32;
  const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
  auto stage_base = [&](int kt) { return smem + (kt % STAGES) * TILE_BYTES; };

  // Tile kt: A and B into slot kt % STAGES, its 64 gammas into the slot's gamma row.
  const ks::SwizzledTileLoader<BM, THREADS> a_loader(X, M, K, K, m0);
  const ks::SwizzledTileLoader<BN, THREADS> b_loader(W, N, K, K, n0);
  auto load_tile = [&](int kt) {
    unsigned char* sA = stage_base(kt);
    a_loader.load(sA, kt * BK);
    b_loader.load(sA + BM * 128, kt * BK);
    if (tid < 8) {
      const int k = kt * BK + 8 * tid;
      ks::cp_async16_zfill(gammas + (kt % STAGES) * 128 + 16 * tid, k < K ? gamma + k : gamma, k < K);
    }
  };

  // A of tile kt in place, the very chunks this thread copied: X -> bf16(X * gamma), and ss[j]
  // gathers X^2 of its j-th row (row tid / 8 + j * THREADS / 8 of the tile).
  float ss[A_CHUNKS] = {};
  auto prepare_tile = [&](int kt) {
    unsigned char* sA = stage_base(kt);
    const uint4 g8 = *reinterpret_cast<const uint4*>(gammas + (kt % STAGES) * 128 + 16 * (tid % 8));
#pragma unroll
    for (int j = 0; j < A_CHUNKS; ++j) {
      uint4* p = reinterpret_cast<uint4*>(sA + a_loader.dst + j * (THREADS / 8) * 128);
      *p = ks::mul8_sumsq(*p, g8, ss[j]);
    }
  };

  float acc[BN / 2];
#pragma unroll
  for (int i = 0; i < BN / 2; ++i) acc[i] = 0.0f;
  const int k_tiles = (K + BK - 1) / BK;
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < k_tiles) load_tile(s);
    ks::cp_async_commit();  // empty groups too: the wait counts below stay uniform
  }
  ks::cp_async_wait<STAGES - 2>();
  __syncthreads();
  prepare_tile(0);

  for (int kt = 0; kt < k_tiles; ++kt) {
    ks::cp_async_wait<STAGES - 3>();  // tiles kt and kt + 1 have landed (this thread's copies)
    // This thread's prepared A of tile kt and its landed copies of tile kt + 1 become visible to
    // wgmma (the async proxy): one fence per K tile.
    ks::fence_proxy_async();
    __syncthreads();  // everyone's copies; tile kt prepared; slot (kt - 1) % STAGES free

    const unsigned char* sA = stage_base(kt);
    const unsigned long long da = ks::wgmma_desc_sw128(sA + wg * 64 * 128);
    const unsigned long long db = ks::wgmma_desc_sw128(sA + BM * 128);
    ks::wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < BK / 16; ++kk) WGMMA(acc, da + 2 * kk, db + 2 * kk, 1);
    ks::wgmma_commit();

    // While the tensor cores work: the next loads, and tile kt + 1 prepared (other slots).
    if (kt + STAGES - 1 < k_tiles) load_tile(kt + STAGES - 1);
    ks::cp_async_commit();
    if (kt + 1 < k_tiles) prepare_tile(kt + 1);
    ks::wgmma_wait<0>();
    ks::wgmma_fence_operands(acc);
  }
  ks::cp_async_wait<0>();

  // Row scales: the 8 adjacent lanes holding a row's chunks add their sums.
#pragma unroll
  for (int j = 0; j < A_CHUNKS; ++j) {
    float s = ss[j];
#pragma unroll
    for (int o = 1; o < 8; o *= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (tid % 8 == 0) row_scale[(tid + j * THREADS) / 8] = rsqrtf(s / (float)K + eps);
  }
  __syncthreads();

  // Epilogue: warp w of warpgroup wg holds rows 64 wg + 16 w + g (+ 8), columns 8 j + 2 t (+ 1).
  const int g = lane / 4, t = lane % 4;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int row = wg * 64 + warp * 16 + g + 8 * h, m = m0 + row;
    if (m >= M) continue;
    const float r = row_scale[row];
#pragma unroll
    for (int j = 0; j < BN / 8; ++j) {
      const int n = n0 + 8 * j + 2 * t;
      if (n < N)
        *reinterpret_cast<unsigned*>(Y + (size_t)m * N + n) =
            ks::pack2(acc[4 * j + 2 * h] * r, acc[4 * j + 2 * h + 1] * r);
    }
  }
}
