#include "evaluator/step_profile.h"

namespace ks {

std::vector<StepTime> time_steps(const PlanInstance& inst, const TimedSide& side, size_t sets,
                                 const L2Flusher& flush, cudaStream_t stream, int passes) {
  const size_t steps = inst.bound(0).step_count();
  // events[p][k] is recorded before step k of pass p; events[p][steps] after the last step.
  std::vector<std::vector<Event>> events(static_cast<size_t>(passes));
  for (auto& pass : events)
    for (size_t k = 0; k <= steps; ++k) pass.push_back(make_event());
  for (size_t p = 0; p < events.size(); ++p) {
    const size_t set = p % sets;
    side.poison(stream);
    flush.enqueue(stream);
    for (size_t k = 0; k < steps; ++k) {
      KS_CUDA(cudaEventRecord(events[p][k].get(), stream));
      inst.bound(set).enqueue_step(k, stream);
    }
    KS_CUDA(cudaEventRecord(events[p][steps].get(), stream));
  }
  KS_CUDA(cudaStreamSynchronize(stream));
  std::vector<StepTime> r;
  for (size_t k = 0; k < steps; ++k) {
    std::vector<double> us;
    for (auto& pass : events) {
      float ms = 0;
      KS_CUDA(cudaEventElapsedTime(&ms, pass[k].get(), pass[k + 1].get()));
      us.push_back(ms * 1e3);
    }
    r.push_back({inst.bound(0).step_name(k), TimeStats::of(us).median_us});
  }
  return r;
}

}  // namespace ks
