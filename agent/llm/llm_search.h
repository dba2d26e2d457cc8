#pragma once
// The LLM's part of a search. It keeps up to --llm-concurrency conversations in flight beside the
// GPU work, turns each reply into a child for the driver to evaluate (or a recorded reason why
// not), links every call in the archive to the candidate it produced, weighs the LLM operators by
// what their children achieved, and carries refine conversations on with their children's
// failures. Every method but the constructor and destructor is called with the driver's lock held.
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/llm/llm_proposer.h"
#include "agent/search/llm_proposals.h"
#include "agent/search/operator_weights.h"
#include "db/archive.h"

namespace ks {

struct LlmSearchOptions {
  LlmConfig client;
  // Answers the calls instead of the endpoint in `client` (--llm-replay); none: the endpoint.
  std::shared_ptr<ChatSource> replay;
  PromptSet prompts;
  LlmFacts facts;                           // task, contract, device, helpers, arch; the rest is filled in
  int concurrency = 2;                      // calls in flight
  int turns = 3;                            // of a refine conversation
  std::optional<int64_t> max_tokens_total;  // prompt + completion tokens of the run, in all
  int max_failures_in_a_row = 5;            // calls that got no reply before the LLM is set aside
};

class LlmSearch final : public LlmProposals {
 public:
  // wake is called on a proposer thread whenever a reply arrives.
  LlmSearch(LlmSearchOptions options, Archive& archive, int64_t run_id, std::function<void()> wake);
  ~LlmSearch();

  // Starts conversations until `concurrency` are in flight, on shapes from pick_shape.
  void start_calls(const Population& pop, const std::function<std::optional<std::string>()>& pick_shape,
                   Rng& rng) override;
  // The replies that arrived, each recorded; those that hold a new candidate become children.
  std::vector<LlmChild> take_children(Population& pop) override;
  // A child's result is in (the member is stored, so it has an id): on the shape its call was
  // made for, weighs its operator and continues a refine conversation whose child failed; a
  // child not applicable there only stops being awaited.
  void on_result(const Population& pop, size_t member, const std::string& shape, bool paid_off,
                 bool applicable) override;
  void set_shape_times(const std::map<std::string, double>& floor_us,
                       const std::map<std::string, double>& baseline_us) override {
    opt_.facts.floor_us = floor_us;
    opt_.facts.baseline_us = baseline_us;
  }

  // A reply is awaited, or a child not yet evaluated.
  bool waiting() const override;
  // Replies are in, not yet taken.
  bool replies_ready() const override { return proposer_->replies_ready(); }
  // The token budget is used up: no new calls.
  bool spent() const override;
  // Set aside for the rest of the run (a refused key, a wrong model, an endpoint that keeps failing).
  const std::string& off_reason() const { return off_reason_; }

  LlmFacts& facts() { return opt_.facts; }
  const OperatorWeights& weights() const { return weights_; }
  std::vector<std::pair<std::string, double>> operator_shares() const override { return weights_.shares(); }
  int64_t calls() const override { return calls_; }
  int64_t tokens() const override { return tokens_; }
  int in_flight() const override { return proposer_->in_flight(); }
  // How long a call in flight may still take: one attempt's timeout.
  double call_timeout_s() const override { return proposer_->call_timeout_s(); }
  // Lines worth a user's attention since the last call (the LLM set aside, the budget spent, the
  // first reply cut at the completion-token limit).
  std::vector<std::string> take_notices() override;

 private:
  struct Pending {  // a child awaiting its result
    int64_t call_id;
    LlmConversation conversation;
    std::string reply;
  };
  void record_reply(Population& pop, LlmExchange& x, std::vector<LlmChild>& children);
  void set_off(const std::string& why);

  LlmSearchOptions opt_;
  Archive& archive_;
  int64_t run_id_;
  OperatorWeights weights_;
  std::unique_ptr<LlmProposer> proposer_;
  std::map<size_t, Pending> pending_;  // by member
  std::set<size_t> repaired_;
  int64_t calls_ = 0, tokens_ = 0;
  int failures_in_a_row_ = 0;
  std::string off_reason_;
  bool spent_noted_ = false;
  bool truncation_noted_ = false;  // a cut reply is said once: it is a setting to change, not news per call
  std::vector<std::string> notices_;
};

}  // namespace ks
