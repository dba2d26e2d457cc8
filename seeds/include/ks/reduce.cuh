#pragma once
// Warp and block sums in fp32. Every lane/thread gets the same, bitwise identical result.

namespace ks {

// Sum of v over the 32 lanes of a warp; all 32 lanes must call it (butterfly, no divergence).
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Sum of v over the whole block; every thread must call it, and every thread gets the sum.
// The block's thread count must be a multiple of 32, at most 1024; scratch: 32 floats of shared
// memory. Safe to call again with the same scratch (it syncs before writing it).
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int tid = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const int warps = (blockDim.x * blockDim.y * blockDim.z) / 32;
  v = warp_sum(v);
  __syncthreads();  // a previous call may still be reading scratch
  if (tid % 32 == 0) scratch[tid / 32] = v;
  __syncthreads();
  // Every warp sums the per-warp partials itself, so no third barrier is needed.
  return warp_sum(tid % 32 < warps ? scratch[tid % 32] : 0.0f);
}

}  // namespace ks
