// The ksearch command line, run as a user runs it: help, tasks, compile, and the errors a user
// can make, each one clear line and a non-zero exit.
#include <gtest/gtest.h>

#include <algorithm>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <set>

#include "base/paths.h"
#include "evaluator/device.h"
#include "tasks/task.h"
#include "unit/run_ksearch.h"

namespace ks {
namespace {

using cli_test::ksearch;
using cli_test::ksearch_env;
using cli_test::Outcome;
using cli_test::lines;

std::string root() { return project_root().string(); }

std::string temp_file(const std::string& name, const std::string& text) {
  auto p = std::filesystem::temp_directory_path() / ("ksearch_cli_" + std::to_string(getpid()) + "_" + name);
  std::ofstream(p) << text;
  return p.string();
}

TEST(Cli, EveryCommandHasHelp) {
  for (auto cmd : {"", "tasks ", "compile ", "eval ", "run ", "best ", "bench ", "show ", "merge ", "worker "}) {
    Outcome r = ksearch(std::string(cmd) + "--help");
    EXPECT_EQ(r.code, 0) << cmd << r.out;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd << r.out;
  }
}

TEST(Cli, NoCommandIsAnError) { EXPECT_NE(ksearch("").code, 0); }

// A command line CLI11 rejects (a missing required option, an unknown flag) is a user's error like
// any other: one line naming it, exit code 2.
TEST(Cli, ABadCommandLineIsOneClearLine) {
  for (auto [args, says] : {std::pair{"export --out /tmp/never", "--task is required"},
                            {"compile", "FILE is required"}, {"best --no-such-flag", "The following argument was not expected: --no-such-flag"}}) {
    const Outcome r = ksearch(args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.out;
    EXPECT_NE(r.out.find(std::string("ksearch: ") + says), std::string::npos) << args << ": " << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << args << ": " << r.out;
  }
}

TEST(Cli, TasksListsShapesAndRooflineInputs) {
  Outcome r = ksearch("tasks");
  ASSERT_EQ(r.code, 0) << r.out;
  for (auto s : {"rmsnorm_linear", "M=2048,K=4096,N=6144", "GFLOP", "floor us", "audit", "K % 8 == 0",
                 "gemm: Y = X @ W^T", "M=256,K=14336,N=4096", "M=777,K=3072,N=1000"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  EXPECT_EQ(ksearch("tasks --json").code, 0);
}

TEST(Cli, CompileWorksWithoutAGpu) {
  Outcome r = ksearch("compile " + root() + "/seeds/rmsnorm_linear/baseline.cu --arch sm_80 sm_90a");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("rmsnorm"), std::string::npos) << r.out;  // a kernel row with its registers
  EXPECT_NE(r.out.find("ok"), std::string::npos) << r.out;
}

TEST(Cli, CompileErrorShowsTheLogAndFails) {
  std::string f = temp_file("bad.cu", R"(/* ksearch
{ "task": "rmsnorm_linear", "name": "bad",
  "steps": [ { "kernel": "k", "grid": [1], "block": [32], "args": [] } ] }
*/
extern "C" __global__ void k() { this is not cuda; }
)");
  Outcome r = ksearch("compile " + f + " --arch sm_80");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("compile_error"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("error"), std::string::npos) << r.out;
}

TEST(Cli, BadPlanIsOneClearLine) {
  std::string f = temp_file("badplan.cu", R"(/* ksearch
{ "task": "rmsnorm_linear", "name": "bad",
  "steps": [ { "kernel": "k", "grid": ["cdiv(N,"], "block": [32], "args": [] } ] }
*/
)");
  Outcome r = ksearch("compile " + f);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(lines(r.out), 1) << r.out;
  EXPECT_NE(r.out.find("steps[0].grid[0]"), std::string::npos) << r.out;
}

TEST(Cli, UnknownTaskIsOneClearLine) {
  std::string f = temp_file("unknown.cu", R"(/* ksearch
{ "task": "no_such_task", "name": "x",
  "steps": [ { "kernel": "k", "grid": [1], "block": [32], "args": [] } ] }
*/
)");
  Outcome r = ksearch("compile " + f);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(lines(r.out), 1) << r.out;
  EXPECT_NE(r.out.find("no_such_task"), std::string::npos) << r.out;
}

TEST(Cli, BadShapeAndVariantAreOneClearLine) {
  std::string seed = root() + "/seeds/rmsnorm_linear/baseline.cu";
  for (auto args : {" --shape 1,2", " --shape 1,4096,4095", " --variant NOPE=1"}) {
    Outcome r = ksearch("eval " + seed + args);
    EXPECT_EQ(r.code, 2) << args << r.out;
    EXPECT_EQ(lines(r.out), 1) << args << r.out;
  }
}

TEST(Cli, MissingFileIsOneClearLine) {
  Outcome r = ksearch("eval /nonexistent/x.cu");
  EXPECT_NE(r.code, 0);
  EXPECT_LE(lines(r.out), 2) << r.out;
}

TEST(Cli, MissingCudaIncludeNamesTheVariable) {
  Outcome r = ksearch("compile " + root() + "/seeds/rmsnorm_linear/baseline.cu");
  ASSERT_EQ(r.code, 0) << r.out;  // it works with the real toolkit
  Outcome bad = ksearch_env("CUDA_HOME=/nonexistent", "compile " + root() + "/seeds/rmsnorm_linear/baseline.cu");
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_EQ(lines(bad.out), 1) << bad.out;
  EXPECT_NE(bad.out.find("CUDA_HOME"), std::string::npos) << bad.out;
}

TEST(Cli, EvalWithoutAGpuSaysSoInOneLine) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present: this test is for machines without one";
  Outcome r = ksearch("eval " + root() + "/seeds/rmsnorm_linear/baseline.cu");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("no CUDA device"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ksearch: "), std::string::npos) << r.out;
}

TEST(Cli, BenchErrorsAreOneClearLine) {
  Outcome r = ksearch("bench --db /nonexistent/ksearch.db");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(r.out, "ksearch: no archive at /nonexistent/ksearch.db (give --db, or --seeds-only to bench the seeds alone)\n");
  r = ksearch("bench --seeds-only --task nope");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("unknown task 'nope'"), std::string::npos) << r.out;
  r = ksearch("bench --seeds-only --targets /nonexistent/targets.json");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(r.out, "ksearch: cannot read the targets file /nonexistent/targets.json (give --targets FILE, or --targets '' for none)\n");
  const auto bad = std::filesystem::temp_directory_path() / "ksearch-bad-targets.json";
  std::ofstream(bad) << R"({"rows": [{"task": "swiglu_mlp", "shape": "M=1,H=4096,I=14336"}]})";
  r = ksearch("bench --seeds-only --targets " + bad.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("targets file " + bad.string() + " is not valid"), std::string::npos) << r.out;
  EXPECT_EQ(lines(r.out), 1) << r.out;
  if (cuda_device_count() > 0) return;
  r = ksearch("bench --seeds-only");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("no CUDA device"), std::string::npos) << r.out;
  EXPECT_EQ(lines(r.out), 1) << r.out;
}

// The shipped targets name every task's search shapes, as format_shape writes them (so bench finds
// each row), and nothing else; except gemm's, a task for measuring a GEMM mainloop against
// cuBLASLt that no issue set targets for (bench prints "-" in its target columns).
TEST(Cli, BenchTargetsCoverEverySearchShape) {
  std::ifstream in(project_root() / "bench" / "targets.json");
  ASSERT_TRUE(in);
  const nlohmann::json j = nlohmann::json::parse(in);
  std::set<std::pair<std::string, std::string>> listed, expected;
  for (auto& r : j.at("rows")) {
    listed.insert({r.at("task").get<std::string>(), r.at("shape").get<std::string>()});
    EXPECT_GT(r.at("target_us").get<double>(), 0) << r.dump();
  }
  for (const Task* t : all_tasks())
    if (t->name() != "gemm")
      for (auto& s : t->search_shapes()) expected.insert({t->name(), t->format_shape(s)});
  EXPECT_EQ(listed, expected);
}

TEST(Cli, WorkerWithoutAGpuSaysSoInItsHello) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present: this test is for machines without one";
  Outcome r = ksearch("worker --device 0 </dev/null 3>&1");  // its answers go to descriptor 3
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(R"({"hello":{"error":"no CUDA device)"), std::string::npos) << r.out;
}

// Started by hand, without the answer pipe its supervisor opens, the worker says so in one line.
TEST(Cli, WorkerStartedByHandSaysItNeedsItsAnswerPipe) {
  Outcome r = ksearch("worker --device 0 </dev/null 3>&-");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_NE(r.out.find("descriptor 3"), std::string::npos) << r.out;
}

// A shape past what kernels can take is refused in one line naming the symbol or buffer, before
// any GPU is touched: CI has none, so reaching the device would print its "no CUDA device" instead.
TEST(Cli, OversizedShapeIsOneLineBeforeTheGpu) {
  const std::string seed = root() + "/seeds/rmsnorm_linear/baseline.cu";
  const std::string db = temp_file("oversized.db", "");
  std::filesystem::remove(db);
  const struct {
    std::string args, says;
  } cases[] = {
      {"eval " + seed + " --shape 3000000000,4096,4096", "M=3000000000 is more than a kernel's int argument holds"},
      {"eval " + seed + " --shape 2147483647,2147483640,8", "buffer X has 4611685999100035080 elements"},
      {"run --task rmsnorm_linear --db " + db + " --shape 4294967297,4096,4096", "M=4294967297 is more than"},
      {"run --task rmsnorm_linear --db " + db + " --shape M=8,K=2147483640,N=2147483647",
       "buffer W has 4611685999100035080 elements"},
  };
  for (auto& c : cases) {
    Outcome r = ksearch(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out;
    EXPECT_EQ(lines(r.out), 1) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.says), std::string::npos) << c.args << "\n" << r.out;
  }
  std::filesystem::remove(db);
}

