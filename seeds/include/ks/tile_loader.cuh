#pragma once
// Streams kRows x 64 bf16 tiles of a row-major matrix into shared memory, in the ks::swizzle128
// layout, with cp.async: the operand feed of a multi-stage GEMM pipeline (ldmatrix or wgmma
// reads the tiles). Each thread's chunk column and rows are fixed, so a tile costs each thread
// kRows * 8 / kThreads copies and no index arithmetic beyond one multiply-add per copy.
#include <cuda_bf16.h>
#include <ks/cp_async.cuh>

namespace ks {

// kThreads threads, numbered `thread` = 0 .. kThreads - 1 (threadIdx.x by default; a producer
// warpgroup passes its own numbering), share the copies; kThreads % 64 == 0 and
// (kRows * 8) % kThreads == 0. (Template parameters are kNamed: a plan's params and lets arrive
// as -D macros before this header, and an ALL_CAPS name here could be one of them.) Rows at or past `rows` and columns at or past `cols` land as zeros.
template <int kRows, int kThreads>
struct SwizzledTileLoader {
  static_assert(kThreads % 64 == 0 && (kRows * 8) % kThreads == 0, "whole chunks per thread");
  static constexpr int kCopies = kRows * 8 / kThreads;  // 16-byte copies per thread per tile
  static constexpr int kRowStep = kThreads / 8;         // rows between a thread's copies

  const __nv_bfloat16* src;  // row row0 + thread / 8, column 8 * (thread % 8)
  const __nv_bfloat16* base;
  long long step;            // elements between a thread's rows
  int col, cols;             // this thread's column in a tile, and the matrix's column count
  unsigned rows_ok;          // bit j: this thread's j-th row exists
  int dst;                   // byte offset of the thread's first chunk in a tile

  // The tiles of rows row0 .. row0 + kRows - 1 of a rows x cols matrix with row stride ld.
  __device__ __forceinline__ SwizzledTileLoader(const __nv_bfloat16* m, int rows, int cols_, int ld,
                                                int row0, int thread = threadIdx.x)
      : base(m), step((long long)kRowStep * ld), col(8 * (thread % 8)), cols(cols_) {
    const int r = thread / 8;
    src = m + (long long)(row0 + r) * ld + col;
    rows_ok = 0;
#pragma unroll
    for (int j = 0; j < kCopies; ++j) rows_ok |= (row0 + r + j * kRowStep < rows ? 1u : 0u) << j;
    // kRowStep % 8 == 0: every row of this thread has the same swizzle phase (r % 8).
    dst = r * 128 + (((thread % 8) ^ (r & 7)) << 4);
  }

  // Issues the copies of columns k0 .. k0 + 63 into `tile` (1024-byte aligned for wgmma).
  __device__ __forceinline__ void load(unsigned char* tile, int k0) const {
    const bool col_ok = k0 + col < cols;
#pragma unroll
    for (int j = 0; j < kCopies; ++j) {
      const bool ok = col_ok && (rows_ok >> j & 1u);
      cp_async16_zfill(tile + dst + j * kRowStep * 128, ok ? src + j * step + k0 : base, ok);
    }
  }
};

}  // namespace ks
