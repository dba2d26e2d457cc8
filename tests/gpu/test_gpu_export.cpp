// ksearch export on a real GPU: two exports of one fixture archive (seed candidates at their
// defaults, audited), one choosing fused candidates and one the baseline everywhere; each is
// built with cmake and g++ and its example run on search and audit shapes. Every call must
// succeed, and the fused library's output must match the baseline library's (the unfused RMSNorm
// kernel and cuBLASLt) element by element within the task's tolerance, on the same random inputs
// (the example seeds them): the embedded cubins load, the launch code passes the right
// arguments, and the cuBLASLt step computes what the evaluator's does.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include "base/paths.h"
#include "db/archive.h"
#include "gpu_test.h"
#include "tasks/task.h"

namespace ks {
namespace {

namespace fs = std::filesystem;

std::string run(const std::string& cmd, int* code) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// Exports and builds a library; `speedup` is what the fixture says every candidate measured.
fs::path build_export(const fs::path& dir, const DeviceInfo& dev, double speedup) {
  const std::string db = (dir / "a.db").string();
  {
    Archive a(db);
    RunRecord r;
    r.task = "rmsnorm_linear";
    r.device = dev.name;
    r.arch = dev.arch;
    r.host = "test";
    const int64_t run_id = a.add_run(r);
    auto add = [&](const std::string& name, const std::vector<std::string>& shapes) {
      std::ifstream f(project_root() / "seeds/rmsnorm_linear" / (name + ".cu"));
      std::stringstream s;
      s << f.rdbuf();
      CandidateRecord c;
      c.key = "h-" + name;
      c.task = "rmsnorm_linear";
      c.params = "default";
      c.origin = "seed";
      c.run_id = run_id;
      const int64_t id = a.add_candidate({0, "h-" + name, "rmsnorm_linear", name, s.str(), true}, c);
      for (auto& shape : shapes) {
        EvaluationRecord e;
        e.candidate_id = id;
        e.run_id = run_id;
        e.device = dev.name;
        e.shape = shape;
        e.status = Status::ok;
        e.median_us = 10;
        e.baseline_us = 10 * speedup;
        e.speedup = speedup;
        a.add_evaluation(e);
      }
      AuditRecord au;
      au.candidate_id = id;
      au.device = dev.name;
      au.shape = "M=3,K=2048,N=5632";
      au.status = Status::ok;
      a.add_audit(au);
    };
    add("gemv_fused", {"M=1,K=4096,N=4096", "M=16,K=4096,N=6144"});
    add("wgmma_fused", {"M=128,K=4096,N=4096", "M=512,K=4096,N=4096", "M=2048,K=4096,N=6144"});
  }
  const fs::path out = dir / "lib";
  int code = 0;
  std::string log = run(std::string(KSEARCH_BINARY) + " export --task rmsnorm_linear --db " + db + " --out " + out.string(), &code);
  EXPECT_EQ(code, 0) << log;
  log = run("cmake -S " + out.string() + " -B " + (out / "build").string() + " && cmake --build " +
            (out / "build").string() + " -j8", &code);
  EXPECT_EQ(code, 0) << log;
  return out / "build" / "ksearch_rmsnorm_linear_example";
}

// Runs the example on the shape (extra: e.g. "eps=1", the constants it passes); returns Y
// (M x N bf16) as floats.
std::vector<float> output_of(const fs::path& example, const std::string& shape, const fs::path& file,
                             const std::string& extra = "") {
  int code = 0;
  const std::string out = run(example.string() + " " + shape + " " + file.string() + " " + extra, &code);
  EXPECT_EQ(code, 0) << shape << ": " << out;
  EXPECT_NE(out.find("status 0"), std::string::npos) << shape << ": " << out;
  std::printf("%s %s: %s", example.parent_path().parent_path().parent_path().filename().c_str(), shape.c_str(), out.c_str());
  std::ifstream in(file, std::ios::binary);
  std::vector<uint16_t> h(fs::exists(file) ? fs::file_size(file) / 2 : 0);
  in.read(reinterpret_cast<char*>(h.data()), static_cast<std::streamsize>(2 * h.size()));
  std::vector<float> y(h.size());
  for (size_t i = 0; i < h.size(); ++i) {
    const uint32_t u = static_cast<uint32_t>(h[i]) << 16;
    std::memcpy(&y[i], &u, 4);
  }
  return y;
}

TEST(GpuExport, FusedLibraryMatchesBaselineLibrary) {
  KS_REQUIRE_GPU();
  const DeviceInfo dev = open_device(0);
  const fs::path root = fs::temp_directory_path() / ("ksearch_gpu_export_" + std::to_string(getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "fused");
  fs::create_directories(root / "base");
  const fs::path fused = build_export(root / "fused", dev, 2.0);
  const fs::path base = build_export(root / "base", dev, 0.5);  // no candidate beats it: baseline
  ASSERT_TRUE(fs::exists(fused) && fs::exists(base));
  const Task& task = *find_task("rmsnorm_linear");
  const Tolerance tol = task.tolerance();
  for (const std::string shape : {"1,4096,4096", "16,4096,6144", "128,4096,4096", "512,4096,4096", "2048,4096,6144",
                                  "3,2048,5632", "48,5120,1280", "200,3072,8192", "1000,8192,2560"}) {
    const std::vector<float> a = output_of(fused, shape, root / "fused.bin"), b = output_of(base, shape, root / "base.bin");
    const Shape s = task.parse_shape(shape);
    const size_t M = static_cast<size_t>(s.at("M")), N = static_cast<size_t>(s.at("N"));
    ASSERT_EQ(a.size(), M * N) << shape;
    ASSERT_EQ(b.size(), M * N) << shape;
    // The task's check: each element within max_scaled * the rms of the reference row, and the
    // relative L2 error overall.
    double worst = 0, diff2 = 0, ref2 = 0;
    for (size_t m = 0; m < M; ++m) {
      double row2 = 0;
      for (size_t n = 0; n < N; ++n) row2 += double(b[m * N + n]) * b[m * N + n];
      const double rms = std::sqrt(row2 / N) + 1e-30;
      for (size_t n = 0; n < N; ++n) {
        const double d = double(a[m * N + n]) - b[m * N + n];
        ASSERT_TRUE(std::isfinite(a[m * N + n])) << shape << " Y[" << m << "," << n << "]";
        worst = std::max(worst, std::fabs(d) / rms);
        diff2 += d * d;
      }
      ref2 += row2;
    }
    const double rel_l2 = std::sqrt(diff2 / ref2);
    std::printf("%s: max scaled error %.4f, rel L2 %.5f\n", shape.c_str(), worst, rel_l2);
    EXPECT_LE(worst, tol.max_scaled) << shape;
    EXPECT_LE(rel_l2, tol.rel_l2) << shape;
  }
  // eps is the caller's: at eps = 1 both libraries agree, and differ from the default's output
  // by the factor eps makes (the example's inputs are uniform(-1, 1): mean square about 1/3).
  for (const std::string shape : {"1,4096,4096", "128,4096,4096"}) {
    auto norm = [](const std::vector<float>& y) {
      double n = 0;
      for (float v : y) n += double(v) * v;
      return std::sqrt(n);
    };
    const std::vector<float> a = output_of(fused, shape, root / "fused.bin", "eps=1"),
                             b = output_of(base, shape, root / "base.bin", "eps=1"),
                             d = output_of(base, shape, root / "base.bin");
    ASSERT_EQ(a.size(), b.size());
    double diff2 = 0;
    for (size_t i = 0; i < a.size(); ++i) diff2 += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    EXPECT_LE(std::sqrt(diff2) / norm(b), tol.rel_l2) << shape << " at eps=1";
    EXPECT_NEAR(norm(d) / norm(b), std::sqrt((1.0 / 3 + 1) / (1.0 / 3)), 0.05) << shape << ": eps did not reach the kernels";
  }
  fs::remove_all(root);
}

}  // namespace
}  // namespace ks
