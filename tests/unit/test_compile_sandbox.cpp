// The compile sandbox (evaluator/nvrtc_sandbox.h) and the include policy in the compiler: hostile
// candidates' compiles end as compile errors within their limits, and no secret reaches a log.
// Real NVRTC in the ksearch-nvrtc helper, no GPU. The limits are small here to keep CI fast.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/search/worker_evaluator.h"
#include "base/error.h"
#include "base/paths.h"
#include "evaluator/nvrtc_compiler.h"
#include "evaluator/nvrtc_sandbox.h"
#include "unit/run_ksearch.h"
#include "unit/temp_dir.h"

namespace ks {
namespace {

namespace fs = std::filesystem;

const std::string kKey = "ks-sentinel-api-key-7d41c0e9";
const std::string kOther = "ks-sentinel-user-var-93b2aa10";

// Variables set for one test, restored after.
class ScopedEnv {
 public:
  explicit ScopedEnv(const std::map<std::string, std::string>& vars) {
    for (const auto& [name, value] : vars) {
      const char* old = std::getenv(name.c_str());
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
      setenv(name.c_str(), value.c_str(), 1);
    }
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) setenv(name.c_str(), value->c_str(), 1);
      else unsetenv(name.c_str());
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

CompilerOptions small_limits() {
  CompilerOptions opts;
  opts.cuda_include = find_cuda_include();
  opts.ks_include = project_root() / "seeds" / "include";
  opts.jobs = 2;
  opts.timeout_s = 10;
  opts.memory_limit_bytes = uint64_t{512} << 20;
  return opts;  // no cache: every compile runs
}

CompileRequest request(const std::string& source) {
  return {.source = source, .origin = "attack.cu", .defines = {}, .arch = "sm_90a"};
}

void expect_no_secret(const std::string& log, const std::string& what) {
  EXPECT_EQ(log.find(kKey), std::string::npos) << what << "\n" << log;
  EXPECT_EQ(log.find(kOther), std::string::npos) << what << "\n" << log;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// This process's peak resident memory (VmHWM), in bytes.
uint64_t peak_rss() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// 10^10 tokens: memory grows slowly (~270 MB in 30 s), so the wall clock ends it.
constexpr const char* kMacroBomb = R"(#define A0 x x x x x x x x x x
#define A1 A0 A0 A0 A0 A0 A0 A0 A0 A0 A0
#define A2 A1 A1 A1 A1 A1 A1 A1 A1 A1 A1
#define A3 A2 A2 A2 A2 A2 A2 A2 A2 A2 A2
#define A4 A3 A3 A3 A3 A3 A3 A3 A3 A3 A3
#define A5 A4 A4 A4 A4 A4 A4 A4 A4 A4 A4
#define A6 A5 A5 A5 A5 A5 A5 A5 A5 A5 A5
#define A7 A6 A6 A6 A6 A6 A6 A6 A6 A6 A6
#define A8 A7 A7 A7 A7 A7 A7 A7 A7 A7 A7
#define A9 A8 A8 A8 A8 A8 A8 A8 A8 A8 A8
#define STR2(x) #x
#define STR(x) STR2(x)
__device__ const char* s = STR(A9);
)";

// Two million distinct instantiations at a depth of 21 (under the recursion limit): ~2.6 GB in a
// minute without a limit.
constexpr const char* kTemplateBomb = R"(
template <long L, long H> struct R { static constexpr long v = R<L, (L + H) / 2>::v + R<(L + H) / 2, H>::v; };
template <long L> struct R<L, L + 1> { static constexpr long v = L; };
extern "C" __global__ void k(long* o) { *o = R<0, (1L << 20)>::v; }
)";

TEST(CompileSandbox, IncludeEscapesAreRefusedAndNoSecretReachesALog) {
  const ScopedEnv env({{"KSEARCH_LLM_API_KEY", kKey}, {"KS_TEST_SECRET", kOther}});
  // A header in the working directory holding the key: a quote include would look here.
  const fs::path in_cwd = fs::current_path() / "ks_sandbox_secret.h";
  std::ofstream(in_cwd) << "#error " << kKey << "\n";
  const Compiler compiler(small_limits());
  const std::string ppid = std::to_string(getppid()), pid = std::to_string(getpid());
  const std::vector<std::string> attacks = {
      "#include \"/proc/self/environ\"",
      "#include \"/proc/" + ppid + "/environ\"",
      "#include \"/proc/" + pid + "/environ\"",
      "#include \"../../../../../../../../proc/self/environ\"",
      "#include <ks/../../../../../../../../proc/self/environ>",
      "#define F \"/proc/self/environ\"\n#include F",
      "#define F(x) #x\n#include F(/proc/self/environ)",
      "%:include \"/proc/self/environ\"",
      "?\?=include \"/proc/self/environ\"",
      "#inc\\\nlude \"/proc/self/environ\"",
      "#include \"/proc/self/env\\\niron\"",
      "#/* */include \"/proc/self/environ\"",
      "#  include_next \"/proc/self/environ\"",
      "#import \"/proc/self/environ\"",
      "const char* s = R\"(\n/*\n)\";\n#include \"/proc/self/environ\"\n// */",
      "#include \"ks_sandbox_secret.h\"",
      "#include \"/proc/self/pagemap\"",
      "#include \"/dev/zero\"",
  };
  for (const auto& attack : attacks) {
    const CompileResult r = compiler.compile(request(attack + "\n__global__ void k() {}\n"));
    EXPECT_FALSE(r.ok) << attack;
    EXPECT_NE(r.log.find(" refused: "), std::string::npos) << attack << "\n" << r.log;
    expect_no_secret(r.log, attack);
  }
  fs::remove(in_cwd);
}

TEST(CompileSandbox, TheHelperHasNoEnvironmentOfOursAndAnEmptyWorkingDirectory) {
  const ScopedEnv env({{"KSEARCH_LLM_API_KEY", kKey}, {"KS_TEST_SECRET", kOther}});
  const fs::path in_cwd = fs::current_path() / "ks_sandbox_secret.h";
  std::ofstream(in_cwd) << "#error " << kKey << "\n";
  // Straight to the helper, past the include policy: what it shows is all it has.
  const SandboxLimits limits{10, uint64_t{512} << 20};
  const std::vector<std::string> options = {"--gpu-architecture=sm_90a"};
  const fs::path helper = find_nvrtc_helper();
  CompileResult r = compile_sandboxed(helper, "#include \"/proc/self/environ\"\n", "a.cu",
                                      options, limits);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.log.find("PATH=/usr/bin:/bin"), std::string::npos) << r.log;  // it was read
  expect_no_secret(r.log, "/proc/self/environ");
  r = compile_sandboxed(helper, "#include \"ks_sandbox_secret.h\"\n", "a.cu", options, limits);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.log.find("cannot open source file \"ks_sandbox_secret.h\""), std::string::npos)
      << r.log;
  expect_no_secret(r.log, "a header in the caller's working directory");
  fs::remove(in_cwd);
}

