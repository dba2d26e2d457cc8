#pragma once
// --llm-replay ARCHIVE: a run's LLM calls answered from another archive's recorded replies, not an
// endpoint. Calls are matched by task and operator, in recorded order: the i-th llm_rewrite call
// gets the i-th recorded llm_rewrite reply of the task. The recorded tokens and status are the
// call's; when an operator's replies run out, the call fails as replay_exhausted.
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "agent/llm/chat_source.h"

namespace ks {

struct LlmCallRecord;

class ReplayChat : public ChatSource {
 public:
  // Reads every recorded call of the task from the archive at `path` now, so a missing file or
  // one that is not an archive is an error before the run starts (ks::Error, one line).
  ReplayChat(const std::string& path, const std::string& task);
  ChatResult chat(const std::string& op, const std::vector<ChatMessage>& messages,
                  const std::atomic<bool>* cancel) override;
  std::string model() const override { return "replay:" + path_; }
  bool answers_at_once() const override { return true; }
  // A resumed run goes on from the replies it used already: `used` are its recorded calls.
  void skip_used(const std::vector<LlmCallRecord>& used);
  const std::string& path() const { return path_; }
  size_t recorded() const { return recorded_; }  // calls of the task in the archive

 private:
  struct Recorded {
    std::string status, error, reply;
    int prompt_tokens = 0, completion_tokens = 0;
  };
  std::string path_, task_;
  std::mutex mu_;
  std::map<std::string, std::vector<Recorded>> by_op_;  // in recorded order
  std::map<std::string, size_t> next_;                   // by operator: replies given so far
  size_t recorded_ = 0;
};

// A recorded failed call's status as the HTTP status it came from (http_401: 401), so the search
// treats it as it treated the original (a refused key sets the LLM aside); 0 for the others.
int replayed_http_status(const std::string& status);

}  // namespace ks
