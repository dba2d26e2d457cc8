/* ksearch
{ "task": "gemm", "name": "wgmma_mainloop",
  "params":  { "BN": [256, 128, 64], "STAGES": [4, 3, 6, 8, 12], "GROUP": [8, 16], "SPLIT": [1, 2], "HOOKS": [0, 1, 2],
               "CLUSTER": [1, 2], "BM": [128, 64],
               "TMA_STORE": [0, 1], "CONSUMER_K": [0, 1] },
  "let":     { "SMEM": "STAGES * ((BM + BN) * 128 + 128) + 1024 + max(min(SPLIT - 1, 1), CONSUMER_K) * (BM * BN * 4 + 4096) + TMA_STORE * BM * BN * 2",
               "TILES": "cdiv(M, BM) * cdiv(N, BN)" },
  "applies": "M >= 64 && K % 8 == 0 && N % 2 == 0 && SMEM <= SMEM_MAX && (SPLIT == 1 || TILES * SPLIT <= SMS) && (CLUSTER == 1 || SPLIT == 1) && (TMA_STORE == 0 || (N % 8 == 0 && BM * BN >= 8192)) && (CONSUMER_K == 0 || (BM == 64 && SPLIT == 1 && HOOKS < 2))",
  "tensor_maps": {
    "a_map": { "buffer": "X", "dims": ["K", "M"], "box": ["64", "BM"], "swizzle": "128B" },
    "b_map": { "buffer": "W", "dims": ["K", "N"], "box": ["64", "BN / CLUSTER"], "swizzle": "128B",
               "l2_promotion": "256B" },
    "c_map": { "buffer": "Y", "dims": ["N", "M"], "box": ["64", "64"], "swizzle": "128B", "when": "TMA_STORE" } },
  "steps": [
    { "kernel": "gemm", "grid": ["CLUSTER * SPLIT * min(SMS / (CLUSTER * SPLIT), cdiv(cdiv(M, BM), CLUSTER) * cdiv(N, BN))"],
      "block": ["384"], "smem": "SMEM",
      "args": ["a_map", "b_map", "c_map", "Y", "M", "N", "K"] } ] }
*/
// Regime: prefill (M >= 64), Hopper sm_90a; small M is for GEMV seeds.
// Idea: the warp-specialized persistent mainloop of ks/gemm_sm90.cuh with identity hooks: TMA
//   loads into a STAGES-deep mbarrier ring, one producer warp, two consumer warpgroups on wgmma
//   with one group in flight each.
// Layout: BM x BN = 128 x BN tiles, 64-wide K slices, 128B swizzle; consumer warpgroup c owns rows
//   64c..64c+63; SMS persistent blocks walk the tiles in GROUP-tall M groups; bf16 pairs stored
//   straight from the accumulators, bounds-checked (ragged M, N; ragged K read as TMA zeros).
//   SPLIT = 2 or 4: clusters of SPLIT blocks each take a K range of one tile and sum their
//   partials through distributed shared memory (for shapes with fewer tiles than SMs: applies
//   only where the split tiles still fit one wave).
//   CLUSTER = 2: 2-block clusters on M-adjacent tiles, each block loading half of the B tile and
//   multicasting it to both.
//   HOOKS tests the hooks' cost with values the compiler cannot fold: 1 = an epilogue scaling
//   every accumulator by a runtime 1.0f; 2 = that and A through registers (wgmma _rs) scaled by a
//   per-K 1.0f. Y must equal HOOKS=0's.
// Measured: see the README's table (gpu-check.sh gemm).
//   CONSUMER_K = 1 (BM = 64): the two consumer warpgroups take alternate K slices of the whole
//   64 x BN tile (wgmmas of N = BN, one arrival per slot) and sum through shared memory at the
//   tile's end, instead of each taking half of the columns (wgmmas of N = BN / 2).
//   TMA_STORE = 1: the tile leaves through a swizzled staging tile in shared memory and TMA stores
//   (c_map over Y; N % 8 == 0), so the consumers start the next tile without waiting on stores.
// Not: stream-K.
#include <ks/wgmma.cuh>  // first: its "needs sm_90a" is the message on sm_80 and sm_90
#include <cuda_bf16.h>
#include <ks/cluster.cuh>
#include <ks/gemm_sm90.cuh>
#include <ks/tma.cuh>

#if !defined(BM) || !defined(BN) || !defined(STAGES) || !defined(GROUP) || !defined(SPLIT) || !defined(HOOKS) || \
    !defined(CLUSTER) || !defined(TMA_STORE) || !defined(CONSUMER_K)
#error "BM, BN, STAGES, GROUP, SPLIT, HOOKS, CLUSTER, TMA_STORE and CONSUMER_K come from the plan's params"
#endif

// HOOKS = 2: a neutral per-K scale (1.0f, but not a compile-time constant, so the scaling is
// really executed) and the register-A path.
struct UnitScaleK {
  static constexpr bool kIdentity = false;
  float one;
  __device__ __forceinline__ float2 operator()(int) const { return make_float2(one, one); }
};

// HOOKS >= 1: acc[i] *= 1.0f, a runtime value, as a row or column scale would be applied.
struct UnitEpilogue {
  float one;
  template <int R>
  __device__ __forceinline__ void operator()(float (&acc)[R], const ks::GemmFrag&) const {
#pragma unroll
    for (int i = 0; i < R; ++i) acc[i] *= one;
  }
};

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
  const float one = K > 0 ? 1.0f : 0.0f;  // 1.0f the compiler cannot fold
#if HOOKS == 2
  // (CONSUMER_K needs A by descriptor: not with the register-A prologue; `applies` says so.)
  ks::gemm_sm90<BM, BN, STAGES, GROUP, CLUSTER, SPLIT>(&a_map, &b_map, M, N, K, UnitScaleK{one}, UnitEpilogue{one}, store);
#elif HOOKS == 1
  ks::gemm_sm90<BM, BN, STAGES, GROUP, CLUSTER, SPLIT, false, CONSUMER_K != 0>(&a_map, &b_map, M, N, K, ks::IdentityPrologue{}, UnitEpilogue{one},
                                                       store);
#else
  ks::gemm_sm90<BM, BN, STAGES, GROUP, CLUSTER, SPLIT, false, CONSUMER_K != 0>(&a_map, &b_map, M, N, K, ks::IdentityPrologue{},
                                                       ks::IdentityEpilogue{}, store);
  (void)one;
#endif
}
