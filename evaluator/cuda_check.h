#pragma once
// Every CUDA runtime and cuBLAS call goes through these: a failure throws, naming the call.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <string>

#include "base/error.h"

namespace ks {

struct CudaError : Error {
  CudaError(cudaError_t c, const std::string& msg) : Error(msg), code(c) {}
  cudaError_t code;
  // The context is unusable after these: the process (later: the worker) must restart.
  bool sticky() const;
};

void cuda_check(cudaError_t e, const char* call);
void cublas_check(cublasStatus_t s, const char* call);
std::string cuda_error_text(cudaError_t e);  // "cudaErrorIllegalAddress: an illegal memory access..."

// A driver function (cuXxx), reached through the runtime since ksearch never links libcuda; null
// when the driver lacks it at `version` (the runtime's error is cleared).
void* driver_entry_point(const char* name, int version);

}  // namespace ks

#define KS_CUDA(call) ::ks::cuda_check((call), #call)
#define KS_CUBLAS(call) ::ks::cublas_check((call), #call)
