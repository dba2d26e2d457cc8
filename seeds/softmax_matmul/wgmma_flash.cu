/* ksearch
{ "task": "softmax_matmul", "name": "wgmma_flash",
  "params":    { "BN": [64, 128], "STAGES": [4, 2, 3, 6], "SPLITS": [8, 4, 16], "BM": [128, 64] },
  "let":       { "THREADS": "128 + 2 * BM",
                 "SMEM": "STAGES * (BM + D) * BN * 2 + 1024",
                 "SPLIT": "max(1, min(min(SPLITS, cdiv(N, BN)), SMS / (B * cdiv(M, BM))))",
                 "PARTIAL": "min(1, SPLIT - 1)" },
  "applies":   "(D == 64 || D == 128) && N % 8 == 0 && M >= 32 && SMEM <= SMEM_MAX",
  "workspace": { "ml": "B * M * SPLIT * 8 * PARTIAL", "acc": "B * M * SPLIT * D * 4 * PARTIAL" },
  "tensor_maps": {
    "s_map": { "buffer": "S", "dims": ["N", "M", "B"], "box": ["64", "BM", "1"], "swizzle": "128B" },
    "v_map": { "buffer": "V", "dims": ["D", "N", "B"], "box": ["64", "BN", "1"], "swizzle": "128B",
               "l2_promotion": "256B" } },
  "steps": [
    { "kernel": "flash_pv",
      "grid": ["B * cdiv(M, BM)", "SPLIT"], "block": ["THREADS"], "smem": "SMEM",
      "args": ["s_map", "v_map", "O", "ml", "acc", "M", "N", "D", "cdiv(M, BM)", "SPLIT"] },
    { "kernel": "split_combine",
      "grid": ["1 + (cdiv(B * M, 8) - 1) * PARTIAL"],
      "block": ["128"], "pdl": true,
      "args": ["ml", "acc", "O", "B * M", "D", "SPLIT"] } ] }
*/
// Regime: prefill (M >= 32), D = 64 or 128; Hopper sm_90a. N is split over blocks only when the
//   row tiles alone are fewer than the SMs (M = 128: 32 tiles at B = 32, so 4 splits).
// Idea: mma_flash on wgmma: a TMA producer warp streams S and V tiles into an mbarrier ring; each
//   consumer warpgroup reads its 64 x 64 piece of S into registers once (ldmatrix, the wgmma A
//   layout), runs the online softmax there (lazy rescale: O is rescaled only when some row's max
//   grew by more than 8 ln 2, decided warpgroup-wide with bar.red.or), packs P to bf16 and feeds
//   it as wgmma's register A against V by an MN-major descriptor (kTransB).
// Layout: block = warpgroup 0 (producer; one thread issues TMA) + BM / 64 consumer warpgroups of
//   64 rows; a ring slot holds S[BM rows][BN columns of N] (BN / 64 boxes of 64 columns, 128B
//   swizzle) and V[BN rows][D] (D / 64 boxes of 64 columns); each 64-column half of a slot is one
//   wgmma group (4 k16 steps, N = D), with one group in flight per warpgroup (two P register sets).
//   split > 1: (ref, sum, acc) per (row, split) in ks/split_softmax.cuh's layout, then combined.
// Measured (H200, ksearch eval, BN=64,STAGES=4,SPLITS=8,BM=128, before the combine's PDL): us /
//   speedup over the baseline at B,M,N,D = 32,128,4096,128: 27.6 / 1.76x; 32,2048,2048,128:
//   128.5 / 2.07x (57% of the floor); 4,333,6000,128: 22.7 / 1.36x; 8,64,1000,64: 12.4 / 0.87x.
//   mma_flash's best there: 38.8, 218.5, 28.9, 13.2 us. At M = 2048 (from the time per block,
//   not profiled) a 64-column step takes ~2000 cycles, 4x its exps' MUFU time and far from the
//   DRAM rate: latency along the softmax's serial chain is the likely bound.
// Not: S with an L2 evict-first hint (tma_load_3d has no cache-hint form yet); a coalesced
//   (staged, TMA) store of O; ping-pong scheduling of the two consumer warpgroups (they overlap
//   only through the ring); three consumer warpgroups (512 threads cap registers at 128; the
//   consumers here take 168).
#include <ks/tma.cuh>    // first: on sm_80 its "needs sm_90" is the message
#include <ks/wgmma.cuh>  // and on sm_90 this one's "needs sm_90a"
#include <cuda_bf16.h>
#include <ks/bulk_copy.cuh>
#include <ks/mbarrier.cuh>
#include <ks/mma.cuh>
#include <ks/pdl.cuh>
#include <ks/split_softmax.cuh>
#include <ks/swizzle.cuh>
#include <ks/vec.cuh>

