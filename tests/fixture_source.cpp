#include "fixture_source.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "base/error.h"

namespace ks {
namespace {

constexpr std::string_view kSpliceLine = "#include \"base.cuh\"";

// A preprocessor line (blanks ignored) that starts with #include and names base.cuh.
bool includes_base(std::string_view line) {
  std::string flat;
  for (char ch : line)
    if (ch != ' ' && ch != '\t') flat += ch;
  return flat.rfind("#include", 0) == 0 && flat.find("base.cuh") != std::string::npos;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("load_fixture: cannot open '" + path.string() + "'");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::string compose_fixture(std::string_view text, std::string_view base, std::string_view origin) {
  const std::string where(origin);
  for (size_t b = 0; b < base.size();) {
    size_t e = base.find('\n', b);
    if (e == std::string_view::npos) e = base.size();
    if (includes_base(base.substr(b, e - b)))
      throw Error(where + ": base.cuh includes base.cuh");
    b = e + 1;
  }
  const size_t plan_end = text.find("*/");
  std::string out;
  bool spliced = false;
  for (size_t b = 0; b < text.size();) {
    size_t e = text.find('\n', b);
    const bool last = e == std::string_view::npos;
    if (last) e = text.size();
    const std::string_view line = text.substr(b, e - b);
    if (!includes_base(line)) {
      out.append(text.substr(b, e - b + (last ? 0 : 1)));
    } else {
      const std::string at = where + ":" + std::to_string(std::count(text.begin(), text.begin() + b, '\n') + 1);
      if (line != kSpliceLine)
        throw Error(at + ": only the line #include \"base.cuh\", on its own, is replaced by base.cuh; not '" +
                    std::string(line) + "'");
      if (spliced) throw Error(at + ": a second #include \"base.cuh\"");
      if (plan_end == std::string_view::npos || b < plan_end)
        throw Error(at + ": #include \"base.cuh\" before the end of the plan comment");
      if (base.empty()) throw Error(at + ": #include \"base.cuh\", but base.cuh is missing or empty");
      out.append(base);
      if (!base.empty() && base.back() != '\n') out += '\n';
      spliced = true;
    }
    b = e + 1;
  }
  return out;
}

Candidate load_fixture(const std::filesystem::path& path) {
  const std::string text = read_file(path);
  const std::filesystem::path base_path = path.parent_path() / "base.cuh";
  std::error_code ec;
  const std::string base = std::filesystem::exists(base_path, ec) ? read_file(base_path) : std::string();
  return parse_candidate(compose_fixture(text, base, path.string()), path.string());
}

}  // namespace ks
