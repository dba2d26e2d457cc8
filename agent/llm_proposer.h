#pragma once
// The LLM calls of a search, in flight beside the GPU work: up to `concurrency` conversations are
// sent at once, each on a thread of its own, and their replies wait to be taken. It knows nothing
// of the population: the driver decides what to ask and what a reply becomes.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "agent/llm_client.h"
#include "agent/llm_operators.h"

namespace ks {

struct LlmExchange {
  LlmConversation conversation;
  ChatResult reply;
};

class LlmProposer {
 public:
  // on_reply is called (on a calling thread, no lock of this object held) after each reply.
  LlmProposer(LlmConfig config, int concurrency, std::function<void()> on_reply);
  // Cancels the calls in flight (each ends within about a second) and joins the threads.
  ~LlmProposer();
  LlmProposer(const LlmProposer&) = delete;
  LlmProposer& operator=(const LlmProposer&) = delete;

  void submit(LlmConversation c);
  std::vector<LlmExchange> take_replies();
  int in_flight() const;  // submitted and not yet taken
  int concurrency() const { return concurrency_; }
  const LlmConfig& config() const { return client_.config(); }

 private:
  void loop();

  LlmClient client_;
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
