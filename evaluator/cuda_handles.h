#pragma once
// RAII owners of CUDA runtime and cuBLASLt handles: move-only, released in the destructor.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "evaluator/cuda_check.h"

namespace ks {

// One owner type per handle kind; Destroy is the release call (its error is ignored: a
// destructor cannot throw, and a failed release after a sticky error is expected).
template <class H, auto Destroy>
class Handle {
 public:
  Handle() = default;
  explicit Handle(H h) : h_(h) {}
  Handle(Handle&& o) noexcept : h_(std::exchange(o.h_, H{})) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, H{});
    }
    return *this;
  }
  ~Handle() { reset(); }
  void reset() {
    if (h_) (void)Destroy(std::exchange(h_, H{}));
  }
  H get() const { return h_; }
  explicit operator bool() const { return h_ != H{}; }

 private:
  H h_{};
};

using Stream = Handle<cudaStream_t, cudaStreamDestroy>;
using Event = Handle<cudaEvent_t, cudaEventDestroy>;
using Graph = Handle<cudaGraph_t, cudaGraphDestroy>;
using GraphExec = Handle<cudaGraphExec_t, cudaGraphExecDestroy>;
using Library = Handle<cudaLibrary_t, cudaLibraryUnload>;
using LtHandle = Handle<cublasLtHandle_t, cublasLtDestroy>;
using LtMatmulDesc = Handle<cublasLtMatmulDesc_t, cublasLtMatmulDescDestroy>;
using LtLayout = Handle<cublasLtMatrixLayout_t, cublasLtMatrixLayoutDestroy>;
using LtPreference = Handle<cublasLtMatmulPreference_t, cublasLtMatmulPreferenceDestroy>;

// A blocking stream: ordered with the legacy default stream, so the plain cudaMemset and
// cudaMemcpy calls of the checker need no extra synchronization.
Stream make_stream();
Event make_event();
LtHandle make_lt_handle();

// Device memory of a fixed size.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  explicit DeviceMemory(size_t bytes);
  void* get() const { return mem_.get(); }
  template <class T> T* as() const { return static_cast<T*>(mem_.get()); }
  size_t size() const { return bytes_; }

 private:
  Handle<void*, cudaFree> mem_;
  size_t bytes_ = 0;
};

void upload(void* dst, const void* src, size_t bytes);
void download(void* dst, const void* src, size_t bytes);
std::vector<std::byte> download(const void* src, size_t bytes);

}  // namespace ks
