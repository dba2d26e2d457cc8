#include "agent/search/seed_files.h"

#include <algorithm>
#include <filesystem>

#include "base/paths.h"

namespace ks::cli {

std::string seed_name(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path rel = fs::relative(fs::absolute(path), project_root(), ec);
  return !ec && !rel.empty() && *rel.begin() != ".." ? rel.string() : path;
}

std::shared_ptr<const Candidate> load_seed(const std::string& name, const Task& task) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string path = fs::exists(name, ec) || fs::path(name).is_absolute() ? name : (project_root() / name).string();
  Candidate c = load_candidate(path);
  c.origin = seed_name(path);
  if (&task_of(c) != &task) throw Error(path + " is a candidate for " + c.plan.task + ", not " + task.name());
  return std::make_shared<const Candidate>(std::move(c));
}

std::vector<std::string> default_seed_files(const Task& task) {
  namespace fs = std::filesystem;
  const fs::path dir = project_root() / "seeds" / task.name();
  std::vector<std::string> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".cu" && e.path().filename() != "baseline.cu") out.push_back(seed_name(e.path()));
  if (ec) throw Error("cannot list the seeds in " + dir.string() + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace ks::cli
