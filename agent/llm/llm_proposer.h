#pragma once
// The LLM calls of a search, in flight beside the GPU work: up to `concurrency` conversations are
// sent at once, each on a thread of its own, and their replies wait to be taken. It knows nothing
// of the population: the driver decides what to ask and what a reply becomes.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "agent/llm/chat_source.h"
#include "agent/llm/llm_operators.h"

namespace ks {

struct LlmExchange {
  LlmConversation conversation;
  ChatResult reply;
};

class LlmProposer {
 public:
  // on_reply is called (on a calling thread, no lock of this object held) after each reply.
  // `source` answers the calls: an endpoint (HttpChat) or a replay.
  LlmProposer(std::shared_ptr<ChatSource> source, int concurrency, std::function<void()> on_reply);
  // Cancels the calls in flight (each ends within about a second) and joins the threads.
  ~LlmProposer();
  LlmProposer(const LlmProposer&) = delete;
  LlmProposer& operator=(const LlmProposer&) = delete;

  void submit(LlmConversation c);  // a source that answers at once answers here
  std::vector<LlmExchange> take_replies();
  int in_flight() const;  // submitted and not yet taken
  bool replies_ready() const;  // answered and not yet taken
  int concurrency() const { return concurrency_; }
  std::string model() const { return source_->model(); }
  double call_timeout_s() const { return source_->call_timeout_s(); }

 private:
  void loop();

  std::shared_ptr<ChatSource> source_;
  const int concurrency_;
  std::function<void()> on_reply_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<LlmConversation> queue_;
  std::vector<LlmExchange> done_;
  int in_flight_ = 0;
  std::atomic<bool> cancel_{false};
  std::vector<std::thread> threads_;
};

}  // namespace ks
