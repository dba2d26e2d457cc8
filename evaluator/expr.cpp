// Plan expressions: a recursive-descent parser into a small AST, evaluated many times (once per
// shape and variant). Every error names the column, so a user (or the LLM) can find the mistake.
// Plans are hostile input: the text is bounded in length, nesting in depth, runs of binary
// operators are read in loops, and every arithmetic overflow is an ExprError, so no expression
// can crash the process.
#include "evaluator/expr.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace ks {

enum class Op {
  literal, name, neg, plus_sign,                 // leaves and unary
  add, sub, mul, div, mod,                        // arithmetic
  lt, le, gt, ge, eq, ne, land, lor,              // comparisons and logic
  cdiv, min, max,                                 // calls
  chain                                           // a run of one precedence level's operators
};

// A binary operator inside a chain, and the column where it starts.
struct ChainOp {
  Op op;
  int column;
};

// "a + b - c" is one chain node (operands a, b, c; ops +, -), evaluated left to right, not a
// left-deep tree of binary nodes: a hostile "M+M+...+M" would make that tree as deep as it is
// long, and evaluating, printing or even destroying it would recurse that deep and overflow the
// stack. So the tree is only as deep as the nesting (parentheses, unary signs, calls), which the
// parser bounds: at most kMaxDepth nesting levels, each adding at most 7 nodes (6 chain levels
// and the unary or call), so eval, names() and to_cpp() may recurse.
struct Expr::Node {
  Op op;
  int column;  // 1-based, where the operator (or the leaf) starts
  int64_t value = 0;
  std::string name;
  std::shared_ptr<const Node> lhs, rhs;  // unary nodes use lhs only; calls both
  std::vector<std::shared_ptr<const Node>> operands;  // Op::chain: 2 or more
  std::vector<ChainOp> ops;                           // Op::chain: operands.size() - 1
};

namespace {

using NodePtr = std::shared_ptr<const Expr::Node>;

// Longest text an expression may have. Plans' expressions are a few dozen bytes; the bound keeps
// a hostile one from costing time and memory out of all proportion (and every error message
// short, as they quote the text).
constexpr size_t kMaxTextBytes = 64 * 1024;
// Longest text an error quotes whole; a longer one is quoted around the column.
constexpr size_t kMaxQuoted = 160;

// The text as an error quotes it: all of it when short, else the 120 bytes around the column
// with "..." where it was cut; control characters (a JSON string may hold newlines) as spaces, so
// the message stays one line.
std::string quoted(std::string_view text, int column) {
  std::string out;
  if (text.size() <= kMaxQuoted) {
    out = text;
  } else {
    const size_t at = static_cast<size_t>(std::max(column, 1)) - 1;
    const size_t begin = at > 60 ? at - 60 : 0, end = std::min(text.size(), at + 60);
    out = (begin > 0 ? "..." : "") + std::string(text.substr(begin, end - begin)) +
          (end < text.size() ? "..." : "");
  }
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  return out;
}

[[noreturn]] void fail(std::string_view context, const std::string& problem, int column,
                       std::string_view text) {
  std::string message = std::string(context) + ": " + problem + " at column " +
                        std::to_string(column) + " in '" + quoted(text, column) + "'";
  for (char& c : message)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  throw ExprError(message);
}

// One character of the text as a message shows it: itself, or \xNN when it would not print.
std::string shown(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string(1, c);
  const char* hex = "0123456789abcdef";
  return std::string("\\x") + hex[u >> 4] + hex[u & 15];
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
    if (text_.size() > kMaxTextBytes)
      error_at("expression is " + std::to_string(text_.size()) + " bytes long, more than the " +
                   std::to_string(kMaxTextBytes) + " allowed",
               kMaxTextBytes);
    NodePtr root = parse_or();
    skip_space();
    if (pos_ < text_.size()) {
      if (text_[pos_] == ')') error("unbalanced ')'");
      error("unexpected '" + shown(text_[pos_]) + "' after the expression");
    }
    return root;
  }

 private:
  // Parentheses, unary signs and call arguments nest at most this deep (real plans: a handful).
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

