#include "evaluator/own_kernel.h"

namespace ks {

OwnKernel load_own_kernel(const Compiler& compiler, const std::string& arch, const char* source,
                          const std::string& what, const char* kernel_name) {
  const CompileResult r = compiler.compile({source, "ksearch " + what, {}, arch});
  if (!r.ok) throw Error("ksearch's own " + what + " kernel does not compile: " + log_head(r.log));
  OwnKernel k;
  cudaLibrary_t lib = nullptr;
  KS_CUDA(cudaLibraryLoadData(&lib, r.cubin.data(), nullptr, nullptr, 0, nullptr, nullptr, 0));
  k.library = Library(lib);
  KS_CUDA(cudaLibraryGetKernel(&k.kernel, lib, kernel_name));
  return k;
}

}  // namespace ks
