#pragma once
// Device memory with guard zones before and after the data, filled with a known byte: a write
// past either end changes a guard, which the checker sees.
#include <cstddef>

#include "evaluator/cuda_handles.h"

namespace ks {

class GuardedBuffer {
 public:
  static constexpr size_t kGuardBytes = 64 * 1024;  // keeps data 256-byte aligned
  static constexpr unsigned char kGuardByte = 0xA5;

  explicit GuardedBuffer(size_t bytes);
  void* data() const { return static_cast<std::byte*>(mem_.get()) + kGuardBytes; }
  size_t bytes() const { return bytes_; }

  void fill_guards();                 // guards (and data) to the guard byte
  void fill(unsigned char byte, cudaStream_t s = nullptr);  // data only; async on s
  bool guards_intact() const;

 private:
  DeviceMemory mem_;
  size_t bytes_;
};

}  // namespace ks
