// Plan expressions: a recursive-descent parser into a small AST, evaluated many times (once per
// shape and variant). Every error names the column, so a user (or the LLM) can find the mistake.
#include "evaluator/expr.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace ks {

enum class Op {
  literal, name, neg, plus_sign,                 // leaves and unary
  add, sub, mul, div, mod,                        // arithmetic
  lt, le, gt, ge, eq, ne, land, lor,              // comparisons and logic
  cdiv, min, max                                  // calls
};

struct Expr::Node {
  Op op;
  int column;  // 1-based, where the operator (or the leaf) starts
  int64_t value = 0;
  std::string name;
  std::shared_ptr<const Node> lhs, rhs;  // unary nodes use lhs only
};

namespace {

using NodePtr = std::shared_ptr<const Expr::Node>;

[[noreturn]] void fail(std::string_view context, const std::string& problem, int column,
                       std::string_view text) {
  throw ExprError(std::string(context) + ": " + problem + " at column " + std::to_string(column) +
                  " in '" + std::string(text) + "'");
}

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

std::shared_ptr<Expr::Node> make(Op op, int column, NodePtr lhs = nullptr,
                                 NodePtr rhs = nullptr) {
  auto n = std::make_shared<Expr::Node>();
  n->op = op;
  n->column = column;
  n->lhs = std::move(lhs);
  n->rhs = std::move(rhs);
  return n;
}

class Parser {
 public:
  Parser(std::string_view text, std::string_view context) : text_(text), context_(context) {}

  NodePtr parse_all() {
    NodePtr root = parse_or();
    skip_space();
    if (pos_ < text_.size()) {
      if (text_[pos_] == ')') error("unbalanced ')'");
      error("unexpected '" + std::string(1, text_[pos_]) + "' after the expression");
    }
    return root;
  }

 private:
  static constexpr int kMaxDepth = 200;
  std::string_view text_, context_;
  size_t pos_ = 0;
  int depth_ = 0;

  [[noreturn]] void error(const std::string& problem) const { error_at(problem, pos_); }
  [[noreturn]] void error_at(const std::string& problem, size_t pos) const {
    fail(context_, problem, static_cast<int>(pos) + 1, text_);
  }

  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }

  // Consumes op if the input continues with it (after spaces); a one-char op does not match the
  // first char of a longer one ("<" is not taken from "<=", "&" alone is never an op).
  bool accept(std::string_view op) {
    skip_space();
    if (text_.substr(pos_, op.size()) != op) return false;
    if (op.size() == 1 && pos_ + 1 < text_.size()) {
      char next = text_[pos_ + 1];
      if ((op == "<" || op == ">" || op == "=" || op == "!") && next == '=') return false;
    }
    pos_ += op.size();
    return true;
  }

  // Left-associative binary level: next (op next)*.
  template <class Next>
  NodePtr binary(Next next, std::initializer_list<std::pair<std::string_view, Op>> ops) {
    NodePtr lhs = (this->*next)();
    for (;;) {
      skip_space();
      size_t at = pos_;
      bool matched = false;
      for (auto [spelling, op] : ops) {
        if (accept(spelling)) {
          lhs = make(op, static_cast<int>(at) + 1, lhs, (this->*next)());
          matched = true;
          break;
        }
      }
      if (!matched) return lhs;
    }
  }

  NodePtr parse_or() { return binary(&Parser::parse_and, {{"||", Op::lor}}); }
  NodePtr parse_and() { return binary(&Parser::parse_equality, {{"&&", Op::land}}); }
  NodePtr parse_equality() {
    return binary(&Parser::parse_relational, {{"==", Op::eq}, {"!=", Op::ne}});
  }
  NodePtr parse_relational() {
    return binary(&Parser::parse_additive,
                  {{"<=", Op::le}, {">=", Op::ge}, {"<", Op::lt}, {">", Op::gt}});
  }
  NodePtr parse_additive() {
    return binary(&Parser::parse_multiplicative, {{"+", Op::add}, {"-", Op::sub}});
  }
  NodePtr parse_multiplicative() {
    return binary(&Parser::parse_unary, {{"*", Op::mul}, {"/", Op::div}, {"%", Op::mod}});
  }

