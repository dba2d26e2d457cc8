#pragma once
// Evaluation of one candidate variant on one shape, in this process, on one device: compile
// (cache) and load, inputs and references for the shape (kept for the next request on the same
// shape), checks against the fp32 GPU reference, timing interleaved with the task's baseline.
// The worker process runs one of these; `ksearch eval --in-process` too.
#include <functional>
#include <memory>

#include "evaluator/ceilings.h"
#include "evaluator/device.h"
#include "evaluator/eval_types.h"

namespace ks {

class EvalEngine {
 public:
  EvalEngine(int device, const Compiler& compiler);
  ~EvalEngine();

  const DeviceInfo& device() const;
  const Ceilings& ceilings();  // measured on first use

  // on_candidate_start is called once the shape's inputs, references and baseline are ready,
  // as the candidate's own work begins (the worker's watchdog starts there).
  // Throws ks::Error for a fault of ksearch itself (the baseline fails, the GPU reference
  // disagrees with the CPU fp64 one, an unknown task) and a sticky CudaError (the context is
  // lost: the process must end).
  EvalResult run(const EvalRequest& req, const std::function<void()>& on_candidate_start = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ks
