/* ksearch
{ "task": "softmax_matmul", "name": "flash_decode",
  "params":  { "CLUSTER": [8, 4, 2], "THREADS": [256, 128, 512], "ROWS": [1, 2], "UNROLL": [1, 2] },
  "applies": "D <= 128 && M <= 4 * ROWS",
  "steps": [
    { "kernel": "flash_decode", "grid": ["B * cdiv(M, ROWS) * CLUSTER"], "block": ["THREADS"],
      "args": ["S", "V", "O", "M", "N", "D", "cdiv(M, ROWS)"] } ] }
*/
// Regime: decode (M <= 4 * ROWS rows per batch), D <= 128; sm_90 (thread-block clusters).
// Idea: flash-decoding in one kernel: a cluster of CLUSTER blocks splits N for each row tile, each
//   runs an online softmax, and they merge through distributed shared memory (no workspace).
// Layout: a row tile is ROWS rows m of one batch b; block r of its cluster takes the r-th of
//   CLUSTER ranges of N; groups of 16 lanes walk 8-wide n chunks, lane l owns columns 8l .. 8l+7.
// Measured: not measured alone.
// Not: a split-N plan of two launches: the split-N seeds pay a combine kernel and a round trip
//   through memory; here B * CLUSTER blocks stream V even when B * M would leave SMs idle.
#include <cuda_bf16.h>
#include <ks/cluster.cuh>
#include <ks/vec.cuh>

#if !defined(CLUSTER) || !defined(THREADS) || !defined(ROWS) || !defined(UNROLL)
#error "CLUSTER, THREADS, ROWS and UNROLL come from the plan's params"
#endif
#if THREADS % 32 != 0 || THREADS > 1024 || ROWS < 1 || CLUSTER < 1 || CLUSTER > 8
#error "THREADS a multiple of 32 up to 1024; ROWS >= 1; CLUSTER 1..8 (the portable cluster sizes)"
#endif

#define LANES 16                 // lanes per group: 16 x 8 columns = MAX_D
#define MAX_D (LANES * 8)
#define GROUPS (THREADS / LANES)
#define NEG_INF __uint_as_float(0xff800000u)

static_assert(ROWS * GROUPS * (MAX_D + 2) * 4 + ROWS * (MAX_D + 2) * 4 <= 48 * 1024,
              "merge buffers fit static shared memory");

