#pragma once
// A client for any OpenAI-compatible chat-completions endpoint (hosted APIs, vLLM, SGLang,
// llama.cpp's server, Ollama, LiteLLM), over libcurl. It retries what may pass on a second try
// (connection errors and timeouts, 429, 5xx) with exponential backoff and jitter, honouring
// Retry-After, and nothing else. The API key goes into the Authorization header only: it is
// never part of an error, a log line or anything returned.
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ks {

struct LlmConfig {
  std::string base_url;  // e.g. http://localhost:8000/v1; requests go to base_url + "/chat/completions"
  std::string model;
  std::string api_key;   // may be empty (local servers)
  double temperature = 0.7;
  int max_tokens = 16384;  // a model that reasons first, or writes a long kernel, needs room
  double connect_timeout_s = 10;
  double total_timeout_s = 300;  // one attempt, reply included
  int max_attempts = 5;
  double backoff_base_s = 1;     // first wait; doubles per attempt, jittered, capped
  double backoff_max_s = 60;
  // A reply body larger than this is refused as it arrives (never held whole): status too_large.
  int64_t max_reply_bytes = int64_t{1} << 20;
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

struct ChatResult {
  bool ok = false;
  int http_status = 0;  // of the last attempt; 0: no HTTP response (connection error, timeout)
  std::string content;  // the reply's message text
  std::string finish_reason;  // choices[0].finish_reason when given: "stop", "length" (cut at max_tokens)
  int prompt_tokens = 0, completion_tokens = 0;
  double latency_s = 0;  // every attempt and wait
  int attempts = 0;
  bool cancelled = false;  // given up because `cancel` became true
  std::string error;     // why not ok, one line; never holds the key (UTF-8, as every text here)
  // The call's status when the source decides it rather than HTTP (too_large: a reply over
  // max_reply_bytes; a replay: the recorded status of a failed call, or replay_exhausted); empty:
  // derived from http_status.
  std::string status;

  bool truncated() const { return finish_reason == "length"; }
};

// Whether an attempt that ended so is worth another: transport errors (0), 408, 429, 5xx.
bool llm_retryable(int http_status);

// Whether a transfer that failed with this libcurl code (a CURLcode) fails again however often it
// is tried: a certificate that does not verify, an unusable CA file or client certificate, a
// malformed or unsupported URL. Such a call is not retried.
bool llm_transport_final(int curl_code);

// The wait before attempt `attempt` + 1 (attempt counts from 1): Retry-After when the server gave
// one (capped at max), else base * 2^(attempt-1) scaled by a jitter in [0.5, 1), capped at max.
double llm_backoff_seconds(int attempt, double base, double max, std::optional<double> retry_after,
                           double jitter01);

// Retry-After's value in seconds: a delay in seconds, or an HTTP date (seconds from now).
std::optional<double> parse_retry_after(const std::string& value);

// `text` with every occurrence of `secret` replaced by "[key]" (nothing when secret is empty).
std::string redact(std::string text, const std::string& secret);

class LlmClient {
 public:
  // Throws ks::Error for a config that cannot work (no URL, no model, a URL that is not http(s)).
  explicit LlmClient(LlmConfig config);
  // One chat completion, with retries. Safe to call from several threads at once. When `cancel`
  // becomes true, a backoff wait ends within 50 ms and a transfer within about a second (libcurl
  // polls its progress callback that often on an idle connection); the result is not ok.
  ChatResult chat(const std::vector<ChatMessage>& messages, const std::atomic<bool>* cancel = nullptr) const;
  const LlmConfig& config() const { return config_; }

 private:
  LlmConfig config_;
};

}  // namespace ks
