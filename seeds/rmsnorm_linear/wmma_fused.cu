/* ksearch
{ "task": "rmsnorm_linear", "name": "wmma_fused",
  "params": { "BM": [64, 128], "BN": [64, 128], "WARPS": [4, 8], "WARPS_M": [2, 4] },
  "steps": [
    { "kernel": "rmsnorm_gemm", "grid": ["cdiv(N, BN)", "cdiv(M, BM)"], "block": ["WARPS * 32"],
      "args": ["X", "gamma", "W", "Y", "M", "N", "K", "eps"] } ] }
*/
// Regime: one fused kernel for every M (decode and prefill); sm_80+.
// Idea: wmma bf16 16x16x16 (fp32 accumulators) GEMM of (X * gamma) @ W^T, deferred normalization:
//   the epilogue scales row m by r[m] = rsqrt(ss[m] / K + eps), ss summed while staging A.
// Layout: BM x BN block tile over a WARPS_M x WARPS_N warp grid; global -> registers (next K
//   tile, in flight during the MMAs) -> two shared stages, one barrier per K tile.
// Measured: not measured alone.
#include <cuda_bf16.h>
#include <mma.h>
#include <ks/vec.cuh>

#if !defined(BM) || !defined(BN) || !defined(WARPS) || !defined(WARPS_M)
#error "BM, BN, WARPS and WARPS_M come from the plan's params"
#endif

#define BK 32                        // K tile
#define LDS (BK + 8)                 // smem row stride (bf16): 80 bytes; 16-row steps stay 32-byte
                                     // aligned (wmma) and 8 rows hit 8 distinct 16-byte bank groups
#define THREADS (WARPS * 32)
                                     // warp grid: WARPS_M x WARPS_N warps over the BM x BN tile
#define WARPS_N (WARPS / WARPS_M)
#define WM (BM / WARPS_M)            // warp tile
#define WN (BN / WARPS_N)
#define FM (WM / 16)                 // 16x16 fragments per warp tile
#define FN (WN / 16)
#define KCH (BK / 8)                 // 16-byte chunks per tile row
#define A_LOADS (BM * KCH / THREADS) // A chunks staged per thread per K tile
#define B_LOADS (BN * KCH / THREADS)
#define STAGE_ELEMS ((BM + BN) * LDS)

static_assert(WARPS % WARPS_M == 0 && WM % 16 == 0 && WN % 16 == 0, "warp tiles of 16x16 frags");
static_assert((BM * KCH) % THREADS == 0 && (BN * KCH) % THREADS == 0, "tiles split over threads");
static_assert(THREADS % KCH == 0 && 32 % KCH == 0, "a tile row's chunks sit in adjacent lanes");
static_assert(WARPS * 16 * 16 * 4 <= 2 * STAGE_ELEMS * 2, "epilogue scratch fits in the stages");

using namespace nvcuda;

