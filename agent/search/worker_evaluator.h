#pragma once
// A DeviceEvaluator on a real GPU: variants are compiled in this process on background threads
// (into the shared disk cache) while the worker process, behind its supervisor, checks and times
// others.
#include <future>
#include <map>
#include <mutex>
#include <string>

#include "agent/search/device_evaluator.h"
#include "evaluator/nvrtc_compiler.h"
#include "evaluator/supervisor.h"

namespace ks {

class WorkerEvaluator final : public DeviceEvaluator {
 public:
  WorkerEvaluator(const Compiler& compiler, SupervisorOptions opts);
  ~WorkerEvaluator() override;

  const DeviceInfo& device() const override { return supervisor_.device(); }
  const Ceilings& ceilings() override { return supervisor_.ceilings(); }
  void prepare(const std::vector<EvalJob>& jobs) override;
  // A new variant's compile takes up to a second; a batch's evaluations about as long on small
  // shapes (measured on an H100): two batches ahead keep the GPU from waiting on NVRTC.
  size_t batches_ahead() const override { return 2; }
  EvalResult evaluate(const EvalJob& job, const Shape& shape, const EvalSettings& settings) override;
  const SupervisorStats& stats() const { return supervisor_.stats(); }

 private:
  CompileRequest request(const EvalJob& job) const;

  const Compiler& compiler_;
  WorkerSupervisor supervisor_;
  std::mutex mu_;
  std::map<std::string, std::shared_future<CompileResult>> compiling_;  // by source + variant
};

// The command that starts a worker for a device: this binary's `worker --device N
// --compile-timeout S`, or the program KSEARCH_WORKER names (tests put a fake worker there).
std::vector<std::string> worker_command(int device, double compile_timeout_s = CompilerOptions{}.timeout_s);

}  // namespace ks
