// Reading a candidate's plan: find the leading /* ksearch ... */ comment, parse its JSON, and turn
// it into a Plan, field by field. Every error names the field path ("plan.steps[1].grid[0]"), since
// the reader is as often an LLM fixing its own output as a person.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/utf8.h"
#include "evaluator/plan.h"
#include "evaluator/text.h"

namespace ks {
namespace {

using Json = nlohmann::ordered_json;

std::string join(std::initializer_list<std::string_view> items) {
  std::string out;
  for (auto item : items) out += (out.empty() ? "" : ", ") + std::string(item);
  return out;
}

// Where the plan's JSON lies in the file.
struct PlanComment {
  size_t comment_start;  // the "/*"
  size_t json_start;     // just after "ksearch"
  size_t json_end;       // the "*/"
};

PlanComment find_plan_comment(std::string_view text, const std::string& origin) {
  const std::string how =
      "a candidate starts with a /* ksearch {json} */ comment (only whitespace and // comments "
      "may precede it)";
  size_t i = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;  // a UTF-8 byte-order mark
  for (;;) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (text.substr(i, 2) != "//") break;
    i = text.find('\n', i);
    if (i == std::string_view::npos) i = text.size();
  }
  if (text.substr(i, 2) != "/*") throw PlanError(origin + ": plan: no plan comment: " + how);
  PlanComment c{i, 0, 0};
  i += 2;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  size_t word_end = i;
  while (word_end < text.size() && (std::isalnum(static_cast<unsigned char>(text[word_end])) ||
                                    text[word_end] == '_'))
    ++word_end;
  if (text.substr(i, word_end - i) != "ksearch")
    throw PlanError(origin + ": plan: the first block comment does not start with 'ksearch': " +
                    how);
  c.json_start = word_end;
  c.json_end = text.find("*/", word_end);
  if (c.json_end == std::string_view::npos)
    throw PlanError(origin + ": plan: the /* ksearch comment is never closed with */");
  return c;
}

// Deepest nesting of JSON arrays and objects a plan may have. A real plan nests 4 deep (plan,
// steps, a step, its grid); nlohmann parses any depth without recursion, but dump() (which
// normalized_source calls) and other walks recurse, so a hostile "[[[[..." 100k deep would
// overflow the stack there. Refused before parsing, by a scan that costs one pass.
constexpr int kMaxJsonDepth = 64;

// Throws PlanError if json_text nests arrays and objects deeper than kMaxJsonDepth. Brackets in
// strings and in // comments (which the parser ignores) do not count. `where` says where the
// text starts: bytes are counted from the plan comment's start, as syntax errors count them.
void check_json_depth(std::string_view json_text, const std::string& origin, size_t where) {
  int depth = 0;
  for (size_t i = 0; i < json_text.size(); ++i) {
    const char c = json_text[i];
    if (c == '"') {
      for (++i; i < json_text.size() && json_text[i] != '"'; ++i)
        if (json_text[i] == '\\') ++i;
    } else if (c == '/' && i + 1 < json_text.size() && json_text[i + 1] == '/') {
      i = std::min(json_text.find('\n', i), json_text.size());
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        throw PlanError(origin + ": plan: JSON nested deeper than " +
                        std::to_string(kMaxJsonDepth) + " levels at byte " +
                        std::to_string(where + i + 1) + " of the plan comment");
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
}

// Rejects a key given twice in one JSON object (nlohmann would silently keep one of them) and
// names its path. Runs as nlohmann's parser callback, which sees keys but not paths, so it keeps
// its own stack of open objects and arrays.
class DuplicateKeyCheck {
 public:
  explicit DuplicateKeyCheck(std::string origin) : origin_(std::move(origin)) {}

  bool operator()(int /*depth*/, Json::parse_event_t event, Json& parsed) {
    using E = Json::parse_event_t;
    if (event == E::object_start || event == E::array_start || event == E::value)
      if (!frames_.empty() && frames_.back().array) ++frames_.back().count;
    switch (event) {
      case E::object_start: frames_.emplace_back().array = false; break;
      case E::array_start: frames_.emplace_back().array = true; break;
      case E::object_end:
      case E::array_end: frames_.pop_back(); break;
      case E::key: {
        Frame& top = frames_.back();
        top.key = parsed.get<std::string>();
        if (!top.keys.insert(top.key).second)
          throw PlanError(origin_ + ": " + path() + ": key given twice");
        break;
      }
      case E::value: break;
    }
    return true;
  }

 private:
  struct Frame {
    bool array = false;
    size_t count = 0;        // arrays: elements begun so far
    std::string key;         // objects: the key being read
    std::set<std::string> keys;
  };
  std::string origin_;
  std::vector<Frame> frames_;

  std::string path() const {
    std::string p = "plan";
    for (const Frame& f : frames_)
      p += f.array ? "[" + std::to_string(f.count - 1) + "]" : "." + f.key;
    return p;
  }
};

class PlanReader {
 public:
  explicit PlanReader(std::string origin) : origin_(std::move(origin)) {}

  Plan read(const Json& root) {
    const std::string path = "plan";
    if (!root.is_object()) fail(path, "expected a JSON object, got " + type_of(root));
    check_keys(root, path, {"task", "name", "params", "let", "applies", "workspace", "tensor_maps", "steps"},
               "task, name, params, let, applies, workspace, tensor_maps, steps");
    Plan plan;
    plan.task = name_string(required(root, path, "task"), "plan.task");
    plan.name = name_string(required(root, path, "name"), "plan.name");
    if (root.contains("params")) plan.params = params(root["params"], "plan.params");
    if (root.contains("let")) plan.lets = named_exprs(root["let"], "plan.let", "let");
    if (root.contains("applies")) plan.applies = expr(root["applies"], "plan.applies");
    if (root.contains("workspace")) plan.workspace = named_exprs(root["workspace"], "plan.workspace", "workspace");
    if (root.contains("tensor_maps")) plan.tensor_maps = tensor_maps(root["tensor_maps"], "plan.tensor_maps");
    const Json& steps = required(root, path, "steps");
    if (!steps.is_array() || steps.empty())
      fail("plan.steps", "expected a non-empty array of steps, got " + describe(steps));
    for (size_t i = 0; i < steps.size(); ++i)
      plan.steps.push_back(step(steps[i], "plan.steps[" + std::to_string(i) + "]"));
    return plan;
  }

 private:
  std::string origin_;

  [[noreturn]] void fail(const std::string& path, const std::string& problem) const {
    throw PlanError(origin_ + ": " + path + ": " + problem);
  }

  static std::string type_of(const Json& j) {
    if (j.is_number_integer()) return "an integer";
    if (j.is_number_float()) return "a non-integer number";
    std::string t = j.type_name();
    return (t == "array" || t == "object" ? "an " : "a ") + t;
  }
  static std::string describe(const Json& j) {
    return j.is_array() && j.empty() ? "an empty array" : type_of(j);
  }

  void check_keys(const Json& obj, const std::string& path,
                  const std::set<std::string_view>& allowed, std::string_view listing) const {
    for (const auto& [key, value] : obj.items())
      if (!allowed.contains(key)) fail(path + "." + key, "unknown key (expected " +
                                           std::string(listing) + ")");
  }

  const Json& required(const Json& obj, const std::string& path, const std::string& key) const {
    if (!obj.contains(key)) fail(path + "." + key, "missing (required)");
    return obj[key];
  }

  std::string name_string(const Json& j, const std::string& path) const {
    if (!j.is_string()) fail(path, "expected a string, got " + type_of(j));
    std::string s(trim(j.get<std::string>()));
    if (s.empty()) fail(path, "must not be empty");
    return s;
  }

  int64_t integer(const Json& j, const std::string& path) const {
    if (!j.is_number_integer()) fail(path, "expected an integer, got " + type_of(j));
    if (j.is_number_unsigned() && j.get<uint64_t>() > uint64_t{INT64_MAX})
      fail(path, "integer out of int64 range");
    return j.get<int64_t>();
  }

  Expr expr(const Json& j, const std::string& path) const {
    std::string text;
    if (j.is_string()) text = j.get<std::string>();
    else if (j.is_number_integer()) text = std::to_string(integer(j, path));
    else fail(path, "expected an expression (a string or an integer), got " + type_of(j));
    try {
      return Expr::parse(text, path);
    } catch (const ExprError& e) {
      throw PlanError(origin_ + ": " + e.what());
    }
  }

  // grid and block: one expression, or an array of 1 to 3.
  std::vector<Expr> dims(const Json& j, const std::string& path) const {
    if (!j.is_array()) return {expr(j, path)};
    if (j.empty() || j.size() > 3)
      fail(path, "expected 1 to 3 expressions, got " + std::to_string(j.size()));
    std::vector<Expr> out;
    for (size_t i = 0; i < j.size(); ++i)
      out.push_back(expr(j[i], path + "[" + std::to_string(i) + "]"));
    return out;
  }

  std::vector<Param> params(const Json& j, const std::string& path) const {
    if (!j.is_object()) fail(path, "expected an object of name -> [values], got " + type_of(j));
    std::vector<Param> out;
    for (const auto& [name, values] : j.items()) {
      std::string p = path + "." + name;
      if (!is_identifier(name))
        fail(p, "param names must be C identifiers (they become -D macros)");
      if (!values.is_array() || values.empty())
        fail(p, "expected a non-empty array of integers, got " + describe(values));
      Param param{name, {}};
      for (size_t i = 0; i < values.size(); ++i) {
        std::string pi = p + "[" + std::to_string(i) + "]";
        int64_t v = integer(values[i], pi);
        for (int64_t seen : param.values)
          if (seen == v) fail(pi, "value " + std::to_string(v) + " given twice");
        param.values.push_back(v);
      }
      out.push_back(std::move(param));
    }
    return out;
  }

  // An object of name -> expression, in file order (workspace: bytes; let: any integer).
  std::vector<std::pair<std::string, Expr>> named_exprs(const Json& j, const std::string& path,
                                                        const std::string& what) const {
    if (!j.is_object()) fail(path, "expected an object of name -> expression, got " + type_of(j));
    std::vector<std::pair<std::string, Expr>> out;
    for (const auto& [name, e] : j.items()) {
      std::string p = path + "." + name;
      if (!is_identifier(name)) fail(p, what + " names must be C identifiers");
      out.emplace_back(name, expr(e, p));
    }
    return out;
  }

  Step step(const Json& j, const std::string& path) const {
    if (!j.is_object()) fail(path, "expected a step object, got " + type_of(j));
    bool kernel = j.contains("kernel"), gemm = j.contains("gemm");
    if (kernel && gemm) fail(path, "has both \"kernel\" and \"gemm\"; a step is exactly one");
    if (!kernel && !gemm)
      fail(path, "needs \"kernel\" (a launch) or \"gemm\" (a library GEMM)");
    if (gemm) {
      check_keys(j, path, {"gemm"}, "only \"gemm\" in a gemm step");
      return {gemm_step(j["gemm"], path + ".gemm")};
    }
    check_keys(j, path, {"kernel", "grid", "block", "smem", "args", "pdl"},
               "kernel, grid, block, smem, args, pdl");
    KernelStep k;
    k.kernel = name_string(j["kernel"], path + ".kernel");
    if (!is_identifier(k.kernel))
      fail(path + ".kernel", "'" + k.kernel + "' is not a C identifier (an extern \"C\" name)");
    k.grid = dims(required(j, path, "grid"), path + ".grid");
    k.block = dims(required(j, path, "block"), path + ".block");
    if (j.contains("smem")) k.smem = expr(j["smem"], path + ".smem");
    if (j.contains("pdl")) {
      const Json& p = j["pdl"];
      if (p.is_boolean()) {
        if (p.get<bool>()) k.pdl = Expr::parse("1", path + ".pdl");
      } else if (p.is_string()) {
        k.pdl = expr(p, path + ".pdl");
      } else {
        fail(path + ".pdl", "expected true, false or an expression (a string), got " + type_of(p));
      }
    }
    if (j.contains("args")) {
      const Json& args = j["args"];
      if (!args.is_array()) fail(path + ".args", "expected an array, got " + type_of(args));
      for (size_t i = 0; i < args.size(); ++i) {
        std::string p = path + ".args[" + std::to_string(i) + "]";
        if (args[i].is_number_integer()) {
          k.args.push_back(std::to_string(integer(args[i], p)));
        } else if (args[i].is_string()) {
          k.args.emplace_back(trim(args[i].get<std::string>()));
          if (k.args.back().empty()) fail(p, "empty argument");
        } else {
          fail(p, "expected a name or expression (a string) or an integer, got " +
                      type_of(args[i]));
        }
      }
    }
    return {std::move(k)};
  }

  // An array of 1 to `most` expressions.
  std::vector<Expr> expr_list(const Json& j, const std::string& path, size_t most) const {
    if (!j.is_array() || j.empty() || j.size() > most)
      fail(path, "expected an array of 1 to " + std::to_string(most) + " expressions, got " + describe(j));
    std::vector<Expr> out;
    for (size_t i = 0; i < j.size(); ++i) out.push_back(expr(j[i], path + "[" + std::to_string(i) + "]"));
    return out;
  }

  // One of a few byte counts spelled "none" or "<N>B" (swizzle 32B/64B/128B, L2 promotion).
  int bytes_choice(const Json& obj, const std::string& key, const std::string& path,
                   std::initializer_list<int> allowed) const {
    if (!obj.contains(key)) return 0;
    std::string listing = "\"none\"";
    for (int b : allowed) listing += ", \"" + std::to_string(b) + "B\"";
    const Json& j = obj[key];
    if (j.is_string()) {
      const std::string s = j.get<std::string>();
      if (s == "none") return 0;
      for (int b : allowed)
        if (s == std::to_string(b) + "B") return b;
    }
    fail(path + "." + key, "expected one of " + listing + ", got " + (j.is_string() ? "'" + j.get<std::string>() + "'" : type_of(j)));
  }

  std::vector<std::pair<std::string, TensorMapSpec>> tensor_maps(const Json& j, const std::string& path) const {
    if (!j.is_object()) fail(path, "expected an object of name -> tensor map, got " + type_of(j));
    std::vector<std::pair<std::string, TensorMapSpec>> out;
    for (const auto& [name, m] : j.items()) {
      const std::string p = path + "." + name;
      if (!is_identifier(name)) fail(p, "tensor map names must be C identifiers");
      if (!m.is_object()) fail(p, "expected an object (buffer, dims, box, ...), got " + type_of(m));
      check_keys(m, p, {"buffer", "dims", "strides", "box", "swizzle", "l2_promotion", "oob_fill", "dtype", "when"},
                 "buffer, dims, strides, box, swizzle, l2_promotion, oob_fill, dtype, when");
      TensorMapSpec t;
      t.buffer = name_string(required(m, p, "buffer"), p + ".buffer");
      t.dims = expr_list(required(m, p, "dims"), p + ".dims", 5);
      t.box = expr_list(required(m, p, "box"), p + ".box", 5);
      if (t.box.size() != t.dims.size())
        fail(p + ".box", "has " + std::to_string(t.box.size()) + " entries for " + std::to_string(t.dims.size()) +
                             " dims (one per dim, innermost first)");
      if (m.contains("strides")) {
        if (t.dims.size() == 1) fail(p + ".strides", "a map of one dim has no strides");
        t.strides = expr_list(m["strides"], p + ".strides", 4);
        if (t.strides.size() != t.dims.size() - 1)
          fail(p + ".strides", "has " + std::to_string(t.strides.size()) + " entries; a map of " +
                                   std::to_string(t.dims.size()) + " dims takes " + std::to_string(t.dims.size() - 1) +
                                   " (elements between consecutive indices of dims[1..])");
      }
      t.swizzle = bytes_choice(m, "swizzle", p, {32, 64, 128});
      t.l2_promotion = bytes_choice(m, "l2_promotion", p, {64, 128, 256});
      if (m.contains("when")) t.when = expr(m["when"], p + ".when");
      if (m.contains("oob_fill")) {
        const Json& f = m["oob_fill"];
        if (!f.is_string() || (f != "zero" && f != "nan"))
          fail(p + ".oob_fill", "expected \"zero\" or \"nan\"");
        t.oob_nan = f == "nan";
      }
      if (m.contains("dtype")) {
        const std::string d = name_string(m["dtype"], p + ".dtype");
        t.dtype = parse_dtype(d);
        if (!t.dtype) fail(p + ".dtype", "unknown element type '" + d + "' (bf16, f16, f32, f64, i32)");
      }
      out.emplace_back(name, std::move(t));
    }
    return out;
  }

  GemmStep gemm_step(const Json& j, const std::string& path) const {
    if (!j.is_object()) fail(path, "expected an object, got " + type_of(j));
    check_keys(j, path, {"a", "b", "d", "m", "n", "k", "trans_a", "trans_b", "batch"},
               join({"a", "b", "d", "m", "n", "k", "trans_a", "trans_b", "batch"}));
    GemmStep g;
    g.a = name_string(required(j, path, "a"), path + ".a");
    g.b = name_string(required(j, path, "b"), path + ".b");
    g.d = name_string(required(j, path, "d"), path + ".d");
    g.m = expr(required(j, path, "m"), path + ".m");
    g.n = expr(required(j, path, "n"), path + ".n");
    g.k = expr(required(j, path, "k"), path + ".k");
    g.trans_a = flag(j, "trans_a", path);
    g.trans_b = flag(j, "trans_b", path);
    if (j.contains("batch")) g.batch = expr(j["batch"], path + ".batch");
    return g;
  }

  bool flag(const Json& obj, const std::string& key, const std::string& path) const {
    if (!obj.contains(key)) return false;
    const Json& j = obj[key];
    if (!j.is_boolean()) fail(path + "." + key, "expected true or false, got " + type_of(j));
    return j.get<bool>();
  }
};

}  // namespace

Candidate parse_candidate(std::string_view text, std::string_view origin_view) {
  std::string origin(origin_view);
  // A candidate's text goes into the archive, JSON and logs: it must be UTF-8 (an LLM's reply is
  // made so on arrival; a file is the user's to fix).
  if (std::optional<size_t> bad = first_invalid_utf8(text))
    throw PlanError(origin + ": the file is not valid UTF-8 (byte " + std::to_string(*bad) + ")");
  PlanComment c = find_plan_comment(text, origin);
  std::string_view json_text = text.substr(c.json_start, c.json_end - c.json_start);
  check_json_depth(json_text, origin, c.json_start - c.comment_start);
  Json root;
  try {
    root = Json::parse(json_text, DuplicateKeyCheck(origin), /*allow_exceptions=*/true,
                       /*ignore_comments=*/true);
  } catch (const Json::parse_error& e) {
    // nlohmann counts bytes from 1 within the JSON text; say where that is in the comment and
    // the file, since its own line numbers count from the "/* ksearch" line.
    size_t in_file = std::min(c.json_start + (e.byte > 0 ? e.byte - 1 : 0), text.size());
    size_t line = 1;
    for (size_t i = 0; i < in_file; ++i) line += text[i] == '\n';
    throw PlanError(origin + ": plan: JSON syntax error at byte " +
                    std::to_string(in_file - c.comment_start + 1) + " of the plan comment (line " +
                    std::to_string(line) + " of the file): " + e.what());
  }
  Candidate cand;
  cand.origin = origin;
  cand.source = std::string(text);
  cand.plan = PlanReader(origin).read(root);
  return cand;
}

Candidate load_candidate(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw Error("load_candidate: cannot read '" + path + "': it is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("load_candidate: cannot open '" + path + "': " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error("load_candidate: cannot read '" + path + "'");
  return parse_candidate(text.str(), path);
}

namespace {

// Code without comments (string and character literals kept as they are), each line's blanks
// folded to one space, blank lines dropped.
std::string strip_code(std::string_view code) {
  std::string flat;
  for (size_t i = 0; i < code.size(); ++i) {
    const char ch = code[i];
    if (code.substr(i, 2) == "//") {
      i = code.find('\n', i);
      if (i == std::string_view::npos) break;
      flat += '\n';
    } else if (code.substr(i, 2) == "/*") {
      const size_t end = code.find("*/", i + 2);
      for (size_t j = i; j < std::min(end, code.size()); ++j)
        if (code[j] == '\n') flat += '\n';  // keep line structure: preprocessor lines end there
      flat += ' ';
      if (end == std::string_view::npos) break;
      i = end + 1;
    } else if (ch == '"' || ch == '\'') {
      size_t j = i + 1;
      while (j < code.size() && code[j] != ch && code[j] != '\n') j += code[j] == '\\' ? 2 : 1;
      flat.append(code.substr(i, std::min(j + 1, code.size()) - i));
      i = j;
    } else {
      flat += ch;
    }
  }
  std::string out;
  size_t start = 0;
  while (start <= flat.size()) {
    size_t end = flat.find('\n', start);
    if (end == std::string::npos) end = flat.size();
    std::string line;
    for (char ch : trim(std::string_view(flat).substr(start, end - start))) {
      const bool blank = std::isspace(static_cast<unsigned char>(ch));
      if (!(blank && !line.empty() && line.back() == ' ')) line += blank ? ' ' : ch;
    }
    if (!line.empty()) out += line + '\n';
    start = end + 1;
  }
  return out;
}

}  // namespace

std::string normalized_source(std::string_view text) {
  PlanComment c = find_plan_comment(text, "candidate");
  check_json_depth(text.substr(c.json_start, c.json_end - c.json_start), "candidate",
                   c.json_start - c.comment_start);
  std::string plan;
  try {
    plan = Json::parse(text.substr(c.json_start, c.json_end - c.json_start), nullptr,
                       /*allow_exceptions=*/true, /*ignore_comments=*/true)
               .dump();
  } catch (const Json::parse_error& e) {
    throw PlanError(std::string("candidate: plan: JSON syntax error: ") + e.what());
  }
  return plan + '\n' + strip_code(text.substr(c.json_end + 2));
}

}  // namespace ks
