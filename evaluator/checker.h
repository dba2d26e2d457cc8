#pragma once
// One check of a plan instance on one input set: guards set, workspace and outputs given initial
// contents that vary from call to call (fill.h), run, then guards, inputs and every output
// element verified.
#include <cuda_runtime.h>

#include <string>

#include "evaluator/compare.h"
#include "evaluator/fill.h"
#include "evaluator/input_set.h"
#include "evaluator/plan_instance.h"
#include "tasks/status.h"

namespace ks {

struct CheckOutcome {
  Status status = Status::ok;
  std::string error;
  double max_scaled = 0, rel_l2 = 0;
};

// Runs the instance on set `set_index` and verifies it. A sticky CUDA error is rethrown (the
// context is lost); a non-sticky launch error is a launch_error outcome.
CheckOutcome check_run(PlanInstance& inst, InputSet& set, size_t set_index, const Task& task,
                       cudaStream_t stream, InitialContents& contents);

// Verifies what the instance's last run on `set` left, without running it again.
CheckOutcome verify_outputs(PlanInstance& inst, InputSet& set, const Task& task);

}  // namespace ks
