#pragma once
// What one evaluation is asked (EvalRequest) and what it answers (EvalResult): the unit of work that
// an in-process engine or a worker process runs. These are the only two types of an evaluation:
// the worker protocol sends them as JSON (row_json.h), and the archive keeps an EvalResult as an
// EvaluationRecord (db/archive.h, made by the search's to_record), which the search reads back.
#include <optional>
#include <string>
#include <vector>

#include "evaluator/nvrtc_compiler.h"
#include "evaluator/plan.h"
#include "tasks/status.h"
#include "evaluator/timer.h"

namespace ks {

struct EvalSettings {
  uint64_t seed = 0;     // input seeds of a shape derive from it and the shape
  bool time = true;
  int input_sets = 3;    // random, hard, random, ...: all checked, rotated while timing
  TimerOptions timer;
  // The task's constants for the candidate's args, the GPU reference's and the CPU reference's:
  // one map for all three. A constant left out takes the task's default (resolve_constants).
  Constants constants;
  // After a timed ok row, also time the plan's launch skeleton (skeleton.h): its steps with every
  // kernel empty, timed the same way. Never changes the row's status.
  bool skeleton = false;
};

// One candidate variant on one shape.
struct EvalRequest {
  std::string task;
  std::string origin;  // candidate file, for messages
  std::string source;  // the whole candidate file
  Variant variant;
  Shape shape;
  EvalSettings settings;
};

// One step of a plan and its share of the plan's time (step_profile.h): shown to the LLM so it
// sees where the time goes; never used for ranking.
struct StepTime {
  std::string step;  // "plan.steps[0] (rmsnorm_rows)", "plan.steps[1] (gemm)"
  double median_us = 0;
};

// "plan.steps[0] (rms_rows) 2.3 us; plan.steps[1] (gemm) 11.0 us"
std::string format_steps(const std::vector<StepTime>& steps);

struct EvalResult {
  Shape shape;
  Variant variant;
  Status status = Status::ok;
  std::string error;
  bool nondeterministic = false;     // two runs on the same inputs gave different bits
  std::optional<PairTiming> timing;  // when checked ok and timing was asked for
  std::vector<StepTime> steps;       // with timing, for plans of more than one step
  double floor_us = 0;               // roofline floor of the shape on this device
  double max_scaled = 0, rel_l2 = 0; // accuracy against the reference (worst input set)
  std::vector<KernelResources> resources;
  std::string output;         // what the candidate printed (device printf), its first 64 KiB
  size_t output_bytes = 0;    // all it printed
  // With settings.skeleton, on a timed ok row: the median of the plan's launch skeleton (the same
  // launches, every kernel empty), timed as the plan is; 0 when not measured. skeleton_error says
  // why there is none (a gemm step, a stub that does not compile or launch); it never fails the row.
  double skeleton_us = 0;
  std::string skeleton_error;
};

}  // namespace ks
