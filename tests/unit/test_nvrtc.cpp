// NVRTC compiler, cubin cache and ptxas report: real compiles, no GPU needed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/paths.h"
#include "evaluator/nvrtc_compiler.h"
#include "evaluator/ptxas_report.h"

namespace ks {
namespace {

namespace fs = std::filesystem;

// A kernel that needs both include paths: cuda_bf16.h and a header of the temp ks_include.
// Its static shared memory is KS_THREADS floats, so the define shows in the ptxas report.
constexpr const char* kKernel = R"(#include <cuda_bf16.h>
#include "ks/test_helper.cuh"
#ifndef KS_THREADS
#define KS_THREADS 128
#endif
extern "C" __global__ void scale_rows(const __nv_bfloat16* x, __nv_bfloat16* y, int n) {
  __shared__ float tile[KS_THREADS];
  const int i = blockIdx.x * KS_THREADS + threadIdx.x;
  tile[threadIdx.x] = i < n ? __bfloat162float(x[i]) : 0.f;
  __syncthreads();
  if (i < n) y[i] = __float2bfloat16(kstest::twice(tile[KS_THREADS - 1 - threadIdx.x]));
}
)";

constexpr const char* kHelper = R"(#pragma once
namespace kstest {
__device__ inline float twice(float v) { return 2.f * v; }
}
)";

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return std::move(out).str();
}

void write_file(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << file;
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::exists(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) files.push_back(entry.path());
  return files;
}

// Sets (or with nullptr unsets) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_.c_str(), old_->c_str(), 1);
    else ::unsetenv(name_.c_str());
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

void expect_same_resources(const CompileResult& a, const CompileResult& b) {
  ASSERT_EQ(a.kernels.size(), b.kernels.size());
  for (size_t i = 0; i < a.kernels.size(); ++i) {
    EXPECT_EQ(a.kernels[i].kernel, b.kernels[i].kernel);
    EXPECT_EQ(a.kernels[i].registers, b.kernels[i].registers);
    EXPECT_EQ(a.kernels[i].static_smem_bytes, b.kernels[i].static_smem_bytes);
    EXPECT_EQ(a.kernels[i].stack_bytes, b.kernels[i].stack_bytes);
    EXPECT_EQ(a.kernels[i].spill_store_bytes, b.kernels[i].spill_store_bytes);
    EXPECT_EQ(a.kernels[i].spill_load_bytes, b.kernels[i].spill_load_bytes);
  }
}

class NvrtcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = fs::temp_directory_path() /
            ("ks_nvrtc_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(root_);
    write_file(ks_include() / "ks" / "test_helper.cuh", kHelper);
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path ks_include() const { return root_ / "include"; }
  fs::path cache_dir() const { return root_ / "cache"; }

  CompilerOptions options() const {
    CompilerOptions opts;
    opts.cuda_include = find_cuda_include();
    opts.ks_include = ks_include();
    opts.cache_dir = cache_dir();
    opts.jobs = 2;
    return opts;
  }

  static CompileRequest request(std::string arch = "sm_90a",
                                std::vector<std::pair<std::string, int64_t>> defines = {}) {
    return {.source = kKernel, .origin = "scale_rows.cu", .defines = std::move(defines),
            .arch = std::move(arch)};
  }

  fs::path root_;
};

TEST_F(NvrtcTest, CompilesForEachArchAndReadsResources) {
  const Compiler compiler(options());
  const std::vector<std::string> archs = {"sm_80", "sm_90", "sm_90a"};
  std::vector<CompileRequest> reqs;
  for (const auto& arch : archs) reqs.push_back(request(arch));
  const auto results = compiler.compile_all(reqs);
  ASSERT_EQ(results.size(), archs.size());
  for (size_t i = 0; i < archs.size(); ++i) {
    const CompileResult& r = results[i];
    ASSERT_TRUE(r.ok) << archs[i] << ":\n" << r.log;
    EXPECT_FALSE(r.cache_hit);
    ASSERT_GE(r.cubin.size(), 4u);
    EXPECT_EQ(std::string(r.cubin.data(), 4), "\x7f" "ELF") << archs[i];
    EXPECT_NE(r.log.find("for '" + archs[i] + "'"), std::string::npos) << r.log;
    ASSERT_EQ(r.kernels.size(), 1u) << r.log;
    EXPECT_EQ(r.kernels[0].kernel, "scale_rows");
    EXPECT_GT(r.kernels[0].registers, 0);
    EXPECT_EQ(r.kernels[0].static_smem_bytes, 128 * 4);
    EXPECT_EQ(r.kernels[0].spill_store_bytes, 0);
    EXPECT_GT(r.seconds, 0);
  }
}

