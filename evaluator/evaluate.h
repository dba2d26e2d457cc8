#pragma once
// Evaluating a candidate: every variant compiled here (in parallel, into the shared disk cache),
// then each (shape, variant) run by a RowRunner: a worker process behind a supervisor (the
// default: survives crashes and hangs) or an engine in this process.
#include <functional>
#include <memory>
#include <vector>

#include "evaluator/ceilings.h"
#include "evaluator/device.h"
#include "evaluator/engine.h"
#include "evaluator/eval_types.h"

namespace ks {

class RowRunner {
 public:
  virtual ~RowRunner() = default;
  virtual const DeviceInfo& device() const = 0;
  virtual const Ceilings& ceilings() = 0;
  // Throws ks::Error for a fault of ksearch itself; the candidate's faults are rows.
  virtual EvalResult run(const EvalRequest& req) = 0;
};

// Runs rows in this process. After a sticky CUDA error (a crash row) the context is gone: later
// rows throw ks::Error.
class InProcessRunner final : public RowRunner {
 public:
  InProcessRunner(int device, const Compiler& compiler) : engine_(device, compiler) {}
  const DeviceInfo& device() const override { return engine_.device(); }
  const Ceilings& ceilings() override { return engine_.ceilings(); }
  EvalResult run(const EvalRequest& req) override;

 private:
  EvalEngine engine_;
  std::string lost_;  // why the context is gone, once it is
};

// How far below the roofline floor a median may fall before it is implausible: the floor's own
// ceilings are medians of measurements.
constexpr double kFloorNoiseMargin = 0.03;

// One variant on one shape, given its compile result: not_applicable and compile_error rows come
// without the runner, the rest from it. The row carries the shape's roofline floor; an ok row
// whose median is below it (less kFloorNoiseMargin) is implausible.
EvalResult evaluate_variant(RowRunner& runner, const Task& task, const Candidate& c, const Variant& v,
                         const CompileResult& compiled, const Shape& shape, const EvalSettings& settings);

// One row per (shape, variant), shape-major; on_row is called as each is done (progress). Throws
// ks::Error for a bad plan or shape before any row, and for a fault of ksearch itself during
// the run (rows reported so far stand).
std::vector<EvalResult> evaluate_candidate(RowRunner& runner, const Compiler& compiler,
                                        const Candidate& c, const std::vector<Variant>& variants,
                                        const std::vector<Shape>& shapes, const EvalSettings& settings,
                                        const std::function<void(const EvalResult&)>& on_row = {});

// Every task constraint holds on the shape; throws ks::Error naming the first that does not.
void check_shape(const Task& task, const Shape& shape);

}  // namespace ks
