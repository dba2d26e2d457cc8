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
Action add_run_command(CLI::App& app);
Action add_bench_command(CLI::App& app);
Action add_best_command(CLI::App& app);
Action add_show_command(CLI::App& app);
Action add_merge_command(CLI::App& app);
Action add_report_command(CLI::App& app);
Action add_export_command(CLI::App& app);
Action add_audit_command(CLI::App& app);

// Option checks shared by every command (option_checks.cpp): numbers must be finite (NaN
// and infinities are refused), limits are printed as a user writes them.
CLI::Validator positive();                      // > 0
CLI::Validator non_negative();                  // >= 0
CLI::Validator in_range(double lo, double hi);  // lo <= v <= hi
// A --variant's text: NAME=VALUE,...; an empty one is an error, never "every variant".
CLI::Validator variant_text();

// --db: the archive a command reads or writes; its default is KSEARCH_DB, else ./ksearch.db.
void add_db_option(CLI::App* cmd, std::string& path);

}  // namespace ks::cli
