/* ksearch
{ "task": "rmsnorm_linear", "name": "mma_fused",
  "params":  { "BM": [128, 64, 256], "BN": [128, 32, 64, 256], "WM": [64, 32], "WN": [32, 64],
               "STAGES": [3, 4] },
  "let":     { "WARPS": "(BM / WM) * (BN / WN)", "THREADS": "WARPS * 32",
               "STAGE_BYTES": "(BM + BN) * 128 + 128", "SMEM": "STAGES * STAGE_BYTES + BM * 4" },
  "applies": "WM <= BM && WN <= BN && WARPS % 2 == 0 && WARPS <= 16 && (BM * 8) % THREADS == 0 && (BN * 8) % THREADS == 0 && SMEM <= 227 * 1024",
  "steps": [
    { "kernel": "rmsnorm_gemm", "grid": ["cdiv(M, BM)", "cdiv(N, BN)"],
      "block": ["THREADS"], "smem": "SMEM",
      "args": ["X", "gamma", "W", "Y", "M", "N", "K", "eps"] } ] }
*/
// Regime: prefill (large M); sm_80+.
// Idea: one mma.sync m16n8k16 GEMM (bf16 in, fp32 accumulators) of un-normalized X * gamma by W^T;
//   the epilogue scales row m by r[m] = rsqrt(mean(X[m]^2) + eps) (deferred normalization).
// Layout: BM x BN block tile, WM x WN warp tiles; 64-wide K tiles through a STAGES-deep cp.async
//   ring, one barrier each; blocks M-fastest: W read from DRAM about once, X (small) from L2.
// Measured: not measured alone.
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
#define FM (WM / 16)                         // m16 fragments per warp tile
#define FN (WN / 8)                          // n8 fragments per warp tile
#define A_CHUNKS (BM * 8 / THREADS)          // 16-byte A chunks each thread prepares per K tile
// STAGE_BYTES (the plan's let): A tile, B tile, 64 gammas
static_assert(WM % 16 == 0 && WN % 16 == 0, "warp tile of m16 x n16 steps");
static_assert(STAGES >= 3, "tile kt + 1 is prepared while tile kt is multiplied");
// (BM and BN rows split evenly over the threads, an even number of warps: ks::SwizzledTileLoader.)

// One block per SM is the plan (registers and shared memory go to the big tiles).
extern "C" __global__ void __launch_bounds__(THREADS, 1)
    rmsnorm_gemm(const __nv_bfloat16* X, const __nv_bfloat16* gamma, const __nv_bfloat16* W,
                 __nv_bfloat16* Y, int M, int N, int K, float eps) {
  extern __shared__ __align__(1024) unsigned char smem[];
  float* row_scale = reinterpret_cast<float*>(smem + STAGES * STAGE_BYTES);  // r[m], BM of them
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  const int wm = warp / WARPS_N, wn = warp % WARPS_N;
  const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;

  // K tile kt into pipeline slot kt % STAGES; zeros past M, N and K (K % 8 == 0: chunks whole).
  // Tile kt: A, B and its 64 gammas into slot kt % STAGES.
  const ks::SwizzledTileLoader<BM, THREADS> a_loader(X, M, K, K, m0);
  const ks::SwizzledTileLoader<BN, THREADS> b_loader(W, N, K, K, n0);
  auto load_tile = [&](int kt) {
    unsigned char* sA = smem + (kt % STAGES) * STAGE_BYTES;
    a_loader.load(sA, kt * BK);
    b_loader.load(sA + BM * 128, kt * BK);
    if (tid < 8) {
      const int k = kt * BK + 8 * tid;
      ks::cp_async16_zfill(sA + (BM + BN) * 128 + 16 * tid, k < K ? gamma + k : gamma, k < K);
    }
  };

  // A of tile kt in place, the very chunks this thread copied: X -> bf16(X * gamma), and ss[j]
  // gathers X^2 of its j-th row (row tid / 8 + j * THREADS / 8 of the tile).
  // Each A element is prepared once per block, and each thread always gets the same rows, so the
  // sums stay in registers until the epilogue.
  float ss[A_CHUNKS] = {};
  auto prepare_tile = [&](int kt) {
    unsigned char* sA = smem + (kt % STAGES) * STAGE_BYTES;
    const uint4 g8 = *reinterpret_cast<const uint4*>(sA + (BM + BN) * 128 + 16 * (tid % 8));
#pragma unroll
    for (int j = 0; j < A_CHUNKS; ++j) {
      uint4* p = reinterpret_cast<uint4*>(sA + a_loader.dst + j * (THREADS / 8) * 128);
      *p = ks::mul8_sumsq(*p, g8, ss[j]);
    }
  };

  float acc[FM][FN][4] = {};
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
    ks::cp_async_wait<STAGES - 3>();  // tiles kt and kt + 1 have landed (this thread's copies) ...
    __syncthreads();  // ... everyone's; tile kt is prepared; slot (kt - 1) % STAGES is free
    if (kt + STAGES - 1 < k_tiles) load_tile(kt + STAGES - 1);
    ks::cp_async_commit();
    if (kt + 1 < k_tiles) prepare_tile(kt + 1);  // another slot than the one read below

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

  // Scaling at the end is safe: bf16 keeps fp32's exponent range, so the un-normalized product
  // neither overflows nor flushes where the normalized one would not.
  // Row scales: the 8 adjacent lanes holding a row's chunks add their sums.
#pragma unroll
  for (int j = 0; j < A_CHUNKS; ++j) {
    float s = ss[j];
#pragma unroll
    for (int o = 1; o < 8; o *= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (tid % 8 == 0) row_scale[(tid + j * THREADS) / 8] = rsqrtf(s / (float)K + eps);
  }
  __syncthreads();

  // Epilogue: lane (g, t) holds rows g and g + 8 of each m16 fragment, columns 2t and 2t + 1.
#pragma unroll
  for (int i = 0; i < FM; ++i) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = wm * WM + 16 * i + g + 8 * h, m = m0 + row;
      if (m >= M) continue;
      const float r = row_scale[row];
#pragma unroll
      for (int j = 0; j < FN; ++j) {
        const int n = n0 + wn * WN + 8 * j + 2 * t;
        if (n < N)
          *reinterpret_cast<unsigned*>(Y + (size_t)m * N + n) =
              ks::pack2(acc[i][j][2 * h] * r, acc[i][j][2 * h + 1] * r);
      }
    }
  }
}