TEST_F(NvrtcTest, DefineReachesTheCode) {
  CompilerOptions opts = options();
  opts.cache_dir.clear();
  const Compiler compiler(opts);
  const std::string source =
      "static_assert(KS_EXPECT == 7, \"KS_EXPECT must be 7\");\n"
      "extern \"C\" __global__ void k(int* o) { *o = KS_EXPECT; }\n";
  const CompileResult seven =
      compiler.compile({.source = source, .origin = "d.cu", .defines = {{"KS_EXPECT", 7}},
                        .arch = "sm_80"});
  EXPECT_TRUE(seven.ok) << seven.log;
  const CompileResult eight =
      compiler.compile({.source = source, .origin = "d.cu", .defines = {{"KS_EXPECT", 8}},
                        .arch = "sm_80"});
  EXPECT_FALSE(eight.ok);
  EXPECT_NE(eight.log.find("KS_EXPECT must be 7"), std::string::npos) << eight.log;

  // A define also changes what ptxas reports: the shared tile is KS_THREADS floats.
  const CompileResult wide = compiler.compile(request("sm_90a", {{"KS_THREADS", 256}}));
  ASSERT_TRUE(wide.ok) << wide.log;
  ASSERT_EQ(wide.kernels.size(), 1u);
  EXPECT_EQ(wide.kernels[0].static_smem_bytes, 256 * 4);
}

TEST_F(NvrtcTest, SyntaxErrorIsAFailedResultNamingTheLine) {
  const Compiler compiler(options());
  const CompileRequest req{.source = "extern \"C\" __global__ void k(int* o) {\n"
                                     "  int a = 1;\n"
                                     "  *o = a +;\n"
                                     "}\n",
                           .origin = "broken.cu",
                           .defines = {},
                           .arch = "sm_90"};
  const CompileResult r = compiler.compile(req);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.cubin.empty());
  EXPECT_TRUE(r.kernels.empty());
  EXPECT_NE(r.log.find("broken.cu(3)"), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("error"), std::string::npos) << r.log;
  // Not cached: the cache holds nothing, and a second try compiles again.
  EXPECT_TRUE(files_in(cache_dir()).empty());
  EXPECT_FALSE(compiler.compile(req).cache_hit);
}

TEST_F(NvrtcTest, SecondCompileIsACacheHitWithTheSameCubinAndResources) {
  const CompileResult first = Compiler(options()).compile(request());
  ASSERT_TRUE(first.ok) << first.log;
  EXPECT_FALSE(first.cache_hit);
  ASSERT_EQ(files_in(cache_dir()).size(), 1u);

  // A fresh Compiler (a later process) over the same folder.
  const CompileResult second = Compiler(options()).compile(request());
  ASSERT_TRUE(second.ok);
  EXPECT_TRUE(second.cache_hit);
  EXPECT_EQ(second.cubin, first.cubin);
  EXPECT_EQ(second.log, first.log);
  ASSERT_EQ(second.kernels.size(), 1u);
  expect_same_resources(first, second);
  EXPECT_LT(second.seconds, first.seconds);
}