TEST(CompileSandbox, TheKeyIsRedactedFromEveryLog) {
  const ScopedEnv env({{"KSEARCH_LLM_API_KEY", kKey}});
  const Compiler compiler(small_limits());
  const CompileResult r = compiler.compile(request("#error " + kKey + "\n"));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.log.find(kKey), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("#error directive: [KSEARCH_LLM_API_KEY]"), std::string::npos) << r.log;
}

TEST(CompileSandbox, MacroBombEndsAtTheTimeLimit) {
  CompilerOptions opts = small_limits();
  opts.timeout_s = 5;
  const Compiler compiler(opts);
  const uint64_t peak_before = peak_rss();
  const auto start = std::chrono::steady_clock::now();
  const CompileResult r = compiler.compile(request(kMacroBomb));
  EXPECT_LT(seconds_since(start), 5 + 3);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.log, "ksearch: the compile exceeded its 5 s limit and was killed\n");
  // The expansion grew the helper, not this process.
  EXPECT_LT(peak_rss(), peak_before + (uint64_t{64} << 20));
}

TEST(CompileSandbox, TemplateBombEndsAtTheMemoryLimit) {
  CompilerOptions opts = small_limits();
  opts.timeout_s = 60;  // not reached: 384 MiB are, in seconds
  opts.memory_limit_bytes = uint64_t{384} << 20;
  const Compiler compiler(opts);
  const uint64_t peak_before = peak_rss();
  const CompileResult r = compiler.compile(request(kTemplateBomb));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.log.rfind("ksearch: the compile exceeded its 384 MiB memory limit\n", 0), 0u)
      << r.log.substr(0, 2000);
  EXPECT_LT(peak_rss(), peak_before + (uint64_t{64} << 20));
}

