/* ksearch
{ "task": "softmax_matmul", "name": "online_fused",
  "params":    { "THREADS": [256, 128], "ROWS": [1, 4], "SPLITS": [16, 1, 4] },
  "applies":   "D <= 128",
  "workspace": { "ml": "B * M * max(1, min(SPLITS, 1024 / (B * M))) * 8",
                 "acc": "B * M * max(1, min(SPLITS, 1024 / (B * M))) * D * 4" },
  "steps": [
    { "kernel": "online_partial",
      "grid": ["B * cdiv(M, ROWS)", "max(1, min(SPLITS, 1024 / (B * M)))"], "block": ["THREADS"],
      "args": ["S", "V", "ml", "acc", "M", "N", "D", "cdiv(M, ROWS)",
               "max(1, min(SPLITS, 1024 / (B * M)))"] },
    { "kernel": "online_combine", "grid": ["B * M"], "block": ["128"],
      "args": ["ml", "acc", "O", "D", "max(1, min(SPLITS, 1024 / (B * M)))"] } ] }
*/
// Fused seed for every shape with D <= 128: online softmax fused with P @ V, no P in memory.
// A block takes ROWS rows m of one batch b and one of `splits` contiguous ranges of N. Its
// threads form groups of 16 lanes; group g walks the 8-wide n-chunks g, g + GROUPS, ... of the
// range, and lane l of the group owns output columns 8l .. 8l+7 (so D <= 128). Per row it keeps
// a running max, a running sum of exp(s - max) and an unnormalized fp32 accumulator, rescaling
// both by exp(old max - new max) when the max grows; each V row it loads (16 bytes per lane) is
// used by all ROWS rows. The groups' states merge in shared memory into one (max, sum, acc[D])
// per (row, split) in the workspace; online_combine merges the splits and divides by the sum.
// splits = max(1, min(SPLITS, 1024 / (B * M))): many splits when there are few rows (decode:
// B * M = 32 blocks would leave most SMs idle), one when rows alone fill the GPU.
// A decode seed at heart: on prefill shapes it is correct but slow (CUDA-core FMAs, each row tile
// re-reads V[b] from L2, the 16 lanes of a group repeat the same exps); a tensor-core
// flash-attention-style tile over many rows is what should beat the baseline there.
#include <cuda_bf16.h>
#include <ks/vec.cuh>

#if !defined(THREADS) || !defined(ROWS)
#error "THREADS and ROWS come from the plan's params"
#endif
#if THREADS % 32 != 0 || THREADS > 1024 || ROWS < 1
#error "THREADS must be a multiple of 32, at most 1024; ROWS at least 1"
#endif

#define LANES 16                 // lanes per group: 16 x 8 columns = MAX_D
#define MAX_D (LANES * 8)
#define GROUPS (THREADS / LANES)
#define NEG_INF __uint_as_float(0xff800000u)

static_assert(ROWS * GROUPS * (MAX_D + 2) * 4 <= 48 * 1024, "merge buffers fit static smem");