extern "C" __global__ void __cluster_dims__(CLUSTER, 1, 1) __launch_bounds__(THREADS)
    flash_decode(const __nv_bfloat16* S, const __nv_bfloat16* V, __nv_bfloat16* O, int M, int N, int D,
                 int mtiles) {
  __shared__ float sm_max[ROWS][GROUPS], sm_sum[ROWS][GROUPS];
  __shared__ float sm_acc[ROWS][GROUPS][MAX_D];
  // This block's merged state per row, which the cluster's blocks read.
  __shared__ float blk_max[ROWS], blk_sum[ROWS], blk_acc[ROWS][MAX_D];

  const int tile = blockIdx.x / CLUSTER, b = tile / mtiles, m0 = (tile % mtiles) * ROWS;
  const unsigned rank = ks::cluster_rank();
  const int lane = threadIdx.x % LANES, group = threadIdx.x / LANES, col = 8 * lane;
  const bool has_col = col < D;  // D % 8 == 0: a lane's 8 columns are all in or all out

  const int chunks = N / 8, per = (chunks + CLUSTER - 1) / CLUSTER;
  const int c_begin = min(chunks, (int)rank * per), c_end = min(chunks, c_begin + per);

  // Rows past M (last tile) compute on row M - 1 and are never stored: no divergence, no bounds.
  const __nv_bfloat16* srow[ROWS];
#pragma unroll
  for (int r = 0; r < ROWS; ++r) srow[r] = S + ((size_t)b * M + min(m0 + r, M - 1)) * (size_t)N;
  const __nv_bfloat16* vb = V + (size_t)b * N * D + col;

  float mx[ROWS], sum[ROWS], acc[ROWS][8];
#pragma unroll
  for (int r = 0; r < ROWS; ++r) {
    mx[r] = NEG_INF;
    sum[r] = 0.0f;
#pragma unroll
    for (int k = 0; k < 8; ++k) acc[r][k] = 0.0f;
  }

  // V is read once, with evict-first loads; S rows are small (16-byte loads shared by a group).
  const uint4 zero = make_uint4(0, 0, 0, 0);
  for (int c0 = c_begin + group * UNROLL; c0 < c_end; c0 += GROUPS * UNROLL) {
    uint4 sv[UNROLL][ROWS], vv[UNROLL][8];
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) {  // the step's loads, all in flight before the first use
      const bool in = c0 + u < c_end;
#pragma unroll
      for (int r = 0; r < ROWS; ++r) sv[u][r] = in ? ks::load8(srow[r] + 8 * (c0 + u)) : zero;
#pragma unroll
      for (int j = 0; j < 8; ++j)
        vv[u][j] = in && has_col ? ks::load8_stream(vb + (size_t)(8 * (c0 + u) + j) * D) : zero;
    }
    // Online softmax per row: running max, running sum of exp(s - max), and the unnormalized fp32
    // accumulator, both rescaled when the max grows.
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
      float p[UNROLL][8];
      float cmax = NEG_INF;
#pragma unroll
      for (int u = 0; u < UNROLL; ++u) {
        ks::unpack8(sv[u][r], p[u]);
        if (c0 + u < c_end)
#pragma unroll
          for (int j = 0; j < 8; ++j) cmax = fmaxf(cmax, p[u][j]);
      }
      const float mnew = fmaxf(mx[r], cmax);
      // mnew = -inf only while every score so far is -inf: nothing accumulated, nothing to scale.
      const float scale = mnew == NEG_INF ? 1.0f : __expf(mx[r] - mnew);
      mx[r] = mnew;
      sum[r] *= scale;
#pragma unroll
      for (int k = 0; k < 8; ++k) acc[r][k] *= scale;
#pragma unroll
      for (int u = 0; u < UNROLL; ++u)
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          const float e = c0 + u < c_end && mnew != NEG_INF ? __expf(p[u][j] - mnew) : 0.0f;
          sum[r] += e;
          float v[8];
          ks::unpack8(vv[u][j], v);
#pragma unroll
          for (int k = 0; k < 8; ++k) acc[r][k] += e * v[k];
        }
    }
  }

  // The groups' states -> this block's state (groups without chunks have sum 0: weight 0).
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
    float gmax = NEG_INF;
#pragma unroll 1
    for (int g = 0; g < GROUPS; ++g)
      if (sm_sum[r][g] > 0.0f) gmax = fmaxf(gmax, sm_max[r][g]);
    float total = 0.0f, a = 0.0f;
#pragma unroll 1
    for (int g = 0; g < GROUPS; ++g)
      if (sm_sum[r][g] > 0.0f) {
        const float w = __expf(sm_max[r][g] - gmax);
        total += sm_sum[r][g] * w;
        a += sm_acc[r][g][d] * w;
      }
    blk_acc[r][d] = a;
    if (d == 0) blk_max[r] = gmax, blk_sum[r] = total;  // -inf and 0 for a block without chunks
  }
  ks::cluster_sync();  // every block's state written and visible to the cluster

  // The cluster's blocks read each other's states through distributed shared memory, each block
  // finishing a slice of the outputs:
  //   O = sum_r acc_r e^(max_r - max) / sum_r sum_r e^(max_r - max).
  // Block `rank` finishes outputs rank * THREADS + tid, + CLUSTER * THREADS, ...
  for (int t = rank * THREADS + threadIdx.x; t < ROWS * D; t += CLUSTER * THREADS) {
    const int r = t / D, d = t % D;
    if (m0 + r >= M) continue;
    float rmax[CLUSTER], rsum[CLUSTER];
    float gmax = NEG_INF;
#pragma unroll
    for (int q = 0; q < CLUSTER; ++q) {
      rmax[q] = ks::load_cluster_f32(&blk_max[r], q);
      rsum[q] = ks::load_cluster_f32(&blk_sum[r], q);
      if (rsum[q] > 0.0f) gmax = fmaxf(gmax, rmax[q]);
    }
    float total = 0.0f, a = 0.0f;
#pragma unroll
    for (int q = 0; q < CLUSTER; ++q)
      if (rsum[q] > 0.0f) {
        const float w = __expf(rmax[q] - gmax);
        total += rsum[q] * w;
        a += ks::load_cluster_f32(&blk_acc[r][d], q) * w;
      }
    // total >= 1: the block holding the row's max contributes its own max's exp(0).
    O[((size_t)b * M + m0 + r) * D + d] = __float2bfloat16_rn(a / total);
  }
  ks::cluster_sync();  // no block leaves while another may still read its shared memory
}