#if !defined(BM) || !defined(BN) || !defined(STAGES) || !defined(THREADS)
#error "BM, BN and STAGES come from the plan's params, THREADS from its let"
#endif
static_assert(BM == 64 || BM == 128, "one or two consumer warpgroups of 64 rows");
static_assert(BN == 64 || BN == 128, "one or two 64-column halves per ring slot");
static_assert(STAGES >= 2, "a ring");
static_assert(THREADS == 128 + 2 * BM, "a producer warpgroup and the consumers");

constexpr int kConsumers = BM / 64;
constexpr int kHalves = BN / 64;
constexpr int kProducerRegs = 40;   // setmaxnreg with two consumers: 128 * 40 + 256 * 232 <= 64 K
constexpr int kConsumerRegs = 232;
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kTau = 5.54517744447956248f;  // 8 ln 2: p = exp(s - ref) <= 2^8 between rescales
#define NEG_INF __uint_as_float(0xff800000u)
#define FLT_MAX_F 3.40282346638528859e38f

// 2^x (ex2.approx.ftz: rel. error ~2^-22; 2^-inf = +0).
__device__ __forceinline__ float exp2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// A bf16 pair register as __nv_bfloat162 (bit cast).
__device__ __forceinline__ __nv_bfloat162 bf2(unsigned v) {
  return *reinterpret_cast<const __nv_bfloat162*>(&v);
}

// Whether pred holds in any thread of consumer warpgroup c (bar.red.or over its 128 threads on
// named barrier 1 + c): the same answer in all of them, so a wgmma_wait under it is taken by the
// whole warpgroup or by none, as wait_group requires.
__device__ __forceinline__ bool warpgroup_any(bool pred, int c) {
  unsigned r;
  asm volatile(
      "{\n.reg .pred p, q;\n"
      "setp.ne.u32 p, %1, 0;\n"
      "bar.red.or.pred q, %2, 128, p;\n"
      "selp.u32 %0, 1, 0, q;\n}\n"
      : "=r"(r)
      : "r"((unsigned)pred), "r"(1 + c)
      : "memory");
  return r != 0;
}

template <int kD>
__device__ __forceinline__ void mma_pv(float (&acc)[kD / 2], const unsigned (&a)[4], unsigned long long b) {
  if constexpr (kD == 128) ks::wgmma_rs_m64n128k16<true>(acc, a, b, 1);
  else ks::wgmma_rs_m64n64k16<true>(acc, a, b, 1);
}

