#pragma once
// A real HTTP/1.1 server on 127.0.0.1 (an ephemeral port) that plays scripted replies, one per
// connection, in order, and keeps every request it received: the LLM client's tests talk to it
// through libcurl exactly as to a real endpoint.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace test {

struct ScriptedReply {
  int status = 200;
  std::string body;
  std::vector<std::string> headers;  // e.g. "Retry-After: 1"
  int hang_ms = 0;                   // wait this long before answering (a hang past a timeout)
};

// An OpenAI-style chat completion whose message is `content`; finish_reason "length" is a reply
// the endpoint cut at max_tokens.
inline std::string chat_completion(const std::string& content, int prompt_tokens = 11, int completion_tokens = 7,
                                   const std::string& finish_reason = "stop") {
  return nlohmann::json{{"choices", {{{"message", {{"role", "assistant"}, {"content", content}}},
                                      {"finish_reason", finish_reason}}}},
                        {"usage", {{"prompt_tokens", prompt_tokens}, {"completion_tokens", completion_tokens}}}}
      .dump();
}

class LoopbackHttpServer {
 public:
  explicit LoopbackHttpServer(std::vector<ScriptedReply> script) : script_(std::move(script)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd_, 16) != 0)
      throw std::runtime_error("bind/listen on 127.0.0.1 failed");
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~LoopbackHttpServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  // Every request received so far, whole (request line, headers, body).
  std::vector<std::string> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void serve() {
    for (size_t i = 0; !stop_; ++i) {
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      const std::string req = read_request(c);
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(req);
      }
      const ScriptedReply r = i < script_.size() ? script_[i] : ScriptedReply{500, "script exhausted", {}, 0};
      for (int waited = 0; waited < r.hang_ms && !stop_; waited += 10)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      std::string out = "HTTP/1.1 " + std::to_string(r.status) + " Scripted\r\nContent-Type: application/json\r\n";
      for (auto& h : r.headers) out += h + "\r\n";
      out += "Content-Length: " + std::to_string(r.body.size()) + "\r\nConnection: close\r\n\r\n" + r.body;
      (void)!send(c, out.data(), out.size(), MSG_NOSIGNAL);
      close(c);
    }
  }
  static std::string read_request(int c) {
    std::string req;
    char buf[4096];
    size_t need = std::string::npos;  // total bytes once the headers are in
    while (need == std::string::npos || req.size() < need) {
      const ssize_t n = recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      req.append(buf, static_cast<size_t>(n));
      const size_t end = req.find("\r\n\r\n");
      if (need == std::string::npos && end != std::string::npos) {
        size_t length = 0;
        const size_t at = req.find("Content-Length: ");
        if (at != std::string::npos && at < end) length = std::stoul(req.substr(at + 16));
        need = end + 4 + length;
      }
    }
    return req;
  }

  std::vector<ScriptedReply> script_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

}  // namespace test
