// --const NAME=VALUE: a task constant (rmsnorm_linear's eps) for the checks a command runs, in
// place of the task's default and of a model file's value (--model). The text is checked as the command line is parsed; the names
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

namespace {

// The model file's values for the task (none without a file or an entry), then `given` over them.
// The file's were checked against the task when it was read.
Constants over_model(const Task& task, const Constants& given, const ModelFile* model) {
  Constants out;
  if (model)
    if (auto it = model->tasks.find(task.name()); it != model->tasks.end()) out = it->second.constants;
  for (auto& [name, value] : given) out[name] = value;
  return resolve_constants(task, out);
}

}  // namespace

Constants constants_option(const Task& task, const std::vector<std::string>& texts, const ModelFile* model) {
  Constants given;
  try {
    given = parse_constants(texts);
    resolve_constants(task, given);  // its own error first: the name or value --const gave
  } catch (const Error& e) {
    throw Error(std::string("--const ") + e.what());
  }
  return over_model(task, given, model);
}

std::map<const Task*, Constants> constants_option(const std::vector<const Task*>& tasks,
                                                  const std::vector<std::string>& texts, const ModelFile* model) {
  Constants given;
  try {
    given = parse_constants(texts);
    resolve_constants(tasks, given);  // each name some task's, each value one it takes
  } catch (const Error& e) {
    throw Error(std::string("--const ") + e.what());
  }
  std::map<const Task*, Constants> out;
  for (const Task* t : tasks) {
    Constants mine;  // the --const values of the constants this task has
    for (auto& k : t->constants())
      if (auto it = given.find(k.name); it != given.end()) mine[k.name] = it->second;
    out[t] = over_model(*t, mine, model);
  }
  return out;
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
