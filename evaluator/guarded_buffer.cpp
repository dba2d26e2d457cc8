#include "evaluator/guarded_buffer.h"

#include <algorithm>

namespace ks {

GuardedBuffer::GuardedBuffer(size_t bytes) : mem_(bytes + 2 * kGuardBytes), bytes_(bytes) {
  fill_guards();
}

void GuardedBuffer::fill_guards() { KS_CUDA(cudaMemset(mem_.get(), kGuardByte, mem_.size())); }

void GuardedBuffer::fill(unsigned char byte, cudaStream_t s) {
  KS_CUDA(cudaMemsetAsync(data(), byte, bytes_, s));
}

bool GuardedBuffer::guards_intact() const {
  auto intact = [](const std::vector<std::byte>& v) {
    return std::all_of(v.begin(), v.end(), [](std::byte b) { return b == std::byte{kGuardByte}; });
  };
  auto* base = static_cast<const std::byte*>(mem_.get());
  return intact(download(base, kGuardBytes)) &&
         intact(download(base + kGuardBytes + bytes_, kGuardBytes));
}

}  // namespace ks
