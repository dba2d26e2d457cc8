#include "evaluator/checker.h"

namespace ks {

CheckOutcome verify_outputs(PlanInstance& inst, InputSet& set, const Task& task) {
  CheckOutcome r;
  std::string broken = inst.first_broken_guard();
  if (broken.empty()) broken = set.first_broken_guard();
  if (!broken.empty()) {
    set.restore();
    return {Status::guard_violation, "wrote outside buffer '" + broken + "' (its guard zone changed)"};
  }
  if (std::string mod = set.first_modified(); !mod.empty()) {
    set.restore();
    return {Status::input_modified, "input '" + mod + "' changed during the run"};
  }
  HostBuffers got = inst.download_outputs();
  for (auto& spec : task.outputs()) {
    Comparison c = compare_output(spec.name, got.at(spec.name), set.reference.at(spec.name),
                                  task.tolerance());
    r.max_scaled = std::max(r.max_scaled, c.max_scaled);
    r.rel_l2 = std::max(r.rel_l2, c.rel_l2);
    if (!c.ok) {
      r.status = Status::wrong;
      r.error = std::string(set.kind == InputKind::hard ? "hard" : "random") + " inputs (seed " +
                std::to_string(set.seed) + "): " + c.detail;
      return r;
    }
  }
  return r;
}

CheckOutcome check_run(PlanInstance& inst, InputSet& set, size_t set_index, const Task& task,
                       cudaStream_t stream, InitialContents& contents) {
  inst.reset_guards();
  inst.scramble_workspace(contents.workspace());
  inst.poison_outputs(contents.output());
  try {
    inst.enqueue(set_index, stream);
    KS_CUDA(cudaStreamSynchronize(stream));
  } catch (const CudaError& e) {
    if (e.sticky()) throw;
    (void)cudaGetLastError();
    return {Status::launch_error, e.what()};
  }
  return verify_outputs(inst, set, task);
}

}  // namespace ks
