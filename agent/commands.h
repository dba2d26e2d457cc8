#pragma once
// The ksearch subcommands. Each registers its options on the app and returns the action to run
// when it is chosen; an action returns the process exit code.
#include <CLI/CLI.hpp>

#include <functional>

namespace ks::cli {

using Action = std::function<int()>;

Action add_tasks_command(CLI::App& app);
Action add_compile_command(CLI::App& app);
Action add_eval_command(CLI::App& app);
Action add_worker_command(CLI::App& app);

}  // namespace ks::cli
