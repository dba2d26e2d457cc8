#pragma once
// The ksearch subcommands. Each registers its options on the app and returns the action to run
// when it is chosen; an action returns the process exit code.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/error.h"
#include "tasks/model_file.h"
#include "tasks/task.h"

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
// --warmup-ms's help: warm-up replays before the timed ones; default_ms as the command has it.
// 250 is a search's state (the GPU recovers in its compiles and checks), 2000 a sustained load's
// (evaluator/timer.h, kSustainedWarmupSeconds).
std::string warmup_help(double default_ms);
// A --variant's text: NAME=VALUE,...; an empty one is an error, never "every variant".
CLI::Validator variant_text();

// --db: the archive a command reads or writes; its default is KSEARCH_DB, else ./ksearch.db.
void add_db_option(CLI::App* cmd, std::string& path);

// --const NAME=VALUE, repeatable (const_option.cpp): the task's constants a command checks with.
void add_const_option(CLI::App* cmd, std::vector<std::string>& texts);
// The task's defaults, replaced by a model file's values (--model: its entry for the task, if
// any), replaced by the --const values; throws ks::Error, one line naming --const, for a
// constant the task does not have (or any, on a task without constants) or a value out of range.
Constants constants_option(const Task& task, const std::vector<std::string>& texts,
                           const ModelFile* model = nullptr);
// The same for a command over several tasks: each value goes to the tasks that have the constant,
// and must go to one at least.
std::map<const Task*, Constants> constants_option(const std::vector<const Task*>& tasks,
                                                  const std::vector<std::string>& texts,
                                                  const ModelFile* model = nullptr);
// What an archive row (its task's name and recorded JSON) was checked with, as a user reads it:
// "eps=1e-06" (a row from before constants were recorded: the defaults); "" for a task without
// constants. As JSON: {"eps": 1e-06}.
std::string recorded_constants_text(const std::string& task, const std::string& json);
nlohmann::json recorded_constants_json(const std::string& task, const std::string& json);

}  // namespace ks::cli
