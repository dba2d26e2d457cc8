/* ksearch
{ "task": "gemm", "name": "mma_gemm",
  "params":  { "BM": [128, 64, 256], "BN": [128, 32, 64, 256], "WM": [64, 32], "WN": [32, 64],
               "STAGES": [3, 4] },
  "let":     { "WARPS": "(BM / WM) * (BN / WN)", "THREADS": "WARPS * 32",
               "STAGE_BYTES": "(BM + BN) * 128", "SMEM": "STAGES * STAGE_BYTES" },
  "applies": "WM <= BM && WN <= BN && WARPS % 2 == 0 && WARPS <= 16 && (BM * 8) % THREADS == 0 && (BN * 8) % THREADS == 0 && SMEM <= 227 * 1024",
  "steps": [
    { "kernel": "gemm_mma", "grid": ["cdiv(M, BM)", "cdiv(N, BN)"],
      "block": ["THREADS"], "smem": "SMEM",
      "args": ["X", "W", "Y", "M", "N", "K"] } ] }
*/
// Regime: prefill (large M); sm_80+.
// Idea: rmsnorm_linear's mma_fused mainloop without the norm: one mma.sync m16n8k16 GEMM (bf16 in,
//   fp32 accumulators) of X by W^T, for timing that mainloop against cuBLASLt.
// Layout: BM x BN block tile, WM x WN warp tiles; 64-wide K tiles through a STAGES-deep cp.async
//   ring, one barrier each; blocks M-fastest: W read from DRAM about once, X (small) from L2.
// Measured: H200, default variant: correct, 0.20-0.60x cuBLASLt (untuned).
#include <cuda_bf16.h>
#include <ks/cp_async.cuh>
#include <ks/mma.cuh>
#include <ks/swizzle.cuh>
#include <ks/tile_loader.cuh>
#include <ks/vec.cuh>

#if !defined(BM) || !defined(BN) || !defined(WM) || !defined(WN) || !defined(STAGES) || !defined(THREADS) || \
    !defined(STAGE_BYTES)
#error "BM, BN, WM, WN and STAGES come from the plan's params, THREADS and STAGE_BYTES from its lets"
#endif
#define BK 64
#define WARPS_N (BN / WN)
#define FM (WM / 16)  // m16 fragments per warp tile
#define FN (WN / 8)   // n8 fragments per warp tile
// STAGE_BYTES (the plan's let): A tile, B tile
static_assert(WM % 16 == 0 && WN % 16 == 0, "warp tile of m16 x n16 steps");
static_assert(STAGES >= 2, "tile kt + STAGES - 1 is loaded while tile kt is multiplied");
// (BM and BN rows split evenly over the threads, an even number of warps: ks::SwizzledTileLoader.)

// One block per SM is the plan (registers and shared memory go to the big tiles).
extern "C" __global__ void __launch_bounds__(THREADS, 1)
    gemm_mma(const __nv_bfloat16* X, const __nv_bfloat16* W, __nv_bfloat16* Y, int M, int N, int K) {
  extern __shared__ __align__(1024) unsigned char smem[];
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  const int wm = warp / WARPS_N, wn = warp % WARPS_N;
  const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;

  // K tile kt (A, then B) into pipeline slot kt % STAGES; zeros past M, N and K (K % 8 == 0:
  // chunks whole).
  const ks::SwizzledTileLoader<BM, THREADS> a_loader(X, M, K, K, m0);
  const ks::SwizzledTileLoader<BN, THREADS> b_loader(W, N, K, K, n0);
  auto load_tile = [&](int kt) {
    unsigned char* sA = smem + (kt % STAGES) * STAGE_BYTES;
    a_loader.load(sA, kt * BK);
    b_loader.load(sA + BM * 128, kt * BK);
  };

  float acc[FM][FN][4] = {};
  const int k_tiles = (K + BK - 1) / BK;
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < k_tiles) load_tile(s);
    ks::cp_async_commit();  // empty groups too: the wait counts below stay uniform
  }

  for (int kt = 0; kt < k_tiles; ++kt) {
    ks::cp_async_wait<STAGES - 2>();  // tile kt has landed (this thread's copies) ...
    __syncthreads();  // ... everyone's; slot (kt - 1) % STAGES, read last iteration, is free
    if (kt + STAGES - 1 < k_tiles) load_tile(kt + STAGES - 1);
    ks::cp_async_commit();

    // Tile rows are 128 bytes, stored with the 128-byte XOR swizzle: ldmatrix reads conflict-free.
    const unsigned char* sA = smem + (kt % STAGES) * STAGE_BYTES;
    const unsigned char* sB = sA + BM * 128;
#pragma unroll
    for (int kk = 0; kk < BK / 16; ++kk) {
      unsigned a[FM][4];
#pragma unroll
      for (int i = 0; i < FM; ++i)
        ks::ldmatrix_x4(a[i], sA + ks::swizzle128(wm * WM + 16 * i + lane % 16, 2 * kk + lane / 16));
#pragma unroll
      for (int j = 0; j < FN / 2; ++j) {
        unsigned b[4];  // n8 fragments 2j and 2j + 1
        ks::ldmatrix_x4(b, sB + ks::swizzle128(wn * WN + 16 * j + lane % 8 + lane / 16 * 8,
                                               2 * kk + lane / 8 % 2));
        const unsigned b0[2] = {b[0], b[1]}, b1[2] = {b[2], b[3]};
#pragma unroll
        for (int i = 0; i < FM; ++i) {
          ks::mma_bf16_16816(acc[i][2 * j], a[i], b0);
          ks::mma_bf16_16816(acc[i][2 * j + 1], a[i], b1);
        }
      }
    }
  }
  ks::cp_async_wait<0>();

  // Epilogue: lane (g, t) holds rows g and g + 8 of each m16 fragment, columns 2t and 2t + 1
  // (n even and N % 8 == 0: both columns are in range together, and the 4-byte store aligned).
#pragma unroll
  for (int i = 0; i < FM; ++i) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int m = m0 + wm * WM + 16 * i + g + 8 * h;
      if (m >= M) continue;
#pragma unroll
      for (int j = 0; j < FN; ++j) {
        const int n = n0 + wn * WN + 8 * j + 2 * t;
        if (n < N)
          *reinterpret_cast<unsigned*>(Y + (size_t)m * N + n) = ks::pack2(acc[i][j][2 * h], acc[i][j][2 * h + 1]);
      }
    }
  }
}
