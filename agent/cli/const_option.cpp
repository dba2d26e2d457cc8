// --const NAME=VALUE: a task constant (rmsnorm_linear's eps) for the checks a command runs, in
// place of the task's default. The text is checked as the command line is parsed; the names
// against the task once the command knows it, before any GPU is touched. And the other way: what
// the archive's rows were checked with, as the commands that list them print it.
#include <nlohmann/json.hpp>

#include "agent/cli/commands.h"
#include "db/recorded_constants.h"

namespace ks::cli {

void add_const_option(CLI::App* cmd, std::vector<std::string>& texts) {
  cmd->add_option("--const", texts,
                  "A task constant for the checks, NAME=VALUE, e.g. eps=1e-5 (repeatable; default: the task's, "
                  "see `ksearch tasks`)")
      ->check(CLI::Validator(
          [](std::string& input) {
            try {
              parse_constants({input});
            } catch (const Error& e) {
              return std::string(e.what());
            }
            return std::string();
          },
          "NAME=VALUE"));
}

Constants constants_option(const Task& task, const std::vector<std::string>& texts) {
  try {
    return resolve_constants(task, parse_constants(texts));
  } catch (const Error& e) {
    throw Error(std::string("--const ") + e.what());
  }
}

std::map<const Task*, Constants> constants_option(const std::vector<const Task*>& tasks,
                                                  const std::vector<std::string>& texts) {
  try {
    return resolve_constants(tasks, parse_constants(texts));
  } catch (const Error& e) {
    throw Error(std::string("--const ") + e.what());
  }
}

std::string recorded_constants_text(const std::string& task, const std::string& json) {
  const Task* t = find_task(task);
  if (!t) return json == "{}" ? "" : json;
  return format_constants(recorded_constants(*t, json));
}

nlohmann::json recorded_constants_json(const std::string& task, const std::string& json) {
  const Task* t = find_task(task);
  return t ? nlohmann::json(recorded_constants(*t, json)) : nlohmann::json::parse(json);
}

}  // namespace ks::cli
