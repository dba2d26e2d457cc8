// Every seed (and the baseline) is correct on every search and held-out shape it applies to: every
// variant of a small space, the default and 15 more spread evenly over a larger one (a search
// checks every variant it tries anyway; this keeps the GPU test's time bounded as spaces grow).
#include <filesystem>

#include "base/paths.h"
#include "evaluator/supervisor.h"
#include "gpu/gpu_test.h"

namespace ks {
namespace {

std::vector<std::filesystem::path> seed_files(const Task& t) {
  std::vector<std::filesystem::path> files;
  for (auto& e : std::filesystem::directory_iterator(project_root() / "seeds" / t.name()))
    if (e.path().extension() == ".cu") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

TEST(GpuSeeds, EveryVariantCorrectOnEveryShape) {
  KS_REQUIRE_GPU();
  Compiler compiler(Compiler::default_options());
  // Through a worker: a seed that hangs is a timeout row, not a test that never ends.
  WorkerSupervisor runner(SupervisorOptions{{KSEARCH_BINARY, "worker", "--device", "0"}});
  EvalSettings settings;
  settings.seed = 1234;
  settings.time = false;
  for (const Task* task : all_tasks()) {
    std::vector<Shape> shapes = task->search_shapes();
    for (auto& s : task->audit_shapes()) shapes.push_back(s);
    for (auto& file : seed_files(*task)) {
      Candidate c = load_candidate(file.string());
      auto rows = evaluate_candidate(runner, compiler, c, spread_variants(c.plan.params, 16), shapes, settings);
      int applied = 0;
      for (auto& r : rows) {
        EXPECT_TRUE(r.status == Status::ok || r.status == Status::not_applicable)
            << file.filename() << " " << task->format_shape(r.shape) << " " << format_variant(r.variant)
            << ": " << status_name(r.status) << ": " << r.error;
        EXPECT_FALSE(r.nondeterministic) << file.filename() << " " << task->format_shape(r.shape);
        applied += r.status != Status::not_applicable;
      }
      EXPECT_GT(applied, 0) << file.filename() << " applies to no shape";
    }
  }
}

}  // namespace
}  // namespace ks
