/* ksearch
{ "task": "rmsnorm_linear", "name": "bulk_gemv",
  "params":  { "KC": [1024, 512, 768, 256], "STAGES": [2, 3, 4, 6], "CONSUMERS": [8, 4], "WR": [1, 2], "MT": [2, 1],
               "GRIDX": [1, 2], "PDL": [1, 0] },
  "let":     { "STRIDE": "KC * 2 + 64", "LD": "8 * MT + 1",
               "SMEM": "STAGES * (16 * WR + 8 * MT) * STRIDE + STAGES * 16 + CONSUMERS * 16 * WR * LD * 4" },
  "applies": "M <= 8 * MT && K <= 32768 && SMEM <= SMEM_MAX && GRIDX * (SMEM + 1024) <= SMEM_MAX + 1024",
  "workspace": { "xn": "M * K * 2" },
  "steps": [
    { "kernel": "rmsnorm_rows", "grid": ["M"], "block": ["min(1024, cdiv(K, 256) * 32)"],
      "args": ["X", "gamma", "xn", "K", "eps"] },
    { "kernel": "gemv", "grid": ["min(GRIDX * SMS, cdiv(N, 16 * WR))"], "block": ["32 * (CONSUMERS + 1)"],
      "smem": "SMEM", "pdl": "PDL",
      "args": ["xn", "W", "Y", "M", "N", "K"] } ] }
*/
// Regime: decode, M <= 8 * MT; Hopper (sm_90: TMA bulk copies).
// Idea: the baseline's arithmetic (xn = bf16(X * rsqrt(mean(X^2) + eps) * gamma), then xn W^T in
//   fp32, rounded once) with the GEMM replaced by swiglu_mlp/bulk_gemv's weight stream
//   (ks/stream_gemv.cuh). PDL = 1: the GEMV starts while the norm runs (the norm lets it go at
//   once) and streams its first STAGES slots of W before pdl_wait; only the slices of xn wait.
// Layout: rmsnorm_rows: one block per row, each thread holding up to 4 16-byte chunks of X in
//   registers (one pass over X). gemv: GRIDX persistent blocks per SM walk tiles of WR x 16 rows
//   of W through a STAGES-deep ring of KC-wide K slices (W rows, then the slice of xn); CONSUMERS
//   warps split a slot's 32-wide K chunks on mma.sync.
// Measured: not yet on a GPU.
// Not: the norm inside the GEMV (mma_gemv's way: gamma on X and r[m] from the same loads): every
//   block would redo X's sum of squares over all of K, and gamma would ride in every slot; the
//   norm of M rows is one small kernel, hidden by PDL behind the weights' first slots.
#include <cuda_bf16.h>
#include <ks/stream_gemv.cuh>
#include <ks/pdl.cuh>
#include <ks/rms_norm.cuh>
#include <ks/vec.cuh>

#if !defined(KC) || !defined(STAGES) || !defined(CONSUMERS) || !defined(WR) || !defined(MT) || !defined(GRIDX) || \
    !defined(PDL)
#error "KC, STAGES, CONSUMERS, WR, MT, GRIDX and PDL come from the plan's params"
#endif
#if KC % 32 != 0 || STAGES < 2 || CONSUMERS < 1 || CONSUMERS > 15
#error "KC a multiple of 32; STAGES >= 2; 1..15 consumer warps"
#endif

constexpr int kNormHeld = 4;  // 16-byte chunks of X per thread: K <= 1024 threads * 8 * 4 = 32768

// Row blockIdx.x of X, normalized and scaled by gamma, into xn (as the baseline's rmsnorm: fp32
// sum of squares, r = rsqrt(mean + eps), x * r * gamma rounded to bf16). K % 8 == 0, blockDim.x a
// multiple of 32 with blockDim.x * 8 * kNormHeld >= K.
extern "C" __global__ void __launch_bounds__(1024)
    rmsnorm_rows(const __nv_bfloat16* X, const __nv_bfloat16* gamma, __nv_bfloat16* xn, int K, float eps) {
  // The GEMV's blocks may start (and stream W) at once; its pdl_wait still waits for all of this.
  ks::pdl_launch_dependents();
  ks::rms_norm_row<kNormHeld, false>(X + (size_t)blockIdx.x * K, gamma, xn + (size_t)blockIdx.x * K, K, eps);
}

// Y^T = W xn^T: a tile is WR x 16 rows of W; the epilogue rounds each sum to bf16 once.
// __launch_bounds__(threads, GRIDX): GRIDX blocks' registers fit in an SM.
extern "C" __global__ void __launch_bounds__(32 * (CONSUMERS + 1), GRIDX)
    gemv(const __nv_bfloat16* xn, const __nv_bfloat16* W, __nv_bfloat16* Y, int M, int N, int K) {
  extern __shared__ __align__(128) unsigned char smem[];
  auto row_of = [&](int tile, int r) -> const __nv_bfloat16* {
    const int n = tile * 16 * WR + r;
    return n < N ? W + (size_t)n * K : nullptr;
  };
  auto epilogue = [&](int tile, const ks::GemvPartials<WR, MT, CONSUMERS>& p) {
    for (int o = threadIdx.x; o < 16 * WR * M; o += 32 * CONSUMERS) {
      const int r = o % (16 * WR), m = o / (16 * WR), n = tile * 16 * WR + r;  // n fastest: coalesced
      if (n < N) Y[(size_t)m * N + n] = __float2bfloat16_rn(p.sum(r, m));
    }
  };
  // PDL = 1: xn is the norm's, which may still run: W's first STAGES slots go before the wait.
  ks::stream_gemv<WR, MT, KC, STAGES, CONSUMERS, PDL != 0>(smem, xn, M, K, (N + 16 * WR - 1) / (16 * WR), row_of,
                                                            epilogue);
}