// Consumer warpgroup c (rows m0 + 64c ..) over ring positions 0 .. slots - 1 (chunks c_begin ..
// of BN columns). Every thread of the warpgroup calls it.
template <int kD>
__device__ __forceinline__ void consume(const unsigned char* ring, int slot_bytes, unsigned long long* full,
                                        unsigned long long* empty, int c, int warp, int lane, int b, int m0,
                                        int M, int N, int c_begin, int slots, __nv_bfloat16* O, float* ml,
                                        float* acc_ws, int splits, int split) {
  constexpr int kR = kD / 2;  // accumulators per thread: row g in acc[4j], [4j+1]; g + 8 in [4j+2], [4j+3]
  float acc[kR];
#pragma unroll
  for (int i = 0; i < kR; ++i) acc[i] = 0.0f;
  // Per row (lo: g, hi: g + 8) the reference `ref` (natural units) and this lane's share of the sum
  // of exp(s - ref). Before the row's first score above -inf, ref is -FLT_MAX: -inf scores then
  // give exp(-inf) = 0 (never -inf - -inf), and the first chunk max that is not -inf moves it,
  // even the dtype's lowest value (-3.39e38 > -FLT_MAX + tau). exp is taken of (s - ref) * log2(e),
  // subtracted first, so s = ref = lowest gives 1 and s = lowest, ref finite gives 0 (the product
  // s * log2(e) alone would overflow).
  float ref_lo = -FLT_MAX_F, ref_hi = -FLT_MAX_F, sum_lo = 0.0f, sum_hi = 0.0f;
  unsigned p0[4][4], p1[4][4];  // P of two 64-column halves: the group in flight reads the other set

  // One 64-column half h of ring position it: S to registers, softmax, P @ V issued; then the
  // previous group is waited for and, if it closed its slot, the slot is released.
  auto step = [&](int it, int h, unsigned (&p)[4][4]) {
    const int s = it % STAGES;
    const unsigned char* slot = ring + s * slot_bytes;
    if (h == 0) ks::mbarrier_wait(&full[s], (it / STAGES) & 1);
    // ldmatrix_x4 in the A layout (lane l: row 16 warp + l % 16, 16-byte chunk 2 kk + l / 16):
    // sr[kk] = {S[g][16kk + 2t..], S[g + 8][same], S[g][16kk + 8 + 2t..], S[g + 8][same]}.
    const unsigned char* stile = slot + h * BM * 128 + c * 64 * 128;
    unsigned sr[4][4];
#pragma unroll
    for (int kk = 0; kk < 4; ++kk)
      ks::ldmatrix_x4(sr[kk], stile + ks::swizzle128(16 * warp + lane % 16, 2 * kk + lane / 16));
    // Columns past N read as TMA zeros: -inf instead (N % 8 == 0: whole 8-column blocks).
    const int n0 = ((c_begin + it) * kHalves + h) * 64;
    if (n0 + 64 > N) {
#pragma unroll
      for (int kk = 0; kk < 4; ++kk)
#pragma unroll
        for (int j = 0; j < 4; ++j)
          if (n0 + 16 * kk + 8 * (j >> 1) >= N) sr[kk][j] = 0xff80ff80u;
    }
    // Row maxima over the half's 64 columns: packed bf16 (exact), then over the quad.
    __nv_bfloat162 q_lo = __hmax2(bf2(sr[0][0]), bf2(sr[0][2])), q_hi = __hmax2(bf2(sr[0][1]), bf2(sr[0][3]));
#pragma unroll
    for (int kk = 1; kk < 4; ++kk) {
      q_lo = __hmax2(q_lo, __hmax2(bf2(sr[kk][0]), bf2(sr[kk][2])));
      q_hi = __hmax2(q_hi, __hmax2(bf2(sr[kk][1]), bf2(sr[kk][3])));
    }
    float m_lo = fmaxf(__low2float(q_lo), __high2float(q_lo));
    float m_hi = fmaxf(__low2float(q_hi), __high2float(q_hi));
#pragma unroll
    for (int o = 1; o <= 2; o *= 2) {
      m_lo = fmaxf(m_lo, __shfl_xor_sync(0xffffffffu, m_lo, o));
      m_hi = fmaxf(m_hi, __shfl_xor_sync(0xffffffffu, m_hi, o));
    }
    // Lazy rescaling (as in FlashAttention-4): a row's ref moves only when the half's max exceeds
    // it by more than tau; O is rescaled only when some row of the warpgroup moved, after waiting
    // for the group in flight (it accumulates into acc).
    const bool move_lo = m_lo > ref_lo + kTau, move_hi = m_hi > ref_hi + kTau;
    if (warpgroup_any(move_lo || move_hi, c)) {
      ks::wgmma_wait<0>();
      ks::wgmma_fence_operands(acc);
      const float f_lo = move_lo ? exp2_approx((ref_lo - m_lo) * kLog2e) : 1.0f;  // 0 on a first move
      const float f_hi = move_hi ? exp2_approx((ref_hi - m_hi) * kLog2e) : 1.0f;
      ref_lo = move_lo ? m_lo : ref_lo;
      ref_hi = move_hi ? m_hi : ref_hi;
      sum_lo *= f_lo;
      sum_hi *= f_hi;
#pragma unroll
      for (int i = 0; i < kR; i += 4) {
        acc[i] *= f_lo, acc[i + 1] *= f_lo;
        acc[i + 2] *= f_hi, acc[i + 3] *= f_hi;
      }
    }
    // P = exp(s - ref), unnormalized (the epilogue divides by the row sum), in place of S.
#pragma unroll
    for (int kk = 0; kk < 4; ++kk)
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        float x0, x1;
        ks::unpack2(sr[kk][j], x0, x1);
        const float ref = (j & 1) ? ref_hi : ref_lo;
        const float e0 = exp2_approx((x0 - ref) * kLog2e), e1 = exp2_approx((x1 - ref) * kLog2e);
        if (j & 1) sum_hi += e0 + e1;
        else sum_lo += e0 + e1;
        p[kk][j] = ks::pack2(e0, e1);
      }
    // P (64 x 64, k = this half's columns) @ V (the half's 64 rows x D): V's rows 64h .. in each
    // D box, the boxes BN * 128 bytes apart; 16 k rows are 2048 bytes (128 descriptor units).
    const unsigned long long dv = ks::wgmma_desc_sw128_mn(slot + BM * BN * 2 + h * 64 * 128, BN * 128);
    ks::wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) mma_pv<kD>(acc, p[kk], dv + 128 * kk);
    ks::wgmma_commit();
    ks::wgmma_wait<1>();
    // The previous group (the other half, or the previous position's last half) is done: when it
    // was the last half of position it - 1, that slot is free (one thread per warpgroup arrives).
    if (h == 0 && it > 0 && warp == 0 && lane == 0) ks::mbarrier_arrive(&empty[(it - 1) % STAGES]);
  };
  if constexpr (kHalves == 2) {
    for (int it = 0; it < slots; ++it) {
      step(it, 0, p0);
      step(it, 1, p1);
    }
  } else {
    int it = 0;
    for (; it + 1 < slots; it += 2) {
      step(it, 0, p0);
      step(it + 1, 0, p1);
    }
    if (it < slots) step(it, 0, p0);
  }
  ks::wgmma_wait<0>();
  ks::wgmma_fence_operands(acc);
  if (slots > 0 && warp == 0 && lane == 0) ks::mbarrier_arrive(&empty[(slots - 1) % STAGES]);

  // The row sums: the 4 lanes of a row held different columns.
