#include "agent/llm/prompts.h"

#include <algorithm>
#include <vector>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "base/paths.h"
#include "tasks/dtype.h"

namespace ks {
namespace {

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  if (!in) throw Error("cannot read " + p.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

}  // namespace

std::filesystem::path default_prompts_dir() { return project_root() / "prompts"; }

PromptSet load_prompts(const std::filesystem::path& dir) {
  PromptSet set{dir, {}};
  for (const char* name : {"system", "format", "rewrite", "repair", "crossover", "refine"}) {
    const auto path = dir / (std::string(name) + ".txt");
    if (!std::filesystem::exists(path))
      throw Error("prompt template " + path.string() + " is missing (a prompts folder holds system.txt, format.txt, "
                  "rewrite.txt, repair.txt, crossover.txt and refine.txt)");
    set.templates[name] = read_text(path);
  }
  return set;
}

std::string render_template(const std::string& tmpl, const std::map<std::string, std::string>& vars,
                            const std::string& template_name) {
  std::string out;
  size_t at = 0;
  while (true) {
    const size_t open = tmpl.find("{{", at);
    if (open == std::string::npos) break;
    const size_t close = tmpl.find("}}", open + 2);
    if (close == std::string::npos)
      throw Error(template_name + ": a {{ at offset " + std::to_string(open) + " is not closed");
    const std::string name = trim(tmpl.substr(open + 2, close - open - 2));
    auto it = vars.find(name);
    if (it == vars.end()) throw Error(template_name + ": no value for the placeholder {{" + name + "}}");
    out += tmpl.substr(at, open - at) + it->second;
    at = close + 2;
  }
  return out + tmpl.substr(at);
}

void check_templates(const PromptSet& set) {
  // The placeholders each template is given when it is used.
  static const std::map<std::string, std::vector<std::string>> given = {
      {"system", {"candidate_format"}},
      {"format", {"arch", "helpers"}},
      {"rewrite", {"task_contract", "device_facts", "parent_results", "parent_source", "best_source"}},
      {"repair", {"task_contract", "device_facts", "parent_source", "failure"}},
      {"crossover", {"task_contract", "device_facts", "parent_a_results", "parent_a_source", "parent_b_results",
                     "parent_b_source"}},
      {"refine", {"failure"}}};
  for (auto& [name, text] : set.templates) {
    std::map<std::string, std::string> vars;
    for (auto& v : given.at(name)) vars[v] = "";
    render_template(text, vars, (set.dir / (name + ".txt")).string());
  }
}

std::string task_contract(const Task& t) {
  std::ostringstream o;
  o << "task " << t.name() << ": " << t.semantics() << "\n";
  std::string syms;
  for (auto& s : t.size_symbols()) syms += (syms.empty() ? "" : ", ") + s;
  o << "sizes: " << syms << "\nbuffers (row-major, 256-byte aligned):\n";
  for (auto& b : t.buffers()) {
    std::string dims;
    for (auto& d : b.dims) dims += (dims.empty() ? "" : ", ") + d;
    o << "  " << b.name << "[" << dims << "] " << dtype_name(b.dtype) << ", "
      << (b.role == Role::in ? "input (read only)" : "output") << "\n";
  }
  for (auto& c : t.constants())
    o << "constant " << c.name << ": " << c.meaning << "; a float argument given at run time (default " << c.value
      << ", but runs, audits and the exported library pass other values): pass it to your kernels by naming it in a "
         "step's args, never write its value into the code\n";
  for (auto& c : t.constraints()) o << "every shape satisfies: " << c << "\n";
  const Tolerance tol = t.tolerance();
  o << "tolerance: |y - ref| <= " << tol.max_scaled << " * rms(reference row) per element, and ||y - ref|| / ||ref|| <= "
    << tol.rel_l2 << "; NaN never passes\nsearch shapes:";
  for (auto& s : t.search_shapes()) o << " " << t.format_shape(s) << ";";
  o << "\n(held-out shapes of other sizes are checked too: no shape may be hard-coded)\n";
  return o.str();
}

std::string helper_summary(const std::filesystem::path& include_dir) {
  std::vector<std::filesystem::path> files;
  for (auto& e : std::filesystem::directory_iterator(include_dir / "ks"))
    if (e.path().extension() == ".cuh") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::ostringstream o;
  // A declaration: what comes before its body's {, ended by ;.
  // A member initializer list (") : a(x), b(y)") is left out too.
  auto declaration = [](const std::string& text) {
    std::string d = text.substr(0, text.find('{'));
    if (size_t init = d.find(") :"); init != std::string::npos) d.resize(init + 1);
    return trim(d) + ";";
  };
  for (auto& f : files) {
    o << "// ---- <ks/" << f.filename().string() << ">\n";
    std::istringstream in(read_text(f));
    std::vector<std::string> comments;  // the comment lines just above what comes next
    int depth = 0;                      // braces; the namespace's own is depth 1, a struct's 2
    bool header = true;                 // the file's opening comment
    bool in_struct = false;             // inside a struct at namespace level: members are shown
    std::string decl;                   // a declaration being gathered up to its {
    auto flush = [&](const std::string& text, const std::string& indent) {
      for (auto& c : comments) o << indent << c << "\n";
      comments.clear();
      o << indent << text << "\n";
    };
    for (std::string line; std::getline(in, line);) {
      const std::string t = trim(line);
      const int before = depth;
      for (char ch : line) depth += ch == '{' ? 1 : ch == '}' ? -1 : 0;
      if (!decl.empty()) {  // a declaration spread over lines, up to its {
        decl.append(" ").append(t);
        if (t.find('{') != std::string::npos) {
          const bool is_struct = decl.find("struct ") != std::string::npos && decl.find('(') == std::string::npos;
          const std::string indent = before == 2 ? "  " : "";
          flush(is_struct ? trim(decl.substr(0, decl.find('{'))) + " {" : declaration(decl), indent);
          if (before == 1) in_struct = is_struct;
          decl.clear();
        }
        if (in_struct && depth == 1) {
          o << "};\n";
          in_struct = false;
        }
        continue;
      }
      if (t.empty() || t.rfind("#", 0) == 0) continue;
      if (t.rfind("//", 0) == 0) {
        if (header && before == 0) o << t << "\n";
        else if (before <= 2) comments.push_back(t);
        continue;
      }
      header = false;
      if (before == 1 && (t.rfind("__device__", 0) == 0 || t.rfind("template", 0) == 0 || t.rfind("struct", 0) == 0)) {
        if (t.find('{') == std::string::npos && t.back() != ';') {
          decl = t;
        } else if (t.rfind("struct", 0) == 0 || (t.find("struct ") != std::string::npos && t.find('(') == std::string::npos)) {
          flush(trim(t.substr(0, t.find('{'))) + " {", "");
          in_struct = true;
        } else {
          flush(declaration(t), "");
        }
      } else if (in_struct && before == 2 && t[0] != '}' && t.rfind("static_assert", 0) != 0) {
        const std::string code = trim(t.substr(0, t.find("//")));  // a field may end in a comment
        if (code.find('(') != std::string::npos && code.find('{') != std::string::npos) flush(declaration(code), "  ");
        else if (code.find('(') != std::string::npos && code.back() != ';') decl = code;  // a signature goes on
        else if (code.back() == ';') flush(t, "  ");
        else comments.clear();
      } else {
        comments.clear();
      }
      if (in_struct && depth == 1) {
        o << "};\n";
        in_struct = false;
      }
    }
  }
  return o.str();
}

}  // namespace ks
