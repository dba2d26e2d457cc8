#pragma once
// 1-D bulk copies (sm_90): one thread hands a contiguous run of bytes, global -> shared, to the
// SM's tensor memory accelerator (TMA), which moves it without registers or per-lane addresses
// and counts the bytes that landed on an mbarrier. A producer thread so keeps tens of KiB in
// flight per SM with a few instructions, in whole 128-byte lines: the way to stream weights at
// DRAM speed (per-lane 16-byte loads are capped by what the load units can track).
// Protocol per slot of a ring: the producer calls mbarrier_arrive_expect_tx(full, total bytes of
// the slot's copies), then issues the copies on `full`; consumers mbarrier_wait(full, parity)
// and then read the slot (the copies' writes are visible to them); they arrive on an `empty`
// barrier when done, which the producer waits on before refilling the slot.
#include <ks/mbarrier.cuh>

namespace ks {

// After one thread initialized the ring's barriers: makes the initialization visible to the
// async proxy (the TMA) as well; then a __syncthreads().
__device__ __forceinline__ void fence_mbarrier_init() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}

// This thread's arrival on `bar`, announcing `bytes` more bytes of copies to complete this phase.
__device__ __forceinline__ void mbarrier_arrive_expect_tx(unsigned long long* bar, unsigned bytes) {
  asm volatile("mbarrier.arrive.expect_tx.release.cta.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(bar)),
               "r"(bytes)
               : "memory");
}

// An L2 cache policy that evicts first: for data streamed once (weights). Create it once.
__device__ __forceinline__ unsigned long long l2_evict_first_policy() {
  unsigned long long policy;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(policy));
  return policy;
}

// Copies `bytes` (a multiple of 16; src and dst 16-byte aligned) global -> shared; the bytes
// complete on `bar`. With an L2 policy (l2_evict_first_policy) for data streamed once.
__device__ __forceinline__ void bulk_copy_stream(void* dst, const void* src, unsigned bytes, unsigned long long* bar,
                                                 unsigned long long policy) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1], %2, [%3], %4;\n" ::"r"(
          smem_addr(dst)),
      "l"(src), "r"(bytes), "r"(smem_addr(bar)), "l"(policy)
      : "memory");
}

// As bulk_copy_stream, with the default L2 policy: for data read again soon (activations).
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, unsigned bytes, unsigned long long* bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
                   smem_addr(dst)),
               "l"(src), "r"(bytes), "r"(smem_addr(bar))
               : "memory");
}

// Barrier `id` (1..15; __syncthreads uses 0) that completes when `threads` threads (a multiple of
// 32) have reached it: lets a block's consumer warps meet without their producer warp.
__device__ __forceinline__ void named_barrier_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

}  // namespace ks
