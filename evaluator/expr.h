#pragma once
// Plan expressions: integers, + - * / %, parentheses, unary minus, cdiv(a,b), min(a,b), max(a,b),
// comparisons (< <= > >= == !=), && and || (short-circuit), over names (size symbols, params).
// Integer arithmetic in int64; / and % truncate like C; a comparison is 1 or 0.
// A small recursive-descent parser: no string is evaluated by any other means. Plans are hostile,
// so every expression either parses and evaluates or throws ExprError, never crashes: the text is
// at most 64 KiB, parentheses, unary signs and calls nest at most 200 deep, a run of binary
// operators of any length is read in a loop (not by recursion), and every overflow is an error.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace ks {

// Thrown by parse and eval; what() reads "<context>: <problem> at column <n> in '<text>'".
struct ExprError : Error {
  using Error::Error;
};

using Env = std::map<std::string, int64_t>;

class Expr {
 public:
  // context names the field in errors, e.g. "steps[1].grid[0]".
  static Expr parse(std::string_view text, std::string_view context = "expression");

  int64_t eval(const Env& env) const;  // unknown name, division by zero, overflow: ExprError
  std::vector<std::string> names() const;  // every name used, sorted, unique
  // The expression as C++ text of the same value (for generated code): every binary operation
  // parenthesized, literals as int64_t(N), a comparison or logic result as int64_t, cdiv/min/max
  // as calls to ks_cdiv/ks_min/ks_max (which the generated code defines over int64_t), and each
  // name replaced by name(n) (e.g. "s.M", or a param's value). No overflow checks.
  std::string to_cpp(const std::function<std::string(const std::string&)>& name) const;
  const std::string& text() const { return text_; }

  struct Node;

 private:
  std::string text_, context_;
  std::shared_ptr<const Node> root_;
};

}  // namespace ks
