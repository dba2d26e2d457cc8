/* ksearch
{ "task": "softmax_matmul", "name": "mma_flash",
  "params":    { "BM": [128, 64, 32], "UNROLL": [4, 2, 8], "STAGES": [4, 3, 6], "SPLITS": [4, 8, 16] },
  "let":       { "THREADS": "BM * 2", "SPLIT": "max(1, min(SPLITS, 512 / (B * cdiv(M, BM))))",
                 "PARTIAL": "min(1, SPLIT - 1)" },
  "applies":   "D <= 128",
  "workspace": { "ml": "B * M * SPLIT * 8 * PARTIAL", "acc": "B * M * SPLIT * D * 4 * PARTIAL" },
  "steps": [
    { "kernel": "flash_pv",
      "grid": ["B * cdiv(M, BM)", "SPLIT"], "block": ["THREADS"],
      "args": ["S", "V", "O", "ml", "acc", "M", "N", "D", "cdiv(M, BM)", "SPLIT"] },
    { "kernel": "split_combine",
      "grid": ["1 + (cdiv(B * M, 8) - 1) * PARTIAL"],
      "block": ["128"],
      "args": ["ml", "acc", "O", "B * M", "D", "SPLIT"] } ] }
*/
// Regime: prefill, D <= 128; sm_80+. N is split over blocks only when the row tiles are too few.
// Idea: the second half of flash attention (S given, no Q K^T) on mma.sync: S straight from global
//   into A fragments, online softmax with lazy rescaling (as in FlashAttention-4), P @ V.
// Layout: a block owns BM rows of one batch (BM / 16 warps of 16 rows) and one of `splits` ranges
//   of N in 32-wide chunks; V through a STAGES-deep cp.async ring, read by ldmatrix.trans.
// Measured: not measured alone.
// Not: default BM = 64: blocks copy V from L2, 128 / BM bytes per byte of S at D = 128: at M = 2048
//   0.27 GB over S's 0.27 GB from DRAM at BM = 128, twice at 64. BM = 64 and 32 suit small M.
#include <cuda_bf16.h>
#include <ks/cp_async.cuh>
#include <ks/mma.cuh>
#include <ks/split_softmax.cuh>
#include <ks/vec.cuh>

#if !defined(BM) || !defined(UNROLL) || !defined(STAGES)
#error "BM, UNROLL and STAGES come from the plan's params"
#endif
// THREADS (the plan's let): BM / 16 warps of 16 rows
#define MAX_D 128                    // acc[MAX_D / 8][4]
#define ROW_BYTES (MAX_D * 2)        // a V tile row: always 256 bytes (16 chunks of 16), any D
#define TILE_BYTES (32 * ROW_BYTES)  // one 32-row chunk of V per ring slot: 8 KiB
#define V_COPIES (32 * MAX_D / 8 / THREADS)  // 16-byte copies per thread per V chunk
#define NEG_INF __uint_as_float(0xff800000u)
#define LOG2E 1.44269504088896341f
#define LN2 0.693147180559945309f
#define FLT_MAX_F 3.40282346638528859e38f
#define TAU2 8.0f  // lazy rescale threshold, log2 units: p = exp(s - ref) <= 2^8
static_assert(BM == 32 || BM == 64 || BM == 128, "8 warps per SM: 4, 2 or 1 blocks");
static_assert(STAGES >= 2 && UNROLL >= 1, "the ring loads chunk c + STAGES - 1 while c is read");
static_assert(STAGES * TILE_BYTES <= 48 * 1024, "V ring fits static shared memory");

// 2^x (ex2.approx.ftz: rel. error ~2^-22; 2^-inf = +0).
__device__ __forceinline__ float exp2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// Two floats to a bf16 pair (one cvt.rn.bf16x2.f32), lo in the low half: an A-fragment register.
__device__ __forceinline__ unsigned pack_bf16x2(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const unsigned*>(&v);
}

// A bf16 pair register as __nv_bfloat162 (bit cast).
__device__ __forceinline__ __nv_bfloat162 bf2(unsigned v) {
  return *reinterpret_cast<const __nv_bfloat162*>(&v);
}

// ks::ldmatrix_x4_trans on a 32-bit shared-window address (built here by XOR, see below).
__device__ __forceinline__ void ldsm_x4_trans(unsigned (&r)[4], unsigned addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// ks::cp_async16_zfill on a 32-bit shared-window address.
__device__ __forceinline__ void cp_async16_zfill(unsigned smem, const void* gmem, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem), "l"(gmem),
               "r"(valid ? 16 : 0));
}

