#pragma once
// Runs a plan: a compiled variant loaded into the device (LoadedPlan), then bound to one shape's
// buffers with every expression evaluated and every launch checked once (BoundPlan), then
// enqueued as often as the checker and the timer need.
#include <cuda_runtime.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "evaluator/cuda_handles.h"
#include "evaluator/lt_gemm.h"
#include "evaluator/nvrtc_compiler.h"
#include "evaluator/plan.h"

namespace ks {

// One parameter of a compiled kernel: where it lies in the parameter buffer, and its bytes.
struct KernelParam {
  size_t offset = 0, size = 0;
  bool operator==(const KernelParam&) const = default;
};

// The kernel's parameters as the driver sees them (cuKernelGetParamInfo, reached through the
// runtime: ksearch never links libcuda), or nullopt when the driver cannot say (older than 12.4).
std::optional<std::vector<KernelParam>> kernel_params(cudaKernel_t k);

struct LoadedPlan {
  const Plan* plan = nullptr;
  Variant variant;
  Library library;
  std::map<std::string, cudaKernel_t> kernels;  // every kernel the steps name
  std::vector<KernelResources> resources;       // ptxas's report

  // Loads the cubin and looks up every kernel the plan names. Throws CudaError or PlanError
  // (a kernel the file does not define).
  static LoadedPlan load(const Candidate& c, const Variant& v, const CompileResult& compiled);
};

struct PlanBindings {
  Env env;                                    // size symbols and params
  std::map<std::string, BoundBuffer> buffers; // task buffers and workspace
  Constants constants;                        // reach kernels as float
  LtContext lt;
};

class BoundPlan {
 public:
  // Throws PlanError for what the plan asks wrongly (an arg the kernel does not take, smem over
  // the device's limit, a bad grid), CudaError for the runtime's refusals.
  BoundPlan(const LoadedPlan& loaded, const PlanBindings& b, size_t smem_limit);
  void enqueue(cudaStream_t stream) const;  // every step, in order

  // One step alone, for timing where a plan's time goes: "plan.steps[1] (gemm)" names it.
  size_t step_count() const { return steps_.size(); }
  const std::string& step_name(size_t i) const { return names_.at(i); }
  void enqueue_step(size_t i, cudaStream_t stream) const;

 private:
  // One kernel parameter's bytes: a pointer, a float, an int, or a 128-byte tensor map.
  struct alignas(64) ParamSlot {
    std::array<std::byte, 128> bytes{};
  };
  struct KernelLaunch {
    std::string where;
    cudaKernel_t kernel;
    dim3 grid, block;
    size_t smem;
    bool pdl = false;               // launched with programmatic stream serialization
    std::vector<ParamSlot> values;  // one slot per parameter
  };
  std::vector<std::variant<KernelLaunch, std::unique_ptr<LtGemm>>> steps_;
  std::vector<std::string> names_;  // one per step
};

}  // namespace ks
