#include "evaluator/worker.h"

#include <unistd.h>

#include <cerrno>
#include <iostream>
#include <memory>

#include "evaluator/cuda_check.h"
#include "evaluator/engine.h"
#include "evaluator/json_text.h"
#include "evaluator/output_capture.h"
#include "evaluator/row_json.h"

namespace ks {
namespace {

using nlohmann::json;

// How much of a candidate's output a row keeps (the rest is counted), and how much of it a
// failing row's error quotes.
constexpr size_t kKeptOutputBytes = 64 << 10;
constexpr size_t kQuotedOutputBytes = 300;

class ReplyChannel {
 public:
  explicit ReplyChannel(int fd) : fd_(fd) {}
  // Invalid UTF-8 (a candidate's output, an error naming its bytes) is replaced, never thrown on.
  void send(const json& j) const {
    std::string line = json_text(j);
    if (line.size() >= kMaxReplyBytes) line = json{{"id", j.value("id", json())}, {"error", "answer too long"}}.dump();
    line += '\n';
    for (size_t done = 0; done < line.size();) {
      const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) std::_Exit(4);  // the supervisor is gone
      done += static_cast<size_t>(n);
    }
  }

 private:
  int fd_;
};

// The candidate's output goes with its row; a failing row's error quotes its start.
void attach_output(EvalResult& row, CapturedOutput out) {
  if (out.bytes == 0) return;
  const bool failed = row.status != Status::ok && row.status != Status::not_applicable;
  if (failed)
    row.error += " (the candidate printed " + std::to_string(out.bytes) + " bytes: \"" +
                 out.kept.substr(0, kQuotedOutputBytes) + (out.kept.size() > kQuotedOutputBytes ? "...\")" : "\")");
  row.output = std::move(out.kept);
  row.output_bytes = out.bytes;
}

}  // namespace

int run_worker(int device, const Compiler& compiler, std::istream& in, int reply_fd) {
  const ReplyChannel reply(reply_fd);
  OutputCapture printed(STDOUT_FILENO, kKeptOutputBytes);
  std::unique_ptr<EvalEngine> engine;
  try {
    engine = std::make_unique<EvalEngine>(device, compiler);
  } catch (const Error& e) {
    reply.send({{"hello", {{"ok", false}, {"error", e.what()}}}});
    return 2;
  }
  reply.send({{"hello", {{"ok", true}, {"device", to_json(engine->device())}, {"pid", getpid()}}}});

  for (std::string line; std::getline(in, line);) {
    json id = nullptr;
    std::optional<EvalRequest> req;
    (void)printed.take();  // anything printed between requests belongs to none
    try {
      const json msg = json::parse(line);
      id = msg.at("id");
      const std::string op = msg.at("op").get<std::string>();
      if (op == "ceilings") {
        reply.send({{"id", id}, {"ceilings", to_json(engine->ceilings())}});
      } else if (op == "run") {
        req = request_from_json(msg.at("request"));
        EvalResult row = engine->run(*req, [&] { reply.send({{"id", id}, {"phase", "candidate"}}); });
        attach_output(row, printed.take());
        reply.send({{"id", id}, {"row", to_json(row)}});
        if (row.status == Status::crash) return 3;  // the engine's state is not trusted any more
      } else {
        reply.send({{"id", id}, {"error", "unknown op '" + op + "'"}});
      }
    } catch (const CudaError& e) {
      if (!e.sticky() || !req) {
        reply.send({{"id", id}, {"error", e.what()}});
        if (e.sticky()) return 3;
        continue;
      }
      // The context is lost: report the crash for this request and end; the supervisor restarts.
      EvalResult row;
      row.shape = req->shape;
      row.variant = req->variant;
      row.status = Status::crash;
      row.error = e.what();
      attach_output(row, printed.take());
      reply.send({{"id", id}, {"row", to_json(row)}});
      return 3;
    } catch (const std::exception& e) {  // ks::Error, a malformed line: this request only
      reply.send({{"id", id}, {"error", e.what()}});
    }
  }
  return 0;
}

}  // namespace ks
