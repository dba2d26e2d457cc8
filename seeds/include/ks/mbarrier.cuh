#pragma once
// Shared-memory barriers (mbarrier, sm_80+; the wait with try_wait is sm_90): a producer /
// consumer handshake per pipeline slot, without stopping the whole block as __syncthreads does.
// A barrier completes a phase when `count` arrivals have happened; waiters name the phase's
// parity (0, 1, 0, ...: use (use_index / slots) & 1 for a ring of slots).
#include <ks/cp_async.cuh>

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
#error "ks/mbarrier.cuh needs sm_90 (mbarrier.try_wait)"
#endif

namespace ks {

// One thread initializes; then a __syncthreads() before anyone uses the barrier.
__device__ __forceinline__ void mbarrier_init(unsigned long long* bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}

// This thread's arrival (release: its earlier shared-memory writes are visible to the waiters).
__device__ __forceinline__ void mbarrier_arrive(unsigned long long* bar) {
  asm volatile("mbarrier.arrive.release.cta.shared::cta.b64 _, [%0];\n" ::"r"(smem_addr(bar)) : "memory");
}

// Returns once the phase with this parity has completed (acquire).
__device__ __forceinline__ void mbarrier_wait(unsigned long long* bar, int parity) {
  asm volatile(
      "{\n.reg .pred done;\n"
      "wait_%=:\n"
      "mbarrier.try_wait.parity.acquire.cta.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra wait_%=;\n}\n" ::"r"(smem_addr(bar)),
      "r"(parity)
      : "memory");
}

}  // namespace ks
