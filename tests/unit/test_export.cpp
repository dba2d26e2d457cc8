// ksearch export: the generator on its own, and the command on a fixture archive (a run on a
// "Fake GPU", seed candidates, evaluations, audit rows): what it picks per shape, what it refuses,
// and that the exported project builds with g++ and cmake alone.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "agent/export/export_library.h"
#include "base/paths.h"
#include "db/archive.h"
#include "evaluator/nvrtc_compiler.h"
#include "run_ksearch.h"
#include "read_text.h"
#include "temp_dir.h"

namespace ks {
namespace {

namespace fs = std::filesystem;
using cli_test::ksearch;

const char* kTask = "rmsnorm_linear";
const char* kDevice = "Fake GPU";

using test::read_text;

std::string seed_text(const std::string& name) {
  return read_text(fs::path(KSEARCH_SOURCE_DIR) / "seeds" / kTask / (name + ".cu"));
}

// A fixture archive: three seed candidates at their defaults, evaluated on four search shapes.
struct Fixture {
  std::string db;
  int64_t gemv = 0, mma_gemv = 0, wmma = 0, run = 0;

  explicit Fixture(const std::string& path) : db(path) {
    Archive a(db);
    RunRecord r;
    r.task = kTask;
    r.device = kDevice;
    r.arch = "sm_90a";
    r.host = "test";
    run = a.add_run(r);
    auto add = [&](const std::string& name) {
      SourceRecord s{0, "hash-" + name, kTask, name, seed_text(name), true};
      CandidateRecord c;
      c.key = "hash-" + name + "|default";
      c.task = kTask;
      c.params = "default";
      c.origin = "seed";
      c.run_id = run;
      return a.add_candidate(s, c);
    };
    gemv = add("gemv_fused");
    mma_gemv = add("mma_gemv");
    wmma = add("wmma_fused");
    auto eval = [&](int64_t cand, const std::string& shape, double speedup) { a.add_evaluation(ok(cand, shape, speedup)); };
    eval(gemv, "M=1,K=4096,N=4096", 1.5);
    eval(mma_gemv, "M=1,K=4096,N=4096", 1.8);
    eval(gemv, "M=16,K=4096,N=6144", 1.2);
    eval(mma_gemv, "M=16,K=4096,N=6144", 1.1);
    eval(wmma, "M=128,K=4096,N=4096", 1.3);
    eval(wmma, "M=2048,K=4096,N=6144", 0.9);  // slower than the baseline: the baseline is exported
  }

  // An ok evaluation of the run: the baseline at 20 us, the candidate `speedup` times faster.
  EvaluationRecord ok(int64_t cand, const std::string& shape, double speedup) const {
    EvaluationRecord e;
    e.candidate_id = cand;
    e.run_id = run;
    e.device = kDevice;
    e.shape = shape;
    e.status = Status::ok;
    e.baseline_us = 20.0;
    e.median_us = 20.0 / speedup;
    e.speedup = speedup;
    e.floor_us = 10.0;
    return e;
  }

  // One more ok evaluation, on any shape (a run's --shape need not be a search shape).
  void evaluate(int64_t cand, const std::string& shape, double speedup) { Archive(db).add_evaluation(ok(cand, shape, speedup)); }

