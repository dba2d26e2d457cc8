#pragma once
// Small text helpers shared by the plan parser, its validator and the ptxas report reader.
#include <cctype>
#include <string_view>

namespace ks {

// A C identifier: what kernel, param and workspace names must be (params become -D macros).
inline bool is_identifier(std::string_view s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

// s without leading and trailing blanks (spaces, tabs, CR, LF).
inline std::string_view trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

}  // namespace ks
