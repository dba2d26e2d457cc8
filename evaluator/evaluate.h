#pragma once
// ksearch's evaluation of one candidate: every variant compiled (in parallel, cached), then on
// each shape checked against the fp32 GPU reference on fresh inputs and timed interleaved with
// the task's baseline.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "evaluator/ceilings.h"
#include "evaluator/device.h"
#include "evaluator/nvrtc_compiler.h"
#include "evaluator/plan.h"
#include "evaluator/status.h"
#include "evaluator/timer.h"

namespace ks {

struct EvalRow {
  Shape shape;
  Variant variant;
  Status status = Status::ok;
  std::string error;
  std::optional<PairTiming> timing;  // when checked ok and timing was asked for
  double floor_us = 0;               // roofline floor of the shape on this device
  double max_scaled = 0, rel_l2 = 0; // accuracy against the reference (worst input set)
  std::vector<KernelResources> resources;
};

struct EvalOptions {
  uint64_t seed = 0;        // first input seed; each shape and set gets its own from it
  bool time = true;
  int input_sets = 3;       // random, hard, random, ...: all checked, rotated while timing
  TimerOptions timer;
};

class Evaluator {
 public:
  // Opens the device, measures its ceilings, and compiles the task's reference and baseline.
  Evaluator(const Task& task, int device, const Compiler& compiler, EvalOptions opts);
  ~Evaluator();

  const DeviceInfo& device() const;
  const Ceilings& ceilings() const;

  // One row per (shape, variant), shape-major. on_row is called as each row is done (progress).
  // Throws ks::Error if the CUDA context is lost (a crash); rows done so far were reported.
  std::vector<EvalRow> evaluate(const Candidate& c, const std::vector<Variant>& variants,
                                const std::vector<Shape>& shapes,
                                const std::function<void(const EvalRow&)>& on_row = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Every task constraint holds on the shape; throws ks::Error naming the first that does not.
void check_shape(const Task& task, const Shape& shape);

}  // namespace ks
