#pragma once
// Thread-block clusters (sm_90): the blocks of a cluster run at the same time on one GPC and can
// read each other's shared memory (distributed shared memory), so blocks that split one problem
// can merge their partial results on chip, in the same kernel, with no workspace and no second
// launch. A kernel declares its cluster shape with __cluster_dims__(X, 1, 1) (the grid must be a
// multiple of it); a plain launch then forms the clusters.
#include <ks/cp_async.cuh>

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
#error "ks/cluster.cuh needs sm_90 (thread-block clusters)"
#endif

namespace ks {

// This block's rank in its cluster, 0 .. cluster size - 1.
__device__ __forceinline__ unsigned cluster_rank() {
  unsigned r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
  return r;
}

// Barrier over every thread of every block of the cluster. Shared-memory writes before it are
// visible to the cluster's readers after it (release / acquire). A block must not exit while
// another may still read its shared memory: end such reads with a second cluster_sync().
__device__ __forceinline__ void cluster_sync() {
  asm volatile(
      "barrier.cluster.arrive.release.aligned;\n"
      "barrier.cluster.wait.acquire.aligned;\n" ::
          : "memory");
}

// Reads the float at the same shared-memory location as `local`, in block `rank`'s shared memory.
__device__ __forceinline__ float load_cluster_f32(const float* local, unsigned rank) {
  unsigned remote;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(remote) : "r"(smem_addr(local)), "r"(rank));
  float v;
  asm volatile("ld.shared::cluster.f32 %0, [%1];\n" : "=f"(v) : "r"(remote) : "memory");
  return v;
}

// The same, 16 bytes: the float4 at `local`'s offset in block `rank`'s shared memory.
__device__ __forceinline__ float4 load_cluster_f32x4(const float4* local, unsigned rank) {
  unsigned remote;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(remote) : "r"(smem_addr(local)), "r"(rank));
  float4 v;
  asm volatile("ld.shared::cluster.v4.f32 {%0, %1, %2, %3}, [%4];\n"
               : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w)
               : "r"(remote)
               : "memory");
  return v;
}

// This thread's arrival on the mbarrier at `bar`'s offset in block `rank` of the cluster
// (release at cluster scope: this thread's earlier shared-memory writes, in any block of the
// cluster, are visible to that barrier's waiters that wait with mbarrier_wait_cluster).
__device__ __forceinline__ void mbarrier_arrive_remote(unsigned long long* bar, unsigned rank) {
  asm volatile(
      "{\n.reg .b32 remote;\n"
      "mapa.shared::cluster.u32 remote, %0, %1;\n"
      "mbarrier.arrive.release.cluster.shared::cluster.b64 _, [remote];\n}\n" ::"r"(smem_addr(bar)),
      "r"(rank)
      : "memory");
}

// The same arrival with release at block scope only (as CUTLASS's ClusterBarrier::arrive): for a
// ring slot's `empty` barrier, whose waiter (the peer's producer) only needs this thread's reads of
// the slot to be done, not its writes to be visible. Measured on an H200: the release at cluster
// scope, once per consumer warp per K slice, made a 2-block multicast GEMM 1.8-3x slower.
__device__ __forceinline__ void mbarrier_arrive_remote_relaxed(unsigned long long* bar, unsigned rank) {
  asm volatile(
      "{\n.reg .b32 remote;\n"
      "mapa.shared::cluster.u32 remote, %0, %1;\n"
      "mbarrier.arrive.shared::cluster.b64 _, [remote];\n}\n" ::"r"(smem_addr(bar)),
      "r"(rank)
      : "memory");
}

// Returns once the phase with this parity of this block's barrier `bar` has completed, acquiring
// at cluster scope what the arrivals of other blocks released (ks/mbarrier.cuh's mbarrier_wait
// acquires at block scope only).
__device__ __forceinline__ void mbarrier_wait_cluster(unsigned long long* bar, int parity) {
  asm volatile(
      "{\n.reg .pred done;\n"
      "wait_%=:\n"
      "mbarrier.try_wait.parity.acquire.cluster.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra wait_%=;\n}\n" ::"r"(smem_addr(bar)),
      "r"(parity)
      : "memory");
}

}  // namespace ks