TEST_F(NvrtcTest, ChangedDefineArchOrHeaderMissesTheCache) {
  const Compiler compiler(options());
  ASSERT_TRUE(compiler.compile(request("sm_90a", {{"KS_THREADS", 64}})).ok);

  EXPECT_FALSE(compiler.compile(request("sm_90a", {{"KS_THREADS", 32}})).cache_hit);
  EXPECT_FALSE(compiler.compile(request("sm_80", {{"KS_THREADS", 64}})).cache_hit);
  CompileRequest edited = request("sm_90a", {{"KS_THREADS", 64}});
  edited.source += "// a comment changes the source, so the key\n";
  EXPECT_FALSE(compiler.compile(edited).cache_hit);
  CompileRequest renamed = request("sm_90a", {{"KS_THREADS", 64}});
  renamed.origin = "other_name.cu";  // named in the log and the line table
  EXPECT_FALSE(compiler.compile(renamed).cache_hit);
  EXPECT_TRUE(compiler.compile(request("sm_90a", {{"KS_THREADS", 64}})).cache_hit);

  // A header edit is seen by the next Compiler (the tree is hashed once, at construction).
  write_file(ks_include() / "ks" / "test_helper.cuh",
             std::string(kHelper) + "// edited\n");
  const Compiler after_edit(options());
  EXPECT_FALSE(after_edit.compile(request("sm_90a", {{"KS_THREADS", 64}})).cache_hit);
  EXPECT_TRUE(after_edit.compile(request("sm_90a", {{"KS_THREADS", 64}})).cache_hit);

  // So is a new file, even one the kernel does not include.
  write_file(ks_include() / "ks" / "unused.cuh", "#pragma once\n");
  EXPECT_FALSE(Compiler(options()).compile(request("sm_90a", {{"KS_THREADS", 64}})).cache_hit);
  // And a renamed one: the same bytes under another name.
  fs::rename(ks_include() / "ks" / "unused.cuh", ks_include() / "ks" / "unused_renamed.cuh");
  EXPECT_FALSE(Compiler(options()).compile(request("sm_90a", {{"KS_THREADS", 64}})).cache_hit);
}

TEST_F(NvrtcTest, CorruptCacheFileIsAMissAndIsRewritten) {
  const Compiler compiler(options());
  const CompileResult original = compiler.compile(request());
  ASSERT_TRUE(original.ok) << original.log;
  const auto files = files_in(cache_dir());
  ASSERT_EQ(files.size(), 1u);
  const fs::path entry = files[0];
  const std::string good = read_file(entry);

  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 0x20;  // inside the cubin, which is most of the file
  const std::vector<std::pair<std::string, std::string>> damages = {
      {"truncated", good.substr(0, good.size() / 2)},
      {"one byte changed", flipped},
      {"last byte missing", good.substr(0, good.size() - 1)},
      {"empty", ""},
      {"not a cache file", "hello"},
  };
  for (const auto& [what, bytes] : damages) {
    SCOPED_TRACE(what);
    write_file(entry, bytes);
    const CompileResult r = compiler.compile(request());
    ASSERT_TRUE(r.ok) << r.log;
    EXPECT_FALSE(r.cache_hit);
    EXPECT_EQ(r.cubin, original.cubin);
    // Rewritten: the damaged bytes are gone and the new entry reads back. (Not byte-equal to
    // the first one: ptxas's log carries its own compile times.)
    EXPECT_NE(read_file(entry), bytes);
    EXPECT_TRUE(compiler.compile(request()).cache_hit);
  }
}

TEST_F(NvrtcTest, EntryWrittenForAnotherKeyIsAMiss) {
  // Simulates a hash collision: a well-formed entry of request A under request B's file name.
  CompilerOptions opts_a = options(), opts_b = options();
  opts_a.cache_dir = root_ / "cache_a";
  opts_b.cache_dir = root_ / "cache_b";
  const CompileResult a = Compiler(opts_a).compile(request("sm_80"));
  const CompileResult b = Compiler(opts_b).compile(request("sm_90"));
  ASSERT_TRUE(a.ok && b.ok);
  ASSERT_EQ(files_in(opts_a.cache_dir).size(), 1u);
  ASSERT_EQ(files_in(opts_b.cache_dir).size(), 1u);
  fs::copy_file(files_in(opts_a.cache_dir)[0], files_in(opts_b.cache_dir)[0],
                fs::copy_options::overwrite_existing);

  const CompileResult again = Compiler(opts_b).compile(request("sm_90"));
  EXPECT_FALSE(again.cache_hit);
  EXPECT_EQ(again.cubin, b.cubin);
  EXPECT_NE(again.cubin, a.cubin);
}