// Workspace per (row, split) state i = (b * M + m) * splits + split: ml[2i] = max,
// ml[2i+1] = sum of exp(s - max), acc[i * D + d] = sum_n exp(s_n - max) * V[b, n, d].
// A split or group that saw no n has max -inf and sum 0; mergers weight it by 0 (never computing
// exp(-inf - -inf)). A non-empty one has sum >= 1: its max element contributes exp(0).
extern "C" __global__ void __launch_bounds__(THREADS)
    online_partial(const __nv_bfloat16* S, const __nv_bfloat16* V, float* ml, float* acc_ws,
                   int M, int N, int D, int mtiles, int splits) {
  __shared__ float sm_max[ROWS][GROUPS], sm_sum[ROWS][GROUPS];
  __shared__ float sm_acc[ROWS][GROUPS][MAX_D];

  const int b = blockIdx.x / mtiles, m0 = (blockIdx.x % mtiles) * ROWS;
  const int split = blockIdx.y;
  const int lane = threadIdx.x % LANES, group = threadIdx.x / LANES;
  const int col = 8 * lane;
  const bool has_col = col < D;  // D % 8 == 0, so a lane's 8 columns are all in or all out

  const int chunks = N / 8, per_split = (chunks + splits - 1) / splits;
  const int c_begin = min(chunks, split * per_split), c_end = min(chunks, c_begin + per_split);

  // Rows past M (last tile) compute on row M - 1 and are never stored: no divergence, no bounds.
  const __nv_bfloat16* srow[ROWS];
#pragma unroll
  for (int r = 0; r < ROWS; ++r)
    srow[r] = S + ((size_t)b * M + min(m0 + r, M - 1)) * (size_t)N;
  const __nv_bfloat16* vb = V + (size_t)b * N * D + col;

  float mx[ROWS], sum[ROWS], acc[ROWS][8];
#pragma unroll
  for (int r = 0; r < ROWS; ++r) {
    mx[r] = NEG_INF;
    sum[r] = 0.0f;
#pragma unroll
    for (int k = 0; k < 8; ++k) acc[r][k] = 0.0f;
  }

  for (int c = c_begin + group; c < c_end; c += GROUPS) {
    const int n0 = 8 * c;
    float p[ROWS][8];
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
      ks::unpack8(ks::load8(srow[r] + n0), p[r]);  // the group's 16 lanes read the same 16 bytes
      float cmax = p[r][0];
#pragma unroll
      for (int j = 1; j < 8; ++j) cmax = fmaxf(cmax, p[r][j]);
      const float mnew = fmaxf(mx[r], cmax);
      const float scale = __expf(mx[r] - mnew);  // first chunk: exp(-inf) = 0 times zeros
      mx[r] = mnew;
      sum[r] *= scale;
#pragma unroll
      for (int k = 0; k < 8; ++k) acc[r][k] *= scale;
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        p[r][j] = __expf(p[r][j] - mnew);
        sum[r] += p[r][j];
      }
    }
    if (has_col) {
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        float v[8];
        ks::unpack8(ks::load8(vb + (size_t)(n0 + j) * D), v);
#pragma unroll
        for (int r = 0; r < ROWS; ++r)
#pragma unroll
          for (int k = 0; k < 8; ++k) acc[r][k] += p[r][j] * v[k];
      }
    }
  }

  // Merge the GROUPS states of each row. Lanes without columns store their zeros: harmless.
#pragma unroll
  for (int r = 0; r < ROWS; ++r) {
    if (lane == 0) {
      sm_max[r][group] = mx[r];
      sm_sum[r][group] = sum[r];
    }
#pragma unroll
    for (int k = 0; k < 8; ++k) sm_acc[r][group][col + k] = acc[r][k];
  }
  __syncthreads();

  for (int t = threadIdx.x; t < ROWS * D; t += THREADS) {
    const int r = t / D, d = t % D;
    if (m0 + r >= M) continue;
    float gmax = NEG_INF;
#pragma unroll 1  // unrolled, ptxas spills a word on sm_80 with THREADS=128; the merge is cold
    for (int g = 0; g < GROUPS; ++g)
      if (sm_sum[r][g] > 0.0f) gmax = fmaxf(gmax, sm_max[r][g]);
    float total = 0.0f, a = 0.0f;
#pragma unroll 1
    for (int g = 0; g < GROUPS; ++g) {
      if (sm_sum[r][g] > 0.0f) {
        const float w = __expf(sm_max[r][g] - gmax);
        total += sm_sum[r][g] * w;
        a += sm_acc[r][g][d] * w;
      }
    }
    const size_t i = ((size_t)b * M + m0 + r) * splits + split;
    if (d == 0) {
      ml[2 * i] = gmax;  // -inf and 0 for an empty split
      ml[2 * i + 1] = total;
    }
    acc_ws[i * D + d] = a;
  }
}

// One block per (b, m) row: merges its splits' states and writes O = acc / sum in bf16.
extern "C" __global__ void online_combine(const float* ml, const float* acc_ws,
                                          __nv_bfloat16* O, int D, int splits) {
  const size_t row = blockIdx.x;
  const float* st = ml + 2 * row * splits;
  float gmax = NEG_INF;
  for (int s = 0; s < splits; ++s)
    if (st[2 * s + 1] > 0.0f) gmax = fmaxf(gmax, st[2 * s]);
  float total = 0.0f;
  for (int s = 0; s < splits; ++s)
    if (st[2 * s + 1] > 0.0f) total += st[2 * s + 1] * __expf(st[2 * s] - gmax);
  const float inv = 1.0f / total;  // total >= 1: some split holds the row's max
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float a = 0.0f;
    for (int s = 0; s < splits; ++s)
      if (st[2 * s + 1] > 0.0f) a += acc_ws[(row * splits + s) * D + d] * __expf(st[2 * s] - gmax);
    O[row * D + d] = __float2bfloat16_rn(a * inv);
  }
}
