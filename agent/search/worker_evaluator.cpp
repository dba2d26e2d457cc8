#include "agent/search/worker_evaluator.h"

#include <cstdlib>
#include <filesystem>

#include "evaluator/evaluate.h"

namespace ks {
namespace {

std::string compile_key(const EvalJob& job) {
  return job.candidate->source + '\0' + format_variant(job.variant);
}

}  // namespace

std::vector<std::string> worker_command(int device, double compile_timeout_s) {
  const char* fake = std::getenv("KSEARCH_WORKER");
  const std::string program = fake && *fake ? fake : std::filesystem::read_symlink("/proc/self/exe").string();
  return {program, "worker", "--device", std::to_string(device), "--compile-timeout",
          std::to_string(compile_timeout_s)};
}

WorkerEvaluator::WorkerEvaluator(const Compiler& compiler, SupervisorOptions opts)
    : compiler_(compiler), supervisor_(std::move(opts)) {}

WorkerEvaluator::~WorkerEvaluator() {
  // Compiles still running hold references to the compiler: let them finish.
  for (auto& [key, f] : compiling_) f.wait();
}

CompileRequest WorkerEvaluator::request(const EvalJob& job) const {
  return compile_request(*job.candidate, job.variant, supervisor_.device().arch);
}

void WorkerEvaluator::prepare(const std::vector<EvalJob>& jobs) {
  std::lock_guard lock(mu_);
  for (const EvalJob& job : jobs) {
    auto& slot = compiling_[compile_key(job)];
    if (slot.valid()) continue;
    slot = std::async(std::launch::async, [this, req = request(job)] { return compiler_.compile(req); }).share();
  }
}

EvalResult WorkerEvaluator::evaluate(const EvalJob& job, const Shape& shape, const EvalSettings& settings) {
  std::shared_future<CompileResult> pending;
  {
    std::lock_guard lock(mu_);
    auto it = compiling_.find(compile_key(job));
    if (it != compiling_.end()) {
      pending = it->second;
      compiling_.erase(it);
    }
  }
  const CompileResult compiled = pending.valid() ? pending.get() : compiler_.compile(request(job));
  return evaluate_variant(supervisor_, task_of(*job.candidate), *job.candidate, job.variant, compiled,
                          shape, settings);
}

}  // namespace ks