TEST_F(NvrtcTest, CompileAllKeepsRequestOrder) {
  CompilerOptions opts = options();
  opts.jobs = 3;
  const Compiler compiler(opts);
  // Each kernel's name carries its request's index, so a swapped result shows.
  const std::string source =
      "#define CAT2(a, b) a##b\n#define CAT(a, b) CAT2(a, b)\n"
      "extern \"C\" __global__ void CAT(k_, KS_ID)(float* o) {\n"
      "  __shared__ float s[KS_SMEM];\n"
      "  s[threadIdx.x] = threadIdx.x; __syncthreads(); o[threadIdx.x] = s[KS_SMEM - 1];\n}\n";
  std::vector<CompileRequest> reqs;
  for (int i = 0; i < 6; ++i) {
    reqs.push_back({.source = source, .origin = "order.cu",
                    .defines = {{"KS_ID", i}, {"KS_SMEM", 32 * (i + 1)}}, .arch = "sm_80"});
  }
  const auto results = compiler.compile_all(reqs);
  ASSERT_EQ(results.size(), reqs.size());
  for (int i = 0; i < 6; ++i) {
    const CompileResult& r = results[static_cast<size_t>(i)];
    ASSERT_TRUE(r.ok) << r.log;
    ASSERT_EQ(r.kernels.size(), 1u) << r.log;
    EXPECT_EQ(r.kernels[0].kernel, "k_" + std::to_string(i));
    EXPECT_EQ(r.kernels[0].static_smem_bytes, 32 * (i + 1) * 4);
  }
}

TEST_F(NvrtcTest, ConcurrentCompilesOfOneRequestLeaveOneWholeEntry) {
  CompilerOptions opts = options();
  opts.jobs = 4;
  const Compiler compiler(opts);
  const std::vector<CompileRequest> reqs(4, request("sm_80"));
  const auto results = compiler.compile_all(reqs);
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok) << r.log;
    EXPECT_EQ(r.cubin, results[0].cubin);
  }
  const auto files = files_in(cache_dir());
  ASSERT_EQ(files.size(), 1u);  // no temporary file left behind
  EXPECT_EQ(files[0].extension(), ".kscubin");
  EXPECT_TRUE(compiler.compile(request("sm_80")).cache_hit);
}

TEST_F(NvrtcTest, CompileAllRethrowsAFailingRequest) {
  const Compiler compiler(options());
  std::vector<CompileRequest> reqs = {request("sm_80"), request("sm_80", {{"BAD NAME", 1}}),
                                      request("sm_90")};
  try {
    compiler.compile_all(reqs);
    FAIL() << "expected ks::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CompileRequest.defines: 'BAD NAME'"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(NvrtcTest, BadArchThrowsNamingTheFieldOrTheCall) {
  CompilerOptions opts = options();
  opts.cache_dir.clear();
  const Compiler compiler(opts);
  const std::string source = "extern \"C\" __global__ void k() {}\n";
  try {
    compiler.compile({.source = source, .origin = "a.cu", .defines = {}, .arch = "compute_90"});
    FAIL() << "expected ks::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CompileRequest.arch: 'compute_90'"), std::string::npos)
        << e.what();
  }
  // Well-formed but unknown to this NVRTC: NVRTC refuses the option itself.
  try {
    compiler.compile({.source = source, .origin = "a.cu", .defines = {}, .arch = "sm_999"});
    FAIL() << "expected ks::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nvrtcCompileProgram: NVRTC_ERROR_INVALID_OPTION"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(NvrtcTest, BadOptionsThrowNamingTheField) {
  const fs::path file = root_ / "a_file";
  write_file(file, "x");
  CompilerOptions opts = options();
  opts.cache_dir = file / "cache";
  try {
    Compiler{opts};
    FAIL() << "expected ks::Error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(opts.cache_dir.string()), std::string::npos) << what;
    EXPECT_NE(what.find("KSEARCH_CACHE_DIR"), std::string::npos) << what;
  }

  opts = options();
  opts.ks_include = root_ / "missing";
  EXPECT_THROW(Compiler{opts}, Error);
  opts = options();
  opts.jobs = -1;
  EXPECT_THROW(Compiler{opts}, Error);
}

TEST_F(NvrtcTest, UnwritableCacheThrowsNamingTheFile) {
  const Compiler compiler(options());
  // The folder turns into a plain file after construction: writing an entry fails (as root too).
  fs::remove_all(cache_dir());
  write_file(cache_dir(), "not a folder");
  try {
    compiler.compile(request("sm_80"));
    FAIL() << "expected ks::Error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cubin cache: cannot write '" + cache_dir().string()), std::string::npos)
        << what;
  }
}

