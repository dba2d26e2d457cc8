#include "evaluator/include_policy.h"

#include <algorithm>
#include <array>

namespace ks {
namespace {

constexpr const char* kAllowed =
    " (only headers under seeds/include and the CUDA include directory may be included)";

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r'; }

bool is_name_char(char c) {
  return c == '_' || c == '$' || c == '\\' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9');
}

// Line splices out: a backslash (or the trigraph ??/) then a newline. Blanks between the two are
// allowed as GCC and Clang allow them; joining more than the compiler does only ever adds
// directives to check.
std::string remove_splices(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t after = std::string_view::npos;
    if (s[i] == '\\') after = i + 1;
    if (s.substr(i, 3) == "?\?/") after = i + 3;
    if (after != std::string_view::npos) {
      size_t j = after;
      while (j < s.size() && is_blank(s[j])) ++j;
      if (j < s.size() && s[j] == '\n') {
        i = j + 1;
        continue;
      }
    }
    out.push_back(s[i++]);
  }
  return out;
}

// The position after a '#', "%:" or "??=" at i, or npos.
size_t after_hash(std::string_view s, size_t i) {
  if (s[i] == '#') return i + 1;
  if (s.substr(i, 2) == "%:") return i + 2;
  if (s.substr(i, 3) == "?\?=") return i + 3;
  return std::string_view::npos;
}

// Past blanks and /* */ comments (a comment is a blank inside a directive), not past a newline.
size_t skip_blanks(std::string_view s, size_t i) {
  while (i < s.size()) {
    if (is_blank(s[i])) {
      ++i;
    } else if (s.substr(i, 2) == "/*") {
      const size_t end = s.find("*/", i + 2);
      i = end == std::string_view::npos ? s.size() : end + 2;
    } else {
      break;
    }
  }
  return i;
}

// A one-line excerpt of the source for the message.
std::string excerpt(std::string_view s) {
  std::string out(s.substr(0, s.find('\n')).substr(0, 80));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return out;
}

std::string refused(const std::string& what, const std::string& why) {
  return "ksearch: " + what + " refused: " + why + kAllowed;
}

// Why `name` may not be included, or nullopt.
std::optional<std::string> header_problem(const std::string& name,
                                          const std::vector<std::filesystem::path>& dirs) {
  if (name.empty()) return "empty header name";
  if (name.find('\\') != std::string::npos) return "backslash in the header name";
  if (name.front() == '/') return "absolute path";
  for (size_t start = 0; start <= name.size();) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    if (name.compare(start, end - start, "..") == 0) return "climbs out with ..";
    start = end + 1;
  }
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (!dir.empty() && std::filesystem::is_regular_file(dir / name, ec)) return std::nullopt;
  }
  return "no such header in the allowed include directories";
}

}  // namespace

std::optional<std::string> include_refusal(std::string_view source,
                                           const std::vector<std::filesystem::path>& allowed_dirs) {
  const std::string s = remove_splices(source);
  const std::string_view text = s;
  for (size_t i = 0; i < text.size(); ++i) {
    const size_t hash = after_hash(text, i);
    if (hash == std::string_view::npos) continue;
    const size_t name_at = skip_blanks(text, hash);
    size_t name_end = name_at;
    while (name_end < text.size() && is_name_char(text[name_end])) ++name_end;
    const std::string directive(text.substr(name_at, name_end - name_at));
    if (directive.find("\\u") != std::string::npos || directive.find("\\U") != std::string::npos) {
      // \u escapes cannot spell a basic letter in valid C++; a compiler that took them anyway
      // must not get an include past this.
      return refused("#" + excerpt(text.substr(name_at)), "a directive name with a \\ escape");
    }
    static constexpr std::array<std::string_view, 4> kIncludes = {"include", "include_next",
                                                                  "import", "embed"};
    if (std::find(kIncludes.begin(), kIncludes.end(), directive) == kIncludes.end()) continue;

    const size_t operand = skip_blanks(text, name_end);
    const char open = operand < text.size() ? text[operand] : '\n';
    const std::string shown = "#" + directive + " ";
    if (open != '"' && open != '<') {
      return refused(shown + excerpt(text.substr(operand)),
                     "computed include (the header must be named as \"...\" or <...>)");
    }
    const char close = open == '<' ? '>' : '"';
    const size_t end = text.find_first_of(std::string{close, '\n'}, operand + 1);
    if (end == std::string_view::npos || text[end] != close) {
      return refused(shown + excerpt(text.substr(operand)), "unterminated header name");
    }
    const std::string name(text.substr(operand + 1, end - operand - 1));
    if (auto problem = header_problem(name, allowed_dirs)) {
      return refused(shown + open + excerpt(name) + close, *problem);
    }
  }
  return std::nullopt;
}

}  // namespace ks
