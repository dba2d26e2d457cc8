#pragma once
// The LLM operators: the parents each takes from the population and the conversation it opens,
// from the templates in prompts/.
// - llm_rewrite: a parent (by tournament on the shape) with its measurements, the best so far and
//   the GPU's facts; asks for a faster candidate.
// - llm_repair: a candidate that failed somewhere, with its compile log or check failure.
// - llm_crossover: two correct parents of different sources.
// - llm_refine: opens as a rewrite; when its child fails to compile or check, the failure goes back
//   in the same conversation (refine.txt), up to --llm-turns turns.
// Only text is built here: the calls are made by LlmProposer, and the driver evaluates the child.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/llm/llm_client.h"
#include "agent/llm/prompts.h"
#include "agent/search/population.h"
#include "evaluator/ceilings.h"
#include "evaluator/device.h"

namespace ks {

// What every prompt of a run may show; fixed for the run but for the shapes' floors and baselines.
struct LlmFacts {
  const Task* task = nullptr;
  const PromptSet* prompts = nullptr;
  std::string contract, device, helpers, arch;
  std::map<std::string, double> floor_us, baseline_us;  // by shape text, as measured so far
};

struct LlmConversation {
  std::string op;               // llm_rewrite, llm_repair, llm_crossover, llm_refine
  std::string shape;            // where its child is evaluated first
  std::vector<size_t> parents;  // members
  std::vector<ChatMessage> messages;
  int turn = 1;
};

// The LLM operators in the order shown, with their base weights.
const std::vector<std::pair<std::string, double>>& llm_operator_bases();

// The conversation `op` opens for the shape, or nothing when the population offers it no parent
// there (no correct candidate yet, no failure left to repair, no second source to cross with).
// `repaired`: members a repair was asked for already.
std::optional<LlmConversation> open_conversation(const std::string& op, const Population& pop, const std::string& shape,
                                                 const LlmFacts& facts, const std::set<size_t>& repaired, Rng& rng);

// A refine conversation's next turn: the LLM's reply, then what became of its child.
void continue_conversation(LlmConversation& c, const std::string& reply, const std::string& failure,
                           const LlmFacts& facts);

// "NVIDIA H100 80GB HBM3 (sm_90a): 132 SMs, 227 KiB of shared memory per block, 50 MiB of L2;
// measured 2.99 TB/s from memory and 785 TFLOP/s bf16"
std::string device_facts(const DeviceInfo& d, const Ceilings& c);

// One line per shape the member was evaluated on: status, time, speedup, % of floor, resources.
std::string member_results(const Population& pop, size_t member, const LlmFacts& facts);

// What a failed result says, for repair and refine: the status and the compile log or finding.
std::string failure_text(const EvaluationRecord& r, const std::string& shape);

// Whether a result is a failure of the candidate's code (what repair and refine answer), as
// opposed to ok or not applying.
bool is_code_failure(Status s);

}  // namespace ks
