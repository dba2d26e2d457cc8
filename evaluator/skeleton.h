#pragma once
// A plan's launch skeleton: the same steps with the same grids, blocks, dynamic shared memory,
// cluster dims and PDL attributes, every kernel replaced by an empty one whose parameters have the
// real kernel's layout. Timed as the plan is timed (`ksearch eval --skeleton`), it says how much
// of a small shape's time, and of its gap to the roofline floor, is launch and ramp, not work.
//
// Nothing of the candidate's text reaches the stub source: the kernel names come from the plan
// (C identifiers, checked again here), the parameter layouts and cluster dims from the driver's
// view of the real, compiled module. A skeleton that cannot be made (a gemm step, an old driver,
// a stub that does not compile or load) is a skeleton_error on the row, never a failed evaluation.
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "evaluator/nvrtc_compiler.h"
#include "evaluator/plan.h"
#include "evaluator/plan_runner.h"

namespace ks {

// Why a plan has no skeleton here: what becomes the row's skeleton_error.
struct SkeletonError : Error {
  using Error::Error;
};

// One kernel the plan launches, as its stub must look: the real kernel's parameters (bytes, in
// order) and its compile-time cluster dims (all 0: none).
struct StubKernel {
  std::string name;
  std::vector<KernelParam> params;
  std::array<int, 3> cluster{0, 0, 0};
};

// The stub source: one `extern "C" __global__ void NAME(<params>) {}` per kernel, each parameter
// a byte array of the real size and an alignment that puts it at the real offset, with
// __cluster_dims__ where the real kernel has them. Throws SkeletonError for a name that is not a
// C identifier (or is one of the stub's own), a layout that is not one (overlapping parameters,
// sizes over the launch limit), or cluster dims out of range.
std::string skeleton_source(const std::vector<StubKernel>& kernels);

// The stub kernels of a plan, in the order its steps first name them, from a description of each
// kernel by name (its params and cluster dims; the name field is ignored). Throws SkeletonError
// for a gemm step (only kernels have stubs) or a kernel the description lacks.
std::vector<StubKernel> plan_stub_kernels(const Plan& plan, const std::vector<StubKernel>& described);

// The CPU half of a skeleton: the plan's stubs generated and compiled for `arch` through the
// project's compile path (sandboxed NVRTC, the disk cache). error is non-empty when there is no
// skeleton (a bad name, a gemm step, a compile failure): it is the row's skeleton_error. Never
// throws for anything the plan or the described kernels hold.
struct SkeletonBuild {
  std::string source;
  CompileResult compiled;
  std::string error;
};
SkeletonBuild build_skeleton(const Compiler& compiler, const Plan& plan,
                             const std::vector<StubKernel>& described, const std::string& arch);

// The GPU half. Each kernel of the loaded real plan as the driver sees it (cuKernelGetParamInfo,
// cudaFuncGetAttributes). Throws SkeletonError when the driver cannot say (older than 12.4).
std::vector<StubKernel> describe_kernels(const LoadedPlan& real);

// A loaded skeleton, runnable by the plan runner like the real plan (PlanInstance, graphs): the
// real plan and variant over the stub module. Owns what its LoadedPlan points into.
class Skeleton {
 public:
  const LoadedPlan& loaded() const { return loaded_; }
  const std::string& source() const { return source_; }

  // Describes the real kernels, builds the stubs, loads them and checks that every stub has its
  // kernel's parameter offsets and sizes and cluster dims, and the same non-portable-cluster and
  // cluster-scheduling attributes. Throws SkeletonError for every way that fails, CudaError for
  // the runtime's refusals (a sticky one: the context is lost).
  static Skeleton load(const Compiler& compiler, const LoadedPlan& real, const std::string& arch);

 private:
  std::unique_ptr<Candidate> candidate_;  // the real plan with the stub source
  std::string source_;
  LoadedPlan loaded_;
};

}  // namespace ks
