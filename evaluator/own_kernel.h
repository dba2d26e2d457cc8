#pragma once
// A kernel of ksearch's own (the input fingerprint, the L2 flush): compiled with NVRTC for the
// device's architecture and loaded, owned with its library.
#include <string>

#include "evaluator/cuda_handles.h"
#include "evaluator/nvrtc_compiler.h"

namespace ks {

struct OwnKernel {
  Library library;
  cudaKernel_t kernel = nullptr;
};

// Throws ks::Error naming `what` when the source does not compile (a fault of ksearch itself).
OwnKernel load_own_kernel(const Compiler& compiler, const std::string& arch, const char* source,
                          const std::string& what, const char* kernel_name);

}  // namespace ks