// The `applies` of a million terms that once killed `ksearch compile` with SIGSEGV: now one line
// and exit code 2; one just under the 64 KiB limit parses, and the candidate compiles.
TEST(Cli, HugeAppliesIsOneLineNotASignal) {
  auto candidate = [](int terms) {
    std::string chain = "M";
    for (int i = 1; i < terms; ++i) chain += "+M";
    return "/* ksearch\n{ \"task\": \"rmsnorm_linear\", \"name\": \"chain\", \"applies\": \"" +
           chain + " > 0\",\n  \"steps\": [ { \"kernel\": \"k\", \"grid\": [1], \"block\": [32], "
           "\"args\": [] } ] }\n*/\nextern \"C\" __global__ void k() {}\n";
  };
  Outcome r = ksearch("compile " + temp_file("million.cu", candidate(1000000)) + " --arch sm_80");
  EXPECT_EQ(r.code, 2) << r.out.substr(0, 500);
  EXPECT_EQ(lines(r.out), 1) << r.out.substr(0, 500);
  EXPECT_NE(r.out.find("plan.applies: expression is 2000003 bytes long, more than the 65536 allowed"),
            std::string::npos)
      << r.out.substr(0, 500);
  r = ksearch("compile " + temp_file("long.cu", candidate(30000)) + " --arch sm_80");
  EXPECT_EQ(r.code, 0) << r.out.substr(0, 2000);
}

}  // namespace
}  // namespace ks
