// The layout's one rule: includes point one way, cli -> llm -> search -> evaluator, db -> tasks ->
// base (and cli -> export, report -> evaluator, db). Checked on every source file of the tree, so
// a new include against the direction fails here rather than in a later untangling.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace ks {
namespace {

namespace fs = std::filesystem;

// The folder a path belongs to: agent/<part> for the agent, else its first component.
std::string folder_of(const std::string& path) {
  const size_t slash = path.find('/');
  if (slash == std::string::npos) return "";
  if (path.compare(0, slash, "agent") == 0) return path.substr(0, path.find('/', slash + 1));
  return path.substr(0, slash);
}

TEST(Layout, IncludesPointOneWay) {
  const std::set<std::string> low = {"evaluator", "db", "tasks", "base"};
  const std::map<std::string, std::set<std::string>> may_include = {
      {"base", {}},
      {"tasks", {"base"}},
      {"evaluator", {"tasks", "base"}},
      {"db", {"tasks", "base"}},
      {"agent/search", low},
      {"agent/export", low},
      {"agent/report", low},
      {"agent/llm", {"agent/search", "evaluator", "db", "tasks", "base"}},
      {"agent/cli", {"agent/llm", "agent/search", "agent/export", "agent/report", "evaluator", "db", "tasks", "base"}}};
  const fs::path root = KSEARCH_SOURCE_DIR;
  const std::regex include(R"re(#include "([^"]+)")re");
  int files = 0;
  for (auto& [from, allowed] : may_include) {
    ASSERT_TRUE(fs::is_directory(root / from)) << from;
    for (auto& e : fs::recursive_directory_iterator(root / from)) {
      const std::string ext = e.path().extension().string();
      if (ext != ".cpp" && ext != ".h") continue;
      ++files;
      std::ifstream in(e.path());
      std::stringstream text;
      text << in.rdbuf();
      const std::string s = text.str();
      for (std::sregex_iterator m(s.begin(), s.end(), include), end; m != end; ++m) {
        const std::string to = folder_of((*m)[1].str());
        if (to == from || !may_include.count(to)) continue;  // its own folder, or not a folder of ours
        EXPECT_TRUE(allowed.count(to)) << fs::relative(e.path(), root).string() << " includes " << (*m)[1]
                                       << ": " << from << " may not depend on " << to;
      }
    }
  }
  EXPECT_GT(files, 100) << "the tree was not found";
}

}  // namespace
}  // namespace ks
