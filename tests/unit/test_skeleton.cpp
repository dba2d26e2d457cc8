// A plan's launch skeleton (evaluator/skeleton.h) without a GPU: the stub source has the real
// kernels' parameter layout and cluster dims (checked in the PTX NVRTC makes of both), compiles
// through the project's compile path for every shipped seed's plan, and every way a skeleton
// cannot be made is an error string, never an exception. Timing it needs a GPU
// (GpuSearch.EvalTimesTheLaunchSkeletonOfAPlan).
#include <gtest/gtest.h>
#include <nvrtc.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "base/paths.h"
#include "evaluator/plan.h"
#include "evaluator/skeleton.h"
#include "unit/run_ksearch.h"

namespace ks {
namespace {

// NVRTC straight to PTX (no sandbox: the sources are the test's own), for the .param lines.
std::string ptx_of(const std::string& source) {
  nvrtcProgram prog;
  EXPECT_EQ(nvrtcCreateProgram(&prog, source.c_str(), "test.cu", 0, nullptr, nullptr), NVRTC_SUCCESS);
  const char* opts[] = {"--gpu-architecture=compute_90", "-std=c++17"};
  const nvrtcResult r = nvrtcCompileProgram(prog, 2, opts);
  size_t log_size = 0;
  nvrtcGetProgramLogSize(prog, &log_size);
  std::string log(log_size, '\0');
  nvrtcGetProgramLog(prog, log.data());
  EXPECT_EQ(r, NVRTC_SUCCESS) << log << "\n" << source;
  size_t size = 0;
  nvrtcGetPTXSize(prog, &size);
  std::string ptx(size, '\0');
  nvrtcGetPTX(prog, ptx.data());
  nvrtcDestroyProgram(&prog);
  return ptx;
}

// The parameters of `kernel` in the PTX, laid out as the driver lays them out: each at the next
// multiple of its alignment (a scalar's is its size).
std::vector<KernelParam> ptx_params(const std::string& ptx, const std::string& kernel) {
  const size_t entry = ptx.find(".entry " + kernel + "(");
  EXPECT_NE(entry, std::string::npos) << kernel << " in\n" << ptx;
  if (entry == std::string::npos) return {};
  const size_t open = entry + kernel.size() + 8;
  const std::string params = ptx.substr(open, ptx.find(')', open) - open);
  static const std::regex array(R"(\.align\s+(\d+)\s+\.b8\s+\w+\[(\d+)\])"), scalar(R"(\.[usfb](\d+)\b)");
  std::vector<KernelParam> out;
  size_t end = 0;
  std::stringstream list(params);
  for (std::string one; std::getline(list, one, ',');) {
    if (one.find(".param") == std::string::npos) continue;
    std::smatch m;
    size_t align = 0, size = 0;
    if (std::regex_search(one, m, array)) {
      align = std::stoul(m[1]);
      size = std::stoul(m[2]);
    } else if (std::regex_search(one, m, scalar)) {  // ".u64 .ptr .align 1": the pointee's
      align = size = std::stoul(m[1]) / 8;
    } else {
      ADD_FAILURE() << "unread parameter: " << one;
      continue;
    }
    const size_t offset = (end + align - 1) / align * align;
    out.push_back({offset, size});
    end = offset + size;
  }
  return out;
}

// Kernels with every kind of parameter a plan passes (pointers, ints, floats, a 128-byte tensor
// map of alignment 64) and some a hand-written kernel might (a short, a 12-byte struct), in an
// order that needs padding; one with cluster dims.
constexpr const char* kReal = R"(
struct alignas(64) Map { unsigned long long opaque[16]; };
struct Three { int a, b, c; };
extern "C" __global__ void __cluster_dims__(4, 1, 1) with_map(int n, const __grid_constant__ Map m,
    const float* x, float eps, short s, Three t, double* y) {}
extern "C" __global__ void plain(const void* a, void* b, int m, int n, float eps) {}
extern "C" __global__ void none() {}
)";

TEST(Skeleton, StubsHaveTheRealKernelsParameterLayoutAndClusterDims) {
  const std::string real_ptx = ptx_of(kReal);
  std::vector<StubKernel> kernels;
  for (const char* name : {"with_map", "plain", "none"})
    kernels.push_back({name, ptx_params(real_ptx, name), {0, 0, 0}});
  kernels[0].cluster = {4, 1, 1};
  ASSERT_EQ(kernels[0].params.size(), 7u);
  EXPECT_EQ(kernels[0].params[1], (KernelParam{64, 128})) << "the map after an int, padded to 64";
  EXPECT_EQ(kernels[0].params[5], (KernelParam{208, 12}));
  EXPECT_EQ(kernels[0].params[6], (KernelParam{224, 8}));
  EXPECT_TRUE(kernels[2].params.empty());

  const std::string stub = skeleton_source(kernels);
  EXPECT_NE(stub.find("__cluster_dims__(4, 1, 1) with_map("), std::string::npos) << stub;
  const std::string stub_ptx = ptx_of(stub);
  for (auto& k : kernels) EXPECT_EQ(ptx_params(stub_ptx, k.name), k.params) << k.name << "\n" << stub;
  const size_t entry = stub_ptx.find(".entry with_map(");
  const size_t body = stub_ptx.find('{', entry);
  EXPECT_NE(stub_ptx.substr(entry, body - entry).find(".reqnctapercluster 4, 1, 1"), std::string::npos)
      << stub_ptx.substr(entry, body - entry);
}

// Every shipped seed's kernel plan (default variant), described as the plan runner passes its args
// (pointers 8, constants 4, expressions 4, tensor maps 128 aligned to 64): its skeleton compiles
// through the project's compile path for sm_90a, and holds exactly the plan's kernels, empty.
TEST(Skeleton, TheStubsOfEverySeedPlanCompileWithNvrtc) {
  Compiler compiler(Compiler::default_options());
  int built = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(project_root() / "seeds")) {
    if (e.path().extension() != ".cu") continue;
    const Candidate c = load_candidate(e.path().string());
    const Task& task = task_of(c);
    std::vector<StubKernel> described;
    bool has_gemm = false;
    for (auto& step : c.plan.steps) {
      const auto* ks = std::get_if<KernelStep>(&step.op);
      if (!ks) {
        has_gemm = true;
        continue;
      }
      StubKernel k{ks->kernel, {}, {0, 0, 0}};
      size_t end = 0;
      for (auto& arg : ks->args) {
        const auto buffers = task.buffers();
        const bool pointer = std::any_of(buffers.begin(), buffers.end(), [&](auto& b) { return b.name == arg; }) ||
                             std::any_of(c.plan.workspace.begin(), c.plan.workspace.end(),
                                         [&](auto& w) { return w.first == arg; });
        const size_t size = find_tensor_map(c.plan, arg) ? 128 : pointer ? 8 : 4;
        const size_t align = size == 128 ? 64 : size;
        const size_t offset = (end + align - 1) / align * align;
        k.params.push_back({offset, size});
        end = offset + size;
      }
      described.push_back(k);
    }
    const SkeletonBuild b = build_skeleton(compiler, c.plan, described, "sm_90a");
    if (has_gemm) {
      EXPECT_NE(b.error.find("gemm step"), std::string::npos) << e.path() << ": " << b.error;
      continue;
    }
    ASSERT_EQ(b.error, "") << e.path() << "\n" << b.source;
    ASSERT_TRUE(b.compiled.ok) << b.compiled.log;
    EXPECT_FALSE(b.compiled.cubin.empty());
    std::set<std::string> want, got;
    for (auto& k : described) want.insert(k.name);
    for (auto& k : b.compiled.kernels) {
      got.insert(k.kernel);
      EXPECT_EQ(k.static_smem_bytes, 0) << k.kernel;
      EXPECT_EQ(k.spill_store_bytes, 0) << k.kernel;
    }
    EXPECT_EQ(got, want) << e.path();
    ++built;
  }
  EXPECT_GE(built, 8);
}

