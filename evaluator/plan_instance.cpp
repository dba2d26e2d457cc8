#include "evaluator/plan_instance.h"

namespace ks {

PlanInstance::PlanInstance(const LoadedPlan& lp, const Task& task, const Shape& shape, const Constants& constants,
                           const std::vector<InputSet>& sets, std::optional<DType> output_dtype,
                           const LtContext& lt, const DeviceFacts& device) {
  const Env env = make_env(*lp.plan, shape, lp.variant, device);
  PlanBindings b;
  b.env = env;
  b.lt = lt;
  b.constants = constants;
  for (auto& spec : task.outputs()) {
    HostBuffer shape_only;
    shape_only.dtype = output_dtype.value_or(spec.dtype);
    shape_only.dims = task.dims_of(spec, shape);
    auto buf = std::make_unique<GuardedBuffer>(shape_only.count() * dtype_size(shape_only.dtype));
    b.buffers[spec.name] = {buf->data(), shape_only.dtype, buf->bytes()};
    outputs_[spec.name] = std::move(buf);
    output_shapes_[spec.name] = std::move(shape_only);
  }
  size_t free_bytes = 0, total_bytes = 0;
  if (!lp.plan->workspace.empty()) KS_CUDA(cudaMemGetInfo(&free_bytes, &total_bytes));
  for (auto& [name, size] : lp.plan->workspace) {
    // Refused before allocating: an absurd size is the plan's launch_error, not an allocation.
    const size_t bytes = workspace_bytes(name, size, env, free_bytes);
    free_bytes -= bytes;
    auto buf = std::make_unique<GuardedBuffer>(bytes);
    b.buffers[name] = {buf->data(), DType::bf16, buf->bytes()};
    workspace_[name] = std::move(buf);
  }
  for (auto& set : sets) {
    for (auto& spec : task.inputs())
      b.buffers[spec.name] = {set.device.at(spec.name)->data(), spec.dtype,
                              set.device.at(spec.name)->bytes()};
    bound_.emplace_back(lp, b, static_cast<size_t>(device.smem_max));
  }
  graphs_.resize(sets.size());
}

cudaGraphExec_t PlanInstance::graph(size_t set, cudaStream_t s) {
  if (!graphs_.at(set)) {
    KS_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    try {
      enqueue(set, s);
    } catch (...) {
      cudaGraph_t g = nullptr;
      (void)cudaStreamEndCapture(s, &g);
      if (g) (void)cudaGraphDestroy(g);
      throw;
    }
    cudaGraph_t g;
    KS_CUDA(cudaStreamEndCapture(s, &g));
    Graph owner(g);
    cudaGraphExec_t exec;
    KS_CUDA(cudaGraphInstantiate(&exec, g, 0));
    graphs_[set] = GraphExec(exec);
  }
  return graphs_[set].get();
}

void PlanInstance::poison_outputs(unsigned char byte, cudaStream_t s) {
  for (auto& [_, b] : outputs_) b->fill(byte, s);
}

void PlanInstance::scramble_workspace(unsigned char byte, cudaStream_t s) {
  for (auto& [_, b] : workspace_) b->fill(byte, s);
}

std::vector<PlanInstance::OutputView> PlanInstance::output_views() const {
  std::vector<OutputView> r;
  for (auto& [name, b] : outputs_) {
    const HostBuffer& shape = output_shapes_.at(name);
    r.push_back({name, b->data(), shape.dtype, shape.count(), shape.dims.empty() ? 1 : shape.dims.back()});
  }
  return r;
}

void PlanInstance::reset_guards() {
  for (auto* group : {&outputs_, &workspace_})
    for (auto& [_, b] : *group) b->fill_guards();
}

HostBuffers PlanInstance::download_outputs() const {
  HostBuffers r;
  for (auto& [name, b] : outputs_) {
    HostBuffer h(output_shapes_.at(name).dtype, output_shapes_.at(name).dims);
    download(h.bytes.data(), b->data(), h.bytes.size());
    r[name] = std::move(h);
  }
  return r;
}

std::string PlanInstance::first_broken_guard() const {
  for (auto* group : {&outputs_, &workspace_})
    for (auto& [name, b] : *group)
      if (!b->guards_intact()) return name;
  return "";
}

}  // namespace ks
