/* ksearch
{ "task": "swiglu_mlp", "name": "mainloop_mlp",
  "params":  { "BN": [256, 128], "STAGES": [4, 3], "SPLIT": [1, 2], "BM": [128, 64], "BM_D": [128, 64], "BN_D": [128, 256, 64],
               "SPLIT_D": [1, 2], "GROUP": [8, 16], "PDL": [1, 0],
               "TMA_D": [0, 1] },
  "let":     { "SMEM": "STAGES * ((BM + BN) * 128 + 128) + 1024 + min(SPLIT - 1, 1) * (BM * BN * 4 + 4096)",
               "STAGES_D": "4 - TMA_D * (BN_D / 256)",
               "SMEM_D": "STAGES_D * ((BM_D + BN_D) * 128 + 128) + 1024 + min(SPLIT_D - 1, 1) * (BM_D * BN_D * 4 + 4096) + TMA_D * BM_D * BN_D * 2",
               "TILES": "cdiv(M, BM) * cdiv(2 * I, BN)", "TILES_D": "cdiv(M, BM_D) * cdiv(H, BN_D)" },
  "applies": "(M >= 64 || (BM == 64 && M >= 16)) && H % 8 == 0 && I % 8 == 0 && SMEM <= SMEM_MAX && SMEM_D <= SMEM_MAX && (SPLIT == 1 || TILES * SPLIT <= SMS) && (SPLIT_D == 1 || TILES_D * SPLIT_D <= SMS) && (TMA_D == 0 || (H % 8 == 0 && BM_D * BN_D >= 8192))",
  "workspace": { "h": "M * I * 2" },
  "tensor_maps": {
    "x_map":   { "buffer": "X", "dims": ["H", "M"], "box": ["64", "BM"], "swizzle": "128B" },
    "wgu_map": { "buffer": "Wgu", "dims": ["H", "I", "2"], "strides": ["H", "I * H"], "box": ["64", "BN / 2", "2"],
                 "swizzle": "128B", "l2_promotion": "256B" },
    "h_map":   { "buffer": "h", "dtype": "bf16", "dims": ["I", "M"], "box": ["64", "BM_D"], "swizzle": "128B" },
    "wd_map":  { "buffer": "Wd", "dims": ["I", "H"], "box": ["64", "BN_D"], "swizzle": "128B", "l2_promotion": "256B" },
    "y_map":   { "buffer": "Y", "dims": ["H", "M"], "box": ["64", "64"], "swizzle": "128B", "when": "TMA_D" } },
  "steps": [
    { "kernel": "gate_up", "grid": ["SPLIT * min(SMS / SPLIT, TILES)"], "block": ["384"], "smem": "SMEM",
      "args": ["x_map", "wgu_map", "h", "M", "I", "H"] },
    { "kernel": "down", "grid": ["SPLIT_D * min(SMS / SPLIT_D, TILES_D)"], "block": ["384"], "smem": "SMEM_D",
      "pdl": "PDL", "args": ["h_map", "wd_map", "y_map", "Y", "M", "H", "I"] } ] }
*/
// Regime: prefill (M >= 64; from M = 16 with BM = 64), Hopper sm_90a; decode is for the GEMV seeds.
// Idea: both GEMMs on the ks/gemm_sm90.cuh mainloop. gate_up loads the same rows of Wg and Wu as
//   one tile (a 3-D tensor map over Wgu's two halves), so gate and up of an h column meet in one
//   thread's accumulators and the epilogue writes h = bf16(silu(gate) * up): the [M, 2I]
//   intermediate of the baseline is never written. down is the plain mainloop over h, launched
//   with PDL (PDL = 1) so its blocks start as gate_up drains.
// Layout: gate_up: 128 x BN tiles of the paired weight (BN / 2 h columns each), STAGES-deep TMA
//   ring, SPLIT = 2: K split over 2-block clusters merged on chip; down: BM_D x BN_D tiles, 4
//   stages (3 with a TMA store of 256-wide tiles), SPLIT_D likewise; both persistent over SMS blocks
//   in GROUP-tall M groups. TMA_D = 1: down's Y leaves through a staging tile and TMA stores.
// Measured: H200, ksearch eval against the baseline (cuBLASLt, silu-and-mul, cuBLASLt): M = 64
//   144.4 us (0.73x; BN=128, down BM_D=64 SPLIT_D=2: gate_up 110.7 + down 50.1 per step), M = 256
//   187.2 us (0.81x; gate_up 107.6 + down 80.5); PDL = 1 vs 0: 153.6 vs 155.3 us at M = 64.
//   Later the same day (64 x 64 down tiles possible): M = 64 120.3 us (0.86x; BM_D=64 BN_D=64
//   SPLIT_D=2, gate_up 77.4), M = 256 183.9 (0.81x; TMA_D=1, 184.3 without).
//   gate_up at M = 64 is 112 tiles of 128 x 256 on 132 SMs, and half its rows are zeros: hence
//   BM = 64 (each consumer warpgroup a quarter of the paired tile's columns, gate and up).
// Not: gate and up as two tiles of separate N ranges (one 3-D box loads both in one copy); the
//   down projection fused into the same persistent kernel (needs a tile-ready counter: later).
#include <ks/wgmma.cuh>  // first: its "needs sm_90a" is the message on sm_80 and sm_90
#include <cuda_bf16.h>
#include <ks/cluster.cuh>
#include <ks/gemm_sm90.cuh>
#include <ks/tma.cuh>

