/* ksearch
{ "task": "gemm", "name": "wgmma_mainloop",
  "params":  { "BN": [256, 128], "STAGES": [4, 3, 5], "GROUP": [8, 16], "REG_A": [0, 1], "CLUSTER": [1],
               "BM": [128] },
  "let":     { "SMEM": "STAGES * (BM + BN) * 64 * 2 + 1024" },
  "applies": "M >= 64 && SMEM <= SMEM_MAX",
  "tensor_maps": {
    "a_map": { "buffer": "X", "dims": ["K", "M"], "box": ["64", "BM"], "swizzle": "128B" },
    "b_map": { "buffer": "W", "dims": ["K", "N"], "box": ["64", "BN / CLUSTER"], "swizzle": "128B",
               "l2_promotion": "256B" } },
  "steps": [
    { "kernel": "gemm", "grid": ["CLUSTER * min(SMS / CLUSTER, cdiv(cdiv(M, BM), CLUSTER) * cdiv(N, BN))"], "block": ["384"],
      "smem": "SMEM",
      "args": ["a_map", "b_map", "Y", "M", "N", "K"] } ] }
*/
// Regime: prefill (M >= 64), Hopper sm_90a; small M is for GEMV seeds.
// Idea: the warp-specialized persistent mainloop of ks/gemm_sm90.cuh with identity hooks: TMA
//   loads into a STAGES-deep mbarrier ring, one producer warp, two consumer warpgroups on wgmma.
// Layout: BM x BN = 128 x BN tiles, 64-wide K slices, 128B swizzle; consumer warpgroup c owns rows
//   64c..64c+63; SMS persistent blocks walk the tiles in GROUP-tall M groups; bf16 pairs stored
//   straight from the accumulators, bounds-checked (ragged M, N; ragged K read as TMA zeros).
//   CLUSTER = 2: 2-block clusters on M-adjacent tiles, each block loading half of the B tile and
//   multicasting it to both. REG_A = 1 tests the hooks: A through registers (wgmma _rs) scaled
//   by a per-K 1.0f, and an epilogue multiplying by 1.0f (runtime values): Y must equal REG_A=0's.
// Measured: H200, standalone harness (tests/gpu/standalone/gemm_sm90_check.cu), not yet through
//   ksearch: BN=256 STAGES=4: M=2048 K=14336 N=28672 2.10 ms (803 TFLOP/s); M=2048 K=4096
//   N=6144 145 us (711); M=512 K=4096 N=28672 192 us (626). BN=128 wins at few tiles (M=256
//   K=14336 N=6144: 85 us vs 142). REG_A=1 costs 8-25%. CLUSTER=2 (correct on the same
//   shapes): 1.6-3x slower, e.g. 3.53 ms vs 2.14 at M=2048 K=14336 N=28672.
// Not: CLUSTER=2 (B multicast to 2-block clusters) until tuned: slower as written, so left out of
//   the space (the code path stays; add 2 to CLUSTER to search it). A TMA-store epilogue: not written.
#include <ks/wgmma.cuh>  // first: its "needs sm_90a" is the message on sm_80 and sm_90
#include <cuda_bf16.h>
#include <ks/cluster.cuh>
#include <ks/gemm_sm90.cuh>
#include <ks/tma.cuh>

#if !defined(BM) || !defined(BN) || !defined(STAGES) || !defined(GROUP) || !defined(REG_A) || !defined(CLUSTER)
#error "BM, BN, STAGES, GROUP, REG_A and CLUSTER come from the plan's params"
#endif

// REG_A = 1: a neutral per-K scale (1.0f, but not a compile-time constant, so the scaling is
// really executed) and the register-A path.
struct UnitScaleK {
  static constexpr bool kIdentity = false;
  float one;
  __device__ __forceinline__ float operator()(int) const { return one; }
};

// REG_A = 1: acc[i] *= 1.0f, with the coordinates computed as a real epilogue would use them.
struct UnitEpilogue {
  float one;
  int M, N;
  template <int R>
  __device__ __forceinline__ void operator()(float (&acc)[R], const ks::GemmFrag& f) const {
#pragma unroll
    for (int i = 0; i < R; ++i) acc[i] *= (f.row(i) < M && f.col(i) < N) ? one : 0.0f;
  }
};

#if CLUSTER > 1
#define GEMM_CLUSTER __cluster_dims__(CLUSTER, 1, 1)
#else
#define GEMM_CLUSTER
#endif

extern "C" __global__ void __launch_bounds__(ks::kGemmThreads, 1) GEMM_CLUSTER
    gemm(const __grid_constant__ ks::TensorMap a_map, const __grid_constant__ ks::TensorMap b_map,
         __nv_bfloat16* Y, int M, int N, int K) {
  const ks::StoreBF16 store{Y, M, N, N};
#if REG_A
  const float one = K > 0 ? 1.0f : 0.0f;  // 1.0f the compiler cannot fold
  ks::gemm_sm90<BM, BN, STAGES, GROUP, CLUSTER>(&a_map, &b_map, M, N, K, UnitScaleK{one}, UnitEpilogue{one, M, N}, store);
#else
  ks::gemm_sm90<BM, BN, STAGES, GROUP, CLUSTER>(&a_map, &b_map, M, N, K, ks::IdentityPrologue{}, ks::IdentityEpilogue{},
                                       store);
#endif
}
