#pragma once
// The supervisor: drives one worker process (evaluator/worker.h) per GPU, with a watchdog on
// every request. A hang (SIGKILL after the watchdog), a crash, a sticky CUDA error, garbage or an
// over-long line on the reply pipe costs that request a timeout or crash row and the worker a
// restart; never the run. A worker's "error" answer is retried once in a fresh worker (an earlier
// candidate may have left that process in a bad state) before it is a fault of ksearch's own.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "evaluator/evaluate.h"

namespace ks {

class ChildProcess;

struct SupervisorOptions {
  std::vector<std::string> worker_command;  // e.g. {"/path/ksearch", "worker", "--device", "0"}
  double watchdog_s = 10;   // per request, from the moment the candidate's own work begins
  double setup_s = 120;     // a new shape's inputs, references and baseline check
  double start_s = 60;      // worker start: process, CUDA context
};

struct SupervisorStats {
  int requests = 0;
  int restarts = 0;                    // starts after the first
  std::vector<double> start_seconds;   // spawn to hello, every start
  std::vector<double> setup_seconds;   // request to "candidate" phase: a new shape's inputs,
                                       // references and baseline check (near 0 when kept)
};

class WorkerSupervisor final : public RowRunner {
 public:
  // Starts the worker; a worker that cannot start (no device, a bad index) is a ks::Error
  // carrying the worker's own message.
  explicit WorkerSupervisor(SupervisorOptions opts);
  ~WorkerSupervisor() override;

  const DeviceInfo& device() const override { return device_; }
  const Ceilings& ceilings() override;
  EvalResult run(const EvalRequest& req) override;
  const SupervisorStats& stats() const { return stats_; }

 private:
  void start();
  // The row, or nullopt when the worker answered "error" (its text in last_error_).
  std::optional<EvalResult> attempt_row(const EvalRequest& req);
  EvalResult failed(const EvalRequest& req, Status s, const std::string& why);

  SupervisorOptions opts_;
  std::unique_ptr<ChildProcess> child_;
  DeviceInfo device_;
  std::optional<Ceilings> ceilings_;
  SupervisorStats stats_;
  long next_id_ = 1;
  std::string last_error_;
};

}  // namespace ks
