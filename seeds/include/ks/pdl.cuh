#pragma once
// Programmatic dependent launch (sm_90; the plan's "pdl" on a step). A step launched with PDL may
// start while the step before it still runs: pdl_wait() returns once that step has completed and
// its writes are visible; call it before reading anything the previous step wrote (and before
// writing what it may still read). Work that touches neither (loading weights, setting up shared
// memory) can go before it: that is what overlaps. Without PDL it returns at once.
// Below sm_90 there is no PDL (the launch attribute does nothing there): both are no-ops, so a
// kernel that uses them still compiles for sm_80.

namespace ks {

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}

// Lets the next step (if launched with PDL) start its blocks before this grid ends; its pdl_wait
// still waits for this whole grid. Call once this block no longer needs the SM's resources
// exclusively (e.g. when its last loads are issued).
__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

}  // namespace ks
