// Plan expressions against hostile text: random expressions from the grammar, random token soup
// and garbage, and the very long and very deep ones that once overflowed the stack. Each either
// parses and evaluates or throws ExprError; none may crash. Seeds are fixed, so a failure repeats.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>

#include "evaluator/expr.h"

namespace ks {
namespace {

const Env kEnv{{"M", 16}, {"N", 4096}, {"K", 0}, {"BIG", int64_t{1} << 62}, {"NEG", -7}};

// Parses and evaluates text, and prints it as C++ and lists its names when it parses: true if
// it evaluated, false on an ExprError. Any other exception fails the test; a crash ends it.
bool survives(const std::string& text) {
  try {
    Expr e = Expr::parse(text, "fuzz");
    (void)e.names();
    (void)e.to_cpp([](const std::string& n) { return "s." + n; });
    (void)e.eval(kEnv);
    return true;
  } catch (const ExprError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("fuzz: ", 0), 0u) << what.substr(0, 200);
    EXPECT_EQ(what.find('\n'), std::string::npos) << "one line: " << what.substr(0, 200);
    EXPECT_LT(what.size(), 600u) << "the message quotes a window, not the whole text";
    return false;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not an ExprError: " << e.what() << " for " << text.substr(0, 200);
    return false;
  }
}

// A random expression from the grammar, depth-bounded by `depth`.
class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  std::string expr(int depth) {
    if (depth <= 0 || pick(4) == 0) return leaf();
    switch (pick(5)) {
      case 0: return "(" + expr(depth - 1) + ")";
      case 1: return std::string(pick(2) ? "-" : "+") + expr(depth - 1);
      case 2: {
        static const char* fns[] = {"cdiv", "min", "max"};
        return std::string(fns[pick(3)]) + "(" + expr(depth - 1) + ", " + expr(depth - 1) + ")";
      }
      default: {
        static const char* ops[] = {"+", "-", "*", "/", "%", "<", "<=", ">", ">=",
                                    "==", "!=", "&&", "||"};
        return expr(depth - 1) + " " + ops[pick(13)] + " " + expr(depth - 1);
      }
    }
  }

  // Tokens of the grammar in random order, spliced with random bytes.
  std::string soup() {
    static const char* tokens[] = {"(", ")", ",", "+", "-", "*", "/", "%", "<", "<=", ">", ">=",
                                   "==", "!=", "&&", "||", "&", "|", "!", "=", "M", "N", "K",
                                   "BIG", "NEG", "Q", "cdiv", "min", "max", "foo", "0", "1",
                                   "-1", "9223372036854775807", "9223372036854775808",
                                   "99999999999999999999999", " ", "\t", "\n"};
    std::string out;
    const int n = static_cast<int>(pick(30));
    for (int i = 0; i < n; ++i) {
      if (pick(8) == 0) out += static_cast<char>(pick(256));
      else out += tokens[pick(std::size(tokens))];
    }
    return out;
  }

  // One random character inserted, deleted or replaced.
  std::string mutate(std::string text) {
    const size_t at = text.empty() ? 0 : pick(text.size());
    switch (pick(3)) {
      case 0: text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), static_cast<char>(pick(256))); break;
      case 1: if (!text.empty()) text.erase(at, 1); break;
      default: if (!text.empty()) text[at] = "()+-*/%<>=!&|, M0"[pick(17)];
    }
    return text;
  }

  std::string leaf() {
    static const char* leaves[] = {"M", "N", "K", "BIG", "NEG", "0", "1", "2", "3", "7", "64",
                                   "4096", "9223372036854775807", "UNKNOWN"};
    return leaves[pick(std::size(leaves))];
  }

 private:
  std::mt19937 rng_;
  size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
};

// A run of `terms` copies of `term` joined by `op`.
std::string chain(const std::string& term, const std::string& op, size_t terms) {
  std::string out = term;
  out.reserve((term.size() + op.size()) * terms);
  for (size_t i = 1; i < terms; ++i) out += op + term;
  return out;
}

TEST(ExprFuzz, RandomExpressionsParseAndEvaluateOrThrowExprError) {
  const auto start = std::chrono::steady_clock::now();
  int evaluated = 0, refused = 0;
  for (uint32_t seed = 1; seed <= 4; ++seed) {
    Generator g(seed);
    for (int i = 0; i < 2000; ++i) {
      const std::string grammatical = g.expr(8);
      (survives(grammatical) ? evaluated : refused)++;
      (survives(g.mutate(grammatical)) ? evaluated : refused)++;
    }
  }
  for (uint32_t seed = 100; seed < 104; ++seed) {
    Generator g(seed);
    for (int i = 0; i < 1000; ++i) (survives(g.soup()) ? evaluated : refused)++;
  }
  // Both outcomes are common, so both paths were exercised.
  EXPECT_GT(evaluated, 2000) << refused << " refused";
  EXPECT_GT(refused, 2000) << evaluated << " evaluated";
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 10) << "20000 expressions took " << seconds << " s";
}

