#pragma once
// The search's view of one GPU: it evaluates one candidate variant on one shape at a time. The
// real one compiles here and runs in a supervised worker process (worker_evaluator.h); tests
// drive the search with a fake that scores variants by a formula.
#include <memory>
#include <vector>

#include "evaluator/ceilings.h"
#include "evaluator/device.h"
#include "evaluator/eval_types.h"

namespace ks {

struct EvalJob {
  std::shared_ptr<const Candidate> candidate;
  Variant variant;
};

class DeviceEvaluator {
 public:
  virtual ~DeviceEvaluator() = default;
  virtual const DeviceInfo& device() const = 0;
  virtual const Ceilings& ceilings() = 0;
  // Starts what evaluate will need for these jobs (compiles) while the device is busy elsewhere.
  virtual void prepare(const std::vector<EvalJob>& /*jobs*/) {}
  // Batches to hand this device beyond the one it evaluates, so that they prepare meanwhile.
  // Each is proposed before the results ahead of it are known: ahead only where preparing costs.
  virtual size_t batches_ahead() const { return 0; }
  // The candidate's faults are rows; throws ks::Error for a fault of ksearch itself.
  virtual EvalResult evaluate(const EvalJob& job, const Shape& shape, const EvalSettings& settings) = 0;
};

}  // namespace ks
