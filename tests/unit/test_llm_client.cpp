// The OpenAI-compatible client against a real HTTP server on loopback that plays scripted
// replies: a good reply, malformed JSON, 429 with Retry-After, 5xx three times, a hang past the
// timeout, 401, no server at all. Every outcome is a ChatResult (never a throw), retried exactly
// when it may pass, and no error ever holds the key.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "agent/llm/llm_client.h"
#include "base/error.h"
#include "unit/loopback_http.h"

namespace ks {
namespace {

using test::LoopbackHttpServer;
using test::ScriptedReply;

const char* kKey = "sk-test-SECRET-1234567890";

std::string good_reply(const std::string& content) { return test::chat_completion(content); }

LlmConfig config_for(const LoopbackHttpServer& s) {
  LlmConfig c;
  c.base_url = s.url();
  c.model = "test-model";
  c.api_key = kKey;
  c.temperature = 0.25;
  c.max_tokens = 123;
  c.connect_timeout_s = 2;
  c.total_timeout_s = 2;
  c.max_attempts = 5;
  c.backoff_base_s = 0.01;  // tests stay fast; the policy itself is tested below
  c.backoff_max_s = 5;
  return c;
}

const std::vector<ChatMessage> kHello = {{"system", "You write CUDA."}, {"user", "Hello"}};

TEST(LlmClient, GoodReplyCarriesContentTokensAndTheRequestIsOpenAiShaped) {
  LoopbackHttpServer server({{200, good_reply("```c++\nint x;\n```"), {}, 0}});
  ChatResult r = LlmClient(config_for(server)).chat(kHello);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.content, "```c++\nint x;\n```");
  EXPECT_EQ(r.prompt_tokens, 11);
  EXPECT_EQ(r.completion_tokens, 7);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_FALSE(r.truncated());
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].rfind("POST /v1/chat/completions HTTP/1.1", 0), 0u) << reqs[0];
  EXPECT_NE(reqs[0].find(std::string("Authorization: Bearer ") + kKey), std::string::npos);
  const auto body = nlohmann::json::parse(reqs[0].substr(reqs[0].find("\r\n\r\n") + 4));
  EXPECT_EQ(body["model"], "test-model");
  EXPECT_EQ(body["temperature"], 0.25);
  EXPECT_EQ(body["max_tokens"], 123);
  ASSERT_EQ(body["messages"].size(), 2u);
  EXPECT_EQ(body["messages"][0]["role"], "system");
  EXPECT_EQ(body["messages"][1]["content"], "Hello");
}

TEST(LlmClient, AReplyCutAtMaxTokensIsOkAndSaysSo) {
  // The reply came (its tokens were paid for): it is not retried; the caller decides what it is.
  LoopbackHttpServer server({{200, test::chat_completion("```c++\nint x;\n```\nand then", 11, 123, "length"), {}, 0}});
  ChatResult r = LlmClient(config_for(server)).chat(kHello);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.finish_reason, "length");
  EXPECT_TRUE(r.truncated());
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(r.completion_tokens, 123);
}

TEST(LlmClient, TheDefaultCompletionLimitLeavesRoomForALongKernel) {
  EXPECT_EQ(LlmConfig{}.max_tokens, 16384);
}

TEST(LlmClient, MalformedJsonIsAFailureWithoutRetry) {
  LoopbackHttpServer server({{200, "{\"choices\": [ not json", {}, 0}});
  ChatResult r = LlmClient(config_for(server)).chat(kHello);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_NE(r.error.find("malformed JSON"), std::string::npos) << r.error;
}

TEST(LlmClient, TooManyRequestsWaitsForRetryAfterThenSucceeds) {
  LoopbackHttpServer server({{429, R"({"error":{"message":"slow down"}})", {"Retry-After: 1"}, 0},
                             {200, good_reply("ok"), {}, 0}});
  ChatResult r = LlmClient(config_for(server)).chat(kHello);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.attempts, 2);
  EXPECT_GE(r.latency_s, 1.0);  // the server's Retry-After, not the 10 ms backoff
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(LlmClient, ServerErrorsAreRetriedWithBackoff) {
  LoopbackHttpServer server({{500, "boom", {}, 0}, {502, "bad gateway", {}, 0}, {503, "busy", {}, 0},
                             {200, good_reply("fourth time"), {}, 0}});
  ChatResult r = LlmClient(config_for(server)).chat(kHello);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.content, "fourth time");
  EXPECT_EQ(r.attempts, 4);
}