TEST_F(NvrtcTest, WithoutCacheDirNothingIsCached) {
  CompilerOptions opts = options();
  opts.cache_dir.clear();
  const Compiler compiler(opts);
  ASSERT_TRUE(compiler.compile(request("sm_80")).ok);
  EXPECT_FALSE(compiler.compile(request("sm_80")).cache_hit);
  EXPECT_FALSE(fs::exists(cache_dir()));
}

TEST_F(NvrtcTest, FindCudaIncludeHonoursCudaHomeThenCudaPath) {
  const fs::path home = root_ / "cuda_home";
  write_file(home / "include" / "cuda_bf16.h", "// fake\n");
  const fs::path path = root_ / "cuda_path";
  write_file(path / "include" / "cuda_bf16.h", "// fake\n");
  {
    const ScopedEnv h("CUDA_HOME", home.c_str()), p("CUDA_PATH", path.c_str());
    EXPECT_EQ(find_cuda_include(), home / "include");
  }
  {
    // A CUDA_HOME the user set but that holds no toolkit is an error naming it, not a fallback.
    const ScopedEnv h("CUDA_HOME", (root_ / "empty").c_str()), p("CUDA_PATH", path.c_str());
    try {
      find_cuda_include();
      FAIL() << "expected ks::Error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("CUDA_HOME="), std::string::npos) << e.what();
    }
  }
  {
    const ScopedEnv h("CUDA_HOME", nullptr), p("CUDA_PATH", path.c_str());
    EXPECT_EQ(find_cuda_include(), path / "include");
  }
}

TEST_F(NvrtcTest, FindCudaIncludeErrorNamesWhereItLookedAndCudaHome) {
  const fs::path a = root_ / "no_cuda_a" / "include", b = root_ / "no_cuda_b" / "include";
  try {
    find_cuda_include({a, b});
    FAIL() << "expected ks::Error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("CUDA include directory not found"), std::string::npos) << what;
    EXPECT_NE(what.find(a.string()), std::string::npos) << what;
    EXPECT_NE(what.find(b.string()), std::string::npos) << what;
    EXPECT_NE(what.find("set CUDA_HOME"), std::string::npos) << what;
  }
}

TEST_F(NvrtcTest, DefaultCacheDirFollowsTheEnvironment) {
  const ScopedEnv k("KSEARCH_CACHE_DIR", "/tmp/ks_explicit"), x("XDG_CACHE_HOME", "/tmp/xdg"),
      h("HOME", "/tmp/home");
  EXPECT_EQ(default_cache_dir(), fs::path("/tmp/ks_explicit"));
  {
    const ScopedEnv unset("KSEARCH_CACHE_DIR", nullptr);
    EXPECT_EQ(default_cache_dir(), fs::path("/tmp/xdg/ksearch"));
    const ScopedEnv unset_xdg("XDG_CACHE_HOME", nullptr);
    EXPECT_EQ(default_cache_dir(), fs::path("/tmp/home/.cache/ksearch"));
    const ScopedEnv unset_home("HOME", nullptr);
    EXPECT_THROW(default_cache_dir(), Error);
  }
}

TEST_F(NvrtcTest, DefaultOptionsUseTheProjectIncludeFolder) {
  const ScopedEnv k("KSEARCH_CACHE_DIR", cache_dir().c_str());
  const CompilerOptions opts = Compiler::default_options();
  EXPECT_EQ(opts.ks_include, project_root() / "seeds" / "include");
  EXPECT_TRUE(fs::exists(opts.cuda_include / "cuda_bf16.h"));
  EXPECT_EQ(opts.cache_dir, cache_dir());
  EXPECT_EQ(opts.jobs, 0);
}

TEST(NvrtcVersion, IsMajorDotMinor) {
  EXPECT_TRUE(std::regex_match(nvrtc_version(), std::regex(R"(\d+\.\d+)"))) << nvrtc_version();
  EXPECT_GE(std::stoi(nvrtc_version()), 12);
}

