#pragma once
// An input buffer that candidates cannot write. The same device memory is mapped twice with
// CUDA's virtual memory management: once read-write, for ksearch's uploads, and once read-only,
// the address every plan gets; a kernel or a cuBLASLt step that writes into an input faults at
// once (a crash row), so no candidate can change what it or the next one is judged on. The
// read-only mapping has unmapped pages on either side: a write just past it faults too. Its
// 64 KiB guard zones stay readable (a kernel may read a little past an edge, as before).
//
// On a device without virtual memory management the buffer is a plain guarded allocation and
// read_only() is false: the checker then proves inputs unchanged by their fingerprints.
#include <cstddef>
#include <cstdint>

#include "evaluator/guarded_buffer.h"

namespace ks {

// Whether this device maps inputs read-only (the current device; after open_device).
bool read_only_inputs_supported();

class InputBuffer {
 public:
  explicit InputBuffer(size_t bytes);  // throws CudaError / ks::Error naming the failing call
  ~InputBuffer();
  InputBuffer(const InputBuffer&) = delete;
  InputBuffer& operator=(const InputBuffer&) = delete;

  void* data() const { return ro_data_; }        // what plans get
  void* writable() const { return rw_data_; }    // ksearch's own view
  size_t bytes() const { return bytes_; }
  bool read_only() const { return handle_ != 0; }

  void fill_guards();            // guards and data to the guard byte, through the writable view
  bool guards_intact() const;    // always, when read-only: nothing can write them

 private:
  void release();

  size_t bytes_ = 0, mapped_ = 0, granularity_ = 0;
  uint64_t handle_ = 0;                      // CUmemGenericAllocationHandle, 0: fallback
  uintptr_t rw_base_ = 0, ro_reserved_ = 0;  // CUdeviceptr
  void* ro_data_ = nullptr;
  void* rw_data_ = nullptr;
  GuardedBuffer* fallback_ = nullptr;
};

}  // namespace ks
