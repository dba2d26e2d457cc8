#include "agent/llm/llm_replay.h"

#include <chrono>
#include <filesystem>

#include "base/error.h"
#include "db/archive.h"

namespace ks {
namespace {

// Statuses of a call that got no reply text (llm_search.cpp's failed_call_status, and the
// replay's own); every other status was decided from a reply.
bool no_reply_status(const std::string& s) {
  return s == "unreachable" || s == "bad_response" || s == "too_large" || s.starts_with("http_") ||
         s == "replay_exhausted";
}

}  // namespace

int replayed_http_status(const std::string& status) {
  if (status == "bad_response") return 200;
  if (!status.starts_with("http_")) return 0;
  try {
    return std::stoi(status.substr(5));
  } catch (const std::exception&) {
    return 0;
  }
}

ReplayChat::ReplayChat(const std::string& path, const std::string& task) : path_(path), task_(task) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error("--llm-replay: no archive at " + path);
  std::vector<LlmCallRecord> calls;
  try {
    Archive archive(path, Archive::Mode::read);
    calls = archive.llm_calls_of_task(task);
  } catch (const std::exception& e) {
    throw Error(std::string("--llm-replay: ") + e.what());
  }
  for (const LlmCallRecord& c : calls) {
    Recorded r{c.status, c.error, c.reply, static_cast<int>(c.prompt_tokens.value_or(0)),
               static_cast<int>(c.completion_tokens.value_or(0))};
    by_op_[c.op].push_back(std::move(r));
  }
  recorded_ = calls.size();
}

void ReplayChat::skip_used(const std::vector<LlmCallRecord>& used) {
  std::lock_guard lock(mu_);
  for (const LlmCallRecord& c : used)
    if (c.status != "replay_exhausted") ++next_[c.op];  // an exhausted call used no reply
}

ChatResult ReplayChat::chat(const std::string& op, const std::vector<ChatMessage>&, const std::atomic<bool>*) {
  const auto start = std::chrono::steady_clock::now();
  ChatResult r;
  r.attempts = 1;
  std::lock_guard lock(mu_);
  const std::vector<Recorded>& v = by_op_[op];
  size_t& i = next_[op];
  if (i >= v.size()) {
    r.status = "replay_exhausted";
    r.error = path_ + " has no " + op + " reply of " + task_ + " left to replay (" + std::to_string(v.size()) +
              " recorded)";
    return r;
  }
  const Recorded& rec = v[i++];
  r.prompt_tokens = rec.prompt_tokens;
  r.completion_tokens = rec.completion_tokens;
  if (no_reply_status(rec.status)) {
    r.status = rec.status;
    r.http_status = replayed_http_status(rec.status);
    r.error = rec.error;
  } else {  // a reply came: the search parses it again, as it parsed the original
    r.ok = true;
    r.http_status = 200;
    r.content = rec.reply;
    // A reply cut at the token limit was cut then too: it stays truncated, never a candidate.
    r.finish_reason = rec.status == "truncated" ? "length" : "stop";
  }
  r.latency_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace ks
