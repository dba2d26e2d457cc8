#include "agent/llm/llm_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "base/error.h"
#include "base/utf8.h"
#include "evaluator/json_text.h"

namespace ks {
namespace {

using Clock = std::chrono::steady_clock;

// RAII owners of libcurl handles.
struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct ListDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Easy = std::unique_ptr<CURL, EasyDeleter>;
using HeaderList = std::unique_ptr<curl_slist, ListDeleter>;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (CURLcode c = curl_global_init(CURL_GLOBAL_DEFAULT); c != CURLE_OK)
      throw Error(std::string("curl_global_init: ") + curl_easy_strerror(c));
  });
}

// Every curl_easy_setopt is checked, the option named in the error.
template <class T>
void setopt(CURL* h, CURLoption opt, T value, const char* name) {
  if (CURLcode c = curl_easy_setopt(h, opt, value); c != CURLE_OK)
    throw Error(std::string("curl_easy_setopt(") + name + "): " + curl_easy_strerror(c));
}

HeaderList append(HeaderList list, const std::string& line) {
  curl_slist* l = curl_slist_append(list.get(), line.c_str());
  if (!l) throw Error("curl_slist_append: out of memory");
  (void)list.release();  // now owned by l
  return HeaderList(l);
}

struct Attempt {
  int status = 0;  // 0: no HTTP response
  std::string body;  // valid UTF-8 (made so on arrival)
  std::optional<double> retry_after;
  std::string transport_error;  // when status == 0
  bool final = false;           // a transport error no retry can mend
  bool too_large = false;       // the body passed the limit: refused, and not read further
};

// The body as it arrives, up to a limit: past it, the transfer is stopped (returning less than
// was given makes libcurl fail with CURLE_WRITE_ERROR), so that a 100 MB reply costs 1 MiB.
struct Body {
  std::string& text;
  size_t limit;
  bool& too_large;
};

size_t on_body(char* data, size_t size, size_t n, void* out) {
  Body& body = *static_cast<Body*>(out);
  if (body.text.size() + size * n > body.limit) {
    body.too_large = true;
    return 0;
  }
  body.text.append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* out) {
  const std::string line(data, size * n);
  const std::string name = "retry-after:";
  if (line.size() > name.size()) {
    std::string head = line.substr(0, name.size());
    std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return std::tolower(c); });
    if (head == name) {
      std::string value = line.substr(name.size());
      value.erase(0, value.find_first_not_of(" \t"));
      value.erase(value.find_last_not_of(" \t\r\n") + 1);
      static_cast<Attempt*>(out)->retry_after = parse_retry_after(value);
    }
  }
  return size * n;
}

// libcurl's progress callback: a nonzero return aborts the transfer.
int on_progress(void* cancel, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return cancel && static_cast<const std::atomic<bool>*>(cancel)->load() ? 1 : 0;
}

