// The supervisor against a worker that hangs, crashes, prints garbage or exits mid-reply: each
// request is recorded with its status, the worker is restarted, and the run goes on.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "evaluator/supervisor.h"

namespace ks {
namespace {

SupervisorOptions fake(const std::string& mode = "") {
  SupervisorOptions o;
  o.worker_command = {FAKE_WORKER};
  if (!mode.empty()) o.worker_command.push_back(mode);
  o.watchdog_s = 0.5;
  o.setup_s = 1.0;
  o.start_s = 1.0;
  return o;
}

EvalRequest request(const std::string& behaviour) {
  EvalRequest r;
  r.task = "rmsnorm_linear";
  r.origin = behaviour;
  r.shape = {{"M", 1}, {"K", 64}, {"N", 64}};
  r.variant = {{"THREADS", 128}};
  return r;
}

TEST(Supervisor, EveryFailureIsARowAndTheRunGoesOn) {
  WorkerSupervisor sup(fake());
  EXPECT_EQ(sup.device().name, "Fake GPU");
  const std::vector<std::pair<std::string, Status>> script = {
      {"good", Status::ok},      {"hang", Status::timeout},      {"good", Status::ok},
      {"hang-setup", Status::timeout}, {"good", Status::ok},     {"segfault", Status::crash},
      {"good", Status::ok},      {"garbage", Status::crash},     {"good", Status::ok},
      {"partial", Status::crash}, {"good", Status::ok},          {"wrong-id", Status::crash},
      {"good", Status::ok},      {"bad-row", Status::crash},     {"good", Status::ok},
      {"sticky", Status::crash}, {"good", Status::ok},          {"noisy", Status::wrong},
      {"good", Status::ok},      {"huge", Status::crash},        {"good", Status::ok}};
  int restarts = 0;
  for (auto& [behaviour, want] : script) {
    EvalResult row = sup.run(request(behaviour));
    EXPECT_EQ(status_name(row.status), status_name(want)) << behaviour << ": " << row.error;
    EXPECT_EQ(row.shape, request(behaviour).shape) << behaviour;
    EXPECT_EQ(row.variant, request(behaviour).variant) << behaviour;
    if (want == Status::timeout || want == Status::crash) {
      ++restarts;
      EXPECT_FALSE(row.error.empty()) << behaviour;
    }
  }
  EXPECT_EQ(sup.stats().restarts, restarts);
  EXPECT_EQ(sup.stats().requests, static_cast<int>(script.size()));
}

TEST(Supervisor, ErrorsSayWhatHappened) {
  WorkerSupervisor sup(fake());
  EXPECT_NE(sup.run(request("hang")).error.find("watchdog"), std::string::npos);
  EXPECT_NE(sup.run(request("segfault")).error.find("signal 11"), std::string::npos);
  EXPECT_NE(sup.run(request("garbage")).error.find("this is not json"), std::string::npos);
  EXPECT_NE(sup.run(request("sticky")).error.find("cudaErrorIllegalAddress"), std::string::npos);
  EXPECT_NE(sup.run(request("huge")).error.find("exceeded"), std::string::npos);
}

TEST(Supervisor, HangIsKilledWithinTheWatchdog) {
  WorkerSupervisor sup(fake());
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(sup.run(request("hang")).status, Status::timeout);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(s, 0.5);
  EXPECT_LT(s, 3.0);
}

// An "error" answer is retried once in a fresh worker: an earlier candidate may have left the
// old one in a bad state. Twice is a fault of ksearch itself, which ends the caller's work.
TEST(Supervisor, AWorkerErrorTwiceIsAFaultOfKsearchNotARow) {
  WorkerSupervisor sup(fake());
  EXPECT_THROW(sup.run(request("error")), Error);
  EXPECT_EQ(sup.stats().restarts, 1);
  EXPECT_EQ(sup.run(request("good")).status, Status::ok);
}

TEST(Supervisor, AWorkerErrorOnceIsRetriedInAFreshWorker) {
  const std::string marker = ::testing::TempDir() + "ks_error_once_" + std::to_string(::getpid());
  std::remove(marker.c_str());
  WorkerSupervisor sup(fake());
  EXPECT_EQ(sup.run(request("error-once:" + marker)).status, Status::ok);
  EXPECT_EQ(sup.stats().restarts, 1);
  std::remove(marker.c_str());
}

// What a candidate prints lands on the worker's stdout, never on the answer channel: a forged
// answer printed there is not taken for one.
TEST(Supervisor, PrintedTextIsNeverTakenForAnAnswer) {
  WorkerSupervisor sup(fake());
  EvalResult row = sup.run(request("noisy"));
  EXPECT_EQ(row.status, Status::wrong) << row.error;
  EXPECT_EQ(sup.stats().restarts, 0);
}

TEST(Supervisor, CeilingsAreAskedOnceAndKeptAcrossRestarts) {
  WorkerSupervisor sup(fake());
  EXPECT_DOUBLE_EQ(sup.ceilings().bytes_per_s, 3e14);
  EXPECT_EQ(sup.run(request("segfault")).status, Status::crash);
  EXPECT_DOUBLE_EQ(sup.ceilings().flops_per_s, 7.5e16);
}

TEST(Supervisor, AWorkerThatCannotStartIsAClearError) {
  try {
    WorkerSupervisor sup(fake("refuse"));
    FAIL() << "expected ks::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA device available"), std::string::npos) << e.what();
  }
  EXPECT_THROW(WorkerSupervisor(fake("silent")), Error);
  SupervisorOptions missing = fake();
  missing.worker_command = {"/nonexistent/ksearch"};
  EXPECT_THROW(WorkerSupervisor{missing}, Error);
}

}  // namespace
}  // namespace ks
