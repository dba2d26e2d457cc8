#include "evaluator/supervisor.h"

#include <nlohmann/json.hpp>

#include "evaluator/child_process.h"
#include "evaluator/row_json.h"
#include "evaluator/worker.h"

extern char** environ;

namespace ks {

using nlohmann::json;
using Clock = ChildProcess::Clock;

static Clock::time_point after(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

WorkerSupervisor::WorkerSupervisor(SupervisorOptions opts) : opts_(std::move(opts)) {
  if (opts_.worker_command.empty()) throw Error("the worker command is empty");
  start();
}

WorkerSupervisor::~WorkerSupervisor() = default;

// The worker's environment: ours without the LLM's key (nothing a candidate runs beside needs it).
static std::vector<std::string> worker_environment() {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (std::string_view(*e).rfind("KSEARCH_LLM_API_KEY=", 0) != 0) env.emplace_back(*e);
  return env;
}

void WorkerSupervisor::start() {
  const auto t0 = Clock::now();
  ChildProcess::Options child_opts;
  child_opts.reply_fd = kWorkerReplyFd;
  child_opts.env = worker_environment();
  child_opts.max_line = kMaxReplyBytes;
  child_ = std::make_unique<ChildProcess>(opts_.worker_command, std::move(child_opts));
  std::string line;
  ChildProcess::Read r = child_->read_line(line, after(opts_.start_s));
  std::string why;
  if (r == ChildProcess::Read::timeout) {
    why = "did not say hello within " + std::to_string(static_cast<int>(opts_.start_s)) + " s";
  } else if (r == ChildProcess::Read::eof) {
    why = "ended before saying hello (" + child_->exit_status() + ")";
  } else if (r == ChildProcess::Read::too_long) {
    why = "said a hello longer than " + std::to_string(kMaxReplyBytes) + " bytes";
  } else {
    try {
      const json hello = json::parse(line).at("hello");
      if (!hello.at("ok").get<bool>())
        why = "could not start: " + hello.at("error").get<std::string>();
      else
        device_ = device_from_json(hello.at("device"));
    } catch (const std::exception& e) {
      why = std::string("said something other than hello: ") + e.what();
    }
  }
  if (!why.empty()) {
    child_.reset();
    throw Error("the worker (" + opts_.worker_command[0] + ") " + why);
  }
  if (!stats_.start_seconds.empty()) ++stats_.restarts;
  stats_.start_seconds.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
}

const Ceilings& WorkerSupervisor::ceilings() {
  if (ceilings_) return *ceilings_;
  if (!child_) start();
  const long id = next_id_++;
  std::string line;
  if (!child_->write_line(json{{"id", id}, {"op", "ceilings"}}.dump()) ||
      child_->read_line(line, after(opts_.start_s)) != ChildProcess::Read::line) {
    child_.reset();
    throw Error("the worker did not measure the device's ceilings");
  }
  try {
    ceilings_ = ceilings_from_json(json::parse(line).at("ceilings"));
  } catch (const std::exception& e) {
    child_.reset();
    throw Error(std::string("the worker's ceilings answer is malformed: ") + e.what());
  }
  return *ceilings_;
}

EvalResult WorkerSupervisor::failed(const EvalRequest& req, Status s, const std::string& why) {
  child_.reset();  // SIGKILL and reap; the next request starts a fresh worker
  EvalResult row;
  row.shape = req.shape;
  row.variant = req.variant;
  row.status = s;
  row.error = why;
  return row;
}

EvalResult WorkerSupervisor::run(const EvalRequest& req) {
  ++stats_.requests;
  std::string first_error;
  for (int attempt = 0;; ++attempt) {
    std::optional<EvalResult> row = attempt_row(req);
    if (row) return *row;
    // The worker answered "error": a fault of ksearch itself (the baseline fails, a bad request),
    // or of the state an earlier candidate left in that process. A fresh worker tells which.
    child_.reset();
    if (attempt == 1)
      throw Error("the worker: " + last_error_ +
                  (last_error_ == first_error ? " (twice, the second time in a fresh worker)" : ""));
    first_error = last_error_;
  }
}

std::optional<EvalResult> WorkerSupervisor::attempt_row(const EvalRequest& req) {
  if (!child_) start();
  const long id = next_id_++;
  if (!child_->write_line(json{{"id", id}, {"op", "run"}, {"request", to_json(req)}}.dump()))
    return failed(req, Status::crash, "the worker closed its input (" + child_->exit_status() + ")");
  const auto sent = Clock::now();
  auto deadline = after(opts_.setup_s);
  bool candidate_running = false;
  for (std::string line;;) {
    switch (child_->read_line(line, deadline)) {
      case ChildProcess::Read::timeout:
        return failed(req, Status::timeout,
                      candidate_running
                          ? "no answer within the " + std::to_string(opts_.watchdog_s) +
                                " s watchdog: the worker was killed and restarted"
                          : "the shape's setup took over " + std::to_string(opts_.setup_s) + " s");
      case ChildProcess::Read::eof:
        return failed(req, Status::crash, "the worker died during the request (" + child_->exit_status() + ")");
      case ChildProcess::Read::too_long:
        return failed(req, Status::crash, "the worker's answer exceeded " +
                                              std::to_string(kMaxReplyBytes) + " bytes");
      case ChildProcess::Read::line:
        break;
    }
    json msg;
    try {
      msg = json::parse(line);
      if (msg.at("id") != id) throw Error("answer to request " + msg.at("id").dump() + ", not " + std::to_string(id));
    } catch (const std::exception& e) {
      return failed(req, Status::crash, "the worker broke the protocol (" + std::string(e.what()) +
                                            ") with: " + line.substr(0, 120));
    }
    if (msg.contains("phase")) {
      stats_.setup_seconds.push_back(std::chrono::duration<double>(Clock::now() - sent).count());
      candidate_running = true;
      deadline = after(opts_.watchdog_s);
      continue;
    }
    if (msg.contains("error")) {
      last_error_ = msg["error"].is_string() ? msg["error"].get<std::string>() : msg["error"].dump();
      return std::nullopt;
    }
    EvalResult row;
    try {
      row = result_from_json(msg.at("row"));
    } catch (const std::exception& e) {
      return failed(req, Status::crash, std::string("the worker broke the protocol: ") + e.what());
    }
    // A crash row ends the worker (the context, or state a candidate left, is not to be trusted):
    // reap it; the next request starts a fresh one.
    if (row.status == Status::crash) child_.reset();
    return row;
  }
}

}  // namespace ks
