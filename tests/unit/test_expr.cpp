// Plan expressions: grammar, C semantics of / and %, and every error with its column.
#include <gtest/gtest.h>

#include <string>

#include "evaluator/expr.h"

namespace ks {
namespace {

int64_t eval(const std::string& text, const Env& env = {}) { return Expr::parse(text).eval(env); }

// The ExprError message of parsing and evaluating text, or "" when it succeeds.
std::string error_of(const std::string& text, const Env& env = {}) {
  try {
    Expr::parse(text, "ctx").eval(env);
  } catch (const ExprError& e) {
    return e.what();
  }
  return "";
}

TEST(Expr, LiteralsNamesAndWhitespace) {
  EXPECT_EQ(eval("42"), 42);
  EXPECT_EQ(eval("0"), 0);
  EXPECT_EQ(eval("M", {{"M", 16}}), 16);
  EXPECT_EQ(eval("  M\t*\n 2 ", {{"M", 16}}), 32);
  EXPECT_EQ(eval("_a1 + B_2", {{"_a1", 1}, {"B_2", 2}}), 3);
  EXPECT_EQ(eval("9223372036854775807"), INT64_MAX);
}

TEST(Expr, Precedence) {
  EXPECT_EQ(eval("1 + 2 * 3"), 7);
  EXPECT_EQ(eval("(1 + 2) * 3"), 9);
  EXPECT_EQ(eval("1 + 6 / 3"), 3);
  EXPECT_EQ(eval("1 + 7 % 4"), 4);
  EXPECT_EQ(eval("1 + 2 < 4"), 1);      // + binds tighter than <
  EXPECT_EQ(eval("1 < 2 == 1"), 1);     // < binds tighter than ==
  EXPECT_EQ(eval("2 + 3 == 5"), 1);
  EXPECT_EQ(eval("1 == 1 && 2 != 3"), 1);
  EXPECT_EQ(eval("0 || 1 && 0"), 0);    // && binds tighter than ||
  EXPECT_EQ(eval("1 || 0 && 0"), 1);
  EXPECT_EQ(eval("-2 * 3"), -6);
  EXPECT_EQ(eval("2 * -3"), -6);
  EXPECT_EQ(eval("-(2 + 3)"), -5);
}

TEST(Expr, LeftAssociativity) {
  EXPECT_EQ(eval("10 - 4 - 3"), 3);
  EXPECT_EQ(eval("100 / 10 / 5"), 2);
  EXPECT_EQ(eval("2 * 3 % 4"), 2);   // (2 * 3) % 4
  EXPECT_EQ(eval("7 % 4 * 3"), 9);   // (7 % 4) * 3
  EXPECT_EQ(eval("3 > 2 > 1"), 0);   // (3 > 2) > 1 == 1 > 1, as in C
  EXPECT_EQ(eval("1 - 2 + 3"), 2);
}

TEST(Expr, TruncatingDivisionAndModulo) {
  EXPECT_EQ(eval("7 / 2"), 3);
  EXPECT_EQ(eval("-7 / 2"), -3);
  EXPECT_EQ(eval("7 / -2"), -3);
  EXPECT_EQ(eval("-7 / -2"), 3);
  EXPECT_EQ(eval("7 % 2"), 1);
  EXPECT_EQ(eval("-7 % 2"), -1);
  EXPECT_EQ(eval("7 % -2"), 1);
  EXPECT_EQ(eval("-7 % -2"), -1);
  EXPECT_EQ(eval("(0 - 9223372036854775807 - 1) % -1"), 0);
}

TEST(Expr, UnaryOperators) {
  EXPECT_EQ(eval("-3"), -3);
  EXPECT_EQ(eval("+4"), 4);
  EXPECT_EQ(eval("--3"), 3);
  EXPECT_EQ(eval("- - -3"), -3);
  EXPECT_EQ(eval("-3 * -2"), 6);
  EXPECT_EQ(eval("2 - -3"), 5);
  EXPECT_EQ(eval("-M", {{"M", 5}}), -5);
}

TEST(Expr, Functions) {
  EXPECT_EQ(eval("cdiv(10, 3)"), 4);
  EXPECT_EQ(eval("cdiv(9, 3)"), 3);
  EXPECT_EQ(eval("cdiv(0, 4)"), 0);
  EXPECT_EQ(eval("cdiv(1, 1)"), 1);
  EXPECT_EQ(eval("cdiv(-5, 2)"), -2);  // a true ceiling for negative numerators too
  EXPECT_EQ(eval("cdiv(-4, 2)"), -2);
  EXPECT_EQ(eval("cdiv(9223372036854775807, 2)"), 4611686018427387904);  // no a + b - 1 overflow
  EXPECT_EQ(eval("cdiv(N, ROWS)", {{"N", 4096}, {"ROWS", 3}}), 1366);
  EXPECT_EQ(eval("min(3, -2)"), -2);
  EXPECT_EQ(eval("max(3, -2)"), 3);
  EXPECT_EQ(eval("max(min(M, 8), 3) * 2", {{"M", 100}}), 16);
  EXPECT_EQ(eval("min ( 1 + 1 , 5 )"), 2);
  EXPECT_EQ(eval("cdiv(cdiv(100, 7), 2)"), 8);
}

TEST(Expr, Comparisons) {
  EXPECT_EQ(eval("1 < 2"), 1);
  EXPECT_EQ(eval("2 < 2"), 0);
  EXPECT_EQ(eval("2 <= 2"), 1);
  EXPECT_EQ(eval("3 <= 2"), 0);
  EXPECT_EQ(eval("3 > 2"), 1);
  EXPECT_EQ(eval("2 > 2"), 0);
  EXPECT_EQ(eval("2 >= 2"), 1);
  EXPECT_EQ(eval("1 >= 2"), 0);
  EXPECT_EQ(eval("2 == 2"), 1);
  EXPECT_EQ(eval("2 == 3"), 0);
  EXPECT_EQ(eval("2 != 3"), 1);
  EXPECT_EQ(eval("2 != 2"), 0);
}

TEST(Expr, LogicShortCircuitsAndYieldsOneOrZero) {
  EXPECT_EQ(eval("5 && 7"), 1);
  EXPECT_EQ(eval("5 && 0"), 0);
  EXPECT_EQ(eval("0 || 9"), 1);
  EXPECT_EQ(eval("0 || 0"), 0);
  EXPECT_EQ(eval("N > 0 && K / N > 1", {{"N", 0}, {"K", 8}}), 0);
  EXPECT_EQ(eval("1 || 1 / 0"), 1);
  EXPECT_EQ(eval("M <= 16 && K % 8 == 0", {{"M", 16}, {"K", 4096}}), 1);
}

TEST(Expr, ParseOnceEvalMany) {
  Expr e = Expr::parse("cdiv(N, ROWS) * ROWS");
  EXPECT_EQ(e.eval({{"N", 10}, {"ROWS", 4}}), 12);
  EXPECT_EQ(e.eval({{"N", 10}, {"ROWS", 5}}), 10);
  Expr copy = e;
  EXPECT_EQ(copy.eval({{"N", 1}, {"ROWS", 2}}), 2);
  EXPECT_EQ(copy.text(), "cdiv(N, ROWS) * ROWS");
}

TEST(Expr, NamesAreSortedUniqueAndExcludeFunctions) {
  Expr e = Expr::parse("cdiv(N, ROWS) + N * K - max(K, 1) + min(2, 3)");
  EXPECT_EQ(e.names(), (std::vector<std::string>{"K", "N", "ROWS"}));
  EXPECT_TRUE(Expr::parse("1 + 2").names().empty());
}

TEST(Expr, ErrorMessageFormat) {
  try {
    Expr::parse("1 + $", "plan.steps[1].grid[0]");
    FAIL() << "no error";
  } catch (const ExprError& e) {
    EXPECT_STREQ(e.what(),
                 "plan.steps[1].grid[0]: unexpected character '$' at column 5 in '1 + $'");
  }
  try {
    Expr::parse("(");
    FAIL() << "no error";
  } catch (const Error& e) {  // an ExprError is a ks::Error
    EXPECT_NE(std::string(e.what()).find("expression: "), std::string::npos) << e.what();
  }
}

// Each error names its problem and column; the column is 1-based.
TEST(Expr, ParseErrors) {
  auto has = [](const std::string& msg, const std::string& part) {
    return msg.find(part) != std::string::npos;
  };
  std::string m;
  m = error_of("1 + #");
  EXPECT_TRUE(has(m, "unexpected character '#' at column 5 in '1 + #'")) << m;
  m = error_of("(1 + 2");
  EXPECT_TRUE(has(m, "expected ')' to close the '(' at column 1 but the text ended at column 7"))
      << m;
  m = error_of("((1) + 2");
  EXPECT_TRUE(has(m, "column 9")) << m;
  m = error_of("1 + 2)");
  EXPECT_TRUE(has(m, "unbalanced ')' at column 6")) << m;
  m = error_of(")");
  EXPECT_TRUE(has(m, "unexpected ')' at column 1")) << m;
  m = error_of("1 2");
  EXPECT_TRUE(has(m, "unexpected '2' after the expression at column 3")) << m;
  m = error_of("M N");
  EXPECT_TRUE(has(m, "at column 3")) << m;
  m = error_of("");
  EXPECT_TRUE(has(m, "the text ended at column 1")) << m;
  m = error_of("1 +");
  EXPECT_TRUE(has(m, "the text ended at column 4")) << m;
  m = error_of("a & b");
  EXPECT_TRUE(has(m, "'&' after the expression at column 3")) << m;
  m = error_of("a = b");
  EXPECT_TRUE(has(m, "'=' after the expression at column 3")) << m;
  m = error_of("!a");
  EXPECT_TRUE(has(m, "unexpected character '!' at column 1")) << m;
  m = error_of("12ab");
  EXPECT_TRUE(has(m, "unexpected character 'a' in a number at column 3")) << m;
  m = error_of("1.5");
  EXPECT_TRUE(has(m, "'.' after the expression at column 2")) << m;
  m = error_of("0x10");
  EXPECT_TRUE(has(m, "column 2")) << m;
  m = error_of("2 + 99999999999999999999");
  EXPECT_TRUE(has(m, "integer literal out of int64 range at column 5")) << m;
  m = error_of("foo(1, 2)");
  EXPECT_TRUE(has(m, "unknown function 'foo' (known: cdiv, min, max) at column 1")) << m;
  m = error_of("1 + cdiv(1)");
  EXPECT_TRUE(has(m, "expected ',' (cdiv takes 2 arguments) but found ')' at column 11")) << m;
  m = error_of("min(1, 2, 3)");
  EXPECT_TRUE(has(m, "expected ')' (min takes 2 arguments) but found ',' at column 9")) << m;
  m = error_of("max(1, 2");
  EXPECT_TRUE(has(m, "the text ended at column 9")) << m;
  m = error_of(std::string(1000, '(') + "1" + std::string(1000, ')'));
  EXPECT_TRUE(has(m, "nested too deeply")) << m.substr(0, 80);
}

TEST(Expr, EvalErrors) {
  auto has = [](const std::string& msg, const std::string& part) {
    return msg.find(part) != std::string::npos;
  };
  const Env env{{"M", 16}, {"Z", 0}, {"BIG", int64_t{1} << 40}};
  std::string m;
  m = error_of("M + Q", env);
  EXPECT_EQ(m, "ctx: unknown name 'Q' at column 5 in 'M + Q'");
  m = error_of("M / Z", env);
  EXPECT_TRUE(has(m, "division by zero at column 3")) << m;
  m = error_of("M % (Z * 2)", env);
  EXPECT_TRUE(has(m, "division by zero in '%' at column 3")) << m;
  m = error_of("  cdiv(M, Z)", env);
  EXPECT_TRUE(has(m, "cdiv divisor must be positive, got 0 at column 3")) << m;
  m = error_of("cdiv(M, -2)", env);
  EXPECT_TRUE(has(m, "cdiv divisor must be positive, got -2 at column 1")) << m;
  m = error_of("9223372036854775807 + 1");
  EXPECT_TRUE(has(m, "int64 overflow in '+' at column 21")) << m;
  m = error_of("0 - 9223372036854775807 - 2");
  EXPECT_TRUE(has(m, "int64 overflow in '-' at column 25")) << m;
  m = error_of("BIG * BIG", env);
  EXPECT_TRUE(has(m, "int64 overflow in '*' at column 5")) << m;
  m = error_of("-(0 - 9223372036854775807 - 1)");
  EXPECT_TRUE(has(m, "int64 overflow in '-' at column 1")) << m;
  m = error_of("(0 - 9223372036854775807 - 1) / -1");
  EXPECT_TRUE(has(m, "int64 overflow in '/' at column 31")) << m;
  EXPECT_THROW(Expr().eval({}), ExprError);
}

// The C++ printer the exported library's launch code is made of (agent/export_*).
TEST(Expr, ToCppGolden) {
  auto name = [](const std::string& n) { return n == "BM" ? std::string("int64_t(128)") : "s." + n; };
  EXPECT_EQ(Expr::parse("M").to_cpp(name), "s.M");
  EXPECT_EQ(Expr::parse("cdiv(M, BM) * 2").to_cpp(name), "ks_mul(ks_cdiv(s.M, int64_t(128)), int64_t(2))");
  EXPECT_EQ(Expr::parse("-M + +K % 3").to_cpp(name), "ks_add(ks_neg(s.M), ks_mod(s.K, int64_t(3)))");
  EXPECT_EQ(Expr::parse("min(1024, max(32, K / 8))").to_cpp(name),
            "ks_min(int64_t(1024), ks_max(int64_t(32), ks_div(s.K, int64_t(8))))");
  EXPECT_EQ(Expr::parse("M <= 16 && K != 0 || N == 1").to_cpp(name),
            "int64_t(int64_t(int64_t(s.M <= int64_t(16)) != 0 && int64_t(s.K != int64_t(0)) != 0) != 0 || "
            "int64_t(s.N == int64_t(1)) != 0)");
  EXPECT_EQ(Expr::parse("(M - 1) * (K + 2)").to_cpp(name), "ks_mul(ks_sub(s.M, int64_t(1)), ks_add(s.K, int64_t(2)))");
  EXPECT_THROW(Expr().to_cpp(name), ExprError);
}

}  // namespace
}  // namespace ks
