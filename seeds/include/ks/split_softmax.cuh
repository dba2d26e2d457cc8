#pragma once
// Split-N softmax(S) @ V: merging the partial states of one output row computed over disjoint
// ranges ("splits") of N, the second kernel of a split plan (flash-decoding's combine).
//
// Workspace layout, rows row = b * M + m, `splits` states a row, state i = row * splits + split:
//   ml[2 i]        max_i: the reference point of the state (natural-log units, like S)
//   ml[2 i + 1]    sum_i = sum over the split's n of exp(S[row][n] - max_i)          (fp32)
//   acc[i * D + d] = sum over the split's n of exp(S[row][n] - max_i) * V[b][n][d]   (fp32)
// max_i is usually the split's running max, but any reference at or a little below the split's
// largest score will do (a kernel that rescales lazily keeps a stale one, within fp32 range):
// then sum_i >= 1, because the largest score contributes exp(>= 0). An empty split (no n: N smaller than splits * range) has
// sum_i = 0 (max_i -inf by convention); it is skipped, and neither its max nor its acc is read.
// The merged row is O[row][d] = sum_i w_i acc_i[d] / sum_i w_i sum_i, w_i = exp(max_i - G) with
// G the largest max_i of the non-empty splits: no weight exceeds 1, none is exp(-inf - -inf),
// and the denominator is >= 1 when some split is non-empty. A row with none gets O = 0, or NaN
// with empty_row_nan (what a softmax of a row of -inf gives, as the unfused baseline does).
// D % 8 == 0; ml, acc and O start 16-byte aligned (workspace and task buffers are 256-byte
// aligned).
#include <cuda_bf16.h>
#include <ks/vec.cuh>

namespace ks {

// Merges row `row`'s `splits` states and writes O[row * D + d] in bf16 for d in the 8-wide column
// chunks lane, lane + lanes, lane + 2 lanes, ... (lanes threads cooperate on a row, each taking
// whole chunks: e.g. 16 lanes cover D = 128 with one chunk each). Every lane reads the row's
// (max, sum) pairs itself: no synchronization, any grouping of threads.
__device__ __forceinline__ void split_softmax_combine(const float* ml, const float* acc,
                                                      __nv_bfloat16* O, size_t row, int D,
                                                      int splits, int lane, int lanes,
                                                      bool empty_row_nan = false) {
  const float* st = ml + 2 * row * (size_t)splits;
  float gmax = __uint_as_float(0xff800000u);  // -inf
  for (int s = 0; s < splits; ++s)
    if (st[2 * s + 1] > 0.0f) gmax = fmaxf(gmax, st[2 * s]);
  float total = 0.0f;
  for (int s = 0; s < splits; ++s)
    if (st[2 * s + 1] > 0.0f) total += st[2 * s + 1] * __expf(st[2 * s] - gmax);
  // Every split empty: O = 0 * 0, or NaN * 0 = NaN.
  const float inv = total > 0.0f ? 1.0f / total : (empty_row_nan ? __uint_as_float(0x7fc00000u) : 0.0f);

  const float* row_acc = acc + row * (size_t)splits * D;
  for (int d0 = 8 * lane; d0 < D; d0 += 8 * lanes) {
    float a[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    for (int s = 0; s < splits; ++s) {
      if (st[2 * s + 1] > 0.0f) {
        const float w = __expf(st[2 * s] - gmax);
        const float4* p = reinterpret_cast<const float4*>(row_acc + (size_t)s * D + d0);
        const float4 lo = p[0], hi = p[1];
        a[0] += w * lo.x, a[1] += w * lo.y, a[2] += w * lo.z, a[3] += w * lo.w;
        a[4] += w * hi.x, a[5] += w * hi.y, a[6] += w * hi.z, a[7] += w * hi.w;
      }
    }
#pragma unroll
    for (int k = 0; k < 8; ++k) a[k] *= inv;
    store8(O + row * (size_t)D + d0, pack8(a));
  }
}

}  // namespace ks