TEST(ArchForComputeCapability, HopperGetsTheArchSpecificTarget) {
  EXPECT_EQ(arch_for_compute_capability(9, 0), "sm_90a");
  EXPECT_EQ(arch_for_compute_capability(8, 0), "sm_80");
  EXPECT_EQ(arch_for_compute_capability(8, 9), "sm_89");
  EXPECT_EQ(arch_for_compute_capability(10, 0), "sm_100");
  EXPECT_EQ(arch_for_compute_capability(12, 0), "sm_120");
  EXPECT_THROW(arch_for_compute_capability(0, 0), Error);
}

// Lines as NVRTC 13.0 printed them for sm_80 with --maxrregcount=24 (a spilling kernel, a
// non-inlined device function, constant memory, a warning).
TEST(PtxasReport, ReadsEachKernelAndSkipsDeviceFunctions) {
  const std::string log =
      "ptxas warning : For profile sm_80 adjusting per thread register count of 16 to lower "
      "bound of 24\n"
      "ptxas info    : Overriding maximum register limit 256 for 'spill_k' with  24 of "
      "maxrregcount option\n"
      "ptxas info    : 40 bytes gmem, 128 bytes cmem[3], 8 bytes cmem[4]\n"
      "ptxas info    : Compiling entry function 'calls' for 'sm_80'\n"
      "ptxas info    : Function properties for calls\n"
      "ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n"
      "ptxas info    : Used 26 registers, used 0 barriers, 360 bytes cmem[0]\n"
      "ptxas info    : Compile time = 4.017 ms\n"
      "ptxas info    : Function properties for _Z6helperf\n"
      "ptxas         .     96 bytes stack frame, 8 bytes spill stores, 8 bytes spill loads\n"
      "ptxas info    : Compiling entry function 'spill_k' for 'sm_80'\n"
      "ptxas info    : Function properties for spill_k\n"
      "ptxas         .     704 bytes stack frame, 488 bytes spill stores, 676 bytes spill loads\n"
      "ptxas info    : Used 24 registers, used 0 barriers, 704 bytes cumulative stack size, "
      "372 bytes cmem[0]\n"
      "ptxas info    : Compile time = 35.600 ms\n"
      "ptxas info    : Compiling entry function '_Z4tmplILi3EEvPf' for 'sm_80'\n"
      "ptxas info    : Function properties for _Z4tmplILi3EEvPf\n"
      "ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n"
      "ptxas info    : Used 12 registers, used 1 barriers, 1024 bytes smem, 360 bytes cmem[0]\n";
  const auto kernels = parse_ptxas_report(log);
  ASSERT_EQ(kernels.size(), 3u);

  EXPECT_EQ(kernels[0].kernel, "calls");
  EXPECT_EQ(kernels[0].registers, 26);
  EXPECT_EQ(kernels[0].stack_bytes, 0);  // the helper's 96 bytes are not the kernel's
  EXPECT_EQ(kernels[0].spill_store_bytes, 0);

  EXPECT_EQ(kernels[1].kernel, "spill_k");
  EXPECT_EQ(kernels[1].registers, 24);
  EXPECT_EQ(kernels[1].stack_bytes, 704);
  EXPECT_EQ(kernels[1].spill_store_bytes, 488);
  EXPECT_EQ(kernels[1].spill_load_bytes, 676);
  EXPECT_EQ(kernels[1].static_smem_bytes, 0);

  EXPECT_EQ(kernels[2].kernel, "_Z4tmplILi3EEvPf");
  EXPECT_EQ(kernels[2].registers, 12);
  EXPECT_EQ(kernels[2].static_smem_bytes, 1024);

  EXPECT_TRUE(parse_ptxas_report("").empty());
  EXPECT_TRUE(parse_ptxas_report("d.cu(1): error: expected a \";\"\n").empty());
}

}  // namespace
}  // namespace ks

namespace ks {
namespace {

TEST(LogHead, KeepsTheFirstLinesJoined) {
  EXPECT_EQ(log_head("a\nb\nc\nd\n"), "a | b | c");
  EXPECT_EQ(log_head("only line"), "only line");
  EXPECT_EQ(log_head("x\ny", 1), "x");
  EXPECT_EQ(log_head(""), "");
}

}  // namespace
}  // namespace ks
