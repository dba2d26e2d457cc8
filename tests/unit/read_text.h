#pragma once
// A whole file as a string (the tests' read of what a command or an export wrote); "" if absent.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace ks::test {

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace ks::test
