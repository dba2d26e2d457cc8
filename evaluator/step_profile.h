#pragma once
// Where a plan's time goes: each step's share, for the LLM's prompts (a model that sees only the
// total cannot tell whether the gemm or its own kernel is slow). Measured in replays apart from the
// timed ones and never used for ranking.
#include <vector>

#include "evaluator/eval_types.h"
#include "evaluator/plan_instance.h"
#include "evaluator/timer.h"

namespace ks {

// `passes` replays of the plan without its graph, the input set rotating, each one after the
// side's poison and an L2 flush as in the timed replays, with events around every step: each
// step sees the cache the steps before it left, so the medians add up to about the plan's time
// (a little more: the graph saves launch gaps).
std::vector<StepTime> time_steps(const PlanInstance& inst, const TimedSide& side, size_t sets,
                                 const L2Flusher& flush, cudaStream_t stream, int passes = 5);

}  // namespace ks
