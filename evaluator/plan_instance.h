#pragma once
// A loaded plan on one shape: its own guarded outputs and workspace, bound once per input set,
// and a CUDA graph per input set for timing.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "evaluator/guarded_buffer.h"
#include "evaluator/input_set.h"
#include "evaluator/plan_runner.h"

namespace ks {

class PlanInstance {
 public:
  // output_dtype: the reference plan writes f32 outputs; candidates the task's dtype (nullopt).
  // constants: resolved (resolve_constants), the same map for the candidate and the references.
  PlanInstance(const LoadedPlan& lp, const Task& task, const Shape& shape, const Constants& constants,
               const std::vector<InputSet>& sets, std::optional<DType> output_dtype,
               const LtContext& lt, const DeviceFacts& device);

  void enqueue(size_t set, cudaStream_t s) const { bound_.at(set).enqueue(s); }
  const BoundPlan& bound(size_t set) const { return bound_.at(set); }
  cudaGraphExec_t graph(size_t set, cudaStream_t s);  // captured on first use

  // Every byte of the outputs (workspace) set to `byte`: 0xFF is NaN in bf16, f16 and f32; the
  // checker and the timer vary it from call to call (fill.h), so no plan can rely on it.
  void poison_outputs(unsigned char byte = 0xFF, cudaStream_t s = nullptr);
  void scramble_workspace(unsigned char byte = 0xFF, cudaStream_t s = nullptr);
  void reset_guards();
  HostBuffers download_outputs() const;
  std::string first_broken_guard() const;  // output or workspace name, or ""

  struct OutputView {
    std::string name;
    const void* data;
    DType dtype;
    size_t count;  // elements
    int64_t row;   // elements in the last dimension
  };
  std::vector<OutputView> output_views() const;

 private:
  std::map<std::string, std::unique_ptr<GuardedBuffer>> outputs_, workspace_;
  std::map<std::string, HostBuffer> output_shapes_;  // dtype and dims, no data
  std::vector<BoundPlan> bound_;
  std::vector<GraphExec> graphs_;
};

}  // namespace ks
