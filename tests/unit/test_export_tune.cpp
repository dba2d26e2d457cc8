// Issue 23, item 3: tuning on first use in the exported library (ksearch_<task>_tune, KSEARCH_TUNE,
// KSEARCH_TUNE_CACHE). Without a GPU: the header declares and documents it, the generated source
// builds, and its host logic runs for real in a program built from the generated source: the
// KSEARCH_TUNE values, the cache file's lines (written, read back, foreign and malformed ones), the
// choice of plan once a shape is tuned, the workspace rule, and the entry points' checks.
// tests/gpu/test_gpu_export.cpp tunes for real.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "agent/export/export_library.h"
#include "agent/export/timing_kernels.h"
#include "evaluator/nvrtc_compiler.h"
#include "read_text.h"
#include "temp_dir.h"

namespace ks {
namespace {

namespace fs = std::filesystem;

using test::read_text;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// The gemm task's export: the baseline (plan 0, cuBLASLt, 32 MiB of workspace), p1 (applies at
// M <= 64, M * N * 4096 bytes of workspace) and p2 (applies everywhere, none); p1 measured at
// M=1 and p2 at M=128, K = N = 4096. Fake cubins: nothing here loads them.
exporter::ExportInput tune_export() {
  const Task& task = *find_task("gemm");
  exporter::ExportInput in;
  in.task = &task;
  in.device = "Fake GPU";
  in.arch = "sm_90a";
  const std::vector<char> elf = {0x7f, 'E', 'L', 'F'};
  in.timing_cubin = elf;
  const std::string base_text = read_text(fs::path(KSEARCH_SOURCE_DIR) / "seeds/gemm/baseline.cu");
  const Candidate base = parse_candidate(base_text, "baseline.cu");
  in.plans.push_back({std::nullopt, "baseline", "default", base.source, "sources/baseline.cu", base.plan, {}, elf});
  struct Fake {
    std::string applies, workspace, args;
  };
  const std::vector<Fake> plans = {{"M <= 64", "\"workspace\": { \"acc\": \"M * N * 4096\" },", "\"acc\", "}, {"1", "", ""}};
  for (size_t i = 0; i < plans.size(); ++i) {
    const std::string name = "p" + std::to_string(i + 1);
    const std::string src = "/* ksearch\n{ \"task\": \"gemm\", \"name\": \"" + name + "\", \"applies\": \"" + plans[i].applies +
                            "\", " + plans[i].workspace +
                            "\n  \"steps\": [ { \"kernel\": \"k\", \"grid\": [\"M\"], \"block\": [\"128\"], "
                            "\"args\": [" + plans[i].args + "\"X\", \"W\", \"Y\", \"M\", \"N\", \"K\"] } ] }\n*/\n";
    const Candidate c = parse_candidate(src, name + ".cu");
    validate_plan(c.plan, task);
    in.plans.push_back({int64_t(i + 1), "seed", "default", src, "sources/" + name + ".cu", c.plan, {}, elf});
  }
  in.shapes.push_back({task.parse_shape("M=1,K=4096,N=4096"), 1, 10.0, 20.0, 2.0, 5.0, {1, 1, true}, {}});
  in.shapes.push_back({task.parse_shape("M=128,K=4096,N=4096"), 2, 10.0, 20.0, 2.0, 5.0, {1, 1, true}, {}});
  return in;
}

void write_files(const exporter::FileMap& files, const fs::path& out) {
  for (auto& [name, text] : files) {
    fs::create_directories((out / name).parent_path());
    std::ofstream(out / name, std::ios::binary) << text;
  }
}

TEST(ExportTune, HeaderDeclaresTuneAndPlanInfoAndDocumentsTheEnvironment) {
  const exporter::ExportInput in = tune_export();
  const exporter::FileMap files = exporter::generate_library(in);
  const std::string h = files.at("include/ksearch_gemm.h");
  EXPECT_NE(h.find("\nint ksearch_gemm_tune(int64_t M, int64_t K, int64_t N, cudaStream_t stream);\n"), std::string::npos) << h;
  EXPECT_NE(h.find("\nconst char* ksearch_gemm_plan_info(int64_t M, int64_t K, int64_t N);\n"), std::string::npos) << h;
  for (const char* words : {"KSEARCH_TUNE=1", "KSEARCH_TUNE_CACHE=FILE", "capturing a CUDA graph never tunes",
                            "the caller's buffers are never touched", "inputs drawn as ksearch draws", "a malformed line is ignored", "ksearch-tune-1",
                            "since tuning (below) may pick any of them", "the sizes (M,K,N)"})
    EXPECT_NE(h.find(words), std::string::npos) << words;
  // A task with constants takes them as the call does.
  exporter::ExportInput rms;
  rms.task = find_task("rmsnorm_linear");
  rms.device = "Fake GPU";
  rms.arch = "sm_90a";
  const std::string rh = exporter::generate_header(rms);
  EXPECT_NE(rh.find("\nint ksearch_rmsnorm_linear_tune(int64_t M, int64_t K, int64_t N, float eps, cudaStream_t stream);\n"),
            std::string::npos) << rh;

  // The manifest and the source carry one library id, which changes with any plan's cubin.
  const std::string id = nlohmann::json::parse(files.at("manifest.json"))["library_id"];
  EXPECT_EQ(id.size(), 16u);
  EXPECT_EQ(id, exporter::library_id(in));
  EXPECT_NE(files.at("src/ksearch_gemm.cpp").find("constexpr const char* kLibraryId = \"" + id + "\";"), std::string::npos);
  exporter::ExportInput other = in;
  other.plans[1].cubin.push_back('x');
  EXPECT_NE(exporter::library_id(other), id);
  // The tuner draws its inputs as the task declares them (gemm: X normal(0, 1), W normal(0, 0.02)).
  const std::string dispatch = files.at("src/ksearch_gemm.cpp");
  EXPECT_NE(dispatch.find("constexpr float kBufferMean[] = {0.0f, 0.0f, 0.0f};"), std::string::npos) << dispatch;
  EXPECT_NE(dispatch.find("constexpr float kBufferStddev[] = {1.0f, 0.02f, 1.0f};"), std::string::npos) << dispatch;
  // The tuner warms up as long as a search's evaluations do (TimerOptions::warmup_seconds): it
  // compares plans interleaved, in one state. The example's printed time stands beside `ksearch
  // bench`'s and PyTorch's: it warms up as long as they do (kSustainedWarmupSeconds).
  EXPECT_EQ(exporter::warmup_seconds_text(), "0.25");
  EXPECT_NE(dispatch.find("kWarmupSeconds = 0.25;"), std::string::npos) << dispatch;
  EXPECT_EQ(exporter::sustained_warmup_seconds_text(), "2.0");
  EXPECT_NE(files.at("example.cpp").find("double warmup_s = 2.0;"), std::string::npos) << files.at("example.cpp");
  EXPECT_NE(files.at("example.cpp").find("warm_for(warmup_s);"), std::string::npos) << files.at("example.cpp");
  // The timing kernels the tuner uses (flush, fill) are part of the library.
  const std::string cubins = files.at("src/ksearch_gemm_cubins.c");
  EXPECT_NE(cubins.find("const unsigned char* const ksearch_gemm_timing_cubin = timing_cubin;"), std::string::npos) << cubins;
  EXPECT_NE(cubins.find("const size_t ksearch_gemm_timing_cubin_size = 4;"), std::string::npos) << cubins;

  // C code calls both (the header alone, as C).
  test::TempDir tmp("export-tune-h");
  std::ofstream(tmp.dir / "ksearch_gemm.h") << h;
  std::ofstream(tmp.dir / "call.c") << "#include \"ksearch_gemm.h\"\n"
                                       "int call(void) { return ksearch_gemm_tune(8, 4096, 4096, 0) + "
                                       "(ksearch_gemm_plan_info(8, 4096, 4096)[0] != 0); }\n";
  const std::string log = (tmp.dir / "cc.log").string();
  EXPECT_EQ(std::system(("gcc -x c -std=c11 -Wall -Werror -fsyntax-only -I" + find_cuda_include().string() + " " +
                         (tmp.dir / "call.c").string() + " > " + log + " 2>&1").c_str()),
            0)
      << read_text(log);
}

// The generated source (rmsnorm_linear's: constants, workspace entries, one that no step uses)
// compiles with g++ -Wall -Werror, tuner included.
TEST(ExportTune, TheTunerCompilesWithWallWerror) {
  const Task& task = *find_task("rmsnorm_linear");
  exporter::ExportInput in;
  in.task = &task;
  in.device = "Fake GPU";
  in.arch = "sm_90a";
  const std::vector<char> elf = {0x7f, 'E', 'L', 'F'};
  for (const char* name : {"baseline", "gemv_fused"}) {
    const std::string text = read_text(fs::path(KSEARCH_SOURCE_DIR) / "seeds/rmsnorm_linear" / (std::string(name) + ".cu"));
    Candidate c = parse_candidate(text, std::string(name) + ".cu");
    // A workspace entry no step names: still reserved, and no unused variable in the launch code.
    if (std::string(name) == "gemv_fused") c.plan.workspace.push_back({"unused", Expr::parse("64", "test")});
    const Variant v = default_variant(c.plan.params);
    in.plans.push_back({in.plans.empty() ? std::nullopt : std::optional<int64_t>(7), "seed", format_variant(v), text,
                        "sources/" + std::string(name) + ".cu", c.plan, v, elf});
  }
  in.shapes.push_back({task.search_shapes()[0], 1, 10.0, 20.0, 2.0, 5.0, {2, 2, true}, {}});
  test::TempDir tmp("export-tune-wall");
  write_files(exporter::generate_library(in), tmp.dir);
  const std::string cmd = "g++ -std=c++17 -Wall -Wextra -Werror -fsyntax-only -I" + find_cuda_include().string() + " -I" +
                          (tmp.dir / "include").string() + " " + (tmp.dir / "src/ksearch_rmsnorm_linear.cpp").string();
  const std::string log = (tmp.dir / "gxx.log").string();
  EXPECT_EQ(std::system((cmd + " > " + log + " 2>&1").c_str()), 0) << read_text(log);
}

// A program built from tune_export()'s generated source, whose main drives the tuner's host logic
// (given an H100's device facts: no GPU needed) and prints what it got, one line per check.
constexpr const char* kHarness = R"CPP(#include "lib/src/ksearch_gemm.cpp"
#include <cstdio>

Sizes shape(int64_t m, int64_t k, int64_t n) {
  Sizes s{m, k, n};
  s.SMS = 132, s.SMEM_MAX = 232448, s.L2_BYTES = 52428800;
  return s;
}

std::string text_of(const Sizes& s, int device) {
  Selection sel;
  select_for(s, device, true, sel);
  return selection_text(sel);
}

int main(int argc, char** argv) {
  const std::string mode = argv[1];
  if (mode == "env") {  // KSEARCH_TUNE as this process got it, and tune_flag's answers
    std::printf("on=%d cache=%s\n", int(tune_env().on), tune_env().cache.c_str());
    for (const char* v : {"", "0", "1", "on", "off", "yes", "no", "true", "false", "2", "maybe"}) {
      const std::optional<bool> f = tune_flag(v);
      std::printf("flag '%s' %s\n", v, !f ? "bad" : *f ? "on" : "off");
    }
    return 0;
  }
  if (mode == "line") {  // a line written for device 0 ("GPU\tX"), parsed back
    TuneEntry e;
    e.plan = 1, e.us = 12.3456, e.baseline_us = 20.5;
    const std::string line = tune_line("GPU\tX", size_array(shape(8, 4096, 4096)), e);
    std::printf("%s", line.c_str());
    SizeArray sizes{};
    TuneEntry back;
    std::string why;
    const LineKind k = parse_tune_line(line.substr(0, line.size() - 1), "GPU\tX", sizes, back, why);
    std::printf("kind %d sizes %lld,%lld,%lld plan %d us %.3f baseline %.3f cache %d\n", int(k), (long long)sizes[0],
                (long long)sizes[1], (long long)sizes[2], back.plan, back.us, back.baseline_us, int(back.from_cache));
    std::printf("other gpu %d\n", int(parse_tune_line(line.substr(0, line.size() - 1), "GPU Y", sizes, back, why)));
    return 0;
  }
  if (mode == "cache") {  // argv[2]: the file, read for device 0 (argv[3]: its GPU); then choices
    TuneTable& t = tune_table();
    {
      std::lock_guard<std::mutex> lock(t.mutex);
      t.gpu[0] = argv[3];
      read_tune_cache(t, argv[2], 0, argv[3]);
      read_tune_cache(t, argv[2], 0, argv[3]);  // a second read warns no more
      for (auto& [key, e] : t.entries)
        std::printf("entry %d %lld,%lld,%lld plan %d us %.3f baseline %.3f cache %d\n", key.first, (long long)key.second[0],
                    (long long)key.second[1], (long long)key.second[2], e.plan, e.us, e.baseline_us, int(e.from_cache));
    }
    for (auto& s : {shape(8, 4096, 4096), shape(100, 4096, 4096), shape(1, 4096, 4096), shape(32, 4096, 4096),
                    shape(8, 2048, 4096)})
      std::printf("%s -> %s\n", shape_text(s).c_str(), text_of(s, 0).c_str());
    std::printf("device 1: %s\n", text_of(shape(8, 4096, 4096), 1).c_str());
    return 0;
  }
  if (mode == "workspace") {  // workspace_for, and the plan each shape runs untuned
    for (auto& s : {shape(1, 4096, 4096), shape(128, 4096, 4096), shape(64, 4096, 4096), shape(100, 4096, 4096),
                    shape(8, 2048, 4096)})
      std::printf("%s ws %lld plan %d\n", shape_text(s).c_str(), (long long)workspace_for(s), choose_plan(s));
    return 0;
  }
  if (mode == "entry") {  // the entry points' checks, before (and without) the GPU
    int st = ksearch_gemm_tune(1, 7, 4096, nullptr);
    std::printf("%d|%s\n", st, ksearch_gemm_last_error());
    st = ksearch_gemm_tune(0, 4096, 4096, nullptr);
    std::printf("%d|%s\n", st, ksearch_gemm_last_error());
    const std::string info = ksearch_gemm_plan_info(1, 4096, 7);
    std::printf("[%s]|%s\n", info.c_str(), ksearch_gemm_last_error());
    st = ksearch_gemm_tune(8, 4096, 4096, nullptr);  // no GPU: cudaGetDevice; a GPU: the fake cubins
    std::printf("%d|%d\n", st, std::strstr(ksearch_gemm_last_error(), "cuda") != nullptr);
    return 0;
  }
  return 2;
}
)CPP";

struct Harness {
  test::TempDir tmp{"export-tune"};
  fs::path program;
  bool built = false;

