#include "agent/llm/llm_proposer.h"

namespace ks {

LlmProposer::LlmProposer(std::shared_ptr<ChatSource> source, int concurrency, std::function<void()> on_reply)
    : source_(std::move(source)), concurrency_(std::max(concurrency, 1)), on_reply_(std::move(on_reply)) {
  for (int i = 0; i < concurrency_; ++i) threads_.emplace_back([this] { loop(); });
}

LlmProposer::~LlmProposer() {
  {
    std::lock_guard lock(mu_);
    cancel_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void LlmProposer::submit(LlmConversation c) {
  if (source_->answers_at_once()) {
    // Answered here, on the caller's thread: the caller takes it with its next take_replies, so
    // on_reply (which may want the caller's own lock) is not called.
    ChatResult r = source_->chat(c.op, c.messages, &cancel_);
    std::lock_guard lock(mu_);
    ++in_flight_;
    done_.push_back({std::move(c), std::move(r)});
    return;
  }
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(c));
    ++in_flight_;
  }
  cv_.notify_one();
}

std::vector<LlmExchange> LlmProposer::take_replies() {
  std::lock_guard lock(mu_);
  std::vector<LlmExchange> out;
  out.swap(done_);
  in_flight_ -= static_cast<int>(out.size());
  return out;
}

bool LlmProposer::replies_ready() const {
  std::lock_guard lock(mu_);
  return !done_.empty();
}

int LlmProposer::in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_;
}

void LlmProposer::loop() {
  for (;;) {
    LlmConversation c;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return cancel_ || !queue_.empty(); });
      if (cancel_) return;
      c = std::move(queue_.front());
      queue_.pop_front();
    }
    ChatResult r;
    try {
      r = source_->chat(c.op, c.messages, &cancel_);
    } catch (const std::exception& e) {  // libcurl refused an option: the call fails, the search goes on
      r.error = e.what();
    }
    if (r.cancelled) return;
    {
      std::lock_guard lock(mu_);
      done_.push_back({std::move(c), std::move(r)});
    }
    if (on_reply_) on_reply_();
  }
}

}  // namespace ks
