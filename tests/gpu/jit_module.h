#pragma once
// Scaffolding for GPU tests of the device helpers (seeds/include/ks/): a test kernel source
// JIT-compiled as candidates are, run to completion, and host <-> device copies of vectors.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "evaluator/cuda_handles.h"
#include "evaluator/device.h"
#include "evaluator/nvrtc_compiler.h"
#include "tasks/dtype.h"

namespace ks::gpu_test {

// One test kernel source compiled for device 0 and loaded.
class JitModule {
 public:
  explicit JitModule(const std::string& source, std::vector<std::pair<std::string, int64_t>> defines = {})
      : dev_(open_device(0)) {
    Compiler compiler(Compiler::default_options());
    const CompileResult r = compiler.compile({source, "helper test", std::move(defines), dev_.arch});
    if (!r.ok) throw Error("helper test kernel does not compile:\n" + r.log);
    cudaLibrary_t lib = nullptr;
    KS_CUDA(cudaLibraryLoadData(&lib, r.cubin.data(), nullptr, nullptr, 0, nullptr, nullptr, 0));
    lib_ = Library(lib);
  }
  const DeviceInfo& device() const { return dev_; }
  // Runs kernel `name` to completion.
  void run(const char* name, dim3 grid, dim3 block, std::vector<void*> args, size_t smem = 0) const {
    cudaKernel_t k = nullptr;
    KS_CUDA(cudaLibraryGetKernel(&k, lib_.get(), name));
    if (smem > 48 * 1024)
      KS_CUDA(cudaFuncSetAttribute(reinterpret_cast<const void*>(k),
                                   cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
    KS_CUDA(cudaLaunchKernel(reinterpret_cast<const void*>(k), grid, block, args.data(), smem, nullptr));
    KS_CUDA(cudaDeviceSynchronize());
  }

 private:
  DeviceInfo dev_;
  Library lib_;
};

template <class T>
DeviceMemory to_device(const std::vector<T>& v) {
  DeviceMemory m(v.size() * sizeof(T));
  upload(m.get(), v.data(), m.size());
  return m;
}
template <class T>
std::vector<T> from_device(const DeviceMemory& m) {
  std::vector<T> v(m.size() / sizeof(T));
  download(v.data(), m.get(), m.size());
  return v;
}

// bf16 bit patterns of small integers in [-lo, lo]: products and their sums stay exact in fp32.
inline std::vector<uint16_t> small_ints(size_t n, int lo, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> d(-lo, lo);
  std::vector<uint16_t> v(n);
  for (auto& x : v) x = float_to_bf16(static_cast<float>(d(rng)));
  return v;
}

}  // namespace ks::gpu_test