Attempt attempt_once(const LlmConfig& c, const std::string& url, const std::string& payload,
                     const std::atomic<bool>* cancel) {
  Easy h(curl_easy_init());
  if (!h) throw Error("curl_easy_init failed");
  Attempt a;
  HeaderList headers;
  headers = append(std::move(headers), "Content-Type: application/json");
  if (!c.api_key.empty()) headers = append(std::move(headers), "Authorization: Bearer " + c.api_key);
  setopt(h.get(), CURLOPT_URL, url.c_str(), "CURLOPT_URL");
  setopt(h.get(), CURLOPT_HTTPHEADER, headers.get(), "CURLOPT_HTTPHEADER");
  setopt(h.get(), CURLOPT_POSTFIELDS, payload.c_str(), "CURLOPT_POSTFIELDS");
  setopt(h.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()), "CURLOPT_POSTFIELDSIZE_LARGE");
  setopt(h.get(), CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(c.connect_timeout_s * 1000), "CURLOPT_CONNECTTIMEOUT_MS");
  setopt(h.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(c.total_timeout_s * 1000), "CURLOPT_TIMEOUT_MS");
  setopt(h.get(), CURLOPT_NOSIGNAL, 1L, "CURLOPT_NOSIGNAL");  // threads: no SIGALRM for timeouts
  Body body{a.body, static_cast<size_t>(std::max<int64_t>(c.max_reply_bytes, 0)), a.too_large};
  setopt(h.get(), CURLOPT_WRITEFUNCTION, on_body, "CURLOPT_WRITEFUNCTION");
  setopt(h.get(), CURLOPT_WRITEDATA, &body, "CURLOPT_WRITEDATA");
  setopt(h.get(), CURLOPT_HEADERFUNCTION, on_header, "CURLOPT_HEADERFUNCTION");
  setopt(h.get(), CURLOPT_HEADERDATA, &a, "CURLOPT_HEADERDATA");
  setopt(h.get(), CURLOPT_NOPROGRESS, 0L, "CURLOPT_NOPROGRESS");
  setopt(h.get(), CURLOPT_XFERINFOFUNCTION, on_progress, "CURLOPT_XFERINFOFUNCTION");
  setopt(h.get(), CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(cancel), "CURLOPT_XFERINFODATA");
  const CURLcode rc = curl_easy_perform(h.get());
  a.body = valid_utf8(a.body);  // the server's bytes enter ksearch here: error messages, replies, the archive
  long status = 0;
  if (CURLcode g = curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &status); g != CURLE_OK)
    throw Error(std::string("curl_easy_getinfo(CURLINFO_RESPONSE_CODE): ") + curl_easy_strerror(g));
  if (a.too_large) {
    a.status = static_cast<int>(status);
    return a;
  }
  if (rc != CURLE_OK) {
    a.transport_error = curl_easy_strerror(rc);
    a.final = llm_transport_final(rc);
    a.status = 0;
    return a;
  }
  a.status = static_cast<int>(status);
  return a;
}

// The server's own message from an OpenAI-style error body, else the start of the body.
std::string server_message(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("error")) {
    const auto& e = j["error"];
    if (e.is_object() && e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
    if (e.is_string()) return e.get<std::string>();
  }
  std::string s(utf8_prefix(body, 200));  // never half a character
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

// Why an HTTP failure happened, in the user's terms.
std::string http_error(const LlmConfig& c, int status, const std::string& body) {
  const std::string msg = server_message(body);
  const std::string tail = msg.empty() ? "" : ": " + msg;
  if (status == 401 || status == 403)
    return "the LLM endpoint refused the API key (HTTP " + std::to_string(status) + "; check KSEARCH_LLM_API_KEY)" + tail;
  if (status == 404)
    return "HTTP 404 from " + c.base_url + "/chat/completions: no such model '" + c.model + "', or a wrong --llm-url" + tail;
  return "HTTP " + std::to_string(status) + tail;
}

}  // namespace

bool llm_retryable(int http_status) {
  return http_status == 0 || http_status == 408 || http_status == 429 || http_status >= 500;
}

bool llm_transport_final(int curl_code) {
  switch (static_cast<CURLcode>(curl_code)) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_PEER_FAILED_VERIFICATION:  // the server's certificate does not verify
    case CURLE_SSL_CERTPROBLEM:           // the client certificate
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
      return true;
    default:
      return false;
  }
}

double llm_backoff_seconds(int attempt, double base, double max, std::optional<double> retry_after,
                           double jitter01) {
  if (retry_after) return std::min(std::max(*retry_after, 0.0), max);
  const double exp = base * std::pow(2.0, std::max(attempt - 1, 0));
  return std::min(exp * (0.5 + 0.5 * std::clamp(jitter01, 0.0, 1.0)), max);
}

std::optional<double> parse_retry_after(const std::string& value) {
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](unsigned char ch) { return std::isdigit(ch); }))
    return std::stod(value);
  const time_t when = curl_getdate(value.c_str(), nullptr);  // an HTTP date
  if (when < 0) return std::nullopt;
  return std::max(0.0, std::difftime(when, std::time(nullptr)));
}

std::string redact(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 5))
    text.replace(at, secret.size(), "[key]");
  return text;
}

