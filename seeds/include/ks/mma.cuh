#pragma once
// Warp-level tensor-core MMA (sm_80+): ldmatrix loads and mma.sync m16n8k16, bf16 in, fp32 out.
// Fragment layout, with g = lane / 4 and t = lane % 4 (each register holds 2 bf16, low = first):
//   A (16x16, row-major): a[0] = A[g][2t..2t+1]    a[1] = A[g+8][2t..2t+1]
//                         a[2] = A[g][2t+8..2t+9]  a[3] = A[g+8][2t+8..2t+9]
//   B (16x8, "col": B[k][n] read as n-rows of k): b[0] = B[2t..2t+1][g]  b[1] = B[2t+8..2t+9][g]
//   C, D (16x8 fp32):     d[0..1] = D[g][2t..2t+1]  d[2..3] = D[g+8][2t..2t+1]
// So a matrix stored as rows of K (X[m][k], W[n][k]) gives A with ldmatrix_x4 and B with
// ldmatrix_x2/x4, no transpose.
#include <ks/cp_async.cuh>

namespace ks {

// Four 8x8 b16 matrices from shared memory. Lanes 8i..8i+7 give the 16-byte row addresses of
// matrix i; lane l receives in r[i] the elements (row l/4, columns 2(l%4), 2(l%4)+1) of matrix i.
// For an A fragment at (row0, k0): lane l points at row row0 + l % 16, column k0 + (l / 16) * 8.
__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], const void* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(row)));
}

// Two 8x8 b16 matrices; lanes 0..15 give the row addresses (lanes 16..31: any valid address).
// For a B fragment of rows n0.. of W[n][k] at k0: lane l points at n0 + l % 8, k0 + (l / 8 % 2) * 8.
__device__ __forceinline__ void ldmatrix_x2(unsigned (&r)[2], const void* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(smem_addr(row)));
}

// As ldmatrix_x4, transposed: lane l receives (rows 2(l%4), 2(l%4)+1; column l/4) of matrix i.
// Gives a B fragment from a matrix stored as rows of N (V[k][n]).
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned (&r)[4], const void* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(row)));
}

// d += A * B for one m16n8k16 tile, bf16 inputs, fp32 accumulators (layouts above).
__device__ __forceinline__ void mma_bf16_16816(float (&d)[4], const unsigned (&a)[4],
                                               const unsigned (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// The two bf16 of a fragment register as floats (exact): lo is the first (lower-index) element.
__device__ __forceinline__ void unpack2(unsigned v, float& lo, float& hi) {
  lo = __uint_as_float(v << 16);
  hi = __uint_as_float(v & 0xffff0000u);
}

}  // namespace ks
