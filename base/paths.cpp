#include "base/paths.h"

#include <cstdlib>
#include <optional>
#include <system_error>

#include "base/error.h"

#ifndef KSEARCH_SOURCE_DIR
#define KSEARCH_SOURCE_DIR ""
#endif

namespace ks {
namespace fs = std::filesystem;

static bool is_root(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p / "seeds" / "include" / "ks", ec);
}

static std::optional<fs::path> walk_up(fs::path p) {
  std::error_code ec;
  p = fs::weakly_canonical(p, ec);
  for (; !p.empty(); p = p.parent_path()) {
    if (is_root(p)) return p;
    if (p == p.root_path()) break;
  }
  return std::nullopt;
}

static fs::path find_root() {
  if (const char* env = std::getenv("KSEARCH_ROOT"); env && *env) {
    if (!is_root(env))
      throw Error(std::string("KSEARCH_ROOT=") + env + " holds no seeds/include/ks folder");
    return env;
  }
  std::error_code ec;
  if (auto exe = fs::read_symlink("/proc/self/exe", ec); !ec)
    if (auto r = walk_up(exe.parent_path())) return *r;
  if (auto r = walk_up(fs::current_path(ec))) return *r;
  if (is_root(KSEARCH_SOURCE_DIR)) return KSEARCH_SOURCE_DIR;
  throw Error("cannot find the ksearch folder (seeds/include/ks) near the executable or the "
              "working directory: set KSEARCH_ROOT to the repository");
}

const fs::path& project_root() {
  static const fs::path root = find_root();
  return root;
}

}  // namespace ks
