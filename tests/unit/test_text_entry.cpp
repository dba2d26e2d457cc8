// Issue 18, items 3 and 4 (and the TLS part of 8): text is made valid UTF-8 where it enters
// ksearch, so JSON never throws on it; an LLM reply over the size limit is refused as it arrives
// with its own status; a certificate that does not verify is not retried.
#include <curl/curl.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/llm/llm_client.h"
#include "base/utf8.h"
#include "evaluator/json_text.h"
#include "evaluator/plan.h"
#include "unit/loopback_http.h"

namespace ks {
namespace {

using test::LoopbackHttpServer;

TEST(Utf8, ValidTextIsUnchangedAndEveryBadByteIsReplaced) {
  EXPECT_EQ(valid_utf8("plain ascii"), "plain ascii");
  EXPECT_EQ(valid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(valid_utf8("a\xFF"), "a" + fffd);                  // never a lead byte
  EXPECT_EQ(valid_utf8("caf\xC3"), "caf" + fffd);              // cut mid-character
  EXPECT_EQ(valid_utf8("\x80x"), fffd + "x");                   // a stray continuation
  EXPECT_EQ(valid_utf8("\xC0\xAF"), fffd + fffd);               // overlong '/'
  EXPECT_EQ(valid_utf8("\xED\xA0\x80"), fffd + fffd + fffd);    // a surrogate
  EXPECT_EQ(valid_utf8("\xF4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // past U+10FFFF
  EXPECT_EQ(first_invalid_utf8("ok\xC3\xA9\xFF"), std::optional<size_t>(4));
  EXPECT_EQ(first_invalid_utf8("ok"), std::nullopt);
}

TEST(Utf8, APrefixNeverCutsACharacter) {
  EXPECT_EQ(utf8_prefix("ab\xC3\xA9", 3), "ab");
  EXPECT_EQ(utf8_prefix("ab\xC3\xA9", 4), "ab\xC3\xA9");
  EXPECT_EQ(utf8_prefix("\xF0\x9F\x98\x80", 3), "");
}

TEST(Utf8, TheJsonWriterNeverThrowsOnText) {
  const nlohmann::json j = {{"error", std::string("bad \xFF\xC3 bytes")}};
  EXPECT_THROW((void)j.dump(), nlohmann::json::type_error);  // what ksearch's writer replaces
  std::string text;
  EXPECT_NO_THROW(text = json_text(j, 2));
  EXPECT_EQ(nlohmann::json::parse(text)["error"], "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes");
}

TEST(Utf8, ACandidateFileThatIsNotUtf8IsAPlanError) {
  const std::string text = "/* ksearch {\"task\": \"rmsnorm_linear\", \"name\": \"x\", \"steps\": []} */\n// \xFF\n";
  try {
    parse_candidate(text, "bad.cu");
    FAIL() << "accepted";
  } catch (const PlanError& e) {
    EXPECT_NE(std::string(e.what()).find("not valid UTF-8"), std::string::npos) << e.what();
  }
}

LlmConfig config_for(const LoopbackHttpServer& s) {
  LlmConfig c;
  c.base_url = s.url();
  c.model = "m";
  c.connect_timeout_s = 2;
  c.total_timeout_s = 5;
  c.backoff_base_s = 0.01;
  return c;
}

const std::vector<ChatMessage> kHello = {{"user", "Hello"}};

TEST(LlmText, AnErrorBodyCutMidCharacterIsValidUtf8) {
  // 199 bytes, then a two-byte character across the 200-byte cut; not JSON, so it is quoted raw.
  const std::string body = std::string(199, 'x') + "\xC3\xA9" + "tail \xFF";
  LoopbackHttpServer server({{400, body, {}, 0}});
  const ChatResult r = LlmClient(config_for(server)).chat(kHello);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(first_invalid_utf8(r.error), std::nullopt) << r.error;
  EXPECT_NO_THROW((void)nlohmann::json(r.error).dump());
}

TEST(LlmText, AReplyWithInvalidBytesBecomesValidText) {
  // Raw invalid bytes inside the JSON string of the reply: the body is made valid on arrival.
  const std::string body = test::chat_completion("@@") ;
  std::string raw = body;
  raw.replace(raw.find("@@"), 2, "code \xFF\xFE here");
  LoopbackHttpServer server({{200, raw, {}, 0}, {500, "raw \xC3", {}, 0}});
  const ChatResult ok = LlmClient(config_for(server)).chat(kHello);
  ASSERT_TRUE(ok.ok) << ok.error;
  EXPECT_EQ(ok.content, "code \xEF\xBF\xBD\xEF\xBF\xBD here");
  LlmConfig once = config_for(server);
  once.max_attempts = 1;
  const ChatResult err = LlmClient(once).chat(kHello);
  EXPECT_FALSE(err.ok);
  EXPECT_EQ(first_invalid_utf8(err.error), std::nullopt) << err.error;
}

TEST(LlmText, AReplyOverTheLimitIsRefusedAsTooLargeAndNotRetried) {
  LoopbackHttpServer server({{200, test::chat_completion(std::string(8 << 20, 'x')), {}, 0},
                             {200, test::chat_completion("small"), {}, 0}});
  LlmConfig c = config_for(server);
  EXPECT_EQ(c.max_reply_bytes, 1 << 20);  // the default: 1 MiB
  const ChatResult r = LlmClient(c).chat(kHello);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.status, "too_large");
  EXPECT_EQ(r.attempts, 1);
  EXPECT_TRUE(r.content.empty());
  EXPECT_NE(r.error.find("1048576-byte limit"), std::string::npos) << r.error;
  // Under the limit, the next call is fine.
  const ChatResult next = LlmClient(c).chat(kHello);
  EXPECT_TRUE(next.ok) << next.error;
}

TEST(LlmText, ALimitCanBeRaisedOrLowered) {
  LoopbackHttpServer server({{200, test::chat_completion(std::string(4000, 'x')), {}, 0},
                             {200, test::chat_completion(std::string(4000, 'x')), {}, 0}});
  LlmConfig c = config_for(server);
  c.max_reply_bytes = 1000;
  EXPECT_EQ(LlmClient(c).chat(kHello).status, "too_large");
  c.max_reply_bytes = 100000;
  EXPECT_TRUE(LlmClient(c).chat(kHello).ok);
}

TEST(LlmTls, ACertificateErrorIsFinalAndAConnectionErrorIsNot) {
  EXPECT_TRUE(llm_transport_final(CURLE_PEER_FAILED_VERIFICATION));
  EXPECT_TRUE(llm_transport_final(CURLE_SSL_CACERT_BADFILE));
  EXPECT_TRUE(llm_transport_final(CURLE_SSL_CERTPROBLEM));
  EXPECT_TRUE(llm_transport_final(CURLE_URL_MALFORMAT));
  EXPECT_FALSE(llm_transport_final(CURLE_COULDNT_CONNECT));
  EXPECT_FALSE(llm_transport_final(CURLE_OPERATION_TIMEDOUT));
  EXPECT_FALSE(llm_transport_final(CURLE_RECV_ERROR));
}

// A real TLS server whose certificate is self-signed (openssl s_server): the call fails once, with
// the certificate named, instead of five times over a minute of backoff.
TEST(LlmTls, ABadCertificateIsNotRetried) {
  if (std::system("command -v openssl > /dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl command here";
  char dir_template[] = "/tmp/ksearch_tls_XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  ASSERT_EQ(std::system(("cd " + dir + " && openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out c.pem "
                         "-days 1 -subj /CN=localhost > /dev/null 2>&1").c_str()), 0);
  // A free port: bound by the kernel, released, then taken by the server.
  const int probe = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  close(probe);
  const pid_t server = fork();
  if (server == 0) {
    freopen("/dev/null", "w", stdout);
    freopen("/dev/null", "w", stderr);
    const std::string accept = "127.0.0.1:" + std::to_string(port);
    execlp("openssl", "openssl", "s_server", "-accept", accept.c_str(), "-cert", (dir + "/c.pem").c_str(), "-key",
           (dir + "/k.pem").c_str(), "-www", "-quiet", nullptr);
    _exit(127);
  }
  for (int i = 0; i < 100; ++i) {  // until it listens
    const int c = socket(AF_INET, SOCK_STREAM, 0);
    const bool up = connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(c);
    if (up) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  LlmConfig c;
  c.base_url = "https://127.0.0.1:" + std::to_string(port) + "/v1";
  c.model = "m";
  c.connect_timeout_s = 5;
  c.total_timeout_s = 5;
  c.backoff_base_s = 1;  // five attempts would take 15 s and more
  const auto t0 = std::chrono::steady_clock::now();
  const ChatResult r = LlmClient(c).chat(kHello);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  kill(server, SIGKILL);
  waitpid(server, nullptr, 0);
  std::filesystem::remove_all(dir);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.attempts, 1) << r.error;
  EXPECT_LT(s, 5) << r.error;
  EXPECT_NE(r.error.find("certificate"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace ks
