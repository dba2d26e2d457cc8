#pragma once
// The LLM's prompts: templates in prompts/ (or a user's --prompts DIR) with {{placeholders}}, and
// the texts that fill them: the task's contract and the device helpers' declarations.
#include <filesystem>
#include <map>
#include <string>

#include "tasks/task.h"

namespace ks {

struct PromptSet {
  std::filesystem::path dir;
  // system.txt, format.txt (the candidate format), rewrite.txt, repair.txt, crossover.txt and
  // refine.txt (a refine conversation's next turn)
  std::map<std::string, std::string> templates;  // by file stem
};

// Every template of the set; throws ks::Error naming a missing or unreadable file.
PromptSet load_prompts(const std::filesystem::path& dir);
// project_root()/prompts
std::filesystem::path default_prompts_dir();

// `tmpl` with each {{name}} replaced by vars[name]. Throws ks::Error naming the template and the
// placeholder when a placeholder has no value or a {{ is not closed.
std::string render_template(const std::string& tmpl, const std::map<std::string, std::string>& vars,
                            const std::string& template_name);

// Renders every template of the set with each placeholder it may use given a value: a user's
// template with an unknown placeholder or an unclosed {{ is an error before the run starts.
void check_templates(const PromptSet& set);

// What a candidate for the task must do: semantics, buffers, constants, constraints, tolerance,
// shapes.
std::string task_contract(const Task& task);

// The declarations of the device helpers in dir/ks/*.cuh with their comments, bodies left out:
// what the LLM is shown of them.
std::string helper_summary(const std::filesystem::path& include_dir);

}  // namespace ks
