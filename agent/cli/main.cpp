// ksearch: searches for fast fused CUDA kernels for LLM inference.
#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

#include "agent/cli/commands.h"
#include "base/error.h"

int main(int argc, char** argv) {
  CLI::App app{"ksearch: search, check and time fused CUDA kernels for LLM inference"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show the help of every command");
  std::vector<std::pair<CLI::App*, ks::cli::Action>> commands;
  for (auto add : {ks::cli::add_tasks_command, ks::cli::add_compile_command, ks::cli::add_eval_command,
                   ks::cli::add_run_command, ks::cli::add_best_command, ks::cli::add_bench_command, ks::cli::add_audit_command, ks::cli::add_show_command,
                   ks::cli::add_merge_command, ks::cli::add_report_command, ks::cli::add_export_command, ks::cli::add_worker_command}) {
    size_t before = app.get_subcommands({}).size();
    ks::cli::Action action = add(app);
    commands.emplace_back(app.get_subcommands({})[before], std::move(action));
  }
  // A first word that is no option and no command is a mistyped command: CLI11 would only say
  // that a subcommand is required.
  if (argc > 1 && argv[1][0] != '-') {
    std::string names;
    bool known = false;
    for (auto& [cmd, _] : commands) {
      known = known || cmd->get_name() == argv[1];
      names += (names.empty() ? "" : ", ") + cmd->get_name();
    }
    if (!known) {
      std::cerr << "ksearch: unknown command '" << argv[1] << "' (the commands: " << names << "; see --help)\n";
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --help-all
    // A bad command line is a user's error like any other: one line, exit code 2.
    std::cerr << "ksearch: " << e.what() << " (see --help)\n";
    return 2;
  }
  try {
    for (auto& [cmd, action] : commands)
      if (cmd->parsed()) return action();
  } catch (const ks::Error& e) {
    std::cerr << "ksearch: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "ksearch: unexpected error: " << e.what() << '\n';
    return 3;
  }
  return 0;
}
