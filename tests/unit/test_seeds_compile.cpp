// Every candidate file shipped (seeds, baselines, references, fixtures): its plan is valid for its
// task and its variants compile with NVRTC for sm_80, sm_90 and sm_90a: every variant of a small
// space, 48 spread over a larger one (a search records any that does not compile as a
// compile_error row; this keeps CI's time bounded as the spaces grow). Variants whose `applies`
// accepts none of the task's search and audit shapes never run and are left out. Code built on
// ks/wgmma.cuh or ks/gemm_sm90.cuh compiles for sm_90a only, code built on ks/cluster.cuh, ks/bulk_copy.cuh,
// ks/tma.cuh, ks/mbarrier.cuh or ks/stream_gemv.cuh for
// sm_90 and sm_90a only, and each says so on the others (NVRTC stops at the first #error: the
// message is that of the first such header the candidate includes). The default variant does not
// spill; others may (the search measures them, and records the spills). The fixtures are
// compiled as the tests load them, base.cuh spliced in (tests/fixture_source.h); base.cuh itself
// is no candidate (not a .cu).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/paths.h"
#include "evaluator/nvrtc_compiler.h"
#include "evaluator/plan.h"
#include "fixture_source.h"

namespace ks {
namespace {

std::vector<std::filesystem::path> candidate_files() {
  std::vector<std::filesystem::path> files;
  for (auto dir : {"seeds", "tasks", "tests/fixtures"})
    for (auto& e : std::filesystem::recursive_directory_iterator(project_root() / dir))
      if (e.path().extension() == ".cu") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

TEST(ShippedCandidates, ThereAreSeedsBaselinesAndReferences) {
  auto files = candidate_files();
  for (const Task* t : all_tasks()) {
    auto has = [&](const std::filesystem::path& p) {
      return std::find(files.begin(), files.end(), project_root() / p) != files.end();
    };
    EXPECT_TRUE(has(t->baseline_plan())) << t->name();
    EXPECT_TRUE(has(t->reference_plan())) << t->name();
  }
  EXPECT_GE(files.size(), 7u);
}

TEST(ShippedCandidates, EveryVariantCompilesForAmpereAndHopper) {
  Compiler compiler(Compiler::default_options());
  std::vector<CompileRequest> reqs;
  std::vector<std::shared_ptr<const Plan>> plans;  // of each request
  for (auto& f : candidate_files()) {
    // Fixtures share their correct kernel (tests/fixtures/base.cuh): compiled as composed.
    const bool fixture = *std::filesystem::relative(f, project_root()).begin() == "tests";
    Candidate c = fixture ? load_fixture(f) : load_candidate(f.string());
    c.origin = std::filesystem::relative(f, project_root()).string();  // as NVRTC's messages name it
    auto plan = std::make_shared<const Plan>(c.plan);
    const Task* task = find_task(c.plan.task);
    ASSERT_NE(task, nullptr) << f;
    EXPECT_NO_THROW(validate_plan(c.plan, *task)) << f;
    for (auto& v : spread_variants(c.plan.params, 48)) {
      if (!applies_somewhere(c.plan, *task, v)) continue;
      for (auto arch : {"sm_80", "sm_90", "sm_90a"}) {
        reqs.push_back(compile_request(c, v, arch));
        plans.push_back(plan);
      }
    }
  }
  auto results = compiler.compile_all(reqs);
  // Headers that restrict the architectures: the message on the others, and those that compile.
  struct ArchOnly {
    const char* include;
    const char* message;
    std::vector<std::string> archs;
  };
  const ArchOnly arch_only[] = {{"<ks/wgmma.cuh>", "needs sm_90a", {"sm_90a"}},
                                {"<ks/cluster.cuh>", "needs sm_90 ", {"sm_90", "sm_90a"}},
                                {"<ks/bulk_copy.cuh>", "needs sm_90 ", {"sm_90", "sm_90a"}},
                                {"<ks/mbarrier.cuh>", "needs sm_90 ", {"sm_90", "sm_90a"}},
                                {"<ks/tma.cuh>", "needs sm_90 ", {"sm_90", "sm_90a"}},
                                {"<ks/gemm_sm90.cuh>", "needs sm_90a", {"sm_90a"}},
                                {"<ks/stream_gemv.cuh>", "needs sm_90 ", {"sm_90", "sm_90a"}}};
  for (size_t i = 0; i < reqs.size(); ++i) {
    // The refusing header the candidate includes first: NVRTC stops at the first #error, so its
    // message is the one in the log, whatever the order of this list.
    const ArchOnly* refused = nullptr;
    size_t refused_at = std::string::npos;
    for (auto& a : arch_only) {
      const size_t at = reqs[i].source.find(a.include);
      if (at != std::string::npos && at < refused_at &&
          std::find(a.archs.begin(), a.archs.end(), reqs[i].arch) == a.archs.end()) {
        refused = &a;
        refused_at = at;
      }
    }
    if (refused) {
      EXPECT_FALSE(results[i].ok) << reqs[i].origin << " " << reqs[i].arch;
      EXPECT_NE(results[i].log.find(refused->message), std::string::npos) << results[i].log;
      continue;
    }
    EXPECT_TRUE(results[i].ok) << reqs[i].origin << " " << format_variant(reqs[i].defines) << " "
                               << reqs[i].arch << ":\n" << results[i].log;
    if (reqs[i].defines == default_variant(plans[i]->params)) {
      for (auto& k : results[i].kernels)
        EXPECT_EQ(k.spill_store_bytes, 0) << reqs[i].origin << " " << k.kernel << " spills at its default";
    }
  }
}

}  // namespace
}  // namespace ks

namespace ks {
namespace {

// The README's candidate example is a real candidate: it parses, validates and compiles.
TEST(ShippedCandidates, ReadmeExampleCompiles) {
  std::ifstream in(project_root() / "README.md");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string readme = ss.str();
  const std::string open = "```c++\n";
  size_t b = readme.find(open);
  ASSERT_NE(b, std::string::npos);
  b += open.size();
  size_t e = readme.find("```", b);
  ASSERT_NE(e, std::string::npos);
  Candidate c = parse_candidate(readme.substr(b, e - b), "README.md");
  validate_plan(c.plan, *find_task(c.plan.task));
  Compiler compiler(Compiler::default_options());
  for (auto& v : enumerate_variants(c.plan.params)) {
    CompileResult r = compiler.compile(compile_request(c, v, "sm_90a"));
    EXPECT_TRUE(r.ok) << r.log;
  }
}

}  // namespace
}  // namespace ks