extern "C" __global__ void __launch_bounds__(THREADS)
    rmsnorm_gemm(const __nv_bfloat16* X, const __nv_bfloat16* gamma, const __nv_bfloat16* W,
                 __nv_bfloat16* Y, int M, int N, int K, float eps) {
  // Two stages, each A[BM][LDS] then B[BN][LDS] (B holds W rows: B[n][k]). After the K loop the
  // same bytes hold each warp's 16x16 fp32 epilogue scratch.
  __shared__ __align__(128) __nv_bfloat16 stages[2 * STAGE_ELEMS];
  __shared__ float row_scale[BM];  // r[m] of the block's rows

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int wm = warp / WARPS_N, wn = warp % WARPS_N;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int kc = tid % KCH;           // this thread's chunk column in a tile row (all its loads)
  const int row0 = tid / KCH;         // its first tile row; then every THREADS / KCH rows
  const uint4 zero = make_uint4(0, 0, 0, 0);

  uint4 a_reg[A_LOADS], b_reg[B_LOADS], g_reg;
  // The fp32 sum of X^2 of each of the block's BM rows, over all of K, gathered while staging A.
  float ss[A_LOADS];  // sum of X^2 of row row0 + i * (THREADS / KCH), over this thread's chunks
#pragma unroll
  for (int i = 0; i < A_LOADS; ++i) ss[i] = 0.0f;

  // Global -> registers: the K tile starting at k0, zero where m >= M, n >= N or k >= K.
  auto load_tile = [&](int k0) {
    const int k = k0 + kc * 8;  // K % 8 == 0: a chunk is wholly inside K or wholly outside
    g_reg = k < K ? ks::load8(gamma + k) : zero;
#pragma unroll
    for (int i = 0; i < A_LOADS; ++i) {
      const int m = m0 + row0 + i * (THREADS / KCH);
      a_reg[i] = (m < M && k < K) ? ks::load8(X + (size_t)m * K + k) : zero;
    }
#pragma unroll
    for (int i = 0; i < B_LOADS; ++i) {
      const int n = n0 + row0 + i * (THREADS / KCH);
      b_reg[i] = (n < N && k < K) ? ks::load8(W + (size_t)n * K + k) : zero;
    }
  };
  // Registers -> shared: A as bf16(X * gamma), accumulating sum of X^2; B as is.
  auto store_tile = [&](__nv_bfloat16* As, __nv_bfloat16* Bs) {
    float g[8];
    ks::unpack8(g_reg, g);
#pragma unroll
    for (int i = 0; i < A_LOADS; ++i) {
      float x[8];
      ks::unpack8(a_reg[i], x);
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        ss[i] += x[j] * x[j];
        x[j] *= g[j];
      }
      ks::store8(As + (row0 + i * (THREADS / KCH)) * LDS + kc * 8, ks::pack8(x));
    }
#pragma unroll
    for (int i = 0; i < B_LOADS; ++i)
      ks::store8(Bs + (row0 + i * (THREADS / KCH)) * LDS + kc * 8, b_reg[i]);
  };

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[FM][FN];
#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int j = 0; j < FN; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  const int k_tiles = (K + BK - 1) / BK;
  load_tile(0);
  for (int t = 0; t < k_tiles; ++t) {
    __nv_bfloat16* As = stages + (t % 2) * STAGE_ELEMS;
    __nv_bfloat16* Bs = As + BM * LDS;
    // Stage t % 2 was last read in iteration t - 2; iteration t - 1's barrier ordered that read
    // before this write.
    store_tile(As, Bs);
    __syncthreads();
    if (t + 1 < k_tiles) load_tile((t + 1) * BK);  // in flight during the MMAs below

#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a[FM];
#pragma unroll
      for (int i = 0; i < FM; ++i)
        wmma::load_matrix_sync(a[i], As + (wm * WM + i * 16) * LDS + kk, LDS);
#pragma unroll
      for (int j = 0; j < FN; ++j) {
        // col_major B fragment at Bs[n][k]: element (k, n) is at n * LDS + k, i.e. W^T.
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> b;
        wmma::load_matrix_sync(b, Bs + (wn * WN + j * 16) * LDS + kk, LDS);
#pragma unroll
        for (int i = 0; i < FM; ++i) wmma::mma_sync(acc[i][j], a[i], b, acc[i][j]);
      }
    }
  }

  // Scaling at the end is safe: bf16 keeps fp32's exponent range, so the unnormalized X * gamma
  // neither overflows nor flushes where the normalized value would not.
  // Row scales: the KCH adjacent lanes sharing a tile row add their partial sums.
#pragma unroll
  for (int i = 0; i < A_LOADS; ++i) {
    float s = ss[i];
#pragma unroll
    for (int offset = 1; offset < KCH; offset *= 2) s += __shfl_xor_sync(0xffffffffu, s, offset);
    if (kc == 0) row_scale[row0 + i * (THREADS / KCH)] = rsqrtf(s / (float)K + eps);
  }
  __syncthreads();  // row_scale is visible, and every warp is done reading the stages

  // Epilogue, one 16x16 fragment at a time through this warp's scratch: lane handles row
  // lane / 2, columns (lane % 2) * 8 .. + 7, stored as one 16-byte write. N % 8 == 0 and n % 8
  // == 0, so those 8 columns are all inside N or all outside.
  float* scratch = reinterpret_cast<float*>(stages) + warp * 16 * 16;
  const int r = lane / 2, c = (lane % 2) * 8;
#pragma unroll
  for (int i = 0; i < FM; ++i) {
#pragma unroll
    for (int j = 0; j < FN; ++j) {
      wmma::store_matrix_sync(scratch, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      const int lrow = wm * WM + i * 16 + r;
      const int m = m0 + lrow, n = n0 + wn * WN + j * 16 + c;
      if (m < M && n < N) {
        const float scale = row_scale[lrow];
        float v[8];
#pragma unroll
        for (int e = 0; e < 8; ++e) v[e] = scratch[r * 16 + c + e] * scale;
        ks::store8(Y + (size_t)m * N + n, ks::pack8(v));
      }
      __syncwarp();  // scratch is overwritten by the next fragment
    }
  }
}