#if !defined(BN) || !defined(STAGES) || !defined(SPLIT) || !defined(BM) || !defined(BM_D) || !defined(BN_D) || !defined(SPLIT_D) || !defined(TMA_D) || \
    !defined(GROUP) || !defined(PDL)
#error "BN, STAGES, SPLIT, BM, BM_D, BN_D, SPLIT_D, GROUP, PDL and TMA_D come from the plan's params"
#endif

// acc[i] = silu(gate) * up for the first half of the thread's accumulators: acc[i + R / 2] is the
// same row's up value of the same h column (the paired B tile).
struct SiluMul {
  template <int R>
  __device__ __forceinline__ void operator()(float (&acc)[R], const ks::GemmFrag&) const {
#pragma unroll
    for (int i = 0; i < R / 2; ++i) {
      const float g = acc[i];
      acc[i] = g / (1.0f + expf(-g)) * acc[i + R / 2];  // expf(-g) = inf for very negative g: -0
    }
  }
};

// The first half of the accumulators to h[M][I]: tile column j < BN / 2 is h column nb * BN / 2 + j,
// i.e. f.col(i) - f.n0 / 2. Pairs of bf16 where both columns exist, else one.
struct StoreH {
  __nv_bfloat16* h;
  int M, I;
  template <int R>
  __device__ __forceinline__ void operator()(const float (&acc)[R], const ks::GemmFrag& f) const {
#pragma unroll
    for (int i = 0; i < R / 2; i += 2) {
      const int m = f.row(i), n = f.col(i) - f.n0 / 2;
      if (m >= M || n >= I) continue;
      __nv_bfloat16* p = h + (size_t)m * I + n;
      if (n + 1 < I) *reinterpret_cast<unsigned*>(p) = ks::pack2(acc[i], acc[i + 1]);  // n even, I even
      else *p = __float2bfloat16_rn(acc[i]);
    }
  }
};

#if SPLIT > 1
#define GATE_UP_CLUSTER __cluster_dims__(SPLIT, 1, 1)
#else
#define GATE_UP_CLUSTER
#endif
#if SPLIT_D > 1
#define DOWN_CLUSTER __cluster_dims__(SPLIT_D, 1, 1)
#else
#define DOWN_CLUSTER
#endif

extern "C" __global__ void __launch_bounds__(ks::kGemmThreads, 1) GATE_UP_CLUSTER
    gate_up(const __grid_constant__ ks::TensorMap x_map, const __grid_constant__ ks::TensorMap wgu_map,
            __nv_bfloat16* h, int M, int I, int H) {
  ks::gemm_sm90<BM, BN, STAGES, GROUP, 1, SPLIT, true>(&x_map, &wgu_map, M, 2 * I, H, ks::IdentityPrologue{}, SiluMul{},
                                                        StoreH{h, M, I});
}

extern "C" __global__ void __launch_bounds__(ks::kGemmThreads, 1) DOWN_CLUSTER
    down(const __grid_constant__ ks::TensorMap h_map, const __grid_constant__ ks::TensorMap wd_map,
         const __grid_constant__ ks::TensorMap y_map, __nv_bfloat16* Y, int M, int H, int I) {
#if TMA_D
  const ks::StoreTmaBF16 store{&y_map};  // y_map is all zeros when TMA_D = 0 (its "when")
  (void)Y;
  constexpr int kStagesD = BN_D == 256 ? 3 : 4;  // the plan's STAGES_D: room for the staging tile
#else
  const ks::StoreBF16 store{Y, M, H, H};
  constexpr int kStagesD = 4;
#endif
  ks::gemm_sm90<BM_D, BN_D, kStagesD, GROUP, 1, SPLIT_D>(&h_map, &wd_map, M, H, I, ks::IdentityPrologue{},
                                                         ks::IdentityEpilogue{}, store);
}
