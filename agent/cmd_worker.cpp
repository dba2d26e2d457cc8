// ksearch worker: serves evaluation requests for one GPU over stdin/stdout (evaluator/worker.h).
// Started by the supervisor inside `ksearch eval`; not meant to be run by hand.
#include <iostream>

#include "agent/commands.h"
#include "evaluator/nvrtc_compiler.h"
#include "evaluator/worker.h"

namespace ks::cli {

Action add_worker_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "worker", "Serve evaluation requests for one GPU as JSON lines on stdin/stdout (started by ksearch eval)");
  auto device = std::make_shared<int>(0);
  cmd->add_option("--device", *device, "CUDA device index")->check(CLI::NonNegativeNumber);
  return [device] {
    // Everything but protocol lines goes to stderr: stdout belongs to the supervisor.
    Compiler compiler(Compiler::default_options());
    return run_worker(*device, compiler, std::cin, std::cout);
  };
}

}  // namespace ks::cli