#pragma unroll
  for (int o = 1; o <= 2; o *= 2) {
    sum_lo += __shfl_xor_sync(0xffffffffu, sum_lo, o);
    sum_hi += __shfl_xor_sync(0xffffffffu, sum_hi, o);
  }
  const int g = lane / 4, t = lane % 4;
  const int row_lo = m0 + 64 * c + 16 * warp + g, row_hi = row_lo + 8;  // rows of batch b
  if (splits == 1) {
    // sum >= 1 once any score above -inf was seen; a row of -inf only gives 0 * (1 / 0) = NaN,
    // as the baseline's softmax does.
    const float inv_lo = 1.0f / sum_lo, inv_hi = 1.0f / sum_hi;
    __nv_bfloat16* o_lo = O + ((size_t)b * M + row_lo) * kD + 2 * t;
    __nv_bfloat16* o_hi = O + ((size_t)b * M + row_hi) * kD + 2 * t;
#pragma unroll
    for (int j = 0; j < kD / 8; ++j) {
      if (row_lo < M)
        *reinterpret_cast<unsigned*>(o_lo + 8 * j) = ks::pack2(acc[4 * j] * inv_lo, acc[4 * j + 1] * inv_lo);
      if (row_hi < M)
        *reinterpret_cast<unsigned*>(o_hi + 8 * j) = ks::pack2(acc[4 * j + 2] * inv_hi, acc[4 * j + 3] * inv_hi);
    }
  } else {
    // ks/split_softmax.cuh's layout; a split that saw only -inf (or no columns) leaves ref -inf,
    // sum 0, acc 0.
    const size_t i_lo = ((size_t)b * M + row_lo) * splits + split, i_hi = i_lo + 8 * (size_t)splits;
    if (t == 0 && row_lo < M) ml[2 * i_lo] = sum_lo > 0.0f ? ref_lo : NEG_INF, ml[2 * i_lo + 1] = sum_lo;
    if (t == 0 && row_hi < M) ml[2 * i_hi] = sum_hi > 0.0f ? ref_hi : NEG_INF, ml[2 * i_hi + 1] = sum_hi;
#pragma unroll
    for (int j = 0; j < kD / 8; ++j) {
      if (row_lo < M)
        *reinterpret_cast<float2*>(acc_ws + i_lo * kD + 8 * j + 2 * t) = make_float2(acc[4 * j], acc[4 * j + 1]);
      if (row_hi < M)
        *reinterpret_cast<float2*>(acc_ws + i_hi * kD + 8 * j + 2 * t) = make_float2(acc[4 * j + 2], acc[4 * j + 3]);
    }
  }
}

