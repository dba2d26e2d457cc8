#pragma once
// cp.async (sm_80+): 16-byte global -> shared copies that bypass registers, grouped by commits,
// for multi-stage pipelines (issue tile t + STAGES - 1, wait until tile t has landed, compute).

namespace ks {

// The 32-bit shared-window address of a generic pointer to shared memory (what PTX takes).
__device__ __forceinline__ unsigned smem_addr(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

// Copies 16 bytes global -> shared, both 16-byte aligned; cached in L2 only (.cg).
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_addr(smem)), "l"(gmem));
}

// As cp_async16, but writes 16 zero bytes and reads nothing when !valid (tiles past a matrix's
// edge); gmem must still be a valid address then (e.g. the matrix's base).
__device__ __forceinline__ void cp_async16_zfill(void* smem, const void* gmem, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(smem)), "l"(gmem),
               "r"(valid ? 16 : 0));
}

// Closes the group of this thread's copies issued since the previous commit.
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

// Waits until at most N of this thread's committed groups are still in flight. Other threads'
// copies become visible only after a barrier (__syncthreads) that follows.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

}  // namespace ks