  // Left-associative binary level: next (op next)*, read in a loop into one chain node (see
  // Expr::Node), however long the run.
  template <class Next>
  NodePtr binary(Next next, std::initializer_list<std::pair<std::string_view, Op>> ops) {
    NodePtr first = (this->*next)();
    std::shared_ptr<Expr::Node> chain;
    for (;;) {
      skip_space();
      size_t at = pos_;
      bool matched = false;
      for (auto [spelling, op] : ops) {
        if (accept(spelling)) {
          if (!chain) {
            chain = make(Op::chain, first->column);
            chain->operands.push_back(std::move(first));
          }
          chain->ops.push_back({op, static_cast<int>(at) + 1});
          chain->operands.push_back((this->*next)());
          matched = true;
          break;
        }
      }
      if (!matched) return chain ? NodePtr(chain) : first;
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
    if (++depth_ > kMaxDepth)
      error("expression nested too deeply: deeper than " + std::to_string(kMaxDepth) +
            " levels of parentheses, unary signs and calls");
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
    error("unexpected character '" + shown(c) + "'");
  }

  [[noreturn]] void expect_failed(const std::string& what) {
    skip_space();
    if (pos_ >= text_.size()) error("expected " + what + " but the text ended");
    error("expected " + what + " but found '" + shown(text_[pos_]) + "'");
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
      error("unexpected character '" + shown(text_[pos_]) + "' in a number");
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
        if (it == env_.end()) error(n.column, "unknown name '" + n.name + "'");
        return it->second;
      }
      case Op::neg: {
        int64_t r;
        if (__builtin_sub_overflow(int64_t{0}, eval(*n.lhs), &r))
          error(n.column, "int64 overflow in '-'");
        return r;
      }
      case Op::plus_sign: return eval(*n.lhs);
      case Op::chain: return chain(n);
      case Op::cdiv:
      case Op::min:
      case Op::max: return apply(n.op, eval(*n.lhs), eval(*n.rhs), n.column);
      default: break;
    }
    error(n.column, "internal error: unknown operator");
  }

 private:
  const Env& env_;
  std::string_view text_, context_;

  [[noreturn]] void error(int column, const std::string& problem) const {
    fail(context_, problem, column, text_);
  }

  // Left to right, as the left-deep tree of binary operations would be: ((a op b) op c) ...
  int64_t chain(const Expr::Node& n) const {
    int64_t acc = eval(*n.operands[0]);
    for (size_t i = 0; i < n.ops.size(); ++i) {
      const ChainOp& op = n.ops[i];
      const Expr::Node& next = *n.operands[i + 1];
      // && and || short-circuit as in C, so "N > 0 && K / N > 1" is safe at N = 0; a chain's
      // operators are all of one level, so once decided the rest is never evaluated.
      if (op.op == Op::land) acc = acc != 0 && eval(next) != 0;
      else if (op.op == Op::lor) acc = acc != 0 || eval(next) != 0;
      else acc = apply(op.op, acc, eval(next), op.column);
    }
    return acc;
  }

  int64_t apply(Op op, int64_t a, int64_t b, int column) const {
    int64_t r = 0;
    switch (op) {
      case Op::add:
        if (__builtin_add_overflow(a, b, &r)) error(column, "int64 overflow in '+'");
        return r;
      case Op::sub:
        if (__builtin_sub_overflow(a, b, &r)) error(column, "int64 overflow in '-'");
        return r;
      case Op::mul:
        if (__builtin_mul_overflow(a, b, &r)) error(column, "int64 overflow in '*'");
        return r;
      case Op::div:
        if (b == 0) error(column, "division by zero");
        if (a == INT64_MIN && b == -1) error(column, "int64 overflow in '/'");
        return a / b;
      case Op::mod:
        if (b == 0) error(column, "division by zero in '%'");
        if (b == -1) return 0;  // INT64_MIN % -1 traps in C
        return a % b;
      case Op::lt: return a < b;
      case Op::le: return a <= b;
      case Op::gt: return a > b;
      case Op::ge: return a >= b;
      case Op::eq: return a == b;
      case Op::ne: return a != b;
      case Op::cdiv:
        if (b <= 0) error(column, "cdiv divisor must be positive, got " + std::to_string(b));
        // Ceiling division; equals (a + b - 1) / b for a >= 0, without its overflow.
        return a / b + (a % b > 0 ? 1 : 0);
      case Op::min: return std::min(a, b);
      case Op::max: return std::max(a, b);
      default: break;
    }
    error(column, "internal error: unknown operator");
  }
};