  NodePtr parse_unary() {
    // Every recursion passes here; a bound keeps a hostile "((((..." from exhausting the stack.
    if (++depth_ > kMaxDepth) error("expression nested too deeply");
    struct Leave { int& d; ~Leave() { --d; } } leave{depth_};
    skip_space();
    size_t at = pos_;
    if (accept("-")) return make(Op::neg, static_cast<int>(at) + 1, parse_unary());
    if (accept("+")) return make(Op::plus_sign, static_cast<int>(at) + 1, parse_unary());
    return parse_primary();
  }

  NodePtr parse_primary() {
    skip_space();
    if (pos_ >= text_.size()) error("expected a number, name or '(' but the text ended");
    size_t at = pos_;
    char c = text_[pos_];
    if (std::isdigit(static_cast<unsigned char>(c))) return parse_literal();
    if (is_name_start(c)) {
      while (pos_ < text_.size() && is_name_char(text_[pos_])) ++pos_;
      std::string name(text_.substr(at, pos_ - at));
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == '(') return parse_call(name, at);
      auto n = make(Op::name, static_cast<int>(at) + 1);
      n->name = std::move(name);
      return n;
    }
    if (c == '(') {
      ++pos_;
      NodePtr inner = parse_or();
      if (!accept(")")) expect_failed("')' to close the '(' at column " + std::to_string(at + 1));
      return inner;
    }
    if (c == ')') error("unexpected ')'");
    error("unexpected character '" + std::string(1, c) + "'");
  }

  [[noreturn]] void expect_failed(const std::string& what) {
    skip_space();
    if (pos_ >= text_.size()) error("expected " + what + " but the text ended");
    error("expected " + what + " but found '" + std::string(1, text_[pos_]) + "'");
  }

  NodePtr parse_literal() {
    size_t at = pos_;
    int64_t value = 0;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
      int digit = text_[pos_] - '0';
      if (__builtin_mul_overflow(value, int64_t{10}, &value) ||
          __builtin_add_overflow(value, int64_t{digit}, &value))
        error_at("integer literal out of int64 range", at);
      ++pos_;
    }
    // "12abc" is a typo, not "12" followed by a name.
    if (pos_ < text_.size() && is_name_char(text_[pos_]))
      error("unexpected character '" + std::string(1, text_[pos_]) + "' in a number");
    auto n = make(Op::literal, static_cast<int>(at) + 1);
    n->value = value;
    return n;
  }

  NodePtr parse_call(const std::string& name, size_t at) {
    Op op;
    if (name == "cdiv") op = Op::cdiv;
    else if (name == "min") op = Op::min;
    else if (name == "max") op = Op::max;
    else error_at("unknown function '" + name + "' (known: cdiv, min, max)", at);
    ++pos_;  // '('
    NodePtr a = parse_or();
    if (!accept(",")) expect_failed("',' (" + name + " takes 2 arguments)");
    NodePtr b = parse_or();
    if (!accept(")")) expect_failed("')' (" + name + " takes 2 arguments)");
    return make(op, static_cast<int>(at) + 1, a, b);
  }
};

class Evaluator {
 public:
  Evaluator(const Env& env, std::string_view text, std::string_view context)
      : env_(env), text_(text), context_(context) {}

  int64_t eval(const Expr::Node& n) const {
    switch (n.op) {
      case Op::literal: return n.value;
      case Op::name: {
        auto it = env_.find(n.name);
        if (it == env_.end()) error(n, "unknown name '" + n.name + "'");
        return it->second;
      }
      case Op::neg: {
        int64_t r;
        if (__builtin_sub_overflow(int64_t{0}, eval(*n.lhs), &r)) error(n, "int64 overflow in '-'");
        return r;
      }
      case Op::plus_sign: return eval(*n.lhs);
      // && and || short-circuit as in C, so "N > 0 && K / N > 1" is safe at N = 0.
      case Op::land: return eval(*n.lhs) != 0 && eval(*n.rhs) != 0;
      case Op::lor: return eval(*n.lhs) != 0 || eval(*n.rhs) != 0;
      default: break;
    }
    int64_t a = eval(*n.lhs), b = eval(*n.rhs), r = 0;
    switch (n.op) {
      case Op::add:
        if (__builtin_add_overflow(a, b, &r)) error(n, "int64 overflow in '+'");
        return r;
      case Op::sub:
        if (__builtin_sub_overflow(a, b, &r)) error(n, "int64 overflow in '-'");
        return r;
      case Op::mul:
        if (__builtin_mul_overflow(a, b, &r)) error(n, "int64 overflow in '*'");
        return r;
      case Op::div:
        if (b == 0) error(n, "division by zero");
        if (a == INT64_MIN && b == -1) error(n, "int64 overflow in '/'");
        return a / b;
      case Op::mod:
        if (b == 0) error(n, "division by zero in '%'");
        if (b == -1) return 0;  // INT64_MIN % -1 traps in C
        return a % b;
      case Op::lt: return a < b;
      case Op::le: return a <= b;
      case Op::gt: return a > b;
      case Op::ge: return a >= b;
      case Op::eq: return a == b;
      case Op::ne: return a != b;
      case Op::cdiv:
        if (b <= 0) error(n, "cdiv divisor must be positive, got " + std::to_string(b));
        // Ceiling division; equals (a + b - 1) / b for a >= 0, without its overflow.
        return a / b + (a % b > 0 ? 1 : 0);
      case Op::min: return std::min(a, b);
      case Op::max: return std::max(a, b);
      default: break;
    }
    error(n, "internal error: unknown operator");
  }