  void audit(int64_t cand, Status status = Status::ok, bool deterministic = true, int64_t seed = 1) {
    Archive a(db);
    AuditRecord r;
    r.candidate_id = cand;
    r.device = kDevice;
    r.shape = "M=3,K=2048,N=5632";
    r.seed = seed;
    r.status = status;
    r.deterministic = deterministic;
    a.add_audit(r);
  }
  void audit_all() {
    for (int64_t c : {gemv, mma_gemv, wmma}) audit(c);
  }
};

nlohmann::json manifest(const fs::path& out) { return nlohmann::json::parse(read_text(out / "manifest.json")); }

// shape -> exported candidate id, or -1 for the baseline.
std::map<std::string, int64_t> choices(const nlohmann::json& m) {
  std::map<std::string, int64_t> out;
  for (auto& s : m["shapes"]) out[s["shape"]] = s["candidate"].is_string() ? -1 : s["candidate"].get<int64_t>();
  return out;
}

std::string export_args(const Fixture& f, const fs::path& out, const std::string& extra = "") {
  return "export --task rmsnorm_linear --db " + f.db + " --out " + out.string() + " " + extra;
}

int shell(const std::string& cmd) { return std::system((cmd + " > /dev/null 2>&1").c_str()); }

TEST(Export, PicksAuditedBestAndTheExportBuildsWithCMake) {
  test::TempDir tmp("export");
  Fixture f(tmp.file("a.db"));
  f.audit_all();
  const fs::path out = tmp.dir / "lib";
  auto r = ksearch(export_args(f, out));
  ASSERT_EQ(r.code, 0) << r.out;
  for (auto* file : {"include/ksearch_rmsnorm_linear.h", "src/ksearch_rmsnorm_linear.cpp",
                     "src/ksearch_rmsnorm_linear_cubins.c", "example.cpp", "manifest.json", "CMakeLists.txt",
                     "sources/baseline.cu"})
    EXPECT_TRUE(fs::exists(out / file)) << file;
  const auto m = manifest(out);
  EXPECT_EQ(m["gpu"], kDevice);
  EXPECT_EQ(m["arch"], "sm_90a");
  EXPECT_FALSE(m["forced"].get<bool>());
  const auto c = choices(m);
  EXPECT_EQ(c.at("M=1,K=4096,N=4096"), f.mma_gemv);
  EXPECT_EQ(c.at("M=16,K=4096,N=6144"), f.gemv);
  EXPECT_EQ(c.at("M=128,K=4096,N=4096"), f.wmma);
  EXPECT_EQ(c.at("M=2048,K=4096,N=6144"), -1);
  EXPECT_EQ(c.count("M=512,K=4096,N=4096"), 0u);  // not measured
  for (auto& s : m["shapes"])
    if (!s["candidate"].is_string()) EXPECT_EQ(s["audit"]["rows"], 1);

  // The header compiles as C and as C++.
  const std::string inc = "-I" + find_cuda_include().string();
  const std::string header = (out / "include/ksearch_rmsnorm_linear.h").string();
  EXPECT_EQ(shell("gcc -x c -std=c11 -Wall -Werror -fsyntax-only " + inc + " " + header), 0);
  EXPECT_EQ(shell("g++ -x c++ -std=c++17 -Wall -Werror -fsyntax-only " + inc + " " + header), 0);

  // The project configures, builds and links with g++: both libraries and the example.
  const fs::path build = out / "build";
  const std::string log = (tmp.dir / "cmake.log").string();
  const int rc = std::system(("cmake -S " + out.string() + " -B " + build.string() + " > " + log + " 2>&1 && cmake --build " +
                              build.string() + " -j2 >> " + log + " 2>&1").c_str());
  ASSERT_EQ(rc, 0) << read_text(log);
  EXPECT_TRUE(fs::exists(build / "libksearch_rmsnorm_linear.so"));
  EXPECT_TRUE(fs::exists(build / "libksearch_rmsnorm_linear.a"));
  EXPECT_TRUE(fs::exists(build / "ksearch_rmsnorm_linear_example"));
  // A --warmup that is not a number of seconds is refused (exit 2, naming it) before the device
  // is touched, so this runs without a GPU.
  const std::string example = (build / "ksearch_rmsnorm_linear_example").string();
  const std::string err = (tmp.dir / "example.err").string();
  for (const char* bad : {"--warmup=abc", "--warmup=-1", "--warmup=", "--warmup=2s", "--warmup=nan"}) {
    const int status = std::system((example + " 16,4096,6144 " + bad + " > /dev/null 2> " + err).c_str());
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << bad << ": " << status;
    EXPECT_NE(read_text(err).find("--warmup"), std::string::npos) << bad << ": " << read_text(err);
  }
}

TEST(Export, FailingAuditRowBlocksTheCandidate) {
  test::TempDir tmp("export");
  Fixture f(tmp.file("a.db"));
  f.audit_all();
  f.audit(f.mma_gemv, Status::wrong, true, 2);  // one failing row of the best at M=1
  f.audit(f.wmma, Status::ok, false, 2);        // nondeterministic: fails too
  const fs::path out = tmp.dir / "lib";
  auto r = ksearch(export_args(f, out));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto c = choices(manifest(out));
  EXPECT_EQ(c.at("M=1,K=4096,N=4096"), f.gemv);  // the next best audited one
  EXPECT_EQ(c.at("M=128,K=4096,N=4096"), -1);    // none left: the baseline
  EXPECT_FALSE(fs::exists(out / ("sources/" + std::to_string(f.mma_gemv) + "_mma_gemv.cu")));
}

TEST(Export, NoAuditIsAClearError) {
  test::TempDir tmp("export");
  Fixture f(tmp.file("a.db"));
  auto r = ksearch(export_args(f, tmp.dir / "lib"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("rmsnorm_linear"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(kDevice), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ksearch audit"), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_FALSE(fs::exists(tmp.dir / "lib" / "manifest.json"));
}

TEST(Export, ForceExportsUnauditedAndSaysSo) {
  test::TempDir tmp("export");
  Fixture f(tmp.file("a.db"));
  const fs::path out = tmp.dir / "lib";
  auto r = ksearch(export_args(f, out, "--force"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("forced"), std::string::npos) << r.out;
  const auto m = manifest(out);
  EXPECT_TRUE(m["forced"].get<bool>());
  EXPECT_EQ(choices(m).at("M=1,K=4096,N=4096"), f.mma_gemv);
}

// A run given --shape (a model's own sizes: Llama-3-8B's QKV projection at M = 128 and 512)
// measured shapes that are not the task's search shapes: they are exported with their own plans,
// after the search shapes, so the library runs the model's shapes on what was measured there.
TEST(Export, ShapesMeasuredBeyondTheSearchShapesAreExportedToo) {
  test::TempDir tmp("export");
  Fixture f(tmp.file("a.db"));
  f.evaluate(f.wmma, "M=512,K=4096,N=6144", 1.2);
  f.evaluate(f.wmma, "M=128,K=4096,N=6144", 1.4);
  f.evaluate(f.gemv, "M=128,K=4096,N=6144", 1.1);
  f.evaluate(f.gemv, "M=64,K=4096,N=6144", 0.8);  // slower than the baseline there
  f.audit_all();
  const fs::path out = tmp.dir / "lib";
  auto r = ksearch(export_args(f, out));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto m = manifest(out);
  const auto c = choices(m);
  EXPECT_EQ(c.at("M=128,K=4096,N=6144"), f.wmma);
  EXPECT_EQ(c.at("M=512,K=4096,N=6144"), f.wmma);
  EXPECT_EQ(c.at("M=64,K=4096,N=6144"), -1);
  EXPECT_EQ(c.at("M=1,K=4096,N=4096"), f.mma_gemv);  // the search shapes as before
  std::vector<std::string> order;
  for (auto& s : m["shapes"]) order.push_back(s["shape"]);
  ASSERT_EQ(order.size(), 7u);
  EXPECT_EQ(order[0], "M=1,K=4096,N=4096");  // search shapes first, in the task's order
  EXPECT_EQ(order[4], "M=64,K=4096,N=6144");  // then the others by their sizes
  EXPECT_EQ(order[5], "M=128,K=4096,N=6144");
  EXPECT_EQ(order[6], "M=512,K=4096,N=6144");
  EXPECT_NE(r.out.find("M=128,K=4096,N=6144: #" + std::to_string(f.wmma)), std::string::npos) << r.out;
}

TEST(Export, RefusesUnknownTaskMissingArchiveAndAmbiguousDevice) {
  test::TempDir tmp("export");
  auto r = ksearch("export --task nope --db " + tmp.file("a.db") + " --out " + tmp.file("o"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("unknown task"), std::string::npos) << r.out;
  r = ksearch("export --task rmsnorm_linear --db " + tmp.file("missing.db") + " --out " + tmp.file("o"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("no archive"), std::string::npos) << r.out;

  Fixture f(tmp.file("a.db"));
  {
    Archive a(f.db);
    EvaluationRecord e;
    e.candidate_id = f.gemv;
    e.device = "Other GPU";
    e.shape = "M=1,K=4096,N=4096";
    e.status = Status::ok;
    a.add_evaluation(e);
  }
  r = ksearch(export_args(f, tmp.dir / "o"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("Other GPU"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--gpu-model"), std::string::npos) << r.out;

  r = ksearch("export --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--gpu-model"), std::string::npos) << r.out;
}

// The generator alone: plain structs in, files' text out.
TEST(Export, GeneratorWritesHeaderDispatchAndCubins) {
  const Task& task = *find_task(kTask);
  exporter::ExportInput in;
  in.task = &task;
  in.device = kDevice;
  in.arch = "sm_90a";
  const Candidate base = parse_candidate(seed_text("baseline"), "baseline.cu");
  in.plans.push_back({std::nullopt, "baseline", "default", base.source, "sources/baseline.cu", base.plan, {}, {0x7f, 'E', 'L', 'F'}});
  const Candidate gemv = parse_candidate(seed_text("gemv_fused"), "gemv_fused.cu");
  const Variant v = default_variant(gemv.plan.params);
  in.plans.push_back({7, "seed", format_variant(v), gemv.source, "sources/7_gemv_fused.cu", gemv.plan, v, {1, 2}});
  in.shapes.push_back({task.search_shapes()[0], 1, 10.0, 20.0, 2.0, 5.0, {2, 2, true}});
  const auto files = exporter::generate_library(in);
  const std::string h = files.at("include/ksearch_rmsnorm_linear.h");
  EXPECT_NE(h.find("size_t ksearch_rmsnorm_linear_workspace_size(int64_t M, int64_t K, int64_t N);"), std::string::npos) << h;
  EXPECT_NE(h.find("int ksearch_rmsnorm_linear(const void* X, const void* gamma, const void* W, void* Y, int64_t M, "
                   "int64_t K, int64_t N, float eps, void* workspace, cudaStream_t stream);"),
            std::string::npos) << h;
  EXPECT_NE(h.find("const char* ksearch_rmsnorm_linear_last_error(void);"), std::string::npos);
  const std::string d = files.at("src/ksearch_rmsnorm_linear.cpp");
  EXPECT_NE(d.find("return int64_t(s.M <= int64_t(16));"), std::string::npos) << "gemv's applies";
  EXPECT_NE(d.find("{{1, 4096, 4096}, 1}"), std::string::npos) << "the measured shape's plan";
  EXPECT_NE(d.find("cudaLibraryLoadData"), std::string::npos);
  EXPECT_NE(d.find("CUDA_R_16BF"), std::string::npos) << "the baseline's gemm";
  const std::string c = files.at("src/ksearch_rmsnorm_linear_cubins.c");
  EXPECT_NE(c.find("0x7f,0x45,0x4c,0x46,"), std::string::npos) << c;
  EXPECT_TRUE(files.count("sources/7_gemv_fused.cu"));
  EXPECT_EQ(nlohmann::json::parse(files.at("manifest.json"))["shapes"][0]["candidate"], 7);
}

}  // namespace
}  // namespace ks

namespace ks {
namespace {

// A plan with a tensor map, a programmatic dependent launch and a device fact: the exported launch
// code encodes the map with the evaluator's checks, launches the step with the attribute, reads
// SMS off the device, and compiles with g++ -Wall -Werror.
TEST(Export, TensorMapsPdlAndDeviceFactsBecomeLaunchCodeThatCompiles) {
  using namespace exporter;
  test::TempDir tmp("export_tma");
  const Task& task = *find_task(kTask);
  ExportInput in;
  in.task = &task;
  in.device = kDevice;
  in.arch = "sm_90a";
  auto plan_of = [&](const std::string& file) {
    ExportedPlan p;
    p.source = read_text(project_root() / file);
    p.plan = parse_candidate(p.source, file).plan;
    p.variant = default_variant(p.plan.params);
    p.source_file = "sources/" + fs::path(file).filename().string();
    p.cubin = {'x'};
    return p;
  };
  in.plans.push_back(plan_of("seeds/rmsnorm_linear/baseline.cu"));
  ExportedPlan tma;
  tma.candidate_id = 7;
  tma.source = R"(/* ksearch
{ "task": "rmsnorm_linear", "name": "tma", "params": { "BM": [128] },
  "workspace": { "acc": "M * N * 4" },
  "tensor_maps": {
    "a_map": { "buffer": "X", "dims": ["K", "M"], "box": ["64", "BM"], "swizzle": "128B" },
    "acc_map": { "buffer": "acc", "dtype": "f32", "dims": ["N", "M"], "strides": ["N"], "box": ["32", "BM"],
                 "when": "BM == 128" } },
  "steps": [
    { "kernel": "k1", "grid": ["SMS"], "block": ["384"], "smem": "SMEM_MAX", "args": ["a_map", "acc_map", "K"] },
    { "kernel": "k2", "grid": ["M"], "block": ["128"], "pdl": "BM >= 128", "args": ["acc", "Y", "N"] } ] }
*/
)";
  tma.plan = parse_candidate(tma.source, "tma.cu").plan;
  validate_plan(tma.plan, task);
  tma.variant = default_variant(tma.plan.params);
  tma.source_file = "sources/7_tma.cu";
  tma.cubin = {'x'};
  in.plans.push_back(tma);
  ShapeChoice choice;
  choice.shape = task.parse_shape("128,4096,4096");
  choice.plan = 1;
  in.shapes.push_back(choice);
  const FileMap files = generate_library(in);
  const std::string src = files.at("src/ksearch_rmsnorm_linear.cpp");
  EXPECT_NE(src.find("tensor_map(a0, b.X, 2 * s.M * s.K, 0, 2, 2, a0_dims, nullptr, a0_box, 128, 0, false"), std::string::npos)
      << src;
  const size_t a1 = src.find("tensor_map(a1, ws_acc, ");
  ASSERT_NE(a1, std::string::npos);
  EXPECT_NE(src.substr(a1, 200).find(", 2, 4, 2, a1_dims, a1_strides, a1_box, 0, 0, false"), std::string::npos)
      << src.substr(a1, 200) << ": f32 (2), 4-byte elements, rank 2, strides given";
  // acc_map's `when` guards its encoding; a map whose `when` is 0 stays zeros.
  const size_t when = src.find("TensorMap a1{};");
  ASSERT_NE(when, std::string::npos) << src;
  EXPECT_LT(src.find("if ((int64_t(int64_t(128) == int64_t(128))) != 0) {", when), a1) << src.substr(when, 300);
  EXPECT_EQ(src.find("if ((", src.find("TensorMap a0{};")), src.find("if ((", when)) << "a_map has no `when`";
  EXPECT_NE(src.find("grid[3] = {s.SMS, 1, 1}"), std::string::npos);
  EXPECT_NE(src.find("smem = s.SMEM_MAX;"), std::string::npos);
  // Step 1's "pdl" is an expression of the variant's params, evaluated in the launch code.
  const size_t pdl = src.find(") != 0, args");
  ASSERT_NE(pdl, std::string::npos) << "step 1 asks for PDL";
  EXPECT_NE(src.substr(pdl - 40, 40).find("128"), std::string::npos) << src.substr(pdl - 40, 60);
  EXPECT_NE(src.find("smem, false, args"), std::string::npos);
  for (auto& [path, text] : files) {
    fs::create_directories((tmp.dir / path).parent_path());
    std::ofstream(tmp.dir / path) << text;
  }
  const std::string cmd = "g++ -std=c++17 -Wall -Werror -fsyntax-only -I" + find_cuda_include().string() + " -I" +
                          (tmp.dir / "include").string() + " " + (tmp.dir / "src/ksearch_rmsnorm_linear.cpp").string();
  const std::string log = (tmp.dir / "gxx.log").string();
  EXPECT_EQ(std::system((cmd + " > " + log + " 2>&1").c_str()), 0) << read_text(log);
}

// The gemm task: no constants, and a baseline of one gemm step and no kernel. Its export (the
// baseline alone) generates and builds like the others'.
TEST(Export, GemmTaskBaselineAloneGeneratesAndBuilds) {
  const Task& task = *find_task("gemm");
  exporter::ExportInput in;
  in.task = &task;
  in.device = kDevice;
  in.arch = "sm_90a";
  const Candidate base = parse_candidate(read_text(fs::path(KSEARCH_SOURCE_DIR) / "seeds/gemm/baseline.cu"), "baseline.cu");
  in.plans.push_back({std::nullopt, "baseline", "default", base.source, "sources/baseline.cu", base.plan, {}, {0x7f, 'E', 'L', 'F'}});
  in.shapes.push_back({task.search_shapes()[0], 0, 10.0, 20.0, 1.0, 5.0, {2, 2, true}});
  in.timing_cubin = {0x7f, 'E', 'L', 'F'};
  const auto files = exporter::generate_library(in);
  const std::string h = files.at("include/ksearch_gemm.h");
  EXPECT_NE(h.find("int ksearch_gemm(const void* X, const void* W, void* Y, int64_t M, int64_t K, int64_t N, "
                   "void* workspace, cudaStream_t stream);"),
            std::string::npos) << h;
  const std::string d = files.at("src/ksearch_gemm.cpp");
  EXPECT_NE(d.find("CUDA_R_16BF"), std::string::npos) << "the baseline's gemm";
  EXPECT_NE(d.find("constexpr bool kNeedsLt = true;"), std::string::npos);
  // No kernel to look up (a lookup of an empty name failed every call on a GPU: found by the
  // layer test, where o_proj's export was the baseline alone).
  EXPECT_NE(d.find("constexpr int kKernelCount = 0;"), std::string::npos) << d.substr(0, 3000);
  EXPECT_EQ(d.find("\"\"}"), std::string::npos) << "a kernel entry without a name";

  test::TempDir tmp("export-gemm");
  const fs::path out = tmp.dir / "lib";
  for (auto& [name, text] : files) {
    fs::create_directories((out / name).parent_path());
    std::ofstream(out / name, std::ios::binary) << text;
  }
  const fs::path build = out / "build";
  const std::string log = (tmp.dir / "cmake.log").string();
  const int rc = std::system(("cmake -S " + out.string() + " -B " + build.string() + " > " + log + " 2>&1 && cmake --build " +
                              build.string() + " -j2 >> " + log + " 2>&1").c_str());
  ASSERT_EQ(rc, 0) << read_text(log);
  EXPECT_TRUE(fs::exists(build / "libksearch_gemm.so"));
  EXPECT_TRUE(fs::exists(build / "ksearch_gemm_example"));
}

// The gemm task's export input: the baseline (plan 0), then a fake kernel plan per `applies`.
exporter::ExportInput gemm_export(const std::vector<std::string>& applies) {
  const Task& task = *find_task("gemm");
  exporter::ExportInput in;
  in.task = &task;
  in.device = kDevice;
  in.arch = "sm_90a";
  const std::vector<char> elf = {0x7f, 'E', 'L', 'F'};
  in.timing_cubin = elf;
  const Candidate base = parse_candidate(read_text(fs::path(KSEARCH_SOURCE_DIR) / "seeds/gemm/baseline.cu"), "baseline.cu");
  in.plans.push_back({std::nullopt, "baseline", "default", base.source, "sources/baseline.cu", base.plan, {}, elf});
  for (size_t i = 0; i < applies.size(); ++i) {
    const std::string name = "p" + std::to_string(i + 1);
    const std::string src = "/* ksearch\n{ \"task\": \"gemm\", \"name\": \"" + name + "\", \"applies\": \"" + applies[i] +
                            "\",\n  \"steps\": [ { \"kernel\": \"k\", \"grid\": [\"M\"], \"block\": [\"128\"], "
                            "\"args\": [\"X\", \"W\", \"Y\", \"M\", \"N\", \"K\"] } ] }\n*/\n";
    const Candidate c = parse_candidate(src, name + ".cu");
    validate_plan(c.plan, task);
    in.plans.push_back({int64_t(i + 1), "seed", "default", src, "sources/" + name + ".cu", c.plan, {}, elf});
  }
  return in;
}

// Builds the generated library's source into one program with a main that asks its dispatcher
// (choose_plan) for each (M, K, N) of `shapes`, and runs it: the plan index per shape, or "fault"
// where a plan expression faulted. Needs no GPU: the device facts are given (an H100's).
std::vector<std::string> ask_dispatcher(const exporter::ExportInput& in, const std::vector<std::array<int64_t, 3>>& shapes) {
  test::TempDir tmp("export-dispatch");
  const fs::path out = tmp.dir / "lib";
  for (auto& [name, text] : exporter::generate_library(in)) {
    fs::create_directories((out / name).parent_path());
    std::ofstream(out / name, std::ios::binary) << text;
  }
  std::ofstream(tmp.dir / "ask.cpp") << "#include \"lib/src/ksearch_gemm.cpp\"\n#include <cstdio>\n"
                                        "int main(int argc, char** argv) {\n"
                                        "  for (int i = 1; i + 2 < argc; i += 3) {\n"
                                        "    Sizes s{atoll(argv[i]), atoll(argv[i + 1]), atoll(argv[i + 2])};\n"
                                        "    s.SMS = 132; s.SMEM_MAX = 232448; s.L2_BYTES = 52428800;\n"
                                        "    try { printf(\"%d \", choose_plan(s)); } catch (const ExprFault&) { printf(\"fault \"); }\n"
                                        "  }\n}\n";
  std::ofstream(tmp.dir / "CMakeLists.txt") << "cmake_minimum_required(VERSION 3.18)\nproject(ask LANGUAGES C CXX)\n"
                                               "find_package(CUDAToolkit REQUIRED)\n"
                                               "add_executable(ask ask.cpp lib/src/ksearch_gemm_cubins.c)\n"
                                               "target_include_directories(ask PRIVATE lib/include)\n"
                                               "target_link_libraries(ask PRIVATE CUDA::cudart CUDA::cublasLt ${CMAKE_DL_LIBS})\n";
  const fs::path build = tmp.dir / "build";
  const std::string log = (tmp.dir / "cmake.log").string();
  if (std::system(("cmake -S " + tmp.dir.string() + " -B " + build.string() + " > " + log + " 2>&1 && cmake --build " +
                   build.string() + " -j2 >> " + log + " 2>&1").c_str()) != 0) {
    ADD_FAILURE() << read_text(log);
    return {};
  }
  std::string args;
  for (auto& sh : shapes) args += " " + std::to_string(sh[0]) + " " + std::to_string(sh[1]) + " " + std::to_string(sh[2]);
  const std::string answers = (tmp.dir / "answers.txt").string();
  EXPECT_EQ(std::system(((build / "ask").string() + args + " > " + answers).c_str()), 0);
  std::istringstream got(read_text(answers));
  std::vector<std::string> r;
  for (std::string w; got >> w;) r.push_back(w);
  return r;
}

// The dispatcher: a measured shape gets its own plan; an unmeasured M with the same K and N gets
// the nearest measured M's plan when it lies within the measured M range and that plan applies;
// anything else gets the baseline, never a plan measured on other K and N.
TEST(Export, DispatchStaysWithinTheMeasuredBucketsOfTheSameFixedSizes) {
  exporter::ExportInput in = gemm_export({"M <= 64", "1"});  // plans 1 and 2
  auto measured = [&](const char* shape, size_t plan) {
    in.shapes.push_back({in.task->parse_shape(shape), plan, 10.0, 20.0, 2.0, 5.0, {1, 1, true}});
  };
  measured("M=1,K=4096,N=4096", 1);
  measured("M=128,K=4096,N=4096", 2);
  measured("M=16,K=4096,N=6144", 1);
  measured("M=2048,K=4096,N=6144", 0);
  // (M, K, N) in the task's order, and the plan each must get.
  const std::vector<std::pair<std::array<int64_t, 3>, std::string>> cases = {
      {{1, 4096, 4096}, "1"},    {{128, 4096, 4096}, "2"},  // measured: their own
      {{8, 4096, 4096}, "1"},    // within 1..128, nearest (log) M = 1
      {{64, 4096, 4096}, "2"},   // nearest M = 128
      {{512, 4096, 4096}, "0"},  // past the measured range: the baseline
      {{8, 2048, 5632}, "0"},    // K, N never measured: the baseline, not M = 1's plan
      {{20, 4096, 6144}, "1"},   // within 16..2048, nearest M = 16 (plan 1 applies)
      {{100, 4096, 6144}, "0"},  // nearest is M = 16, whose plan does not apply at 100: M = 2048's
      {{4, 4096, 6144}, "0"},    // below the measured range
  };
  std::vector<std::array<int64_t, 3>> shapes;
  for (auto& c : cases) shapes.push_back(c.first);
  const auto got = ask_dispatcher(in, shapes);
  ASSERT_EQ(got.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i)
    EXPECT_EQ(got[i], cases[i].second) << "M=" << cases[i].first[0] << ",K=" << cases[i].first[1] << ",N=" << cases[i].first[2];
}

// A plan expression that divides by zero or overflows on some shape faults there (the entry
// points report a bad shape) instead of being undefined behaviour in the user's process. Each
// plan's `applies` is fine on the shapes it was measured on and faults between them.
TEST(Export, APlanExpressionThatFaultsOnAShapeIsAnErrorNotUndefinedBehaviour) {
  exporter::ExportInput in = gemm_export({"K / (M - 5) != 7",                             // / 0 at M = 5
                                          "4611686018427387904 * (1 + (M % 3 == 2)) > 0",  // 2^63 at M = 2
                                          "K % (M - 3) >= 0"});                            // % 0 at M = 3
  auto measured = [&](int64_t m, int64_t k, size_t plan) {
    in.shapes.push_back({{{"M", m}, {"K", k}, {"N", 16}}, plan, 10.0, 20.0, 2.0, 5.0, {1, 1, true}});
  };
  measured(1, 8192, 1);
  measured(8, 8192, 1);
  measured(1, 4096, 2);
  measured(4, 4096, 2);
  measured(1, 2048, 3);
  measured(8, 2048, 3);
  const auto got = ask_dispatcher(in, {{1, 8192, 16}, {6, 8192, 16}, {5, 8192, 16}, {2, 4096, 16}, {3, 2048, 16}});
  const std::vector<std::string> want = {"1", "1", "fault", "fault", "fault"};
  EXPECT_EQ(got, want);
}

// rmsnorm_linear's export input: the baseline (plan 0) and gemv_fused at its default (plan 1),
// measured at M=1 with eps = 1e-5; fake cubins (nothing here loads them).
exporter::ExportInput rmsnorm_export() {
  const Task& task = *find_task(kTask);
  exporter::ExportInput in;
  in.task = &task;
  in.device = kDevice;
  in.arch = "sm_90a";
  const std::vector<char> elf = {0x7f, 'E', 'L', 'F'};
  in.timing_cubin = elf;
  const Candidate base = parse_candidate(seed_text("baseline"), "baseline.cu");
  in.plans.push_back({std::nullopt, "baseline", "default", base.source, "sources/baseline.cu", base.plan, {}, elf});
  const Candidate gemv = parse_candidate(seed_text("gemv_fused"), "gemv_fused.cu");
  const Variant v = default_variant(gemv.plan.params);
  in.plans.push_back({7, "seed", format_variant(v), gemv.source, "sources/7_gemv_fused.cu", gemv.plan, v, elf});
  exporter::ShapeChoice choice{task.search_shapes()[0], 1, 10.0, 20.0, 2.0, 5.0, {2, 2, true}};
  choice.measured_with = {{"eps", 1e-5}};
  in.shapes.push_back(choice);
  return in;
}

// Issue 23, item 4: each task constant is a float argument of the exported function, after the
// sizes; the header documents its default as a macro, the launch code passes the caller's value
// (no literal baked in), the example passes the default, the manifest says what each shape was
// measured with.
TEST(Export, EachConstantIsAFloatArgumentAndTheHeaderDocumentsItsDefault) {
  const exporter::FileMap files = exporter::generate_library(rmsnorm_export());
  const std::string h = files.at("include/ksearch_rmsnorm_linear.h");
  EXPECT_NE(h.find("int64_t N, float eps, void* workspace, cudaStream_t stream);"), std::string::npos) << h;
  EXPECT_NE(h.find("#define KSEARCH_RMSNORM_LINEAR_EPS_DEFAULT 1e-06f\n"), std::string::npos) << h;
  EXPECT_NE(h.find("eps: added to the mean of squares of a row before the square root; positive.\n"
                   "       Default KSEARCH_RMSNORM_LINEAR_EPS_DEFAULT (1e-06f)."),
            std::string::npos) << h;
  EXPECT_NE(h.find("ERROR_SHAPE 1     /* the sizes break the task's constraints, or a constant argument is out of "
                   "its range */"),
            std::string::npos) << h;
  EXPECT_EQ(h.find("baked"), std::string::npos) << h;
  const std::string d = files.at("src/ksearch_rmsnorm_linear.cpp");
  EXPECT_NE(d.find("struct Constants { float eps; };"), std::string::npos) << d;
  EXPECT_NE(d.find("float a3 = c.eps;"), std::string::npos) << "gemv_fused's row_rinv takes eps as its 4th arg";
  EXPECT_EQ(d.find("float(1e-06"), std::string::npos) << "no baked-in eps";
  EXPECT_EQ(d.find("9.99999"), std::string::npos) << "no baked-in eps";
  EXPECT_NE(d.find("const Constants c{eps};"), std::string::npos) << d;
  const std::string ex = files.at("example.cpp");
  EXPECT_NE(ex.find("float c_eps = KSEARCH_RMSNORM_LINEAR_EPS_DEFAULT;"), std::string::npos) << ex;
  EXPECT_NE(ex.find("M, K, N, c_eps, workspace, stream)"), std::string::npos) << ex;
  const auto m = nlohmann::json::parse(files.at("manifest.json"));
  EXPECT_EQ(m["constants"][0]["name"], "eps");
  EXPECT_EQ(m["constants"][0]["argument"], "float eps");
  EXPECT_EQ(m["constants"][0]["default"], 1e-6);
  EXPECT_EQ(m["shapes"][0]["measured_with"]["eps"], 1e-5);

  // C code calls it with the macro (the header alone, as C).
  test::TempDir tmp("export-consts");
  std::ofstream(tmp.dir / "ksearch_rmsnorm_linear.h") << h;
  std::ofstream(tmp.dir / "call.c") << "#include \"ksearch_rmsnorm_linear.h\"\n"
                                       "int call(void* y) { return ksearch_rmsnorm_linear(0, 0, 0, y, 1, 8, 8, "
                                       "KSEARCH_RMSNORM_LINEAR_EPS_DEFAULT, 0, 0); }\n";
  const std::string log = (tmp.dir / "cc.log").string();
  EXPECT_EQ(std::system(("gcc -x c -std=c11 -Wall -Werror -fsyntax-only -I" + find_cuda_include().string() + " " +
                         (tmp.dir / "call.c").string() + " > " + log + " 2>&1").c_str()),
            0)
      << read_text(log);
}

// The exported entry point refuses a constant it cannot compute with (NaN, an infinity, and for
// eps zero or less) with its shape error and the reason, before it touches the GPU; a bad shape
// stays the shape's error. Built with cmake and g++ and run here: no GPU needed.
TEST(Export, ANonFiniteOrNonPositiveEpsIsTheShapeErrorWithItsReason) {
  test::TempDir tmp("export-eps");
  const fs::path out = tmp.dir / "lib";
  for (auto& [name, text] : exporter::generate_library(rmsnorm_export())) {
    fs::create_directories((out / name).parent_path());
    std::ofstream(out / name, std::ios::binary) << text;
  }
  std::ofstream(tmp.dir / "call.cpp")
      << "#include \"ksearch_rmsnorm_linear.h\"\n#include <cmath>\n#include <cstdio>\n"
         "int main() {\n"
         "  const float eps[] = {NAN, INFINITY, -INFINITY, 0.0f, -1e-5f};\n"
         "  for (float e : eps) {\n"
         "    const int st = ksearch_rmsnorm_linear(nullptr, nullptr, nullptr, nullptr, 1, 4096, 4096, e, nullptr, nullptr);\n"
         "    std::printf(\"%d|%s\\n\", st, ksearch_rmsnorm_linear_last_error());\n  }\n"
         "  const int st = ksearch_rmsnorm_linear(nullptr, nullptr, nullptr, nullptr, 1, 7, 4096, NAN, nullptr, nullptr);\n"
         "  std::printf(\"%d|%s\\n\", st, ksearch_rmsnorm_linear_last_error());\n}\n";
  std::ofstream(tmp.dir / "CMakeLists.txt") << "cmake_minimum_required(VERSION 3.18)\nproject(call LANGUAGES C CXX)\n"
                                               "add_subdirectory(lib)\n"
                                               "add_executable(call call.cpp)\n"
                                               "target_link_libraries(call PRIVATE ksearch_rmsnorm_linear_static)\n";
  const fs::path build = tmp.dir / "build";
  const std::string log = (tmp.dir / "cmake.log").string();
  ASSERT_EQ(std::system(("cmake -S " + tmp.dir.string() + " -B " + build.string() + " > " + log + " 2>&1 && cmake --build " +
                         build.string() + " -j2 --target call >> " + log + " 2>&1").c_str()),
            0)
      << read_text(log);
  const std::string answers = (tmp.dir / "answers.txt").string();
  ASSERT_EQ(std::system(((build / "call").string() + " > " + answers).c_str()), 0);
  std::istringstream got(read_text(answers));
  std::vector<std::string> lines;
  for (std::string l; std::getline(got, l);) lines.push_back(l);
  const std::string why = " must be finite and positive (added to the mean of squares of a row before the square root)";
  const std::vector<std::string> want = {
      "1|ksearch_rmsnorm_linear: eps = nan" + why, "1|ksearch_rmsnorm_linear: eps = inf" + why,
      "1|ksearch_rmsnorm_linear: eps = -inf" + why, "1|ksearch_rmsnorm_linear: eps = 0" + why,
      "1|ksearch_rmsnorm_linear: eps = -1e-05" + why,
      "1|ksearch_rmsnorm_linear: M=1,K=7,N=4096 breaks the task's constraints (K % 8 == 0; N % 8 == 0; every size "
      "positive)"};
  EXPECT_EQ(lines, want);
}

}  // namespace
}  // namespace ks
