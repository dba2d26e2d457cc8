#pragma once
// What answers an LLM call: an endpoint over HTTP (LlmClient), or a replay of another archive's
// recorded replies (ReplayChat). LlmProposer asks through this interface alone, so a run can be
// reproduced without an endpoint and the HTTP path stays exactly as it was.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "agent/llm/llm_client.h"

namespace ks {

class ChatSource {
 public:
  virtual ~ChatSource() = default;
  // One call. `op` is the operator that asks (a replay answers by it; an endpoint has no use for
  // it). Called from several threads at once.
  virtual ChatResult chat(const std::string& op, const std::vector<ChatMessage>& messages,
                          const std::atomic<bool>* cancel) = 0;
  // What llm_calls.model records for its calls.
  virtual std::string model() const = 0;
  // Whether a call is answered at once, with no wait worth a thread (a replay): it is then made
  // as it is submitted, so when a reply is taken does not hang on thread timing and a replayed
  // run repeats itself exactly.
  virtual bool answers_at_once() const { return false; }
  // How long one call may still take once made (a run ending on a budget waits that long for
  // the calls in flight: their replies are paid for).
  virtual double call_timeout_s() const { return 0; }
};

// An OpenAI-compatible endpoint: LlmClient as it is.
class HttpChat : public ChatSource {
 public:
  explicit HttpChat(LlmConfig config) : client_(std::move(config)) {}
  ChatResult chat(const std::string&, const std::vector<ChatMessage>& messages,
                  const std::atomic<bool>* cancel) override {
    return client_.chat(messages, cancel);
  }
  std::string model() const override { return client_.config().model; }
  double call_timeout_s() const override { return client_.config().total_timeout_s; }

 private:
  LlmClient client_;
};

}  // namespace ks
