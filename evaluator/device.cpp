#include "evaluator/device.h"

#include <cuda_runtime.h>

#include "evaluator/cuda_check.h"
#include "evaluator/nvrtc_compiler.h"

namespace ks {

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

DeviceInfo open_device(int index) {
  int n = 0;
  if (cudaError_t e = cudaGetDeviceCount(&n); e != cudaSuccess || n == 0)
    throw Error("no CUDA device available (cudaGetDeviceCount: " +
                (e == cudaSuccess ? std::string("0 devices") : cuda_error_text(e)) +
                "): run this on a machine with an NVIDIA GPU and driver");
  if (index < 0 || index >= n)
    throw Error("--device " + std::to_string(index) + " does not exist: this machine has " +
                std::to_string(n) + " CUDA device(s), 0 to " + std::to_string(n - 1));
  KS_CUDA(cudaSetDevice(index));
  KS_CUDA(cudaFree(nullptr));  // create the context now, not inside the first timed call
  cudaDeviceProp p{};
  KS_CUDA(cudaGetDeviceProperties(&p, index));
  DeviceInfo d;
  d.index = index;
  d.name = p.name;
  d.cc_major = p.major;
  d.cc_minor = p.minor;
  d.arch = arch_for_compute_capability(p.major, p.minor);
  d.sms = p.multiProcessorCount;
  d.l2_bytes = static_cast<size_t>(p.l2CacheSize);
  d.smem_per_block_optin = p.sharedMemPerBlockOptin;
  d.global_mem = p.totalGlobalMem;
  KS_CUDA(cudaDriverGetVersion(&d.driver_version));
  KS_CUDA(cudaRuntimeGetVersion(&d.runtime_version));
  return d;
}

}  // namespace ks