Plan one_kernel_plan(const std::string& kernel) {
  Plan p;
  p.task = "rmsnorm_linear";
  p.name = "skeleton_test";
  KernelStep k;
  k.kernel = kernel;
  k.grid = {Expr::parse("1", "grid")};
  k.block = {Expr::parse("32", "block")};
  p.steps.push_back({k});
  return p;
}

// A bad name (the parser refuses these, but a plan can be built in code) or anything else that
// keeps a plan from having a skeleton is an error string for the row, never an exception.
TEST(Skeleton, ABadKernelNameIsASkeletonErrorNotACrash) {
  Compiler compiler(Compiler::default_options());
  for (const std::string& name : std::vector<std::string>{"bad name", "k(){} __global__ void evil", "", "9lives", "k\n#include </etc/passwd>",
                           "ks_skeleton_param", std::string(2000, 'a')}) {
    SkeletonBuild b;
    ASSERT_NO_THROW(b = build_skeleton(compiler, one_kernel_plan(name), {{name, {{0, 8}}, {0, 0, 0}}}, "sm_90a"))
        << name;
    EXPECT_FALSE(b.error.empty()) << name;
    EXPECT_FALSE(b.compiled.ok) << name;
    EXPECT_TRUE(b.source.empty()) << "nothing generated for " << name << ":\n" << b.source;
  }
  EXPECT_NE(build_skeleton(compiler, one_kernel_plan("bad name"), {}, "sm_90a").error.find("not a C identifier"),
            std::string::npos);
  EXPECT_THROW(skeleton_source({{"x y", {}, {0, 0, 0}}}), SkeletonError);

  // An identifier NVRTC refuses (a keyword): generated, but it does not compile.
  SkeletonBuild kw = build_skeleton(compiler, one_kernel_plan("int"), {{"int", {}, {0, 0, 0}}}, "sm_90a");
  EXPECT_NE(kw.error.find("does not compile"), std::string::npos) << kw.error;

  // A kernel the description lacks, a layout that is not one, cluster dims out of range.
  EXPECT_NE(build_skeleton(compiler, one_kernel_plan("k"), {}, "sm_90a").error.find("not among"), std::string::npos);
  for (const StubKernel& bad : std::vector<StubKernel>{{"k", {{0, 8}, {4, 4}}, {0, 0, 0}},
                                                       {"k", {{0, 0}}, {0, 0, 0}},
                                                       {"k", {{0, 4}, {6, 4}}, {0, 0, 0}},
                                                       {"k", {{0, 40000}}, {0, 0, 0}},
                                                       {"k", {{SIZE_MAX, 8}}, {0, 0, 0}},
                                                       {"k", {}, {2, 0, 1}},
                                                       {"k", {}, {-1, -1, -1}},
                                                       {"k", {}, {1 << 20, 1, 1}}}) {
    SkeletonBuild b;
    ASSERT_NO_THROW(b = build_skeleton(compiler, one_kernel_plan("k"), {bad}, "sm_90a"));
    EXPECT_FALSE(b.error.empty());
  }

  // A plan with a gemm step has no skeleton.
  Plan gemm = one_kernel_plan("k");
  gemm.steps.push_back({GemmStep{"X", "W", "Y", Expr::parse("1", "m"), Expr::parse("1", "n"),
                                 Expr::parse("1", "k"), false, true, std::nullopt}});
  const SkeletonBuild g = build_skeleton(compiler, gemm, {{"k", {}, {0, 0, 0}}}, "sm_90a");
  EXPECT_NE(g.error.find("plan.steps[1] is a gemm step"), std::string::npos) << g.error;

  // A compile the compiler itself refuses (no such architecture) is an error string too.
  EXPECT_FALSE(build_skeleton(compiler, one_kernel_plan("k"), {{"k", {}, {0, 0, 0}}}, "sm_nope").error.empty());
}

TEST(Skeleton, EvalDocumentsTheFlagAndRefusesItWithoutTiming) {
  const cli_test::Outcome help = cli_test::ksearch("eval --help");
  ASSERT_EQ(help.code, 0) << help.out;
  EXPECT_NE(help.out.find("--skeleton"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("launch skeleton"), std::string::npos) << help.out;
  const cli_test::Outcome r =
      cli_test::ksearch("eval " + (project_root() / "seeds/rmsnorm_linear/mma_gemv.cu").string() + " --skeleton --no-time");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(cli_test::lines(r.out), 1) << r.out;
  EXPECT_NE(r.out.find("--skeleton"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace ks