TEST(ExprFuzz, LongChainsOfEveryPrecedenceLevelEvaluateWithoutRecursion) {
  // Just under the 64 KiB limit: 16383 terms of "M+" is 32 KiB, "1==" 48 KiB, "1&&" 48 KiB.
  const size_t n = 16383;
  EXPECT_EQ(Expr::parse(chain("M", "+", n)).eval(kEnv), 16 * static_cast<int64_t>(n));
  EXPECT_EQ(Expr::parse(chain("M", "-", n)).eval(kEnv), 16 - 16 * static_cast<int64_t>(n - 1));
  EXPECT_EQ(Expr::parse(chain("1", "*", n)).eval(kEnv), 1);
  EXPECT_EQ(Expr::parse(chain("7", "%", n)).eval(kEnv), 0);
  EXPECT_EQ(Expr::parse(chain("1", "<", n)).eval(kEnv), 1);  // 1<1 is 0, 0<1 is 1, ...: even ops
  EXPECT_EQ(Expr::parse(chain("1", "==", n)).eval(kEnv), 1);
  EXPECT_EQ(Expr::parse(chain("1", "&&", n)).eval(kEnv), 1);
  EXPECT_EQ(Expr::parse(chain("0", "||", n)).eval(kEnv), 0);
  EXPECT_EQ(Expr::parse("0 && " + chain("1/0", "&&", 10000)).eval(kEnv), 0);  // short-circuits
  EXPECT_EQ(Expr::parse("1 || " + chain("1/0", "||", 10000)).eval(kEnv), 1);
  Expr e = Expr::parse(chain("M", "+", n));
  EXPECT_EQ(e.names(), std::vector<std::string>{"M"});
  const std::string cpp = e.to_cpp([](const std::string& name) { return name; });
  EXPECT_EQ(cpp.substr(0, 21), "ks_add(ks_add(ks_add(");
  EXPECT_EQ(cpp.substr(cpp.size() - 8), ", M), M)");
}

TEST(ExprFuzz, HugeAndDeepTextIsOneErrorNotACrash) {
  auto error_of = [](const std::string& text) {
    try {
      Expr::parse(text, "plan.applies").eval(kEnv);
    } catch (const ExprError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string million = chain("M", "+", 1000000);
  std::string m = error_of(million);
  EXPECT_NE(m.find("plan.applies: expression is 1999999 bytes long, more than the 65536 allowed"),
            std::string::npos)
      << m;
  EXPECT_LT(m.size(), 300u) << m;
  m = error_of(std::string(100000, '(') + "1" + std::string(100000, ')'));
  EXPECT_NE(m.find("bytes long"), std::string::npos) << m.substr(0, 200);
  m = error_of(std::string(100000, '-') + "1");
  EXPECT_NE(m.find("bytes long"), std::string::npos) << m.substr(0, 200);
  m = error_of(std::string(60000, '(') + "1" + std::string(60000 - 1, ')'));
  EXPECT_NE(m.find("bytes long"), std::string::npos) << m.substr(0, 200);

  // Within the length limit, nesting stops at 200 levels, with the column where it did.
  m = error_of(std::string(30000, '(') + "1" + std::string(30000, ')'));
  EXPECT_NE(m.find("nested too deeply: deeper than 200 levels of parentheses, unary signs and "
                   "calls at column 201"),
            std::string::npos)
      << m.substr(0, 300);
  EXPECT_NE(error_of(std::string(60000, '-') + "1").find("deeper than 200"), std::string::npos);
  EXPECT_NE(error_of(chain("min(1", ", ", 9000)).find("deeper than 200"), std::string::npos);
  EXPECT_NE(error_of(std::string(30000, '(') + "1").find("deeper than 200"), std::string::npos);
  // 199 levels are fine, each level's chain long as it likes.
  EXPECT_EQ(Expr::parse(std::string(199, '(') + chain("1", "+", 100) + std::string(199, ')'))
                .eval(kEnv),
            100);
  EXPECT_EQ(Expr::parse(std::string(198, '-') + "M").eval(kEnv), 16);
  // Huge literals are an error at their column, not an overflow.
  EXPECT_NE(error_of("1 + " + std::string(50000, '9')).find("integer literal out of int64 range at column 5"),
            std::string::npos);
}

TEST(ExprFuzz, OverflowIsAnExprErrorAtEveryOperator) {
  for (const char* text : {"BIG * 4", "BIG + BIG", "0 - BIG - BIG - BIG", "-BIG - BIG - BIG",
                           "(0 - 9223372036854775807 - 1) / -1", "-(0 - 9223372036854775807 - 1)",
                           "BIG * BIG * 0", "cdiv(BIG * 2, 1)", "M / K", "M % K", "cdiv(M, K)",
                           "cdiv(M, NEG)"})
    EXPECT_FALSE(survives(text)) << text;
  EXPECT_EQ(Expr::parse("(0 - 9223372036854775807 - 1) % -1").eval(kEnv), 0);
  EXPECT_EQ(Expr::parse("cdiv(9223372036854775807, 1)").eval(kEnv), INT64_MAX);
  EXPECT_EQ(Expr::parse("BIG + (BIG - 1)").eval(kEnv), INT64_MAX);  // no false alarm at the edge
}

}  // namespace
}  // namespace ks
