#pragma once
// The seed files of a task (seeds/<task>/*.cu but the baseline), named as the archive keeps them.
#include <memory>
#include <string>
#include <vector>

#include "evaluator/plan.h"
#include "tasks/task.h"

namespace ks::cli {

// Relative to the project root when the file lies in it (a run then resumes on another
// checkout), else the path as given.
std::string seed_name(const std::string& path);
// The candidate in a seed file: a relative name is looked up from the working folder, then from
// the project root. Throws ks::Error when it is a candidate of another task.
std::shared_ptr<const Candidate> load_seed(const std::string& name, const Task& task);
// seeds/<task>/*.cu but baseline.cu, sorted.
std::vector<std::string> default_seed_files(const Task& task);

}  // namespace ks::cli
