#pragma once
// A 64-bit fingerprint of a buffer's bytes: the sum, over its 8-byte words, of the splitmix64
// finalizer of (word + (index + 1) * golden ratio). Computed on the device (one read of the buffer)
// and on the host (once per input set), it proves that a candidate left its inputs unchanged
// without downloading them, which was most of a check's time on large shapes. A change that
// keeps the fingerprint would have to be crafted against this function.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "evaluator/cuda_handles.h"
#include "evaluator/nvrtc_compiler.h"
#include "evaluator/own_kernel.h"

namespace ks {

// In parallel. key: DeviceFingerprint::key() (0 in tests of the function itself).
uint64_t host_fingerprint(const std::vector<std::byte>& bytes, uint64_t key = 0);

class DeviceFingerprint {
 public:
  // Compiles its kernel with NVRTC (cached) and loads it; sms sizes the grid.
  DeviceFingerprint(const Compiler& compiler, const std::string& arch, int sms);

  struct Span {
    const void* data;
    size_t bytes;
  };
  // One fingerprint per span, all in one round trip. Synchronizes the stream.
  std::vector<uint64_t> of(const std::vector<Span>& spans, cudaStream_t stream) const;
  uint64_t key() const { return key_; }  // drawn per instance; host_fingerprint must use it

 private:
  DeviceMemory sums_;
  OwnKernel kernel_;
  int blocks_;
  uint64_t key_;
};

}  // namespace ks
