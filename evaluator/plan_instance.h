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
  PlanInstance(const LoadedPlan& lp, const Task& task, const Shape& shape,
               const std::vector<InputSet>& sets, std::optional<DType> output_dtype,
               const LtContext& lt, size_t smem_limit);

  void enqueue(size_t set, cudaStream_t s) const { bound_.at(set).enqueue(s); }
  cudaGraphExec_t graph(size_t set, cudaStream_t s);  // captured on first use

  void poison_outputs(cudaStream_t s = nullptr);  // 0xFF bytes: NaN in bf16, f16 and f32
  void scramble_workspace();  // 0xFF bytes: a plan must write its workspace before reading it
  void reset_guards();
  HostBuffers download_outputs() const;
  std::string first_broken_guard() const;  // output or workspace name, or ""

 private:
  std::map<std::string, std::unique_ptr<GuardedBuffer>> outputs_, workspace_;
  std::map<std::string, HostBuffer> output_shapes_;  // dtype and dims, no data
  std::vector<BoundPlan> bound_;
  std::vector<GraphExec> graphs_;
};

}  // namespace ks
