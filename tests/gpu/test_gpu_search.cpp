// A short real search on the GPU: `ksearch run` as a user runs it, two shapes of rmsnorm_linear,
// then resumed; every result is in the archive with its times, and nothing is evaluated twice.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "base/paths.h"
#include "db/archive.h"
#include "gpu/gpu_test.h"
#include "unit/run_ksearch.h"

namespace ks {
namespace {

TEST(GpuSearch, AShortRealSearchKeepsEveryResultAndResumes) {
  KS_REQUIRE_GPU();
  const std::string db = (std::filesystem::temp_directory_path() / ("ksearch_gpu_search_" + std::to_string(getpid()) + ".db")).string();
  for (auto ext : {"", "-wal", "-shm"}) std::filesystem::remove(db + ext);
  const std::string args = "run --task rmsnorm_linear --shape 1,4096,4096 --shape 512,4096,4096 --seed 7 --db " + db;
  cli_test::Outcome r = cli_test::ksearch(args + " --max-evals 16");
  ASSERT_EQ(r.code, 0) << r.out;
  std::cout << r.out;
  r = cli_test::ksearch(args + " --resume --max-evals 24");
  ASSERT_EQ(r.code, 0) << r.out;
  std::cout << r.out;

  Archive a(db, Archive::Mode::existing);
  const RunRecord run = a.runs().at(0);
  EXPECT_EQ(run.state, "budget");
  EXPECT_GT(run.bandwidth.value_or(0), 1e12);
  EXPECT_GT(run.peak_flops.value_or(0), 1e14);
  std::set<std::pair<int64_t, std::string>> seen;
  int ran = 0, ok = 0;
  for (auto& e : a.evaluations("rmsnorm_linear", run.device)) {
    EXPECT_TRUE(seen.insert({e.candidate_id, e.shape}).second) << "evaluated twice";
    if (e.status == Status::not_applicable) continue;
    ++ran;
    EXPECT_GT(e.seconds, 0);
    EXPECT_TRUE(e.floor_us) << e.shape;
    if (e.status != Status::ok) {
      ADD_FAILURE() << "a shipped seed's variant failed: " << e.status << ": " << e.error;
      continue;
    }
    ++ok;
    EXPECT_GT(e.speedup.value_or(0), 0.05);
    EXPECT_GT(e.median_us.value_or(0), 0);
    EXPECT_GT(e.baseline_us.value_or(0), 0);
    EXPECT_GE(*e.median_us, 0.5 * *e.floor_us) << "faster than half the roofline floor: a timing bug";
    EXPECT_TRUE(e.registers) << "resources recorded";
  }
  EXPECT_EQ(ran, 24);
  EXPECT_EQ(ok, 24);
  for (auto ext : {"", "-wal", "-shm"}) std::filesystem::remove(db + ext);
}

// A plan of a kernel and a gemm: each step's time is measured apart from the ranked timing and
// adds up to about the plan's; on a prefill shape the gemm's share dominates.
TEST(GpuSearch, EvalSplitsAPlanOfSeveralStepsIntoEachStepsTime) {
  KS_REQUIRE_GPU();
  const std::string out = (std::filesystem::temp_directory_path() / ("ksearch_steps_" + std::to_string(getpid()) + ".json")).string();
  const cli_test::Outcome r = cli_test::ksearch("eval " + (project_root() / "seeds/rmsnorm_linear/baseline.cu").string() +
                                                "  --shape 1,4096,4096 --shape 512,4096,4096 --save-json " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  std::cout << r.out;
  std::ifstream in(out);
  const nlohmann::json j = nlohmann::json::parse(in);
  ASSERT_EQ(j.at("rows").size(), 2u);
  for (auto& row : j.at("rows")) {
    ASSERT_EQ(row.at("status"), "ok") << row.dump();
    ASSERT_TRUE(row.contains("steps")) << row.dump();
    const auto& steps = row.at("steps");
    ASSERT_EQ(steps.size(), 2u);
    EXPECT_EQ(steps[0].at("step"), "plan.steps[0] (rmsnorm)") << steps.dump();
    EXPECT_EQ(steps[1].at("step"), "plan.steps[1] (gemm)");
    const double total = row.at("timing").at("candidate").at("median_us").get<double>();
    const double sum = steps[0].at("median_us").get<double>() + steps[1].at("median_us").get<double>();
    EXPECT_GT(steps[0].at("median_us").get<double>(), 0);
    EXPECT_GT(sum, 0.6 * total) << steps.dump() << " against " << total;
    EXPECT_LT(sum, 1.5 * total + 5) << steps.dump() << " against " << total;
  }
  const auto& prefill = j.at("rows")[1].at("steps");
  EXPECT_GT(prefill[1].at("median_us").get<double>(), prefill[0].at("median_us").get<double>())
      << "the 512x4096x4096 gemm takes longer than the norm of 512 rows: " << prefill.dump();
  std::filesystem::remove(out);
}

// `eval --skeleton` on a decode shape: the plan's launch skeleton (the same launches, every
// kernel empty) is timed as the plan is, takes some time and less than the plan; a plan with a
// gemm step (the baseline) has none, which leaves its rows ok.
TEST(GpuSearch, EvalTimesTheLaunchSkeletonOfAPlan) {
  KS_REQUIRE_GPU();
  const std::string out = (std::filesystem::temp_directory_path() / ("ksearch_skeleton_" + std::to_string(getpid()) + ".json")).string();
  for (const char* seed : {"seeds/rmsnorm_linear/mma_gemv.cu", "seeds/softmax_matmul/flash_decode.cu"}) {
    const std::string shape = std::string(seed).find("softmax") != std::string::npos ? "32,1,4096,128" : "1,4096,4096";
    const cli_test::Outcome r = cli_test::ksearch("eval " + (project_root() / seed).string() + " --variant default --shape " +
                                                  shape + " --skeleton --seed 1 --save-json " + out);
    ASSERT_EQ(r.code, 0) << r.out;
    std::cout << r.out;
    EXPECT_NE(r.out.find("skeleton us"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("launch skeleton"), std::string::npos) << r.out;
    std::ifstream in(out);
    const nlohmann::json j = nlohmann::json::parse(in);
    ASSERT_EQ(j.at("rows").size(), 1u);
    const auto& row = j.at("rows")[0];
    ASSERT_EQ(row.at("status"), "ok") << row.dump();
    ASSERT_TRUE(row.contains("skeleton_us")) << seed << ": " << row.dump();
    EXPECT_FALSE(row.contains("skeleton_error")) << row.dump();
    const double skeleton = row.at("skeleton_us").get<double>();
    const double median = row.at("timing").at("candidate").at("median_us").get<double>();
    EXPECT_GT(skeleton, 0) << seed;
    EXPECT_LT(skeleton, median) << seed << ": empty kernels launched as the plan launches its own";
    EXPECT_GT(row.at("skeleton_pct_of_median").get<double>(), 0);
  }
  const cli_test::Outcome b = cli_test::ksearch("eval " + (project_root() / "seeds/rmsnorm_linear/baseline.cu").string() +
                                                " --shape 1,4096,4096 --skeleton --seed 1 --save-json " + out);
  ASSERT_EQ(b.code, 0) << b.out;
  std::ifstream in(out);
  const nlohmann::json j = nlohmann::json::parse(in);
  const auto& row = j.at("rows").at(0);
  EXPECT_EQ(row.at("status"), "ok") << row.dump();
  EXPECT_FALSE(row.contains("skeleton_us")) << row.dump();
  EXPECT_NE(row.value("skeleton_error", "").find("gemm step"), std::string::npos) << row.dump();
  std::filesystem::remove(out);
}

}  // namespace
}  // namespace ks
