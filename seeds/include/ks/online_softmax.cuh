#pragma once
// Online softmax (Milakov & Gimelshein): the running max and sum of exp of a stream of fp32
// scores in one pass, mergeable across lanes, warps or blocks. After all scores x_i are in,
// softmax(x_i) = exp(x_i - max) / sum. Anything accumulated with weights exp(x_i - max) (e.g. a
// row of P @ V) is rescaled by the factor add() / merge() return whenever max grows.
#include <math_constants.h>  // CUDART_INF_F (NVRTC has no math.h)

namespace ks {

struct OnlineSoftmax {
  float max = -CUDART_INF_F;  // largest score so far (-inf: none, or all were -inf)
  float sum = 0.0f;       // sum of exp(x_i - max)

  // Adds score x (may be -inf: a masked score). Returns exp(old max - new max): the factor for
  // what was accumulated before this score; the new score's own weight is exp(x - max).
  __device__ __forceinline__ float add(float x) {
    const float m = fmaxf(max, x);
    const float scale = m == -CUDART_INF_F ? 1.0f : __expf(max - m);
    sum = sum * scale + (m == -CUDART_INF_F ? 0.0f : __expf(x - m));
    max = m;
    return scale;
  }

  // Folds in another partial. Returns the factor for this side's accumulators in *mine and for
  // the other's in *theirs (so acc = acc * *mine + other_acc * *theirs).
  __device__ __forceinline__ void merge(const OnlineSoftmax& o, float* mine, float* theirs) {
    const float m = fmaxf(max, o.max);
    *mine = m == -CUDART_INF_F ? 1.0f : __expf(max - m);
    *theirs = m == -CUDART_INF_F ? 1.0f : __expf(o.max - m);
    sum = sum * *mine + o.sum * *theirs;
    max = m;
  }
};

// Merges the 32 lanes' partials; every lane gets the same result (butterfly, no divergence).
__device__ __forceinline__ OnlineSoftmax warp_merge(OnlineSoftmax s) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    OnlineSoftmax o;
    o.max = __shfl_xor_sync(0xffffffffu, s.max, offset);
    o.sum = __shfl_xor_sync(0xffffffffu, s.sum, offset);
    float mine, theirs;
    s.merge(o, &mine, &theirs);
  }
  return s;
}

}  // namespace ks