 private:
  const Env& env_;
  std::string_view text_, context_;

  [[noreturn]] void error(const Expr::Node& n, const std::string& problem) const {
    fail(context_, problem, n.column, text_);
  }
};

void collect_names(const Expr::Node& n, std::set<std::string>& out) {
  if (n.op == Op::name) out.insert(n.name);
  if (n.lhs) collect_names(*n.lhs, out);
  if (n.rhs) collect_names(*n.rhs, out);
}

std::string node_cpp(const Expr::Node& n, const std::function<std::string(const std::string&)>& name) {
  auto sub = [&](const NodePtr& p) { return node_cpp(*p, name); };
  auto bin = [&](const char* op) { return "(" + sub(n.lhs) + " " + op + " " + sub(n.rhs) + ")"; };
  // Comparisons and logic give bool in C++: cast, so the value is the 0/1 int64 the evaluator gives.
  auto boolean = [&](const char* op) { return "int64_t(" + sub(n.lhs) + " " + op + " " + sub(n.rhs) + ")"; };
  auto call = [&](const char* f) { return std::string(f) + "(" + sub(n.lhs) + ", " + sub(n.rhs) + ")"; };
  switch (n.op) {
    case Op::literal: return "int64_t(" + std::to_string(n.value) + ")";
    case Op::name: return name(n.name);
    case Op::neg: return "(-" + sub(n.lhs) + ")";
    case Op::plus_sign: return sub(n.lhs);
    case Op::add: return bin("+");
    case Op::sub: return bin("-");
    case Op::mul: return bin("*");
    case Op::div: return bin("/");
    case Op::mod: return bin("%");
    case Op::lt: return boolean("<");
    case Op::le: return boolean("<=");
    case Op::gt: return boolean(">");
    case Op::ge: return boolean(">=");
    case Op::eq: return boolean("==");
    case Op::ne: return boolean("!=");
    case Op::land: return "int64_t(" + sub(n.lhs) + " != 0 && " + sub(n.rhs) + " != 0)";
    case Op::lor: return "int64_t(" + sub(n.lhs) + " != 0 || " + sub(n.rhs) + " != 0)";
    case Op::cdiv: return call("ks_cdiv");
    case Op::min: return call("ks_min");
    case Op::max: return call("ks_max");
  }
  throw ExprError("expression: internal error: unknown operator");
}

}  // namespace

std::string Expr::to_cpp(const std::function<std::string(const std::string&)>& name) const {
  if (!root_) throw ExprError("expression: printed before it was parsed");
  return node_cpp(*root_, name);
}

Expr Expr::parse(std::string_view text, std::string_view context) {
  Expr e;
  e.text_ = std::string(text);
  e.context_ = std::string(context);
  e.root_ = Parser(e.text_, e.context_).parse_all();
  return e;
}

int64_t Expr::eval(const Env& env) const {
  // A default-constructed Expr has no tree: evaluating it is a bug of the caller, said clearly.
  if (!root_) throw ExprError("expression: evaluated before it was parsed");
  return Evaluator(env, text_, context_).eval(*root_);
}

std::vector<std::string> Expr::names() const {
  std::set<std::string> names;
  if (root_) collect_names(*root_, names);
  return {names.begin(), names.end()};
}

}  // namespace ks