void collect_names(const Expr::Node& n, std::set<std::string>& out) {
  if (n.op == Op::name) out.insert(n.name);
  if (n.lhs) collect_names(*n.lhs, out);
  if (n.rhs) collect_names(*n.rhs, out);
  for (const NodePtr& p : n.operands) collect_names(*p, out);
}

// How to_cpp writes one binary operation "prefix L infix R suffix".
struct CppForm {
  const char* prefix;
  const char* infix;
  const char* suffix;
};

CppForm cpp_form(Op op) {
  switch (op) {
    // Arithmetic through checked helpers (the export's runtime defines them with eval's rules:
    // an overflow or a division by zero is an error there too, never undefined behaviour).
    case Op::add: return {"ks_add(", ", ", ")"};
    case Op::sub: return {"ks_sub(", ", ", ")"};
    case Op::mul: return {"ks_mul(", ", ", ")"};
    case Op::div: return {"ks_div(", ", ", ")"};
    case Op::mod: return {"ks_mod(", ", ", ")"};
    // Comparisons and logic give bool in C++: cast, so the value is the 0/1 int64 the evaluator
    // gives.
    case Op::lt: return {"int64_t(", " < ", ")"};
    case Op::le: return {"int64_t(", " <= ", ")"};
    case Op::gt: return {"int64_t(", " > ", ")"};
    case Op::ge: return {"int64_t(", " >= ", ")"};
    case Op::eq: return {"int64_t(", " == ", ")"};
    case Op::ne: return {"int64_t(", " != ", ")"};
    case Op::land: return {"int64_t(", " != 0 && ", " != 0)"};
    case Op::lor: return {"int64_t(", " != 0 || ", " != 0)"};
    default: break;
  }
  throw ExprError("expression: internal error: unknown operator");
}

void node_cpp(const Expr::Node& n, const std::function<std::string(const std::string&)>& name,
              std::string& out) {
  auto call = [&](const char* f) {
    out += f;
    out += '(';
    node_cpp(*n.lhs, name, out);
    out += ", ";
    node_cpp(*n.rhs, name, out);
    out += ')';
  };
  switch (n.op) {
    case Op::literal: out += "int64_t(" + std::to_string(n.value) + ")"; return;
    case Op::name: out += name(n.name); return;
    case Op::neg:
      out += "ks_neg(";
      node_cpp(*n.lhs, name, out);
      out += ')';
      return;
    case Op::plus_sign: node_cpp(*n.lhs, name, out); return;
    case Op::cdiv: call("ks_cdiv"); return;
    case Op::min: call("ks_min"); return;
    case Op::max: call("ks_max"); return;
    case Op::chain: {
      // Parenthesized as the left-deep tree: the prefixes of every operation, outermost (the
      // last) first, then "a", then each operation's "infix b suffix". Linear in the length.
      for (size_t i = n.ops.size(); i-- > 0;) out += cpp_form(n.ops[i].op).prefix;
      node_cpp(*n.operands[0], name, out);
      for (size_t i = 0; i < n.ops.size(); ++i) {
        const CppForm f = cpp_form(n.ops[i].op);
        out += f.infix;
        node_cpp(*n.operands[i + 1], name, out);
        out += f.suffix;
      }
      return;
    }
    default: break;
  }
  throw ExprError("expression: internal error: unknown operator");
}

}  // namespace

std::string Expr::to_cpp(const std::function<std::string(const std::string&)>& name) const {
  if (!root_) throw ExprError("expression: printed before it was parsed");
  std::string out;
  node_cpp(*root_, name, out);
  return out;
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
