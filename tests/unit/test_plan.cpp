// Candidate plans: parsing the /* ksearch */ comment, every malformed field named by its path,
// variants, and validation against a (fake) task.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <unistd.h>

#include "evaluator/plan.h"

namespace ks {
namespace {

using Json = nlohmann::ordered_json;

// rmsnorm_linear's names, without tasks/task.cpp: only the pure virtuals the plan code calls.
class FakeTask : public Task {
 public:
  std::string name() const override { return "rmsnorm_linear"; }
  std::string semantics() const override { return "Y = rmsnorm(X) * gamma @ W^T"; }
  std::vector<std::string> size_symbols() const override { return {"M", "K", "N"}; }
  std::vector<BufferSpec> buffers() const override {
    return {{"X", DType::bf16, {"M", "K"}, Role::in},
            {"gamma", DType::bf16, {"K"}, Role::in},
            {"W", DType::bf16, {"N", "K"}, Role::in},
            {"Y", DType::bf16, {"M", "N"}, Role::out}};
  }
  std::vector<Constant> constants() const override { return {{"eps", 1e-6, "", true}}; }
  std::vector<std::string> constraints() const override { return {}; }
  std::vector<Shape> search_shapes() const override { return {}; }
  std::vector<Shape> audit_shapes() const override { return {}; }
  Tolerance tolerance() const override { return {0.01, 0.01}; }
  void generate_inputs(const Shape&, uint64_t, InputKind, HostBuffers&) const override {}
  std::vector<double> cpu_reference_row(const Shape&, const Constants&, const HostBuffers&, const std::string&,
                                        int64_t) const override {
    return {};
  }
  double flops(const Shape&) const override { return 0; }
  double min_bytes(const Shape&) const override { return 0; }
  std::filesystem::path reference_plan() const override { return {}; }
};

const char* const kExample = R"PLAN(// a seed for decode shapes
/* ksearch
{ "task": "rmsnorm_linear", "name": "gemv_fused",
  "params":    { "THREADS": [128, 256], "ROWS": [1, 2, 4] },
  "applies":   "M <= 16",
  "workspace": { "rinv": "M * 4", "xn": "M * K * 2" },
  "steps": [
    { "kernel": "row_rinv", "grid": ["M"], "block": ["THREADS"],
      "args": ["X", "rinv", "K", "eps"] },
    { "kernel": "gemv", "grid": ["cdiv(N, ROWS)"], "block": ["THREADS"], "smem": "K * 2",
      "args": ["X", "gamma", "W", "rinv", "Y", "M", "N", "K"] },
    { "gemm": { "a": "xn", "b": "W", "d": "Y", "m": "M", "n": "N", "k": "K",
                "trans_b": true } } ] }
*/
#include <cuda_bf16.h>
extern "C" __global__ void row_rinv() {}
)PLAN";

Json example_json() {
  std::string text = kExample;
  size_t b = text.find('{'), e = text.find("*/");
  return Json::parse(text.substr(b, e - b));
}

std::string wrap(const Json& j) { return "/* ksearch\n" + j.dump(2) + "\n*/\n"; }

// The PlanError message of parsing text, or "" when it parses.
std::string parse_error(const std::string& text) {
  try {
    parse_candidate(text, "cand.cu");
  } catch (const PlanError& e) {
    return e.what();
  }
  return "";
}
std::string parse_error(const char* text) { return parse_error(std::string(text)); }
std::string parse_error(const Json& j) { return parse_error(wrap(j)); }

std::string validate_error(const Plan& plan) {
  try {
    validate_plan(plan, FakeTask());
  } catch (const PlanError& e) {
    return e.what();
  }
  return "";
}
std::string validate_error(const Json& j) {
  return validate_error(parse_candidate(wrap(j), "cand.cu").plan);
}

bool has(const std::string& msg, const std::string& part) {
  return msg.find(part) != std::string::npos;
}

// Parse errors start with the origin, then the field path.
#define EXPECT_PLAN_ERROR(msg, path_and_problem)                                   \
  do {                                                                             \
    std::string m_ = (msg);                                                        \
    EXPECT_TRUE(m_.starts_with("cand.cu: ")) << m_;                                \
    EXPECT_TRUE(has(m_, "cand.cu: " + std::string(path_and_problem))) << m_;       \
  } while (0)

TEST(PlanParse, FullExample) {
  Candidate c = parse_candidate(kExample, "seeds/x.cu");
  EXPECT_EQ(c.origin, "seeds/x.cu");
  EXPECT_EQ(c.source, kExample);
  const Plan& p = c.plan;
  EXPECT_EQ(p.task, "rmsnorm_linear");
  EXPECT_EQ(p.name, "gemv_fused");
  ASSERT_EQ(p.params.size(), 2u);  // file order, not alphabetical
  EXPECT_EQ(p.params[0].name, "THREADS");
  EXPECT_EQ(p.params[0].values, (std::vector<int64_t>{128, 256}));
  EXPECT_EQ(p.params[1].name, "ROWS");
  EXPECT_EQ(p.params[1].values, (std::vector<int64_t>{1, 2, 4}));
  ASSERT_TRUE(p.applies);
  EXPECT_EQ(p.applies->text(), "M <= 16");
  ASSERT_EQ(p.workspace.size(), 2u);
  EXPECT_EQ(p.workspace[0].first, "rinv");
  EXPECT_EQ(p.workspace[0].second.eval({{"M", 3}}), 12);
  EXPECT_EQ(p.workspace[1].first, "xn");
  ASSERT_EQ(p.steps.size(), 3u);

  const auto& k0 = std::get<KernelStep>(p.steps[0].op);
  EXPECT_EQ(k0.kernel, "row_rinv");
  ASSERT_EQ(k0.grid.size(), 1u);
  EXPECT_EQ(k0.grid[0].text(), "M");
  ASSERT_EQ(k0.block.size(), 1u);
  EXPECT_EQ(k0.block[0].text(), "THREADS");
  EXPECT_FALSE(k0.smem);
  EXPECT_EQ(k0.args, (std::vector<std::string>{"X", "rinv", "K", "eps"}));

  const auto& k1 = std::get<KernelStep>(p.steps[1].op);
  EXPECT_EQ(k1.kernel, "gemv");
  EXPECT_EQ(k1.grid[0].eval({{"N", 10}, {"ROWS", 4}}), 3);
  ASSERT_TRUE(k1.smem);
  EXPECT_EQ(k1.smem->eval({{"K", 4096}}), 8192);
  EXPECT_EQ(k1.args.size(), 8u);

  const auto& g = std::get<GemmStep>(p.steps[2].op);
  EXPECT_EQ(g.a, "xn");
  EXPECT_EQ(g.b, "W");
  EXPECT_EQ(g.d, "Y");
  EXPECT_EQ(g.m.text(), "M");
  EXPECT_EQ(g.n.text(), "N");
  EXPECT_EQ(g.k.text(), "K");
  EXPECT_FALSE(g.trans_a);
  EXPECT_TRUE(g.trans_b);
  EXPECT_FALSE(g.batch);

  EXPECT_NO_THROW(validate_plan(p, FakeTask()));
}

TEST(PlanParse, MinimalPlanAndIntegerForms) {
  Json j = {{"task", "t"},
            {"name", "n"},
            {"steps", Json::array({{{"kernel", "k"},
                                    {"grid", 4},
                                    {"block", Json::array({128, "2", 1})},
                                    {"smem", 0},
                                    {"args", Json::array({"X", 7, -1})}},
                                   {{"gemm",
                                     {{"a", "X"}, {"b", "W"}, {"d", "Y"}, {"m", 1}, {"n", "N"},
                                      {"k", "K"}, {"trans_a", true}, {"batch", "2"}}}}})}};
  Plan p = parse_candidate(wrap(j), "x").plan;
  EXPECT_TRUE(p.params.empty());
  EXPECT_FALSE(p.applies);
  EXPECT_TRUE(p.workspace.empty());
  const auto& k = std::get<KernelStep>(p.steps[0].op);
  ASSERT_EQ(k.grid.size(), 1u);  // a single expression is a 1-D grid
  EXPECT_EQ(k.grid[0].eval({}), 4);
  ASSERT_EQ(k.block.size(), 3u);
  EXPECT_EQ(k.block[1].eval({}), 2);
  EXPECT_EQ(k.smem->eval({}), 0);
  EXPECT_EQ(k.args, (std::vector<std::string>{"X", "7", "-1"}));
  const auto& g = std::get<GemmStep>(p.steps[1].op);
  EXPECT_TRUE(g.trans_a);
  EXPECT_FALSE(g.trans_b);
  ASSERT_TRUE(g.batch);
  EXPECT_EQ(g.batch->eval({}), 2);
}

TEST(PlanParse, WhatMayPrecedeThePlanComment) {
  Json j = {{"task", "t"}, {"name", "n"}, {"steps", Json::array({{{"kernel", "k"},
                                                                  {"grid", 1}, {"block", 1}}})}};
  EXPECT_EQ(parse_error("\n  // license\n// more\n\t" + wrap(j)), "");
  EXPECT_EQ(parse_error("\xEF\xBB\xBF" + wrap(j)), "");
  EXPECT_EQ(parse_error("/*ksearch" + j.dump() + "*/"), "");
  // JSON inside the plan may carry // comments.
  EXPECT_EQ(parse_error("/* ksearch\n{ // why\n" + j.dump().substr(1) + "*/"), "");
}

TEST(PlanParse, MissingPlanComment) {
  std::string m = parse_error("#include <cuda_bf16.h>\n");
  EXPECT_PLAN_ERROR(m, "plan: no plan comment");
  m = parse_error("");
  EXPECT_PLAN_ERROR(m, "plan: no plan comment");
  m = parse_error("int x; /* ksearch {} */");
  EXPECT_PLAN_ERROR(m, "plan: no plan comment");
  m = parse_error("/* copyright */\n/* ksearch {} */");
  EXPECT_PLAN_ERROR(m, "plan: the first block comment does not start with 'ksearch'");
  m = parse_error("/* ksearchx {} */");
  EXPECT_PLAN_ERROR(m, "plan: the first block comment does not start with 'ksearch'");
  m = parse_error("/* ksearch { \"task\": \"t\" }\n");
  EXPECT_PLAN_ERROR(m, "plan: the /* ksearch comment is never closed with */");
}

TEST(PlanParse, JsonSyntaxError) {
  // The second line lacks a ':' after "task".
  std::string m = parse_error("// header\n/* ksearch\n{ \"task\" \"t\" }\n*/\n");
  EXPECT_PLAN_ERROR(m, "plan: JSON syntax error at byte ");
  EXPECT_TRUE(has(m, "of the plan comment (line 3 of the file)")) << m;
  EXPECT_TRUE(has(m, "parse error")) << m;  // nlohmann's own message
  EXPECT_TRUE(has(m, "expected ':'")) << m;
  m = parse_error("/* ksearch { \"task\": \"t\", } */");
  EXPECT_PLAN_ERROR(m, "plan: JSON syntax error at byte ");
  m = parse_error("/* ksearch */");
  EXPECT_PLAN_ERROR(m, "plan: JSON syntax error");
}

TEST(PlanParse, DuplicateKeysAreNamed) {
  std::string m = parse_error(
      "/* ksearch { \"task\": \"t\", \"params\": { \"A\": [1], \"A\": [2] } } */");
  EXPECT_PLAN_ERROR(m, "plan.params.A: key given twice");
  m = parse_error(
      "/* ksearch { \"steps\": [ {\"kernel\": \"a\"}, {\"grid\": 1, \"grid\": 2} ] } */");
  EXPECT_PLAN_ERROR(m, "plan.steps[1].grid: key given twice");
  m = parse_error("/* ksearch { \"name\": \"a\", \"name\": \"b\" } */");
  EXPECT_PLAN_ERROR(m, "plan.name: key given twice");
}

TEST(PlanParse, TopLevelFields) {
  EXPECT_PLAN_ERROR(parse_error("/* ksearch [1] */"), "plan: expected a JSON object, got an array");
  Json j = example_json();
  j["step"] = 1;
  EXPECT_PLAN_ERROR(parse_error(j), "plan.step: unknown key (expected task, name, params,");
  for (const char* key : {"task", "name", "steps"}) {
    j = example_json();
    j.erase(key);
    EXPECT_PLAN_ERROR(parse_error(j), "plan." + std::string(key) + ": missing (required)");
  }
  j = example_json();
  j["task"] = 3;
  EXPECT_PLAN_ERROR(parse_error(j), "plan.task: expected a string, got an integer");
  j = example_json();
  j["name"] = " ";
  EXPECT_PLAN_ERROR(parse_error(j), "plan.name: must not be empty");
  j = example_json();
  j["steps"] = Json::array();
  EXPECT_PLAN_ERROR(parse_error(j), "plan.steps: expected a non-empty array of steps, got an "
                                    "empty array");
  j["steps"] = Json::object();
  EXPECT_PLAN_ERROR(parse_error(j), "plan.steps: expected a non-empty array of steps, got an "
                                    "object");
}

TEST(PlanParse, Params) {
  auto with_params = [](const Json& params) {
    Json j = example_json();
    j["params"] = params;
    return parse_error(j);
  };
  EXPECT_PLAN_ERROR(with_params(Json::array()), "plan.params: expected an object");
  EXPECT_PLAN_ERROR(with_params({{"THREADS", Json::array()}}),
                    "plan.params.THREADS: expected a non-empty array of integers, got an empty");
  EXPECT_PLAN_ERROR(with_params({{"THREADS", 128}}),
                    "plan.params.THREADS: expected a non-empty array of integers, got an integer");
  EXPECT_PLAN_ERROR(with_params({{"THREADS", Json::array({128, "x"})}}),
                    "plan.params.THREADS[1]: expected an integer, got a string");
  EXPECT_PLAN_ERROR(with_params({{"THREADS", Json::array({128, 1.5})}}),
                    "plan.params.THREADS[1]: expected an integer, got a non-integer number");
  EXPECT_PLAN_ERROR(with_params({{"THREADS", Json::array({128, true})}}),
                    "plan.params.THREADS[1]: expected an integer, got a boolean");
  EXPECT_PLAN_ERROR(with_params({{"THREADS", Json::array({128, 256, 128})}}),
                    "plan.params.THREADS[2]: value 128 given twice");
  EXPECT_PLAN_ERROR(with_params({{"THREADS", Json::array({18446744073709551615ull})}}),
                    "plan.params.THREADS[0]: integer out of int64 range");
  EXPECT_PLAN_ERROR(with_params({{"2X", Json::array({1})}}),
                    "plan.params.2X: param names must be C identifiers");
  EXPECT_PLAN_ERROR(with_params({{"A-B", Json::array({1})}}), "plan.params.A-B: ");
  EXPECT_EQ(with_params({{"NEG", Json::array({-1, 0})}}), "");
}

TEST(PlanParse, AppliesAndWorkspace) {
  Json j = example_json();
  j["applies"] = "M <";
  std::string m = parse_error(j);
  EXPECT_PLAN_ERROR(m, "plan.applies: expected a number, name or '(' but the text ended at "
                       "column 4 in 'M <'");
  j["applies"] = true;
  EXPECT_PLAN_ERROR(parse_error(j), "plan.applies: expected an expression (a string or an "
                                    "integer), got a boolean");
  j = example_json();
  j["workspace"]["rinv"] = "M *";
  EXPECT_PLAN_ERROR(parse_error(j), "plan.workspace.rinv: ");
  EXPECT_TRUE(has(parse_error(j), "at column 4")) << parse_error(j);
  j["workspace"] = Json::array({"rinv"});
  EXPECT_PLAN_ERROR(parse_error(j), "plan.workspace: expected an object");
  j["workspace"] = {{"r inv", 4}};
  EXPECT_PLAN_ERROR(parse_error(j), "plan.workspace.r inv: workspace names must be C identifiers");
}

TEST(PlanParse, KernelSteps) {
  auto with_step1 = [](const char* key, const Json& value) {
    Json j = example_json();
    j["steps"][1][key] = value;
    return parse_error(j);
  };
  EXPECT_PLAN_ERROR(with_step1("grid", Json::array({"cdiv(N, ROWS"})),
                    "plan.steps[1].grid[0]: expected ')' (cdiv takes 2 arguments) but the text "
                    "ended at column 13");
  EXPECT_PLAN_ERROR(with_step1("grid", Json::array({"N", "1 +* 2"})),
                    "plan.steps[1].grid[1]: unexpected character '*' at column 4");
  EXPECT_PLAN_ERROR(with_step1("grid", Json::array({true})),
                    "plan.steps[1].grid[0]: expected an expression (a string or an integer)");
  EXPECT_PLAN_ERROR(with_step1("grid", Json::array()),
                    "plan.steps[1].grid: expected 1 to 3 expressions, got 0");
  EXPECT_PLAN_ERROR(with_step1("block", Json::array({1, 1, 1, 1})),
                    "plan.steps[1].block: expected 1 to 3 expressions, got 4");
  EXPECT_PLAN_ERROR(with_step1("block", "THREADS)"), "plan.steps[1].block: unbalanced ')'");
  EXPECT_PLAN_ERROR(with_step1("smem", "K * "), "plan.steps[1].smem: ");
  EXPECT_PLAN_ERROR(with_step1("smem", 1.5), "plan.steps[1].smem: expected an expression");
  EXPECT_PLAN_ERROR(with_step1("args", "X"), "plan.steps[1].args: expected an array, got a string");
  EXPECT_PLAN_ERROR(with_step1("args", Json::array({"X", "Y", nullptr})),
                    "plan.steps[1].args[2]: expected a name or expression (a string) or an "
                    "integer, got a null");
  EXPECT_PLAN_ERROR(with_step1("args", Json::array({"X", " "})),
                    "plan.steps[1].args[1]: empty argument");
  EXPECT_PLAN_ERROR(with_step1("kernel", 5), "plan.steps[1].kernel: expected a string");
  EXPECT_PLAN_ERROR(with_step1("kernel", "gemv<128>"),
                    "plan.steps[1].kernel: 'gemv<128>' is not a C identifier");
  EXPECT_PLAN_ERROR(with_step1("gird", Json::array({1})),
                    "plan.steps[1].gird: unknown key (expected kernel, grid, block, smem, args, pdl)");
  EXPECT_PLAN_ERROR(with_step1("gemm", Json::object()),
                    "plan.steps[1]: has both \"kernel\" and \"gemm\"");

  Json j = example_json();
  j["steps"][1].erase("grid");
  EXPECT_PLAN_ERROR(parse_error(j), "plan.steps[1].grid: missing (required)");
  j = example_json();
  j["steps"][1].erase("block");
  EXPECT_PLAN_ERROR(parse_error(j), "plan.steps[1].block: missing (required)");
  j = example_json();
  j["steps"][0] = {{"grid", 1}, {"block", 1}};
  EXPECT_PLAN_ERROR(parse_error(j), "plan.steps[0]: needs \"kernel\" (a launch) or \"gemm\"");
  j["steps"][0] = "row_rinv";
  EXPECT_PLAN_ERROR(parse_error(j), "plan.steps[0]: expected a step object, got a string");
  j = example_json();
  j["steps"][1].erase("args");
  EXPECT_EQ(parse_error(j), "");  // a kernel without parameters
}

TEST(PlanParse, GemmSteps) {
  auto with_gemm = [](const char* key, const Json& value) {
    Json j = example_json();
    j["steps"][2]["gemm"][key] = value;
    return parse_error(j);
  };
  EXPECT_PLAN_ERROR(with_gemm("m", "M +"), "plan.steps[2].gemm.m: ");
  EXPECT_TRUE(has(with_gemm("m", "M +"), "at column 4")) << with_gemm("m", "M +");
  EXPECT_PLAN_ERROR(with_gemm("batch", "B B"), "plan.steps[2].gemm.batch: unexpected 'B'");
  EXPECT_PLAN_ERROR(with_gemm("trans_b", "yes"),
                    "plan.steps[2].gemm.trans_b: expected true or false, got a string");
  EXPECT_PLAN_ERROR(with_gemm("trans_a", 1), "plan.steps[2].gemm.trans_a: expected true or false");
  EXPECT_PLAN_ERROR(with_gemm("a", 1), "plan.steps[2].gemm.a: expected a string, got an integer");
  EXPECT_PLAN_ERROR(with_gemm("transb", true), "plan.steps[2].gemm.transb: unknown key");
  for (const char* key : {"a", "b", "d", "m", "n", "k"}) {
    Json j = example_json();
    j["steps"][2]["gemm"].erase(key);
    EXPECT_PLAN_ERROR(parse_error(j), "plan.steps[2].gemm." + std::string(key) +
                                          ": missing (required)");
  }
  Json j = example_json();
  j["steps"][2]["gemm"] = Json::array();
  EXPECT_PLAN_ERROR(parse_error(j), "plan.steps[2].gemm: expected an object, got an array");
  j = example_json();
  j["steps"][2]["grid"] = 1;
  EXPECT_PLAN_ERROR(parse_error(j), "plan.steps[2].grid: unknown key");
}

TEST(PlanLoad, ReadsAFileAndNamesAnUnreadableOne) {
  // One folder per process, so parallel ctest runs do not share it.
  auto dir = std::filesystem::temp_directory_path() /
             ("ks_test_plan_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "seed.cu").string();
  std::ofstream(path) << kExample;
  Candidate c = load_candidate(path);
  EXPECT_EQ(c.origin, path);
  EXPECT_EQ(c.source, kExample);
  EXPECT_EQ(c.plan.name, "gemv_fused");

  std::string missing = (dir / "missing.cu").string();
  try {
    load_candidate(missing);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(has(e.what(), "load_candidate: cannot open '" + missing + "'")) << e.what();
  }
  try {
    load_candidate(dir.string());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(has(e.what(), "is a directory")) << e.what();
  }
  std::ofstream(path) << "__global__ void k() {}";
  try {
    load_candidate(path);
    FAIL() << "no error";
  } catch (const PlanError& e) {
    EXPECT_TRUE(has(e.what(), path + ": plan: no plan comment")) << e.what();
  }
  std::filesystem::remove_all(dir);
}

std::vector<Param> example_params() { return {{"THREADS", {128, 256}}, {"ROWS", {1, 2, 4}}}; }

TEST(Variants, EnumerateIsRowMajorLastFastest) {
  auto vs = enumerate_variants(example_params());
  ASSERT_EQ(vs.size(), 6u);
  std::vector<std::string> names;
  for (const auto& v : vs) names.push_back(format_variant(v));
  EXPECT_EQ(names, (std::vector<std::string>{
                       "THREADS=128,ROWS=1", "THREADS=128,ROWS=2", "THREADS=128,ROWS=4",
                       "THREADS=256,ROWS=1", "THREADS=256,ROWS=2", "THREADS=256,ROWS=4"}));
  EXPECT_EQ(enumerate_variants({{"A", {5}}}).size(), 1u);
  EXPECT_EQ(enumerate_variants({{"A", {1, 2}}, {"B", {3, 4}}, {"C", {5, 6, 7}}}).size(), 12u);
}

TEST(Variants, NoParamsIsOneEmptyVariant) {
  auto vs = enumerate_variants({});
  ASSERT_EQ(vs.size(), 1u);
  EXPECT_TRUE(vs[0].empty());
  EXPECT_EQ(format_variant(vs[0]), "default");
  EXPECT_TRUE(default_variant({}).empty());
  EXPECT_TRUE(parse_variant("default", {}).empty());
  EXPECT_TRUE(parse_variant("", {}).empty());
}

TEST(Variants, DefaultAndFormat) {
  Variant d = default_variant(example_params());
  EXPECT_EQ(d, (Variant{{"THREADS", 128}, {"ROWS", 1}}));
  EXPECT_EQ(format_variant(d), "THREADS=128,ROWS=1");
  EXPECT_EQ(format_variant({{"A", -3}}), "A=-3");
}

TEST(Variants, ParseFillsDefaultsInParamOrder) {
  auto params = example_params();
  EXPECT_EQ(parse_variant("ROWS=4", params), (Variant{{"THREADS", 128}, {"ROWS", 4}}));
  EXPECT_EQ(parse_variant("ROWS=2,THREADS=256", params),
            (Variant{{"THREADS", 256}, {"ROWS", 2}}));
  EXPECT_EQ(parse_variant(" THREADS = 256 , ROWS=4 ", params),
            (Variant{{"THREADS", 256}, {"ROWS", 4}}));
  EXPECT_EQ(parse_variant("default", params), default_variant(params));
  for (const Variant& v : enumerate_variants(params))
    EXPECT_EQ(parse_variant(format_variant(v), params), v);
  EXPECT_EQ(parse_variant("A=-1", {{"A", {-1, 1}}}), (Variant{{"A", -1}}));
}

TEST(Variants, ParseErrors) {
  auto params = example_params();
  auto error = [&](const std::string& text, const std::vector<Param>& ps) {
    try {
      parse_variant(text, ps);
    } catch (const PlanError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(error("X=1", params), "variant 'X=1': unknown param 'X' (params: THREADS, ROWS)");
  EXPECT_EQ(error("A=1", {}), "variant 'A=1': unknown param 'A' (this plan has no params)");
  EXPECT_EQ(error("THREADS=abc", params),
            "variant 'THREADS=abc': the value of THREADS must be an integer, got 'abc'");
  EXPECT_TRUE(has(error("THREADS=12x", params), "must be an integer, got '12x'"));
  EXPECT_TRUE(has(error("THREADS=", params), "must be an integer, got ''"));
  EXPECT_TRUE(has(error("THREADS=99999999999999999999", params), "must be an integer"));
  EXPECT_EQ(error("THREADS=64", params),
            "variant 'THREADS=64': THREADS=64 is not allowed (allowed values of THREADS: 128, "
            "256)");
  EXPECT_EQ(error("THREADS", params), "variant 'THREADS': 'THREADS' is not NAME=VALUE");
  EXPECT_EQ(error("THREADS=128,", params), "variant 'THREADS=128,': '' is not NAME=VALUE");
  EXPECT_EQ(error("ROWS=1,ROWS=2", params), "variant 'ROWS=1,ROWS=2': ROWS is given twice");
}

TEST(Variants, MakeEnv) {
  Env env = make_env({{"M", 16}, {"K", 4096}}, {{"THREADS", 128}, {"ROWS", 2}});
  EXPECT_EQ(env, (Env{{"M", 16}, {"K", 4096}, {"THREADS", 128}, {"ROWS", 2}}));
  EXPECT_EQ(Expr::parse("cdiv(K, THREADS * ROWS) + M").eval(env), 32);
  EXPECT_EQ(make_env({}, {}), Env{});
}

// Validation errors name the plan, then the field.
#define EXPECT_VALIDATE_ERROR(msg, path_and_problem)                                          \
  do {                                                                                        \
    std::string m_ = (msg);                                                                   \
    EXPECT_TRUE(has(m_, "plan 'gemv_fused': " + std::string(path_and_problem))) << m_;        \
  } while (0)

TEST(PlanValidate, WrongTask) {
  Json j = example_json();
  j["task"] = "swiglu_mlp";
  EXPECT_VALIDATE_ERROR(validate_error(j), "plan.task: the plan is for task 'swiglu_mlp' but was "
                                           "given task 'rmsnorm_linear'");
}

TEST(PlanValidate, KernelArgs) {
  auto with_args = [](const Json& args) {
    Json j = example_json();
    j["steps"][0]["args"] = args;
    return validate_error(j);
  };
  EXPECT_EQ(with_args(Json::array({"X", "rinv", "eps", "K", "K / 2 + THREADS", 7, "-1"})), "");
  std::string m = with_args(Json::array({"X", "Xx"}));
  EXPECT_VALIDATE_ERROR(m, "plan.steps[0].args[1]: unknown name 'Xx' in 'Xx'; an arg is a buffer "
                           "(X, gamma, W, Y), a workspace entry (rinv, xn), a constant (eps) or "
                           "an integer expression (size symbols: M, K, N; device: SMS, SMEM_MAX, L2_BYTES; params: THREADS, ROWS)");
  m = with_args(Json::array({"eps * 2"}));
  EXPECT_VALIDATE_ERROR(m, "plan.steps[0].args[0]: 'eps' is a constant inside the expression "
                           "'eps * 2'");
  m = with_args(Json::array({"X", "rinv + 4"}));
  EXPECT_VALIDATE_ERROR(m, "plan.steps[0].args[1]: 'rinv' is a workspace entry inside");
  m = with_args(Json::array({"K +"}));
  EXPECT_VALIDATE_ERROR(m, "plan.steps[0].args[0]: expected a number, name or '(' but the text "
                           "ended at column 4 in 'K +'; an arg is a buffer");
}

TEST(PlanValidate, NameDefinedTwice) {
  auto with_params = [](const Json& params) {
    Json j = example_json();
    j["params"] = params;
    return validate_error(j);
  };
  EXPECT_VALIDATE_ERROR(with_params({{"M", {1}}}),
                        "plan.params.M: 'M' is already defined as a size symbol");
  EXPECT_VALIDATE_ERROR(with_params({{"X", {1}}}),
                        "plan.params.X: 'X' is already defined as a buffer");
  EXPECT_VALIDATE_ERROR(with_params({{"eps", {1}}}),
                        "plan.params.eps: 'eps' is already defined as a constant");

  auto with_workspace = [](const Json& workspace) {
    Json j = example_json();
    j["workspace"] = workspace;
    return validate_error(j);
  };
  EXPECT_VALIDATE_ERROR(with_workspace({{"W", 4}}),
                        "plan.workspace.W: 'W' is already defined as a buffer");
  EXPECT_VALIDATE_ERROR(with_workspace({{"N", 4}}),
                        "plan.workspace.N: 'N' is already defined as a size symbol");
  EXPECT_VALIDATE_ERROR(with_workspace({{"eps", 4}}),
                        "plan.workspace.eps: 'eps' is already defined as a constant");
  EXPECT_VALIDATE_ERROR(with_workspace({{"ROWS", 4}}),
                        "plan.workspace.ROWS: 'ROWS' is already defined as a param");

  // Plans built in code can repeat names that JSON objects cannot.
  Plan p = parse_candidate(kExample, "x").plan;
  p.params.push_back({"ROWS", {8}});
  EXPECT_VALIDATE_ERROR(validate_error(p), "plan.params.ROWS: 'ROWS' is already defined as a "
                                           "param");
  p = parse_candidate(kExample, "x").plan;
  p.workspace.push_back({"rinv", Expr::parse("4")});
  EXPECT_VALIDATE_ERROR(validate_error(p), "plan.workspace.rinv: 'rinv' is already defined as a "
                                           "workspace entry");
}

TEST(PlanValidate, GemmOperandsAreBuffersOrWorkspace) {
  auto with_gemm = [](const char* key, const Json& value) {
    Json j = example_json();
    j["steps"][2]["gemm"][key] = value;
    return validate_error(j);
  };
  EXPECT_EQ(with_gemm("a", "X"), "");
  EXPECT_VALIDATE_ERROR(with_gemm("a", "xm"), "plan.steps[2].gemm.a: 'xm' is not a buffer (X, "
                                              "gamma, W, Y) or workspace entry (rinv, xn)");
  EXPECT_VALIDATE_ERROR(with_gemm("b", "eps"), "plan.steps[2].gemm.b: 'eps' is not a buffer");
  EXPECT_VALIDATE_ERROR(with_gemm("d", "K"), "plan.steps[2].gemm.d: 'K' is not a buffer");
  EXPECT_VALIDATE_ERROR(with_gemm("m", "Q"), "plan.steps[2].gemm.m: unknown name 'Q' in 'Q' "
                                             "(size symbols: M, K, N; device: SMS, SMEM_MAX, L2_BYTES; params: THREADS, ROWS)");
  EXPECT_VALIDATE_ERROR(with_gemm("batch", "X"),
                        "plan.steps[2].gemm.batch: 'X' is a buffer, but 'X' is an integer "
                        "expression");
}

TEST(PlanValidate, ExpressionNamesAreSizesOrParams) {
  Json j = example_json();
  j["steps"][1]["grid"] = Json::array({"N", "cdiv(N, ROWZ)"});
  EXPECT_VALIDATE_ERROR(validate_error(j), "plan.steps[1].grid[1]: unknown name 'ROWZ'");
  j = example_json();
  j["steps"][0]["block"] = "eps";
  EXPECT_VALIDATE_ERROR(validate_error(j), "plan.steps[0].block[0]: 'eps' is a constant");
  j = example_json();
  j["steps"][1]["smem"] = "X * 2";
  EXPECT_VALIDATE_ERROR(validate_error(j), "plan.steps[1].smem: 'X' is a buffer");
  j = example_json();
  j["applies"] = "Q < 1";
  EXPECT_VALIDATE_ERROR(validate_error(j), "plan.applies: unknown name 'Q'");
  j = example_json();
  j["workspace"]["xn"] = "rinv * 2";
  EXPECT_VALIDATE_ERROR(validate_error(j), "plan.workspace.xn: 'rinv' is a workspace entry");
  j = example_json();
  j["workspace"]["rinv"] = "M * THREADS";  // params may size workspace
  EXPECT_EQ(validate_error(j), "");
}

// Named expressions: written once, used by applies, grids, smem, workspace and args; in file order,
// each seeing the lets before it; a let of params alone reaches the kernel as a -D macro.
TEST(PlanLet, NamedExpressionsAreEvaluatedInOrderAndReachTheCompiler) {
  Json j = example_json();
  j["let"] = Json::object({{"TILE", "THREADS * ROWS"}, {"SMEM", "TILE * 2 + 64"}, {"WORDS", "K / 8 + SMEM"}});
  j["applies"] = "M <= 16 && SMEM <= 1024";
  j["steps"][1]["smem"] = "SMEM";
  j["steps"][1]["grid"] = Json::array({"cdiv(N, TILE)"});
  j["steps"][1]["args"][5] = "WORDS";
  const Candidate c = parse_candidate(wrap(j), "cand.cu");
  ASSERT_EQ(c.plan.lets.size(), 3u);
  EXPECT_EQ(c.plan.lets[0].first, "TILE") << "file order, not sorted";
  EXPECT_EQ(validate_error(c.plan), "");
  const Variant v = {{"THREADS", 256}, {"ROWS", 2}};
  const Env env = make_env(c.plan, {{"M", 4}, {"K", 4096}, {"N", 8}}, v, kNominalDevice);
  EXPECT_EQ(env.at("TILE"), 512);
  EXPECT_EQ(env.at("SMEM"), 1088);
  EXPECT_EQ(env.at("WORDS"), 512 + 1088);
  EXPECT_EQ(c.plan.applies->eval(env), 0) << "SMEM 1088 > 1024";
  const auto defines = compile_defines(c.plan, v);
  EXPECT_EQ(defines, (std::vector<std::pair<std::string, int64_t>>{{"THREADS", 256}, {"ROWS", 2}, {"TILE", 512}, {"SMEM", 1088}}))
      << "WORDS uses K, a size: not a macro";
}

// A candidate's expressions are hostile: one that divides by zero on some shape or variant must
// fail that candidate's evaluation (its PlanInstance: a launch_error), never throw out of the
// applies check or the compile request, where it would end a search as a fault of ksearch.
TEST(PlanLet, AnExpressionThatCannotBeEvaluatedIsTheCandidatesFailure) {
  Json j = example_json();
  j["let"] = Json::object({{"BAD", "THREADS / (ROWS - ROWS)"}, {"AFTER", "BAD + 1"}, {"PER_ROW", "K / (M - 1)"}});
  j["applies"] = "PER_ROW > 0";
  const Candidate c = parse_candidate(wrap(j), "cand.cu");
  ASSERT_EQ(validate_error(c.plan), "");
  const Variant v = {{"THREADS", 128}, {"ROWS", 2}};
  EXPECT_THROW(make_env(c.plan, {{"M", 1}, {"K", 64}, {"N", 8}}, v, kNominalDevice), ExprError);
  EXPECT_TRUE(plan_applies(c.plan, {{"M", 1}, {"K", 64}, {"N", 8}}, v, kNominalDevice)) << "evaluated, so the error is reported";
  EXPECT_EQ(compile_defines(c.plan, v), (std::vector<std::pair<std::string, int64_t>>{{"THREADS", 128}, {"ROWS", 2}}))
      << "BAD and AFTER, which uses it, are left out; PER_ROW uses sizes";
  const CompileRequest r = compile_request(c, v, "sm_90a");
  EXPECT_EQ(r.defines.size(), 2u);
  EXPECT_EQ(r.origin, "cand.cu");
}

TEST(PlanLet, ALetIsCheckedLikeAnyExpression) {
  Json j = example_json();
  j["let"] = Json::object({{"A", "B + 1"}, {"B", "M"}});
  EXPECT_VALIDATE_ERROR(validate_error(j), "plan.let.A: unknown name 'B'");  // a let sees only the lets before it
  j["let"] = Json::object({{"A", "eps * 2"}});
  EXPECT_VALIDATE_ERROR(validate_error(j), "plan.let.A: 'eps' is a constant");
  j["let"] = Json::object({{"THREADS", "M"}});
  EXPECT_VALIDATE_ERROR(validate_error(j), "plan.let.THREADS: 'THREADS' is already defined as a param");
  j["let"] = Json::object({{"rinv", "M"}});
  EXPECT_VALIDATE_ERROR(validate_error(j), "plan.workspace.rinv: 'rinv' is already defined as a let");
  j["let"] = "M * 2";
  EXPECT_TRUE(has(parse_error(j), "plan.let: expected an object of name -> expression")) << parse_error(j);
  j["let"] = Json::object({{"2x", "M"}});
  EXPECT_TRUE(has(parse_error(j), "let names must be C identifiers")) << parse_error(j);
}

TEST(PlanValidate, CodeBuiltPlans) {
  Plan p = parse_candidate(kExample, "x").plan;
  std::get<KernelStep>(p.steps[0].op).kernel = "row-rinv";
  EXPECT_VALIDATE_ERROR(validate_error(p), "plan.steps[0].kernel: 'row-rinv' is not a C "
                                           "identifier");
  p = parse_candidate(kExample, "x").plan;
  std::get<KernelStep>(p.steps[1].op).grid.clear();
  EXPECT_VALIDATE_ERROR(validate_error(p), "plan.steps[1].grid: expected 1 to 3 expressions");
  p = parse_candidate(kExample, "x").plan;
  p.params[0].values = {};
  EXPECT_VALIDATE_ERROR(validate_error(p), "plan.params.THREADS: a param needs at least one");
  p = parse_candidate(kExample, "x").plan;
  p.params[1].values = {1, 2, 1};
  EXPECT_VALIDATE_ERROR(validate_error(p), "plan.params.ROWS[2]: value 1 given twice");
  p = parse_candidate(kExample, "x").plan;
  p.params[1].name = "1ROWS";
  EXPECT_VALIDATE_ERROR(validate_error(p), "plan.params.1ROWS: param names must be C identifiers");
  p = parse_candidate(kExample, "x").plan;
  p.steps.clear();
  EXPECT_VALIDATE_ERROR(validate_error(p), "plan.steps: the plan has no steps");
}


// Hostile plans: JSON nested 100k deep (nlohmann parses it, but dump() and other walks recurse)
// is refused by a scan before parsing; brackets in strings and // comments do not count.
TEST(PlanHostile, DeepJsonIsRefusedBeforeParsing) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::string text = "/* ksearch\n{ \"task\": \"rmsnorm_linear\", \"name\": \"x\", "
                           "\"params\": { \"A\": " + deep + " }, \"steps\": [] }\n*/\n";
  std::string m = parse_error(text);
  EXPECT_PLAN_ERROR(m, "plan: JSON nested deeper than 64 levels at byte 132 of the plan comment");
  EXPECT_THROW(normalized_source(text), PlanError);
  Json j = example_json();
  j["name"] = std::string(1000, '[');
  EXPECT_EQ(parse_error(wrap(j) + "// " + std::string(1000, '{') + "\n"), "");
  std::string inside = "/* ksearch\n// [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n" +
                       example_json().dump() + "\n*/\n";
  EXPECT_EQ(parse_error(inside), "");
  // 64 levels are JSON the plan reader then judges field by field.
  j = example_json();
  j["params"]["A"] = Json::parse(std::string(62, '[') + std::string(62, ']'));
  EXPECT_PLAN_ERROR(parse_error(j), "plan.params.A[0]: expected an integer, got an array");
}

// An `applies` of a million terms (the one that overflowed the stack) is one line naming it.
TEST(PlanHostile, HugeExpressionIsOneLineNamingTheField) {
  std::string chain = "M";
  for (int i = 1; i < 1000000; ++i) chain += "+M";
  Json j = example_json();
  j["applies"] = chain;
  std::string m = parse_error(j);
  EXPECT_PLAN_ERROR(m, "plan.applies: expression is 1999999 bytes long, more than the 65536 allowed");
  EXPECT_EQ(m.find('\n'), std::string::npos);
  EXPECT_LT(m.size(), 400u) << m;
  j["applies"] = std::string(150, '(') + "M" + std::string(150, ')') + " <\n 16";
  EXPECT_EQ(parse_error(j), "");  // deep, but within the 200 levels
  j["applies"] = std::string(300, '(') + "M" + std::string(300, ')');
  EXPECT_PLAN_ERROR(parse_error(j), "plan.applies: expression nested too deeply: deeper than 200");
  j = example_json();
  j["steps"][0]["args"][2] = std::string(300, '-') + "K";  // args are parsed at validation
  EXPECT_THROW(validate_plan(parse_candidate(wrap(j), "cand.cu").plan, FakeTask()), PlanError);
}

// Workspace sizes are checked before anything is allocated (evaluator/plan_instance.cpp passes the
// device's free memory as the limit): absurd sizes are a PlanError, a launch_error, not an attempt.
TEST(PlanHostile, WorkspaceSizesAreCheckedBeforeAllocation) {
  const Env env{{"M", 16}, {"K", 4096}};
  const size_t limit = size_t{80} << 30;
  auto error_of = [&](const std::string& text) {
    try {
      workspace_bytes("rinv", Expr::parse(text, "plan.workspace.rinv"), env, limit);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(workspace_bytes("rinv", Expr::parse("M * 4"), env, limit), 64u);
  EXPECT_EQ(workspace_bytes("rinv", Expr::parse("0"), env, limit), 0u);
  EXPECT_EQ(workspace_bytes("rinv", Expr::parse("85899345920"), env, limit), limit);
  EXPECT_EQ(error_of("4611686018427387904"),
            "plan.workspace.rinv: 4611686018427387904 bytes, more than the 85899345920 bytes of "
            "device memory free");
  EXPECT_EQ(error_of("85899345921"),
            "plan.workspace.rinv: 85899345921 bytes, more than the 85899345920 bytes of device "
            "memory free");
  EXPECT_EQ(error_of("M - 17"), "plan.workspace.rinv: -1 bytes, a negative size");
  EXPECT_TRUE(has(error_of("M * 4611686018427387904"), "int64 overflow in '*'")) << error_of("M * 4611686018427387904");
}

}  // namespace
}  // namespace ks