LlmClient::LlmClient(LlmConfig config) : config_(std::move(config)) {
  if (config_.base_url.empty()) throw Error("no LLM endpoint: give --llm-url or KSEARCH_LLM_URL");
  if (config_.base_url.rfind("http://", 0) != 0 && config_.base_url.rfind("https://", 0) != 0)
    throw Error("--llm-url '" + config_.base_url + "' is not an http:// or https:// URL");
  if (config_.model.empty()) throw Error("no LLM model: give --llm-model or KSEARCH_LLM_MODEL");
  while (!config_.base_url.empty() && config_.base_url.back() == '/') config_.base_url.pop_back();
  if (config_.max_attempts < 1) throw Error("LLM attempts must be at least 1");
  global_init();
}

ChatResult LlmClient::chat(const std::vector<ChatMessage>& messages, const std::atomic<bool>* cancel) const {
  nlohmann::json req = {{"model", config_.model},
                        {"temperature", config_.temperature},
                        {"max_tokens", config_.max_tokens},
                        {"messages", nlohmann::json::array()}};
  for (auto& m : messages) req["messages"].push_back({{"role", m.role}, {"content", m.content}});
  const std::string payload = json_text(req);
  const std::string url = config_.base_url + "/chat/completions";

  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> jitter(0.0, 1.0);
  ChatResult r;
  const auto t0 = Clock::now();
  auto cancelled = [cancel] { return cancel && cancel->load(); };
  for (int attempt = 1; attempt <= config_.max_attempts; ++attempt) {
    const Attempt a = attempt_once(config_, url, payload, cancel);
    if (cancelled()) {
      r.cancelled = true;
      r.attempts = attempt;
      r.error = "cancelled: the search is stopping";
      break;
    }
    r.attempts = attempt;
    r.http_status = a.status;
    if (a.too_large) {  // a server that sends this much once would again: not retried
      r.status = "too_large";
      r.error = "the reply was larger than the " + std::to_string(config_.max_reply_bytes) +
                "-byte limit (--llm-max-reply-bytes) and was not read further";
      break;
    }
    if (a.status == 200) {
      auto j = nlohmann::json::parse(a.body, nullptr, false);
      const bool shaped = !j.is_discarded() && j.is_object() && j.contains("choices") && j["choices"].is_array() &&
                          !j["choices"].empty() && j["choices"][0].contains("message") &&
                          j["choices"][0]["message"].contains("content") && j["choices"][0]["message"]["content"].is_string();
      if (!shaped) {
        r.error = "malformed JSON reply (no choices[0].message.content): " + server_message(a.body);
        break;  // a server that answers garbage will answer it again
      }
      r.ok = true;
      r.content = j["choices"][0]["message"]["content"].get<std::string>();
      if (const auto& f = j["choices"][0]; f.contains("finish_reason") && f["finish_reason"].is_string())
        r.finish_reason = f["finish_reason"].get<std::string>();
      if (j.contains("usage") && j["usage"].is_object()) {
        r.prompt_tokens = j["usage"].value("prompt_tokens", 0);
        r.completion_tokens = j["usage"].value("completion_tokens", 0);
      }
      break;
    }
    r.error = a.status == 0 ? "cannot reach " + url + ": " + a.transport_error : http_error(config_, a.status, a.body);
    if (!llm_retryable(a.status) || a.final || attempt == config_.max_attempts) break;
    const double wait = llm_backoff_seconds(attempt, config_.backoff_base_s, config_.backoff_max_s, a.retry_after, jitter(rng));
    // Waited in slices, so that a stopping search does not wait on a long Retry-After.
    const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(wait));
    while (Clock::now() < until && !cancelled())
      std::this_thread::sleep_for(std::min<Clock::duration>(std::chrono::milliseconds(50), until - Clock::now()));
  }
  r.latency_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!r.ok && r.attempts > 1) r.error += " (after " + std::to_string(r.attempts) + " attempts)";
  r.error = redact(r.error, config_.api_key);
  return r;
}

}  // namespace ks
