#include "agent/llm/llm_search.h"

#include <nlohmann/json.hpp>
#include <set>

#include "agent/llm/llm_reply.h"
#include "evaluator/json_text.h"

namespace ks {
namespace {

// The call's status when no reply text came: the archive's llm_calls.status.
std::string failed_call_status(const ChatResult& r) {
  if (r.http_status == 0) return "unreachable";      // connection refused, timeout
  if (r.http_status == 200) return "bad_response";   // a reply that is not a chat completion
  return "http_" + std::to_string(r.http_status);
}

// The messages sent, as llm_calls.messages keeps them.
std::string messages_json(const std::vector<ChatMessage>& messages) {
  nlohmann::json j = nlohmann::json::array();
  for (const ChatMessage& m : messages) j.push_back({{"role", m.role}, {"content", m.content}});
  return json_text(j);
}

}  // namespace

LlmSearch::LlmSearch(LlmSearchOptions options, Archive& archive, int64_t run_id, std::function<void()> wake)
    : opt_(std::move(options)), archive_(archive), run_id_(run_id) {
  opt_.facts.prompts = &opt_.prompts;
  for (auto& [name, base] : llm_operator_bases()) weights_.add(name, base);
  if (opt_.turns <= 1) weights_.add("llm_refine", 0);  // a one-turn refine is a rewrite
  tokens_ = archive_.run_llm_tokens(run_id_);  // a resumed run's budget counts what it spent
  std::shared_ptr<ChatSource> source = opt_.replay ? opt_.replay : std::make_shared<HttpChat>(opt_.client);
  proposer_ = std::make_unique<LlmProposer>(std::move(source), opt_.concurrency, std::move(wake));
}

LlmSearch::~LlmSearch() = default;

bool LlmSearch::spent() const { return opt_.max_tokens_total && tokens_ >= *opt_.max_tokens_total; }

bool LlmSearch::waiting() const { return proposer_->in_flight() > 0 || !pending_.empty(); }

std::vector<std::string> LlmSearch::take_notices() {
  std::vector<std::string> out;
  out.swap(notices_);
  return out;
}

void LlmSearch::set_off(const std::string& why) {
  if (!off_reason_.empty()) return;
  off_reason_ = why;
  notices_.push_back("LLM proposals are off for the rest of this run: " + why);
}

void LlmSearch::start_calls(const Population& pop, const std::function<std::optional<std::string>()>& pick_shape,
                            Rng& rng) {
  if (!off_reason_.empty() || spent()) return;
  // Per free slot, a shape and then operators drawn by weight, each at most once per shape, until
  // one has something to ask; a few shapes. So no call is left unmade for an unlucky draw while an
  // operator has something to offer: the run then ended as "nothing new is left to try" with its
  // LLM budget unspent, depending on how many draws the replies' timing had left (LlmRun's replay
  // test, under load).
  constexpr int kShapesPerSlot = 8;
  while (proposer_->in_flight() < proposer_->concurrency()) {
    std::optional<LlmConversation> c;
    for (int s = 0; !c && s < kShapesPerSlot; ++s) {
      const std::optional<std::string> shape = pick_shape();
      if (!shape) return;
      std::set<std::string> tried;
      const auto untried = [&](const std::string& op) { return !tried.count(op); };
      while (!c) {
        const std::optional<std::string> op = weights_.draw(rng, untried);
        if (!op) break;
        tried.insert(*op);
        c = open_conversation(*op, pop, *shape, opt_.facts, repaired_, rng);
      }
    }
    if (!c) return;  // no operator has anything to ask on the shapes drawn
    if (c->op == "llm_repair") repaired_.insert(c->parents[0]);
    proposer_->submit(std::move(*c));
  }
}

std::vector<LlmChild> LlmSearch::take_children(Population& pop) {
  std::vector<LlmChild> children;
  for (LlmExchange& x : proposer_->take_replies()) record_reply(pop, x, children);
  if (spent() && !spent_noted_) {
    spent_noted_ = true;
    notices_.push_back("the LLM token budget (" + std::to_string(*opt_.max_tokens_total) + ") is spent: " +
                       std::to_string(tokens_) + " tokens used");
  }
  return children;
}

void LlmSearch::record_reply(Population& pop, LlmExchange& x, std::vector<LlmChild>& children) {
  const ChatResult& r = x.reply;
  const LlmConversation& c = x.conversation;
  ++calls_;
  tokens_ += r.prompt_tokens + r.completion_tokens;
  LlmCallRecord rec;
  rec.run_id = run_id_;
  rec.op = c.op;
  rec.model = proposer_->model();
  rec.messages = messages_json(c.messages);
  rec.reply = r.content;
  if (r.prompt_tokens || r.completion_tokens) {
    rec.prompt_tokens = r.prompt_tokens;
    rec.completion_tokens = r.completion_tokens;
  }
  rec.latency_s = r.latency_s;

  std::optional<size_t> child;
  if (!r.ok) {
    rec.status = r.status.empty() ? failed_call_status(r) : r.status;
    rec.error = r.error;
    if (r.http_status == 401 || r.http_status == 403 || r.http_status == 404) set_off(r.error);
    if (r.status == "replay_exhausted") set_off(r.error);  // the replay has nothing more to say
    if (++failures_in_a_row_ >= opt_.max_failures_in_a_row)
      set_off("the endpoint failed " + std::to_string(failures_in_a_row_) + " calls in a row (last: " + r.error + ")");
  } else {
    failures_in_a_row_ = 0;
    const std::string origin = c.op + " reply " + std::to_string(calls_) + " of run " + std::to_string(run_id_);
    ReplyCandidate rc = r.truncated() ? truncated_reply(opt_.client.max_tokens)
                                      : candidate_from_reply(r.content, *opt_.facts.task, origin);
    rec.status = rc.status;
    rec.error = rc.reason;
    if (r.truncated() && !truncation_noted_) {
      truncation_noted_ = true;
      notices_.push_back("an LLM reply was cut (status truncated): " + rc.reason);
    }
    if (rc.candidate) {
      const size_t source = pop.add_source(std::make_shared<const Candidate>(std::move(*rc.candidate)));
      const Plan& plan = pop.sources()[source].candidate->plan;
      std::string label = c.op;
      for (size_t p : c.parents) label += (p == c.parents.front() ? " of #" : " and #") + std::to_string(pop.members()[p].id);
      if (c.turn > 1) label += ", turn " + std::to_string(c.turn);
      const size_t m = pop.add_child(source, default_variant(plan.params), c.op, label, c.parents);
      if (pop.known(m, c.shape)) {
        rec.status = "duplicate";
        rec.error = "the reply repeats candidate " + pop.members()[m].key + ", known on " + c.shape;
        if (pop.members()[m].id) rec.candidate_id = pop.members()[m].id;
      } else {
        child = m;
      }
    }
  }
  const int64_t call_id = archive_.add_llm_call(rec);
  if (child) {
    pending_[*child] = {call_id, c, r.content};
    children.push_back({*child, c.shape, c.op, c.parents, call_id});
  }
}

void LlmSearch::on_result(const Population& pop, size_t member, const std::string& shape, bool paid_off,
                          bool applicable) {
  auto it = pending_.find(member);
  if (it == pending_.end() || it->second.conversation.shape != shape) return;
  Pending p = std::move(it->second);
  pending_.erase(it);
  if (!applicable) return;
  weights_.record(p.conversation.op, paid_off);
  const EvaluationRecord& r = pop.members()[member].results.at(shape);
  if (p.conversation.op == "llm_refine" && is_code_failure(r.status) && p.conversation.turn < opt_.turns &&
      off_reason_.empty() && !spent()) {
    continue_conversation(p.conversation, p.reply, failure_text(r, shape), opt_.facts);
    repaired_.insert(member);  // refine answers this failure: repair need not
    p.conversation.parents = {member};  // the next turn's child descends from this one
    proposer_->submit(std::move(p.conversation));
  }
}

}  // namespace ks
