/* ksearch
{ "task": "rmsnorm_linear", "name": "norm_mainloop",
  "params":  { "BN": [256, 128, 64], "STAGES": [4, 3, 6, 8, 12], "GROUP": [8, 16], "SPLIT": [1, 2], "BM": [128, 64],
               "CLUSTER": [1, 2], "TMA_STORE": [1, 0], "PDL": [1, 0], "NORM": [1, 0] },
  "let":     { "SMEM": "STAGES * ((BM + BN) * 128 + 128) + 1024 + min(SPLIT - 1, 1) * (BM * BN * 4 + 4096) + TMA_STORE * BM * BN * 2",
               "TILES": "cdiv(M, BM) * cdiv(N, BN)", "NORM_THREADS": "max(32, cdiv(K, 8 * 4 * 32) * 32)" },
  "applies": "M >= 64 && K % 8 == 0 && K <= 32768 && N % 2 == 0 && SMEM <= SMEM_MAX && (SPLIT == 1 || TILES * SPLIT <= SMS) && (CLUSTER == 1 || SPLIT == 1) && (TMA_STORE == 0 || (N % 8 == 0 && BM * BN >= 8192))",
  "workspace": { "xn": "M * K * 2" },
  "tensor_maps": {
    "a_map": { "buffer": "xn", "dtype": "bf16", "dims": ["K", "M"], "box": ["64", "BM"], "swizzle": "128B" },
    "b_map": { "buffer": "W", "dims": ["K", "N"], "box": ["64", "BN / CLUSTER"], "swizzle": "128B",
               "l2_promotion": "256B" },
    "c_map": { "buffer": "Y", "dims": ["N", "M"], "box": ["64", "64"], "swizzle": "128B", "when": "TMA_STORE" } },
  "steps": [
    { "kernel": "rmsnorm_rows", "grid": ["NORM * cdiv(M, 4) + (1 - NORM) * M"], "block": ["NORM * 128 + (1 - NORM) * NORM_THREADS"],
      "args": ["X", "gamma", "xn", "M", "K", "eps"] },
    { "kernel": "gemm", "grid": ["CLUSTER * SPLIT * min(SMS / (CLUSTER * SPLIT), cdiv(cdiv(M, BM), CLUSTER) * cdiv(N, BN))"],
      "block": ["384"], "smem": "SMEM", "pdl": "PDL",
      "args": ["a_map", "b_map", "c_map", "Y", "M", "N", "K"] } ] }
*/
// Regime: prefill (M >= 64), Hopper sm_90a; small M is for the GEMV seeds.
// Idea: normalize X once (xn = bf16(X * rsqrt(mean(X^2) + eps) * gamma), a pass that costs a read
//   and a write of X, 3-7 us at M = 512-2048 on an H200, and leaves xn in L2), then the plain
//   ks/gemm_sm90.cuh mainloop over xn, launched with PDL (PDL = 1) so its blocks set up while the
//   norm drains. The same arithmetic as the baseline (norm, round, GEMM), on our mainloop.
// Layout: the norm (NORM = 1): one warp per row, 4 rows per block, all of M at once: the sum of
//   squares with 8 16-byte loads in flight per lane, then the row again (from L1 / L2) scaled
//   and stored; NORM = 0: one block per row, each thread holding up to 4 chunks of 8 elements in
//   registers (ncu, H200: 32% of DRAM bandwidth at M = 2048; 48 registers a thread allow 10
//   blocks per SM: 1.6 waves of rows).
//   Either lets the GEMM launch at once. The GEMM: the mainloop's
//   BM x BN tiles, STAGES-deep TMA ring, SPLIT = 2 cluster split-K, CLUSTER = 2 B multicast,
//   TMA_STORE = 1 TMA stores of Y.
// Measured: H200, ksearch eval against the baseline (norm + cuBLASLt, same replays), 2026-12-03:
//   M = 128 21.3 us (0.92x; BM=128 BN=64 SPLIT=2 STAGES=6 TMA_STORE=1), M = 512 31.6 (1.00x;
//   BN=128 STAGES=6 TMA_STORE=1), M = 2048 147.3 (1.01x; BN=256 STAGES=3 TMA_STORE=1; 146.6
//   with PDL=0: the GEMM's blocks cannot start before the norm's leave the SMs). ncu: the norm
//   takes 11.2 us at M = 2048 (32% of DRAM bandwidth; the baseline's 12.8): a pass at DRAM speed
//   would be about 7 us. Against mainloop_fused (25.1 / 39.7 / 166.2) it wins at every M.
// Why not the alternative: mainloop_fused applies gamma to A in registers on every tile, i.e.
//   N / BN times per element of X; measured on an H200 that costs 8-30% over the plain mainloop
//   (25.1 / 39.7 / 166.2 us at M = 128 / 512 / 2048 against the plain 17.8 / 27.2 / 134.0), more
//   than one pass over X does.
#include <ks/wgmma.cuh>  // first: its "needs sm_90a" is the message on sm_80 and sm_90
#include <cuda_bf16.h>
#include <ks/cluster.cuh>
#include <ks/gemm_sm90.cuh>
#include <ks/pdl.cuh>
#include <ks/rms_norm.cuh>
#include <ks/tma.cuh>
#include <ks/vec.cuh>