TEST(CompileSandbox, IncludeOfAHugeProcFileEndsAtTheMemoryLimit) {
  // The policy refuses it (above); the helper's limit holds without the policy too.
  const CompileResult r =
      compile_sandboxed(find_nvrtc_helper(), "#include \"/proc/self/pagemap\"\n", "a.cu",
                        {"--gpu-architecture=sm_90a"}, {20, uint64_t{384} << 20});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.log.rfind("ksearch: the compile exceeded its 384 MiB memory limit\n", 0), 0u)
      << r.log.substr(0, 2000);
}

TEST(CompileSandbox, AHelperThatHangsCrashesOrAnswersGarbageIsACompileError) {
  test::TempDir tmp("ksearch_fake_helper");
  auto script = [&](const std::string& name, const std::string& body) {
    const fs::path file = tmp.dir / name;
    std::ofstream(file) << "#!/bin/sh\n" << body << "\n";
    fs::permissions(file, fs::perms::owner_all);
    return file;
  };
  const SandboxLimits limits{1, uint64_t{512} << 20};
  auto run = [&](const fs::path& helper) {
    return compile_sandboxed(helper, "__global__ void k() {}\n", "a.cu", {}, limits);
  };
  CompileResult r = run(script("hangs", "exec sleep 30"));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.log, "ksearch: the compile exceeded its 1 s limit and was killed\n");
  r = run(script("garbage", "cat >/dev/null; echo 'no frames here'"));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.log.find("ksearch: the compiler helper"), std::string::npos) << r.log;
  r = run(script("crashes", "kill -SEGV $$"));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.log.find("signal 11"), std::string::npos) << r.log;
  // Exit code 2: the helper refused its arguments, the same for every candidate: an error.
  try {
    run(script("refuses", "echo 'ksearch-nvrtc: bad limits' >&2; exit 2"));
    FAIL() << "expected ks::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exit code 2: ksearch-nvrtc: bad limits"),
              std::string::npos)
        << e.what();
  }
}

TEST(CompileSandbox, AMissingHelperIsAClearError) {
  try {
    find_nvrtc_helper({"/nonexistent/a/ksearch-nvrtc", "/nonexistent/b/ksearch-nvrtc"});
    FAIL() << "expected ks::Error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("/nonexistent/a/ksearch-nvrtc, /nonexistent/b/ksearch-nvrtc"),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("ksearch_nvrtc target"), std::string::npos) << what;
  }
  CompilerOptions opts = small_limits();
  opts.nvrtc_helper = "/nonexistent/ksearch-nvrtc";
  EXPECT_THROW(Compiler{opts}, Error);
  opts = small_limits();
  opts.timeout_s = 0;
  EXPECT_THROW(Compiler{opts}, Error);
  opts = small_limits();
  opts.memory_limit_bytes = 1 << 20;
  EXPECT_THROW(Compiler{opts}, Error);
}

TEST(CompileSandbox, TheCommandLineCarriesTheLimitAndNoSecret) {
  test::TempDir tmp("ksearch_sandbox_cli");
  // A valid plan with a hostile body.
  const std::string file = tmp.file("attack.cu");
  std::ofstream(file) << R"(/* ksearch
{ "task": "rmsnorm_linear", "name": "attack", "params": {},
  "workspace": { "rinv": "M * 4" },
  "steps": [ { "kernel": "k", "grid": ["M"], "block": ["32"], "args": ["X", "rinv", "K", "eps"] } ] }
*/
#include "/proc/self/environ"
extern "C" __global__ void k(const void* X, float* rinv, int K, float eps) {}
)";
  const auto r = cli_test::ksearch_env("KSEARCH_LLM_API_KEY=" + kKey + " KS_TEST_SECRET=" + kOther,
                                       "compile " + file + " --compile-timeout 7");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("#include \"/proc/self/environ\" refused: absolute path"), std::string::npos)
      << r.out;
  expect_no_secret(r.out, "ksearch compile");
  for (const char* cmd : {"compile", "eval", "run", "worker"}) {
    EXPECT_NE(cli_test::ksearch(std::string(cmd) + " --help").out.find("--compile-timeout"),
              std::string::npos)
        << cmd;
  }
  const std::vector<std::string> worker = worker_command(0, 7.5);
  ASSERT_GE(worker.size(), 2u);
  EXPECT_EQ(worker[worker.size() - 2], "--compile-timeout");
  EXPECT_EQ(std::stod(worker.back()), 7.5);
}

}  // namespace
}  // namespace ks
