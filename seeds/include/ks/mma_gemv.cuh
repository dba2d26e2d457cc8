#pragma once
// Decode products on tensor cores: D[n][m] = sum_k W[n][k] * X[m][k] for a few rows m of X
// (M <= 8 * kXTiles) and many rows n of a streamed weight W, with W's rows on the 16-row side of
// mma.sync m16n8k16 and X's rows on the 8-wide side (the GEMV "swapped": Y^T = W X^T).
//
// The dot product does not care about the order of k, so each lane's 16-byte loads go straight
// into fragments, with no shared memory and no shuffles: lane (g = lane / 4, t = lane % 4) loads
// W[g][k0 + 8t .. +7], W[g + 8][..] and X[g][k0 + 8t .. +7] of a 32-wide chunk k0; the first 4 of
// those 8 elements are the "k = 2t, 2t+1, 2t+8, 2t+9" of one k16 mma, the last 4 of a second
// (ks/mma.cuh gives the fragment layouts). A warp so covers 16 W rows x 32 k per pair of loads.
#include <cuda_bf16.h>
#include <ks/mma.cuh>
#include <ks/vec.cuh>

namespace ks {

// One lane's view of kTiles tiles of 16 W rows: rows[2v] is W row (tile v, g), rows[2v + 1] is
// (tile v, g + 8), each already advanced by 8t elements; ok[r] says the row exists.
template <int kTiles>
struct GemvRows {
  const __nv_bfloat16* rows[2 * kTiles];
  bool ok[2 * kTiles];

  // Tile v covers W rows first[v] .. first[v] + 15 of an n_rows x K row-major matrix.
  __device__ __forceinline__ GemvRows(const __nv_bfloat16* W, const int (&first)[kTiles], int n_rows, int K) {
    const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
#pragma unroll
    for (int r = 0; r < 2 * kTiles; ++r) {
      const int n = first[r / 2] + g + 8 * (r % 2);
      ok[r] = n >= 0 && n < n_rows;
      rows[r] = W + (size_t)(ok[r] ? n : 0) * K + 8 * t;
    }
  }
};

// One 32-wide K chunk: d[v][i] += W tile v x X rows 8i .. 8i + 7, from this lane's 16-byte pieces
// of the chunk (wherever they were loaded from): w[2v], w[2v + 1] = W rows (tile v, g), (tile v,
// g + 8) and x[i] = X row 8i + g, each at elements 8t .. 8t + 7 of the chunk.
template <int kTiles, int kXTiles>
__device__ __forceinline__ void mma_gemv_chunk(float (&d)[kTiles][kXTiles][4], const uint4 (&w)[2 * kTiles],
                                               const uint4 (&x)[kXTiles]) {
#pragma unroll
  for (int i = 0; i < kXTiles; ++i) {
    const unsigned b0[2] = {x[i].x, x[i].y}, b1[2] = {x[i].z, x[i].w};
#pragma unroll
    for (int v = 0; v < kTiles; ++v) {
      const uint4 lo = w[2 * v], hi = w[2 * v + 1];
      const unsigned a0[4] = {lo.x, hi.x, lo.y, hi.y}, a1[4] = {lo.z, hi.z, lo.w, hi.w};
      mma_bf16_16816(d[v][i], a0, b0);
      mma_bf16_16816(d[v][i], a1, b1);
    }
  }
}

// Accumulates d[v][i] += W tile v x X rows 8i .. 8i + 7 over the 32-wide K chunks
// c_begin .. c_end - 1 (K % 8 == 0; k >= K reads nothing). kDepth chunks' loads are issued
// before the first mma, so kDepth * (2 kTiles + kXTiles) 16-byte loads per lane are in flight.
// X is M x K row-major (rows >= M read nothing). d[v][i][e] = D[16v + g + 8(e/2)][8i + 2t + e%2].
template <int kTiles, int kXTiles, int kDepth>
__device__ __forceinline__ void mma_gemv_accumulate(float (&d)[kTiles][kXTiles][4], const GemvRows<kTiles>& w,
                                                    const __nv_bfloat16* X, int M, int K, int c_begin,
                                                    int c_end) {
  const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const uint4 zero = make_uint4(0, 0, 0, 0);
  for (int c0 = c_begin; c0 < c_end; c0 += kDepth) {
    uint4 wv[kDepth][2 * kTiles], xv[kDepth][kXTiles];
#pragma unroll
    for (int u = 0; u < kDepth; ++u) {  // every load of the kDepth chunks first: all in flight
      const int k = (c0 + u) * 32 + 8 * t;
      const bool in = c0 + u < c_end && k < K;
#pragma unroll
      for (int r = 0; r < 2 * kTiles; ++r)
        wv[u][r] = in && w.ok[r] ? load8_stream(w.rows[r] + (size_t)(c0 + u) * 32) : zero;
#pragma unroll
      for (int i = 0; i < kXTiles; ++i)
        xv[u][i] = in && 8 * i + g < M ? load8(X + (size_t)(8 * i + g) * K + k) : zero;
    }
#pragma unroll
    for (int u = 0; u < kDepth; ++u) mma_gemv_chunk(d, wv[u], xv[u]);
  }
}

// Writes this lane's accumulators into a [16 * kTiles][kLd] fp32 array in shared memory, D[n][m]
// at part[n * kLd + m] (kLd >= 8 * kXTiles; an odd kLd spreads the banks), for a block-level split-K sum.
template <int kTiles, int kXTiles, int kLd>
__device__ __forceinline__ void mma_gemv_store(float* part, const float (&d)[kTiles][kXTiles][4]) {
  const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
#pragma unroll
  for (int v = 0; v < kTiles; ++v)
#pragma unroll
    for (int i = 0; i < kXTiles; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) part[(16 * v + g + 8 * (e / 2)) * kLd + 8 * i + 2 * t + e % 2] = d[v][i][e];
}

}  // namespace ks
