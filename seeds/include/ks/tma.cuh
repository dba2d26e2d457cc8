#pragma once
// Tensor-memory-accelerator tile copies (sm_90) through TMA descriptors (and, for the kernels
// that use them, ks/pdl.cuh). The host encodes a descriptor per plan "tensor_maps" entry
// (cuTensorMapEncodeTiled) and passes it by value; the kernel takes it as
// `const __grid_constant__ ks::TensorMap name` and hands its address to these helpers (the
// descriptor must stay in parameter / constant / global memory, never a local copy).
// A 2-D load copies one box (the entry's "box", innermost first) at element coordinates
// (x_inner, y_outer) into shared memory, laid out as the entry's "swizzle" says (128B: rows of 128
// bytes, 16-byte chunk c of row r at chunk c ^ (r % 8), the ks/swizzle.cuh and wgmma layout; the
// destination then 1024-byte aligned, else 128-byte aligned). Box elements outside the tensor
// are written as zeros (oob_fill zero) and still count: every load completes exactly the box's
// bytes on its mbarrier, so a ring slot expects the full box sizes even at ragged edges.
#include <ks/bulk_copy.cuh>
#include <ks/pdl.cuh>

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
#error "ks/tma.cuh needs sm_90 (cp.async.bulk.tensor, griddepcontrol)"
#endif

namespace ks {

// Layout-compatible with CUtensorMap: 128 opaque bytes, 64-byte aligned.
struct alignas(64) TensorMap {
  unsigned long long opaque[16];
};

// Pulls the descriptor into the TMA unit's cache ahead of the first copy (one thread, once).
__device__ __forceinline__ void prefetch_tensormap(const TensorMap* map) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<unsigned long long>(map)) : "memory");
}

// One box at (x_inner, y_outer) -> smem_dst; its bytes complete on mbar (announce them first with
// mbarrier_arrive_expect_tx on the same barrier). One thread issues.
__device__ __forceinline__ void tma_load_2d(void* smem_dst, const TensorMap* map, int x_inner, int y_outer,
                                            unsigned long long* mbar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4}], [%2];\n" ::"r"(
          smem_addr(smem_dst)),
      "l"(reinterpret_cast<unsigned long long>(map)), "r"(smem_addr(mbar)), "r"(x_inner), "r"(y_outer)
      : "memory");
}

// A 3-D box at (x_inner, y, z_outer): e.g. the same rows of two halves of a weight stacked as
// {K, rows, 2}, landing as one tile of the first half's rows then the second's.
__device__ __forceinline__ void tma_load_3d(void* smem_dst, const TensorMap* map, int x_inner, int y, int z_outer,
                                            unsigned long long* mbar) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5}], [%2];\n" ::"r"(
          smem_addr(smem_dst)),
      "l"(reinterpret_cast<unsigned long long>(map)), "r"(smem_addr(mbar)), "r"(x_inner), "r"(y), "r"(z_outer)
      : "memory");
}

// As tma_load_2d, the box written to the same shared-memory offset of every block of the cluster
// whose rank bit is set in cta_mask (e.g. 0b11 for both blocks of a 2-block cluster), each copy
// completing on the mbarrier at mbar's offset in that block. Each block's barrier must expect the
// bytes it receives; the blocks split the loads of a shared operand between them.
__device__ __forceinline__ void tma_load_2d_multicast(void* smem_dst, const TensorMap* map, int x_inner, int y_outer,
                                                      unsigned long long* mbar, unsigned short cta_mask) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster"
      " [%0], [%1, {%4, %5}], [%2], %3;\n" ::"r"(smem_addr(smem_dst)),
      "l"(reinterpret_cast<unsigned long long>(map)), "r"(smem_addr(mbar)), "h"(cta_mask), "r"(x_inner), "r"(y_outer)
      : "memory");
}

// Makes this thread's generic-proxy shared-memory writes (st.shared) visible to the TMA: every
// writing thread calls it, then a barrier among them, then one thread issues tma_store_2d.
__device__ __forceinline__ void tma_store_fence() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// smem_src (laid out as the map's box and swizzle) -> the box at (x_inner, y_outer); elements
// outside the tensor are not written (ragged edges clipped by the TMA). One thread issues.
__device__ __forceinline__ void tma_store_2d(const TensorMap* map, int x_inner, int y_outer, const void* smem_src) {
  asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%2, %3}], [%1];\n" ::"l"(
                   reinterpret_cast<unsigned long long>(map)),
               "r"(smem_addr(smem_src)), "r"(x_inner), "r"(y_outer)
               : "memory");
}

// Closes the group of stores this thread issued since its previous commit.
__device__ __forceinline__ void tma_store_commit() {
  asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
}

// Waits (issuing thread) until at most N committed store groups still read their shared source,
// so the buffer may be rewritten. The global writes finish by the grid's end in any case.
template <int N>
__device__ __forceinline__ void tma_store_wait() {
  asm volatile("cp.async.bulk.wait_group.read %0;\n" ::"n"(N) : "memory");
}

}  // namespace ks
