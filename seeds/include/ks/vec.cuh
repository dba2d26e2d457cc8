#pragma once
// 16-byte vector helpers: 8 bf16 moved as one uint4 (one 128-bit load or store instruction).
// Every pointer passed here must be 16-byte aligned (e.g. row start + a multiple of 8 elements,
// with the row length a multiple of 8).
#include <cuda_bf16.h>

namespace ks {

// The loads are issued in program order (volatile asm): a loop that issues a batch of loads
// before the first use keeps the whole batch in flight. (With plain loads the compiler sank each
// load to its use, and a decode GEMV kept one K chunk of loads per lane in flight: 20.0 against
// 18.4 us on an H100 at M=1, K=4096, N=4096.)

// Loads 8 bf16 through the read-only data cache (for data read more than once: X, gamma).
__device__ __forceinline__ uint4 load8(const __nv_bfloat16* p) {
  uint4 v;
  asm volatile("ld.global.nc.v4.u32 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

// Loads 8 bf16 with the evict-first hint (for data streamed once, e.g. weights in a GEMV).
__device__ __forceinline__ uint4 load8_stream(const __nv_bfloat16* p) {
  uint4 v;
  asm volatile("ld.global.cs.v4.u32 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

// Stores 8 bf16.
__device__ __forceinline__ void store8(__nv_bfloat16* p, uint4 v) {
  *reinterpret_cast<uint4*>(p) = v;
}

// Stores 8 bf16 with the evict-first hint (for outputs nobody reads back soon).
__device__ __forceinline__ void store8_stream(__nv_bfloat16* p, uint4 v) {
  __stcs(reinterpret_cast<uint4*>(p), v);
}

// Unpacks 8 bf16 (element 0 in the low half of v.x) to 8 floats; exact (bf16 is truncated fp32).
__device__ __forceinline__ void unpack8(uint4 v, float (&f)[8]) {
  const unsigned w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    f[2 * i] = __uint_as_float(w[i] << 16);
    f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
  }
}

// Packs 2 floats to 2 bf16 (round to nearest even), lo in the low half.
__device__ __forceinline__ unsigned pack2(float lo, float hi) {
  return static_cast<unsigned>(__bfloat16_as_ushort(__float2bfloat16_rn(lo))) |
         (static_cast<unsigned>(__bfloat16_as_ushort(__float2bfloat16_rn(hi))) << 16);
}

// Packs 8 floats to 8 bf16 (round to nearest even), the inverse of unpack8.
__device__ __forceinline__ uint4 pack8(const float (&f)[8]) {
  return make_uint4(pack2(f[0], f[1]), pack2(f[2], f[3]), pack2(f[4], f[5]), pack2(f[6], f[7]));
}

// Elementwise product of two bf16 pairs, one rounding (round to nearest even): e.g. a fragment
// register times gamma.
__device__ __forceinline__ unsigned mul_bf16x2(unsigned a, unsigned b) {
  const __nv_bfloat162 r = __hmul2(*reinterpret_cast<const __nv_bfloat162*>(&a),
                                   *reinterpret_cast<const __nv_bfloat162*>(&b));
  return *reinterpret_cast<const unsigned*>(&r);
}

// bf16(x * g) of 8 bf16 elementwise (one rounding each), adding the fp32 sum of x^2 to sumsq:
// the A side of a deferred RMSNorm (gamma applied, the row's squares gathered) in one pass.
__device__ __forceinline__ uint4 mul8_sumsq(uint4 x, uint4 g, float& sumsq) {
  const unsigned xs[4] = {x.x, x.y, x.z, x.w}, gs[4] = {g.x, g.y, g.z, g.w};
  unsigned r[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float lo = __uint_as_float(xs[i] << 16), hi = __uint_as_float(xs[i] & 0xffff0000u);
    sumsq = fmaf(lo, lo, sumsq);
    sumsq = fmaf(hi, hi, sumsq);
    r[i] = mul_bf16x2(xs[i], gs[i]);
  }
  return make_uint4(r[0], r[1], r[2], r[3]);
}

}  // namespace ks