TEST(LlmClient, AHangPastTheTimeoutIsRetriedThenReported) {
  LoopbackHttpServer server({{200, good_reply("late"), {}, 3000}, {200, good_reply("late"), {}, 3000}});
  LlmConfig c = config_for(server);
  c.total_timeout_s = 0.5;
  c.max_attempts = 2;
  ChatResult r = LlmClient(c).chat(kHello);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(r.http_status, 0);
  EXPECT_NE(r.error.find("Timeout"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("after 2 attempts"), std::string::npos) << r.error;
  EXPECT_LT(r.latency_s, 2.5);
}

TEST(LlmClient, CancelEndsATransferAndABackoffWaitSoon) {
  // A stopping search must not wait on a hung server or a long Retry-After.
  LoopbackHttpServer server({{200, good_reply("late"), {}, 3000}});
  LlmConfig c = config_for(server);
  c.total_timeout_s = 30;
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel = true;
  });
  ChatResult r = LlmClient(c).chat(kHello, &cancel);
  canceller.join();
  EXPECT_TRUE(r.cancelled);
  EXPECT_FALSE(r.ok);
  EXPECT_LT(r.latency_s, 2.0) << "libcurl asks its progress callback about once a second while idle";

  LoopbackHttpServer busy({{429, "{}", {"Retry-After: 30"}, 0}});
  cancel = false;
  std::thread canceller2([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel = true;
  });
  r = LlmClient(config_for(busy)).chat(kHello, &cancel);
  canceller2.join();
  EXPECT_TRUE(r.cancelled);
  EXPECT_LT(r.latency_s, 2.0) << "the 30 s Retry-After wait was cut short";
}

TEST(LlmClient, BadKeyIsClearNotRetriedAndNeverEchoed) {
  // The server echoes the key back in its error message; the client's error must not carry it.
  LoopbackHttpServer server({{401, std::string(R"({"error":{"message":"invalid key )") + kKey + "\"}}", {}, 0}});
  ChatResult r = LlmClient(config_for(server)).chat(kHello);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(r.http_status, 401);
  EXPECT_NE(r.error.find("refused the API key"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find(kKey), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("[key]"), std::string::npos) << r.error;
}

TEST(LlmClient, UnknownModelNamesTheModel) {
  LoopbackHttpServer server({{404, R"({"error":{"message":"model not found"}})", {}, 0}});
  ChatResult r = LlmClient(config_for(server)).chat(kHello);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_NE(r.error.find("no such model 'test-model'"), std::string::npos) << r.error;
}

TEST(LlmClient, NoServerIsAConnectionErrorAfterRetries) {
  int port = 0;
  {
    LoopbackHttpServer gone({});
    port = std::stoi(gone.url().substr(gone.url().rfind(':') + 1));
  }  // closed: nothing listens there now
  LlmConfig c;
  c.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  c.model = "m";
  c.api_key = kKey;
  c.max_attempts = 3;
  c.backoff_base_s = 0.01;
  ChatResult r = LlmClient(c).chat(kHello);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.attempts, 3);
  EXPECT_NE(r.error.find("cannot reach"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find(kKey), std::string::npos);
}

TEST(LlmClient, BadConfigIsAClearError) {
  auto error_of = [](LlmConfig c) {
    try {
      LlmClient client(std::move(c));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error_of({}).find("--llm-url"), std::string::npos);
  LlmConfig no_model;
  no_model.base_url = "http://localhost:1/v1";
  EXPECT_NE(error_of(no_model).find("--llm-model"), std::string::npos);
  LlmConfig bad_url = no_model;
  bad_url.model = "m";
  bad_url.base_url = "localhost:8000";
  EXPECT_NE(error_of(bad_url).find("not an http"), std::string::npos);
}

TEST(LlmRetryPolicy, RetriesOnlyWhatMayPass) {
  for (int s : {0, 408, 429, 500, 502, 503, 504}) EXPECT_TRUE(llm_retryable(s)) << s;
  for (int s : {200, 400, 401, 403, 404, 422}) EXPECT_FALSE(llm_retryable(s)) << s;
}

TEST(LlmRetryPolicy, BackoffDoublesWithJitterIsCappedAndHonoursRetryAfter) {
  EXPECT_DOUBLE_EQ(llm_backoff_seconds(1, 1, 60, std::nullopt, 0.0), 0.5);
  EXPECT_DOUBLE_EQ(llm_backoff_seconds(1, 1, 60, std::nullopt, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(llm_backoff_seconds(3, 1, 60, std::nullopt, 1.0), 4.0);
  EXPECT_DOUBLE_EQ(llm_backoff_seconds(20, 1, 60, std::nullopt, 1.0), 60.0);
  EXPECT_DOUBLE_EQ(llm_backoff_seconds(1, 1, 60, 7.0, 0.3), 7.0);
  EXPECT_DOUBLE_EQ(llm_backoff_seconds(1, 1, 60, 600.0, 0.3), 60.0);
  EXPECT_EQ(parse_retry_after("12"), 12.0);
  EXPECT_FALSE(parse_retry_after("soon"));
  EXPECT_FALSE(parse_retry_after(""));
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), 0.0);  // in the past: now
  EXPECT_EQ(redact("a sk-1 b sk-1", "sk-1"), "a [key] b [key]");
  EXPECT_EQ(redact("nothing", ""), "nothing");
}

}  // namespace
}  // namespace ks