  Harness() {
    write_files(exporter::generate_library(tune_export()), tmp.dir / "lib");
    std::ofstream(tmp.dir / "harness.cpp") << kHarness;
    std::ofstream(tmp.dir / "CMakeLists.txt") << "cmake_minimum_required(VERSION 3.18)\nproject(harness LANGUAGES C CXX)\n"
                                                 "set(CMAKE_CXX_STANDARD 17)\nfind_package(CUDAToolkit REQUIRED)\n"
                                                 "add_executable(harness harness.cpp lib/src/ksearch_gemm_cubins.c)\n"
                                                 "target_include_directories(harness PRIVATE lib/include)\n"
                                                 "target_compile_options(harness PRIVATE -Wall -Werror)\n"
                                                 "target_link_libraries(harness PRIVATE CUDA::cudart CUDA::cublasLt)\n";
    const fs::path build = tmp.dir / "build";
    const std::string log = (tmp.dir / "cmake.log").string();
    built = std::system(("cmake -S " + tmp.dir.string() + " -B " + build.string() + " > " + log + " 2>&1 && cmake --build " +
                         build.string() + " -j2 >> " + log + " 2>&1").c_str()) == 0;
    if (!built) ADD_FAILURE() << read_text(log);
    program = build / "harness";
  }

  // Runs the harness with `args` under `env` (KSEARCH_TUNE* unset otherwise): stdout, stderr.
  std::pair<std::string, std::string> run(const std::string& args, const std::string& env = "") {
    const std::string out = (tmp.dir / "out.txt").string(), err = (tmp.dir / "err.txt").string();
    const std::string cmd = "env -u KSEARCH_TUNE -u KSEARCH_TUNE_CACHE " + env + " " + program.string() + " " + args +
                            " > " + out + " 2> " + err;
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd << "\n" << read_text(err);
    return {read_text(out), read_text(err)};
  }
};

Harness& harness() {
  static Harness h;  // built once for the tests below
  return h;
}

// The kernels the example and the tuner time with compile (NVRTC, as `ksearch export` does) into
// one cubin holding both, without spills: the flush, and the fill that draws inputs on the device.
TEST(ExportTune, TheTimingKernelsCompileIntoOneCubin) {
  test::TempDir cache("export-timing-kernels");
  CompilerOptions opts;
  opts.cuda_include = find_cuda_include();
  opts.ks_include = fs::path(KSEARCH_SOURCE_DIR) / "seeds/include";
  opts.cache_dir = cache.dir;
  opts.jobs = 1;
  const Compiler compiler(opts);
  for (const std::string arch : {"sm_90a", "sm_80"}) {
    const CompileResult r = compiler.compile({exporter::timing_kernels_source(), "ks_timing.cu", {}, arch});
    ASSERT_TRUE(r.ok) << arch << ":\n" << r.log;
    std::set<std::string> names;
    for (auto& k : r.kernels) {
      names.insert(k.kernel);
      EXPECT_EQ(k.spill_store_bytes, 0) << arch << " " << k.kernel;
    }
    EXPECT_EQ(names, (std::set<std::string>{"ks_fill_normal", "ks_l2_flush"})) << arch << ":\n" << r.log;
  }
}

TEST(ExportTune, TheEnvironmentVariableTakesOneAndZeroAndWarnsOnceOnAnythingElse) {
  Harness& h = harness();
  ASSERT_TRUE(h.built);
  auto [out, err] = h.run("env");
  EXPECT_NE(out.find("on=0 cache=\n"), std::string::npos) << out;
  EXPECT_EQ(err, "");
  const std::vector<std::string> flags = {"flag '' off",     "flag '0' off",     "flag '1' on",    "flag 'on' on",
                                          "flag 'off' off",  "flag 'yes' on",    "flag 'no' off",  "flag 'true' on",
                                          "flag 'false' off", "flag '2' bad",    "flag 'maybe' bad"};
  const auto got = lines_of(out);
  ASSERT_EQ(got.size(), flags.size() + 1) << out;
  EXPECT_EQ(std::vector<std::string>(got.begin() + 1, got.end()), flags);
  std::tie(out, err) = h.run("env", "KSEARCH_TUNE=1 KSEARCH_TUNE_CACHE=/tmp/x.tune");
  EXPECT_NE(out.find("on=1 cache=/tmp/x.tune\n"), std::string::npos) << out;
  std::tie(out, err) = h.run("env", "KSEARCH_TUNE=maybe");
  EXPECT_NE(out.find("on=0 "), std::string::npos) << out;
  EXPECT_EQ(err, "ksearch_gemm: KSEARCH_TUNE=maybe is neither 1 nor 0: tuning on first use stays off\n");
}

TEST(ExportTune, ACacheLineReadsBackAsWritten) {
  Harness& h = harness();
  ASSERT_TRUE(h.built);
  const std::string id = exporter::library_id(tune_export());
  const auto [out, err] = h.run("line");
  const auto got = lines_of(out);
  ASSERT_EQ(got.size(), 3u) << out;
  // The GPU's tab is a space in the line.
  EXPECT_EQ(got[0], "ksearch-tune-1\tksearch_gemm\t" + id + "\tGPU X\t8,4096,4096\t1\tcandidate #1 p1 (default)\t12.346\t20.500");
  EXPECT_EQ(got[1], "kind 0 sizes 8,4096,4096 plan 1 us 12.346 baseline 20.500 cache 1");
  EXPECT_EQ(got[2], "other gpu 1") << "another GPU's line is foreign";
}

// The cache file: this library's lines on this GPU are read (a later line of a shape wins), other
// libraries' and GPUs' are passed over in silence, malformed ones are ignored with one warning;
// a tuned plan runs on its unmeasured shape only where it applies, never on a measured shape.
TEST(ExportTune, TheCacheFileFeedsTheChoiceAndAMalformedLineWarnsOnce) {
  Harness& h = harness();
  ASSERT_TRUE(h.built);
  const std::string id = exporter::library_id(tune_export());
  const std::string gpu = "NVIDIA H100 80GB HBM3";
  auto line = [&](const std::string& sizes, const std::string& plan, const std::string& label, const std::string& us,
                  const std::string& lib = "ksearch_gemm", const std::string& lib_id = "", const std::string& g = "") {
    return "ksearch-tune-1\t" + lib + "\t" + (lib_id.empty() ? id : lib_id) + "\t" + (g.empty() ? gpu : g) + "\t" + sizes +
           "\t" + plan + "\t" + label + "\t" + us + "\t20.000\n";
  };
  const std::string p1 = "candidate #1 p1 (default)", p2 = "candidate #2 p2 (default)", base = "baseline baseline (default)";
  const fs::path file = h.tmp.dir / "cache.tune";
  std::ofstream(file, std::ios::binary)
      << line("8,4096,4096", "2", p2, "15.000")                      // 8: p2, then
      << line("8,4096,4096", "1", p1, "11.000")                      // p1 (the later line wins)
      << line("100,4096,4096", "1", p1, "9.000")                     // p1 does not apply at M = 100: ignored
      << line("1,4096,4096", "0", base, "9.000")                     // measured at M = 1: p1 stays
      << line("32,4096,4096", "0", base, "9.000", "ksearch_other")   // another library's: silent
      << line("32,4096,4096", "0", base, "9.000", "ksearch_gemm", "0123456789abcdef")  // another export's
      << line("32,4096,4096", "0", base, "9.000", "ksearch_gemm", "", "Other GPU")     // another GPU's
      << "\n"                                                        // empty: fine
      << line("32,4096,4096", "7", base, "9.000")                    // no plan 7: malformed
      << line("32,4096,4096", "0", p1, "9.000")                      // plan 0 is not p1: malformed
      << line("32,4096", "0", base, "9.000")                         // two sizes
      << line("32,-4096,4096", "0", base, "9.000")                   // a negative size
      << line("32,4096,4096", "0", base, "nan")                      // not a time
      << "garbage\x01\xff line\n"
      << line("8,2048,4096", "2", p2, "7.5").substr(0, 40);          // cut short, no line break
  const auto [out, err] = h.run("cache " + file.string() + " '" + gpu + "'");
  const std::vector<std::string> want = {
      "entry 0 1,4096,4096 plan 0 us 9.000 baseline 20.000 cache 1",
      "entry 0 8,4096,4096 plan 1 us 11.000 baseline 20.000 cache 1",
      "entry 0 100,4096,4096 plan 1 us 9.000 baseline 20.000 cache 1",
      "M=8,K=4096,N=4096 -> tuned (11.00 us, baseline 20.00 us, from KSEARCH_TUNE_CACHE): " + p1,
      "M=100,K=4096,N=4096 -> dispatched: " + p2,
      "M=1,K=4096,N=4096 -> measured: " + p1,
      "M=32,K=4096,N=4096 -> dispatched: " + p2,  // nearest (log) measured M: 128
      "M=8,K=2048,N=4096 -> dispatched: " + base,
      "device 1: dispatched: " + p1,
  };
  EXPECT_EQ(lines_of(out), want) << out;
  EXPECT_EQ(err, "ksearch_gemm: KSEARCH_TUNE_CACHE=" + file.string() +
                     ": 7 malformed lines ignored (line 9: plan '7' is not a plan of this library (0 to 2))\n");

  // A file of binary garbage: one warning, nothing read, no crash; a missing file: silence.
  std::ofstream(h.tmp.dir / "junk.tune", std::ios::binary) << std::string("\x00\x01\x02\xff\n\n\t\t\t", 9) << std::string(5000, '\xfe');
  auto [junk_out, junk_err] = h.run("cache " + (h.tmp.dir / "junk.tune").string() + " '" + gpu + "'");
  EXPECT_EQ(junk_out.find("entry"), std::string::npos) << junk_out;
  EXPECT_NE(junk_out.find("M=8,K=4096,N=4096 -> dispatched: " + p1), std::string::npos) << junk_out;
  EXPECT_EQ(std::count(junk_err.begin(), junk_err.end(), '\n'), 1) << junk_err;
  EXPECT_NE(junk_err.find("2 malformed lines ignored (line 1: not a ksearch-tune-1 line"), std::string::npos) << junk_err;
  auto [none_out, none_err] = h.run("cache " + (h.tmp.dir / "missing.tune").string() + " '" + gpu + "'");
  EXPECT_EQ(none_err, "");
  // A folder cannot be read as a file: one warning.
  auto [dir_out, dir_err] = h.run("cache " + h.tmp.dir.string() + " '" + gpu + "'");
  EXPECT_EQ(std::count(dir_err.begin(), dir_err.end(), '\n'), 1) << dir_err;
}

// The workspace a shape needs: its measured plan's; else the most of any plan that applies there
// (so the plan tuning picks fits what was asked before), not only the dispatcher's plan's.
TEST(ExportTune, AnUnmeasuredShapesWorkspaceCoversEveryPlanThatApplies) {
  Harness& h = harness();
  ASSERT_TRUE(h.built);
  const auto [out, err] = h.run("workspace");
  const int64_t lt = exporter::kLtWorkspaceBytes;
  const std::vector<std::string> want = {
      "M=1,K=4096,N=4096 ws " + std::to_string(1 * 4096 * 4096) + " plan 1",  // measured: p1's
      "M=128,K=4096,N=4096 ws 0 plan 2",                                       // measured: p2's
      "M=64,K=4096,N=4096 ws " + std::to_string(int64_t(64) * 4096 * 4096) + " plan 2",  // p1's, though p2 runs
      "M=100,K=4096,N=4096 ws " + std::to_string(lt) + " plan 2",              // p1 does not apply: the baseline's
      "M=8,K=2048,N=4096 ws " + std::to_string(int64_t(8) * 4096 * 4096) + " plan 0",
  };
  EXPECT_EQ(lines_of(out), want) << out;
}

// The entry points check the shape before the GPU; tuning without a GPU (or with the fake cubins
// on one) is a CUDA error naming the call.
TEST(ExportTune, TheEntryPointsCheckTheirArgumentsFirst) {
  Harness& h = harness();
  ASSERT_TRUE(h.built);
  const auto [out, err] = h.run("entry");
  const std::vector<std::string> want = {
      "1|ksearch_gemm_tune: M=1,K=7,N=4096 breaks the task's constraints (K % 8 == 0; N % 8 == 0; every size positive)",
      "1|ksearch_gemm_tune: M=0,K=4096,N=4096 breaks the task's constraints (K % 8 == 0; N % 8 == 0; every size positive)",
      "[]|ksearch_gemm_plan_info: M=1,K=4096,N=7 breaks the task's constraints",
      "3|1",
  };
  EXPECT_EQ(lines_of(out), want) << out << err;
}

}  // namespace
}  // namespace ks
