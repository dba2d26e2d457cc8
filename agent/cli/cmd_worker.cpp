// ksearch worker: serves evaluation requests for one GPU over stdin/stdout (evaluator/worker.h).
// Started by the supervisor inside `ksearch eval`; not meant to be run by hand.
#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>
#include <iostream>

#include "agent/cli/commands.h"
#include "evaluator/nvrtc_compiler.h"
#include "evaluator/worker.h"

namespace ks::cli {

Action add_worker_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "worker", "Serve evaluation requests for one GPU as JSON lines: requests on stdin, answers on descriptor 3 (started by ksearch eval and run)");
  auto device = std::make_shared<int>(0);
  auto compile_timeout = std::make_shared<double>(CompilerOptions{}.timeout_s);
  cmd->add_option("--device", *device, "CUDA device index")->check(non_negative());
  cmd->add_option("--compile-timeout", *compile_timeout, "Seconds one NVRTC compile may take before it is killed (default 60)")
      ->check(positive());
  return [device, compile_timeout] {
    // The worker has a process group of its own (Ctrl-C reaches only its supervisor, which lets
    // the evaluation in flight finish); if the supervisor dies outright, the worker must not
    // live on, a hung kernel holding the GPU.
    const pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) return 1;  // the parent died before prctl took effect
    // Answers go to their own descriptor, which only the supervisor opens: stdout is where a
    // candidate's printf lands.
    if (fcntl(kWorkerReplyFd, F_GETFD) < 0) {
      std::cerr << "ksearch worker: descriptor " << kWorkerReplyFd
                << " (the answer pipe) is not open: the worker is started by ksearch eval, run, bench and audit\n";
      return 2;
    }
    CompilerOptions copts = Compiler::default_options();
    copts.timeout_s = *compile_timeout;
    Compiler compiler(copts);
    return run_worker(*device, compiler, std::cin, kWorkerReplyFd);
  };
}

}  // namespace ks::cli