// Block (b, row tile) x split: warpgroup 0 produces, warpgroups 1 .. kConsumers consume.
extern "C" __global__ void __launch_bounds__(THREADS, 1)
    flash_pv(const __grid_constant__ ks::TensorMap s_map, const __grid_constant__ ks::TensorMap v_map,
             __nv_bfloat16* O, float* ml, float* acc_ws, int M, int N, int D, int mtiles, int splits) {
  extern __shared__ unsigned char flash_smem_raw[];
  __shared__ unsigned long long full[STAGES], empty[STAGES];
  // Slots 1024-byte aligned (the 128B swizzle's 8-row atoms), whatever the dynamic base's offset.
  unsigned char* ring = flash_smem_raw + ((1024 - ks::smem_addr(flash_smem_raw) % 1024) % 1024);
  const int slot_bytes = (BM + D) * BN * 2;  // S boxes, then V boxes; multiples of 8 KiB
  const int wg = threadIdx.x / 128, warp = threadIdx.x % 128 / 32, lane = threadIdx.x % 32;
  // Blocks run tile-fastest, so the blocks in flight that read the same V[b] are neighbours.
  const int b = blockIdx.x / mtiles, m0 = (blockIdx.x % mtiles) * BM, split = blockIdx.y;
  // This block's chunks of BN columns of N (an empty range when N has fewer than splits ranges).
  const int chunks = (N + BN - 1) / BN, per_split = (chunks + splits - 1) / splits;
  const int c_begin = min(chunks, split * per_split), c_end = min(chunks, c_begin + per_split);
  const int slots = c_end - c_begin;  // ring positions this block runs through

  if (threadIdx.x == 0) {
    ks::prefetch_tensormap(&s_map);
    ks::prefetch_tensormap(&v_map);
    for (int s = 0; s < STAGES; ++s) {
      ks::mbarrier_init(&full[s], 1);
      ks::mbarrier_init(&empty[s], kConsumers);  // one thread per consumer warpgroup
    }
    ks::fence_mbarrier_init();
  }
  __syncthreads();

  if (wg == 0) {
    if constexpr (kConsumers == 2) ks::warpgroup_reg_dealloc<kProducerRegs>();
    if (threadIdx.x == 0) {
      for (int it = 0; it < slots; ++it) {
        const int s = it % STAGES, n0 = (c_begin + it) * BN;
        // Slot free? Parity starts at 1: a fresh barrier counts as having completed it.
        ks::mbarrier_wait(&empty[s], ((it / STAGES) & 1) ^ 1);
        unsigned char* slot = ring + s * slot_bytes;
        ks::mbarrier_arrive_expect_tx(&full[s], slot_bytes);  // whole boxes, even past the edges
#pragma unroll
        for (int h = 0; h < kHalves; ++h) ks::tma_load_3d(slot + h * BM * 128, &s_map, n0 + 64 * h, m0, b, &full[s]);
        for (int j = 0; j < D / 64; ++j)
          ks::tma_load_3d(slot + BM * BN * 2 + j * BN * 128, &v_map, 64 * j, n0, b, &full[s]);
      }
      // split_combine (launched with PDL) may start its blocks; its pdl_wait waits for this grid.
      ks::pdl_launch_dependents();
    }
  } else {
    if constexpr (kConsumers == 2) ks::warpgroup_reg_alloc<kConsumerRegs>();
    if (D == 128)
      consume<128>(ring, slot_bytes, full, empty, wg - 1, warp, lane, b, m0, M, N, c_begin, slots, O, ml, acc_ws,
                   splits, split);
    else
      consume<64>(ring, slot_bytes, full, empty, wg - 1, warp, lane, b, m0, M, N, c_begin, slots, O, ml, acc_ws,
                  splits, split);
  }
}

// Merges each row's splits (16 lanes a row, 8 columns a lane: D <= 128) and writes O with
// ks::split_softmax_combine; a row with no split above -inf gets NaN (the baseline's softmax of a
// row of -inf), not 0. With one split flash_pv wrote O: the plan launches a single block, which
// returns. Launched with PDL: its launch overlaps flash_pv's end.
extern "C" __global__ void __launch_bounds__(128)
    split_combine(const float* ml, const float* acc, __nv_bfloat16* O, int rows, int D, int splits) {
  if (splits == 1) return;
  ks::pdl_wait();  // flash_pv's states are complete and visible
  const size_t row = blockIdx.x * 8 + threadIdx.x / 16;
  const int lane = threadIdx.x % 16;
  if (row >= (size_t)rows) return;
  ks::split_softmax_combine(ml, acc, O, row, D, splits, lane, 16, /*empty_row_nan=*/true);
}