#if !defined(BM) || !defined(BN) || !defined(STAGES) || !defined(GROUP) || !defined(SPLIT) || !defined(CLUSTER) || \
    !defined(TMA_STORE) || !defined(NORM)
#error "BM, BN, STAGES, GROUP, SPLIT, CLUSTER, TMA_STORE and NORM come from the plan's params"
#endif

#if NORM == 1
// Row (block * 4 + warp) of X, normalized and scaled by gamma, into xn; K % 8 == 0.
extern "C" __global__ void rmsnorm_rows(const __nv_bfloat16* X, const __nv_bfloat16* gamma, __nv_bfloat16* xn, int M,
                                        int K, float eps) {
  // The GEMM's blocks may start as soon as SMs free up; its pdl_wait still waits for all of this.
  ks::pdl_launch_dependents();
  const int lane = threadIdx.x % 32, row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= M) return;  // the whole warp
  const __nv_bfloat16* x = X + (size_t)row * K;
  __nv_bfloat16* y = xn + (size_t)row * K;
  const int chunks = K / 8;
  constexpr int kInFlight = 8;  // 16-byte loads per lane before the first is used
  float ss = 0.0f;
  for (int c0 = 0; c0 < chunks; c0 += 32 * kInFlight) {
    uint4 v[kInFlight];
#pragma unroll
    for (int j = 0; j < kInFlight; ++j) {
      const int c = c0 + lane + 32 * j;
      v[j] = c < chunks ? ks::load8(x + 8 * c) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int j = 0; j < kInFlight; ++j) {
      float f[8];
      ks::unpack8(v[j], f);
#pragma unroll
      for (int e = 0; e < 8; ++e) ss += f[e] * f[e];
    }
  }
  const float r = rsqrtf(ks::warp_sum(ss) / (float)K + eps);
#pragma unroll 4
  for (int c = lane; c < chunks; c += 32) {
    float v[8], g[8];
    ks::unpack8(ks::load8(x + 8 * c), v);
    ks::unpack8(ks::load8(gamma + 8 * c), g);
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] = v[e] * r * g[e];
    ks::store8(y + 8 * c, ks::pack8(v));
  }
}
#else
constexpr int kChunksPerThread = 4;  // 8 bf16 each: K <= 1024 threads * 32 = 32768

// Row blockIdx.x of X, normalized and scaled by gamma, into xn; K % 8 == 0, blockDim.x a multiple
// of 32 with blockDim.x * 32 >= K.
extern "C" __global__ void rmsnorm_rows(const __nv_bfloat16* X, const __nv_bfloat16* gamma, __nv_bfloat16* xn,
                                        int M, int K, float eps) {
  (void)M;
  // The GEMM's blocks may start as soon as SMs free up; its pdl_wait still waits for all of this.
  ks::pdl_launch_dependents();
  ks::rms_norm_row<kChunksPerThread, true>(X + (size_t)blockIdx.x * K, gamma, xn + (size_t)blockIdx.x * K, K, eps);
}
#endif

#if CLUSTER > 1 || SPLIT > 1
#define GEMM_CLUSTER __cluster_dims__(CLUSTER * SPLIT, 1, 1)
#else
#define GEMM_CLUSTER
#endif

extern "C" __global__ void __launch_bounds__(ks::kGemmThreads, 1) GEMM_CLUSTER
    gemm(const __grid_constant__ ks::TensorMap a_map, const __grid_constant__ ks::TensorMap b_map,
         const __grid_constant__ ks::TensorMap c_map, __nv_bfloat16* Y, int M, int N, int K) {
#if TMA_STORE
  const ks::StoreTmaBF16 store{&c_map};  // c_map is all zeros when TMA_STORE = 0 (its "when")
  (void)Y;
#else
  const ks::StoreBF16 store{Y, M, N, N};
#endif
  ks::gemm_sm90<BM, BN, STAGES, GROUP, CLUSTER, SPLIT>(&a_map, &b_map, M, N, K, ks::IdentityPrologue{},
                                                       ks::IdentityEpilogue{}, store);
}
