/* ksearch
{ "task": "rmsnorm_linear", "name": "mainloop_fused",
  "params":  { "BN": [256, 128, 64], "STAGES": [4, 3, 6], "GROUP": [8, 16], "SPLIT": [1, 2], "BM": [128, 64],
               "TMA_STORE": [0, 1] },
  "let":     { "SMEM": "STAGES * ((BM + BN) * 128 + 128) + 1024 + min(SPLIT - 1, 1) * (BM * BN * 4 + 4096) + TMA_STORE * BM * BN * 2",
               "TILES": "cdiv(M, BM) * cdiv(N, BN)" },
  "applies": "M >= 64 && K % 8 == 0 && N % 2 == 0 && SMEM <= SMEM_MAX && (SPLIT == 1 || TILES * SPLIT <= SMS) && (TMA_STORE == 0 || (N % 8 == 0 && BM * BN >= 8192))",
  "tensor_maps": {
    "a_map": { "buffer": "X", "dims": ["K", "M"], "box": ["64", "BM"], "swizzle": "128B" },
    "b_map": { "buffer": "W", "dims": ["K", "N"], "box": ["64", "BN"], "swizzle": "128B", "l2_promotion": "256B" },
    "c_map": { "buffer": "Y", "dims": ["N", "M"], "box": ["64", "64"], "swizzle": "128B", "when": "TMA_STORE" } },
  "steps": [
    { "kernel": "rmsnorm_gemm", "grid": ["SPLIT * min(SMS / SPLIT, TILES)"], "block": ["384"], "smem": "SMEM",
      "args": ["a_map", "b_map", "c_map", "gamma", "Y", "M", "N", "K", "eps"] } ] }
*/
// Regime: prefill (M >= 64), Hopper sm_90a; small M is for the GEMV seeds.
// Idea: deferred normalization on the ks/gemm_sm90.cuh mainloop: Y = rinv * ((X * gamma) @ W^T)
//   with rinv = rsqrt(mean(X^2) + eps) per row. gamma scales A in registers (the register-A
//   prologue; the producer stages each K slice's 64 gammas in shared memory with the tiles), which
//   also sums each row's squares from the same fragments, so mean(X^2) costs no pass over X of
//   its own; the epilogue scales each row by its rinv on the accumulators.
// Layout: the mainloop's: BM x BN tiles (BM = 64: the consumers split the columns), 64-wide K
//   slices through a STAGES-deep TMA ring, SMS persistent blocks in GROUP-tall M groups; SPLIT = 2:
//   2-block clusters split K and merge their partial sums (and sums of squares) on chip.
//   TMA_STORE = 1: Y leaves through a swizzled staging tile and TMA stores (N % 8 == 0).
// Measured: H200, ksearch eval against the baseline (norm + cuBLASLt, same replays): M = 128
//   25.3 us (0.78x; BN=64 SPLIT=2 STAGES=6), M = 512 42.7 (0.74x; BN=128), M = 2048 166.1 (0.89x;
//   BN=256). The plain mainloop on the same GEMMs: 18.1, 30.8, 148.0: the register-A prologue
//   (scales and sums of squares) is not hidden behind the wgmmas at BN <= 128. Gamma read from
//   global memory per fragment instead of staged: 67.5 / 67.9 / 192.5 us. Later the same day,
//   with the TMA store (the plain mainloop then at 17.8 / 27.2 / 134.0): 25.1 (0.78x), 39.7 (0.79x;
//   BN=128 STAGES=6 TMA_STORE=1), 166.2 (0.88x; BN=256 STAGES=4; 170.9 with the TMA store at 3
//   stages): the register-A prologue is what is left; the store no longer matters.
// Not: normalizing X in a pre-pass (one more read and write of X, and a second launch); gamma
//   folded into W (a pass over the weights every call).
#include <ks/wgmma.cuh>  // first: its "needs sm_90a" is the message on sm_80 and sm_90
#include <cuda_bf16.h>
#include <ks/cluster.cuh>
#include <ks/gemm_sm90.cuh>
#include <ks/tma.cuh>

#if !defined(BM) || !defined(BN) || !defined(STAGES) || !defined(GROUP) || !defined(SPLIT) || !defined(TMA_STORE)
#error "BM, BN, STAGES, GROUP, SPLIT and TMA_STORE come from the plan's params"
#endif

// Each row times rsqrt(mean(x^2) + eps), from the sums of squares the prologue gathered.
struct RowRms {
  float inv_k, eps;
  template <int R>
  __device__ __forceinline__ void operator()(float (&acc)[R], const ks::GemmFrag& f) const {
    const float r0 = rsqrtf(f.row_ss[0] * inv_k + eps), r1 = rsqrtf(f.row_ss[1] * inv_k + eps);
#pragma unroll
    for (int i = 0; i < R; ++i) acc[i] *= ((i >> 1) & 1) ? r1 : r0;
  }
};

#if SPLIT > 1
#define GEMM_CLUSTER __cluster_dims__(SPLIT, 1, 1)
#else
#define GEMM_CLUSTER
#endif

extern "C" __global__ void __launch_bounds__(ks::kGemmThreads, 1) GEMM_CLUSTER
    rmsnorm_gemm(const __grid_constant__ ks::TensorMap a_map, const __grid_constant__ ks::TensorMap b_map,
                 const __grid_constant__ ks::TensorMap c_map, const __nv_bfloat16* gamma, __nv_bfloat16* Y, int M,
                 int N, int K, float eps) {
#if TMA_STORE
  const ks::StoreTmaBF16 store{&c_map};  // c_map is all zeros when TMA_STORE = 0 (its "when")
  (void)Y;
#else
  const ks::StoreBF16 store{Y, M, N, N};
#endif
  ks::gemm_sm90<BM, BN, STAGES, GROUP, 1, SPLIT>(&a_map, &b_map, M, N, K, ks::KScalePrologue<true>{gamma},
                                                 RowRms{1.0f / K, eps}, store);
}
