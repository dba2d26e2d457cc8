#include "evaluator/input_buffer.h"

#include <cuda.h>

#include <cstdlib>
#include <cstring>
#include <utility>
#include <string>

#include "evaluator/cuda_check.h"

namespace ks {
namespace {

// The driver's virtual memory management calls, reached through the runtime (ksearch never
// links libcuda). Null when the driver or the device lacks them.
struct Vmm {
  CUresult (*get_granularity)(size_t*, const CUmemAllocationProp*, CUmemAllocationGranularity_flags);
  CUresult (*create)(CUmemGenericAllocationHandle*, size_t, const CUmemAllocationProp*, unsigned long long);
  CUresult (*release)(CUmemGenericAllocationHandle);
  CUresult (*reserve)(CUdeviceptr*, size_t, size_t, CUdeviceptr, unsigned long long);
  CUresult (*free)(CUdeviceptr, size_t);
  CUresult (*map)(CUdeviceptr, size_t, size_t, CUmemGenericAllocationHandle, unsigned long long);
  CUresult (*unmap)(CUdeviceptr, size_t);
  CUresult (*set_access)(CUdeviceptr, size_t, const CUmemAccessDesc*, size_t);
  CUresult (*error_name)(CUresult, const char**);
  CUresult (*attribute)(int*, CUdevice_attribute, CUdevice);
};

template <class F>
bool entry(const char* name, F& fn) {
  fn = reinterpret_cast<F>(driver_entry_point(name, 12000));
  return fn != nullptr;
}

const Vmm* vmm() {
  static const Vmm* v = []() -> const Vmm* {
    static Vmm t;
    if (std::getenv("KSEARCH_NO_READONLY_INPUTS")) return nullptr;  // to test the fallback
    int dev = 0, supported = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) {
      (void)cudaGetLastError();
      return nullptr;
    }
    const bool all = entry("cuDeviceGetAttribute", t.attribute) && entry("cuMemGetAllocationGranularity", t.get_granularity) && entry("cuMemCreate", t.create) &&
                     entry("cuMemRelease", t.release) && entry("cuMemAddressReserve", t.reserve) &&
                     entry("cuMemAddressFree", t.free) && entry("cuMemMap", t.map) &&
                     entry("cuMemUnmap", t.unmap) && entry("cuMemSetAccess", t.set_access) &&
                     entry("cuGetErrorName", t.error_name);
    if (!all || t.attribute(&supported, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, dev) != CUDA_SUCCESS)
      return nullptr;
    return supported ? &t : nullptr;
  }();
  return v;
}

void check(CUresult r, const char* call) {
  if (r == CUDA_SUCCESS) return;
  const char* name = "?";
  vmm()->error_name(r, &name);
  throw Error(std::string("read-only input mapping: ") + call + ": " + name);
}

size_t round_up(size_t n, size_t g) { return (n + g - 1) / g * g; }

}  // namespace

bool read_only_inputs_supported() { return vmm() != nullptr; }

InputBuffer::InputBuffer(size_t bytes) : bytes_(bytes) {
  const Vmm* v = vmm();
  if (!v) {
    fallback_ = new GuardedBuffer(bytes);
    ro_data_ = rw_data_ = fallback_->data();
    return;
  }
  int dev = 0;
  KS_CUDA(cudaGetDevice(&dev));
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location = {CU_MEM_LOCATION_TYPE_DEVICE, dev};
  check(v->get_granularity(&granularity_, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED), "cuMemGetAllocationGranularity");
  mapped_ = round_up(bytes + 2 * GuardedBuffer::kGuardBytes, granularity_);
  CUmemGenericAllocationHandle h = 0;
  check(v->create(&h, mapped_, &prop, 0), "cuMemCreate");
  handle_ = h;
  try {
    CUdeviceptr rw = 0, ro = 0;
    check(v->reserve(&rw, mapped_, granularity_, 0, 0), "cuMemAddressReserve");
    rw_base_ = rw;
    check(v->map(rw, mapped_, 0, h, 0), "cuMemMap");
    rw_data_ = reinterpret_cast<void*>(rw + GuardedBuffer::kGuardBytes);
    CUmemAccessDesc access{{CU_MEM_LOCATION_TYPE_DEVICE, dev}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
    check(v->set_access(rw, mapped_, &access, 1), "cuMemSetAccess(read-write)");
    // One unmapped granule before and after the read-only view.
    check(v->reserve(&ro, mapped_ + 2 * granularity_, granularity_, 0, 0), "cuMemAddressReserve");
    ro_reserved_ = ro;
    check(v->map(ro + granularity_, mapped_, 0, h, 0), "cuMemMap");
    ro_data_ = reinterpret_cast<void*>(ro + granularity_ + GuardedBuffer::kGuardBytes);
    access.flags = CU_MEM_ACCESS_FLAGS_PROT_READ;
    check(v->set_access(ro + granularity_, mapped_, &access, 1), "cuMemSetAccess(read-only)");
  } catch (...) {
    release();
    throw;
  }
  fill_guards();
}

InputBuffer::~InputBuffer() { release(); }

void InputBuffer::release() {
  if (fallback_) {
    delete std::exchange(fallback_, nullptr);
    return;
  }
  const Vmm* v = vmm();
  if (!handle_) return;
  // Release errors are ignored, as for every handle (cuda_handles.h): after a sticky error they
  // are expected, and a destructor cannot throw.
  if (ro_reserved_) {
    if (ro_data_) (void)v->unmap(ro_reserved_ + granularity_, mapped_);
    (void)v->free(ro_reserved_, mapped_ + 2 * granularity_);
  }
  if (rw_base_) {
    if (rw_data_) (void)v->unmap(rw_base_, mapped_);
    (void)v->free(rw_base_, mapped_);
  }
  (void)v->release(handle_);
  handle_ = 0;
}

void InputBuffer::fill_guards() {
  if (fallback_) return fallback_->fill_guards();
  KS_CUDA(cudaMemset(reinterpret_cast<void*>(rw_base_), GuardedBuffer::kGuardByte, mapped_));
}

bool InputBuffer::guards_intact() const { return fallback_ ? fallback_->guards_intact() : true; }

}  // namespace ks