// V tile: physical row r of the chunk (n = n0 + r) is 256 bytes; its 16-byte column chunk q
// (d = 8q .. 8q+7) is stored at chunk q ^ vswz(r), vswz(r) = (r & 1) | ((r >> 2) & 6) (< 8, so
// it never leaves the row whatever D). Why this swizzle: see the B fragments below.
__device__ __forceinline__ int vswz(int r) { return (r & 1) | ((r >> 2) & 6); }

// Registers: acc alone is 64 a lane, each chunk of S in flight 8; left free, ptxas takes 184-253
// (UNROLL 2-8; a test kernel of only this loop's 16 fragment loads and 32 MMAs took 156: it runs
// the loads well ahead of their MMAs). Capped at 128 (16 warps per SM) every variant tried
// spilled (8-200 bytes), at 168 (12 warps) most did. So 8 warps per SM, up to 255 registers.
extern "C" __global__ void __launch_bounds__(THREADS, 256 / THREADS)
    flash_pv(const __nv_bfloat16* S, const __nv_bfloat16* V, __nv_bfloat16* O, float* ml,
             float* acc_ws, int M, int N, int D, int mtiles, int splits) {
  __shared__ __align__(256) unsigned char vtile[STAGES * TILE_BYTES];
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  // Blocks run tile-fastest (blockIdx.x = b * mtiles + tile, blockIdx.y = split), so the blocks in
  // flight that read the same V[b] range are neighbours and V comes from L2 after its first read.
  const int b = blockIdx.x / mtiles, split = blockIdx.y;
  const int row_lo = (blockIdx.x % mtiles) * BM + 16 * warp + g, row_hi = row_lo + 8;  // in b
  const int dtiles = D / 8;  // n8 tiles of O columns (D % 8 == 0)

  // splits = max(1, min(SPLITS, 512 / (B * cdiv(M, BM)))): ranges of N only when the row tiles
  // alone are too few blocks for the GPU (M = 128: 32 or 64 tiles; M = 2048: 1024 tiles, no split).
  // This block's range of 32-wide chunks (N % 8 == 0: a lane's 8 elements are all in or out).
  const int chunks = (N + 31) / 32, per_split = (chunks + splits - 1) / splits;
  const int c_begin = min(chunks, split * per_split), c_end = min(chunks, c_begin + per_split);

  // Rows past M in the last tile compute on row M - 1 and are never stored: no divergence.
  const __nv_bfloat16* s_lo = S + ((size_t)b * M + min(row_lo, M - 1)) * N + 8 * t;
  const int hi_off = (min(row_hi, M - 1) - min(row_lo, M - 1)) * N;  // row g + 8 from row g
  // V copies: thread tid moves 16-byte chunk q = tid % 16 of rows r = tid / 16 + k THREADS / 16
  // of each 32-row V chunk. Columns past D are zero-filled (the mma loop reads 128 if D > 64).
  const int vq = tid % 16, vr = tid / 16;
  const bool vq_in = vq < dtiles;
  const __nv_bfloat16* vsrc = V + ((size_t)b * N + vr) * D + 8 * vq;  // row vr of chunk 0
  const unsigned vdst = ks::smem_addr(vtile) + vr * ROW_BYTES + ((vq ^ vswz(vr)) << 4);

  // Each warp takes its 16 x 32 logits of a chunk straight from global memory into mma.sync A
  // fragments, no shared memory: P @ V sums over n, so any permutation of n applied to both P and V
  // is fine, and lane (g, t) loads S[row g][n0 + 8t .. +7] and S[row g + 8][same] (two 16-byte
  // evict-first loads); as in rmsnorm_linear/mma_gemv.cu, the first 4 of those 8 are the k = 2t,
  // 2t+1, 2t+8, 2t+9 of one m16n8k16 step and the last 4 of a second step. UNROLL chunks of these
  // loads are in flight per warp (a register ring: chunk c + UNROLL is issued as soon as chunk c's
  // registers are consumed).
  // S of chunk c for this lane; past N or past the range: bf16 -inf, so p = 0 and no max moves.
  const uint4 neg8 = make_uint4(0xff80ff80u, 0xff80ff80u, 0xff80ff80u, 0xff80ff80u);
  auto load_s = [&](int c, uint4& lo, uint4& hi) {
    const bool in = c < c_end && 32 * c + 8 * t < N;
    lo = in ? ks::load8_stream(s_lo + 32 * (size_t)c) : neg8;
    hi = in ? ks::load8_stream(s_lo + hi_off + 32 * (size_t)c) : neg8;
  };
  // V chunk c into ring slot `slot`; rows past N are zero-filled too (p = 0 there, and
  // 0 * garbage could be NaN). Row r = vr + k THREADS / 16 = vr | k THREADS / 16 (disjoint bits:
  // vr < THREADS / 16, a power of 2), and vswz picks bits 0, 3, 4 of r, so
  // vswz(r) = vswz(vr) ^ vswz(k THREADS / 16): the k-th copy's chunk is vdst's XOR a constant.
  auto load_v = [&](int c, int slot) {
#pragma unroll
    for (int k = 0; k < V_COPIES; ++k) {
      const int r = vr + k * (THREADS / 16);
      const bool in = vq_in && 32 * c + r < N;
      cp_async16_zfill((vdst + slot * TILE_BYTES + k * (THREADS / 16) * ROW_BYTES) ^
                           (vswz(k * (THREADS / 16)) << 4),
                       in ? vsrc + ((size_t)32 * c + k * (THREADS / 16)) * D : V, in);
    }
  };

  // B fragments. Step s (0, 1) of a chunk multiplies A words lo/hi[2s] (physical n 8t + 4s + 0,1:
  // k = 2t, 2t+1) and lo/hi[2s+1] (n 8t + 4s + 2,3: k = 2t+8, 2t+9), so B's k maps to physical
  // rows as: k = 2t' + e -> 8t' + 4s + e, k = 8 + 2t' + e -> 8t' + 4s + 2 + e. One
  // ldmatrix_x4_trans per n8 tile j (columns 8j .. 8j+7) gives both steps: matrix i = 2s + h is
  // b[h] of step s; its row rho (lane 8i + rho gives the address) must be physical row
  // 8 (rho / 2) + 4s + 2h + rho % 2, so lane l points at row
  //   p(l) = 8 ((l % 8) / 2) + 4 (l / 16) + 2 ((l / 8) % 2) + l % 2      (a bijection of 0..31)
  // and lane (g', t') receives in r[2s + h] rows 2t', 2t'+1 of matrix 2s + h at column g', i.e.
  // V[8t' + 4s + 2h + {0, 1}][8j + g']: exactly b[h] = B[k = 2t' + 8h + {0, 1}][n = g'] of step s.
  // The 8 rows of a matrix are {0, 1, 8, 9, 16, 17, 24, 25} + 4s + 2h: with 256-byte rows all in
  // the same banks, hence the swizzle, for which vswz(p(l)) = l % 8: the 8 lanes of a matrix
  // read chunk j ^ 0 .. j ^ 7, eight distinct 16-byte bank groups (conflict-free).
  const int p_lane = 8 * ((lane % 8) / 2) + 4 * (lane / 16) + 2 * ((lane / 8) % 2) + lane % 2;
  const unsigned b_base = ks::smem_addr(vtile) + p_lane * ROW_BYTES + ((lane % 8) << 4);

  float acc[MAX_D / 8][4];
#pragma unroll
  for (int j = 0; j < MAX_D / 8; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;
  // Per row (lo: g, hi: g + 8): the reference in log2 units, r2 = ref * log2(e), and this lane's
  // share of the sum of exp(s - ref) = 2^(s log2(e) - r2). Before the row's first finite score r2
  // is -FLT_MAX, not -inf: every score so far was -inf, and 2^(-inf + FLT_MAX) = 0 where
  // -inf - -inf would be NaN; the first finite chunk max moves it (its factor 2^-FLT_MAX = 0).
  float r2_lo = -FLT_MAX_F, r2_hi = -FLT_MAX_F;
  float sum_lo = 0.0f, sum_hi = 0.0f;

  uint4 sbuf[UNROLL][2];
#pragma unroll
  for (int u = 0; u < UNROLL; ++u) load_s(c_begin + u, sbuf[u][0], sbuf[u][1]);
#pragma unroll
  for (int st = 0; st < STAGES - 1; ++st) {
    if (c_begin + st < c_end) load_v(c_begin + st, st);
    ks::cp_async_commit();  // empty groups too: the wait counts below stay uniform
  }

  int slot = 0;  // ring slot of chunk c: (c - c_begin) % STAGES
  for (int c0 = c_begin; c0 < c_end; c0 += UNROLL) {
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) {  // chunk c = c0 + u is in sbuf[u]
      const int c = c0 + u;
      if (c >= c_end) break;  // block-uniform
      ks::cp_async_wait<STAGES - 2>();  // V chunk c has landed (this thread's copies) ...
      __syncthreads();  // ... everyone's; everyone is done with chunk c - 1's slot
      if (c + STAGES - 1 < c_end) load_v(c + STAGES - 1, slot == 0 ? STAGES - 1 : slot - 1);
      ks::cp_async_commit();

      // Chunk max of each row: over the lane's 8 scores in packed bf16 (exact: they are bf16),
      // then over the 4 lanes of the row (the chunk's 32 scores).
      const uint4 lo = sbuf[u][0], hi = sbuf[u][1];
      const __nv_bfloat162 q_lo =
          __hmax2(__hmax2(bf2(lo.x), bf2(lo.y)), __hmax2(bf2(lo.z), bf2(lo.w)));
      const __nv_bfloat162 q_hi =
          __hmax2(__hmax2(bf2(hi.x), bf2(hi.y)), __hmax2(bf2(hi.z), bf2(hi.w)));
      float m_lo = fmaxf(__low2float(q_lo), __high2float(q_lo));
      float m_hi = fmaxf(__low2float(q_hi), __high2float(q_hi));
#pragma unroll
      for (int o = 1; o <= 2; o *= 2) {
        m_lo = fmaxf(m_lo, __shfl_xor_sync(0xffffffffu, m_lo, o));
        m_hi = fmaxf(m_hi, __shfl_xor_sync(0xffffffffu, m_hi, o));
      }
      m_lo *= LOG2E, m_hi *= LOG2E;  // log2 units from here
      // Lazy rescaling (as in FlashAttention-4): a row's reference `ref` moves only when a
      // chunk's max exceeds it by more than 8 ln 2, so p <= 2^8 (harmless in bf16 and the fp32
      // sums), and the O accumulators are rescaled (64 FMULs a lane) only in the rare chunks
      // where some row of the warp moved (a warp-uniform branch). ref is always a score the row
      // has seen, so the row's sum is >= 1: its largest score contributes exp(>= 0).
      // -FLT_MAX + TAU2 = -FLT_MAX: the first finite chunk max moves r2; an all -inf one never.
      const bool move_lo = m_lo > r2_lo + TAU2, move_hi = m_hi > r2_hi + TAU2;
      if (__any_sync(0xffffffffu, move_lo || move_hi)) {
        // exp(old ref - new ref) for what the row has gathered (0 on its first move).
        const float f_lo = move_lo ? exp2_approx(r2_lo - m_lo) : 1.0f;
        const float f_hi = move_hi ? exp2_approx(r2_hi - m_hi) : 1.0f;
        r2_lo = move_lo ? m_lo : r2_lo;
        r2_hi = move_hi ? m_hi : r2_hi;
        sum_lo *= f_lo;
        sum_hi *= f_hi;
#pragma unroll
        for (int j = 0; j < MAX_D / 8; ++j) {
          acc[j][0] *= f_lo, acc[j][1] *= f_lo;
          acc[j][2] *= f_hi, acc[j][3] *= f_hi;
        }
      }
      // Unnormalized: the division by the row sum waits for the epilogue.
      // p = exp(s - ref) = 2^(s log2(e) - ref log2(e)), packed to bf16 pairs in word order (word w:
      // physical n 8t + 2w, +1).
      const unsigned w_lo[4] = {lo.x, lo.y, lo.z, lo.w}, w_hi[4] = {hi.x, hi.y, hi.z, hi.w};
      unsigned pw_lo[4], pw_hi[4];
#pragma unroll
      for (int w = 0; w < 4; ++w) {
        float x0, x1;
        ks::unpack2(w_lo[w], x0, x1);
        const float p0 = exp2_approx(fmaf(x0, LOG2E, -r2_lo));
        const float p1 = exp2_approx(fmaf(x1, LOG2E, -r2_lo));
        ks::unpack2(w_hi[w], x0, x1);
        const float p2 = exp2_approx(fmaf(x0, LOG2E, -r2_hi));
        const float p3 = exp2_approx(fmaf(x1, LOG2E, -r2_hi));
        sum_lo += p0 + p1;
        sum_hi += p2 + p3;
        pw_lo[w] = pack_bf16x2(p0, p1);
        pw_hi[w] = pack_bf16x2(p2, p3);
      }
      load_s(c + UNROLL, sbuf[u][0], sbuf[u][1]);  // the registers are free: refill the ring
      const unsigned a0[4] = {pw_lo[0], pw_hi[0], pw_lo[1], pw_hi[1]};  // step 0: n 8t + 0..3
      const unsigned a1[4] = {pw_lo[2], pw_hi[2], pw_lo[3], pw_hi[3]};  // step 1: n 8t + 4..7

      // Row p_lane of the slot, chunk j ^ (lane % 8): rows start 256-byte aligned, so that is the
      // row's address XOR 16 j (b_base holds the lane's XOR). D <= 64 (dtiles <= 8) skips the
      // upper tiles; 64 < D < 128 multiplies the zero-filled columns past D, never stored.
      const unsigned brow = b_base + slot * TILE_BYTES;
      if (dtiles > 8) {
#pragma unroll
        for (int j = 0; j < MAX_D / 8; ++j) {
          unsigned bf[4];
          ldsm_x4_trans(bf, brow ^ (j << 4));
          const unsigned b0[2] = {bf[0], bf[1]}, b1[2] = {bf[2], bf[3]};
          ks::mma_bf16_16816(acc[j], a0, b0);
          ks::mma_bf16_16816(acc[j], a1, b1);
        }
      } else {
#pragma unroll
        for (int j = 0; j < MAX_D / 16; ++j) {
          unsigned bf[4];
          ldsm_x4_trans(bf, brow ^ (j << 4));
          const unsigned b0[2] = {bf[0], bf[1]}, b1[2] = {bf[2], bf[3]};
          ks::mma_bf16_16816(acc[j], a0, b0);
          ks::mma_bf16_16816(acc[j], a1, b1);
        }
      }
      slot = slot == STAGES - 1 ? 0 : slot + 1;
    }
  }
  ks::cp_async_wait<0>();  // only empty groups can be left, but leave none behind

  // The row sums: the 4 lanes of a row held different n.
#pragma unroll
  for (int o = 1; o <= 2; o *= 2) {
    sum_lo += __shfl_xor_sync(0xffffffffu, sum_lo, o);
    sum_hi += __shfl_xor_sync(0xffffffffu, sum_hi, o);
  }

  // Lane (g, t) holds O[row g][8j + 2t, +1] in acc[j][0..1] and row g + 8's in acc[j][2..3].
  if (splits == 1) {
    const float inv_lo = 1.0f / sum_lo, inv_hi = 1.0f / sum_hi;  // >= 1: the whole row was seen
    __nv_bfloat16* o_lo = O + ((size_t)b * M + row_lo) * D + 2 * t;
    __nv_bfloat16* o_hi = O + ((size_t)b * M + row_hi) * D + 2 * t;
#pragma unroll
    for (int j = 0; j < MAX_D / 8; ++j) {
      if (8 * j < D) {
        if (row_lo < M)
          *reinterpret_cast<unsigned*>(o_lo + 8 * j) =
              pack_bf16x2(acc[j][0] * inv_lo, acc[j][1] * inv_lo);
        if (row_hi < M)
          *reinterpret_cast<unsigned*>(o_hi + 8 * j) =
              pack_bf16x2(acc[j][2] * inv_hi, acc[j][3] * inv_hi);
      }
    }
  } else {
    // ks/split_softmax.cuh's layout (ref back in natural-log units); an empty range leaves
    // ref -inf, sum 0, acc 0.
    const size_t i_lo = ((size_t)b * M + row_lo) * splits + split;
    const size_t i_hi = i_lo + 8 * (size_t)splits;
    if (t == 0 && row_lo < M)
      ml[2 * i_lo] = sum_lo > 0.0f ? r2_lo * LN2 : NEG_INF, ml[2 * i_lo + 1] = sum_lo;
    if (t == 0 && row_hi < M)
      ml[2 * i_hi] = sum_hi > 0.0f ? r2_hi * LN2 : NEG_INF, ml[2 * i_hi + 1] = sum_hi;
#pragma unroll
    for (int j = 0; j < MAX_D / 8; ++j) {
      if (8 * j < D) {
        if (row_lo < M)
          *reinterpret_cast<float2*>(acc_ws + i_lo * D + 8 * j + 2 * t) =
              make_float2(acc[j][0], acc[j][1]);
        if (row_hi < M)
          *reinterpret_cast<float2*>(acc_ws + i_hi * D + 8 * j + 2 * t) =
              make_float2(acc[j][2], acc[j][3]);
      }
    }
  }
}

// With one split flash_pv writes O itself and split_combine is a 1-block no-op (its workspace 0
// bytes); with more, flash_pv writes (ref, sum, acc[D]) per (row, split) in
// ks/split_softmax.cuh's layout and split_combine merges them.
// Merges each row's splits (16 lanes a row, 8 columns a lane: D <= 128) and writes O. With one
// split there is nothing to merge (flash_pv wrote O) and the plan launches a single block.
extern "C" __global__ void __launch_bounds__(128)
    split_combine(const float* ml, const float* acc, __nv_bfloat16* O, int rows, int D,
                  int splits) {
  if (splits == 1) return;
  const int row = blockIdx.x * 8 + threadIdx.x / 16;
  if (row < rows) ks::split_softmax_combine(ml, acc, O, row, D, splits, threadIdx.x % 16, 16);
}
