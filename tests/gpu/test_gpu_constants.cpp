// The task's constants at run time, on the GPU, through a real worker: the value a request gives
// reaches the candidate's args and both references (a correct seed passes at eps = 1e-5 as at the
// default), and a kernel that ignores its eps argument (tests/fixtures/hardcodes_eps.cu) passes
// at the default but is wrong at any other value, as the audit's second check of each shape uses.
#include "base/paths.h"
#include "evaluator/supervisor.h"
#include "fixture_source.h"
#include "gpu/gpu_test.h"

namespace ks {
namespace {

EvalSettings at(const Constants& constants) {
  EvalSettings s;
  s.seed = 7;
  s.timer.min_seconds = 0.02;
  s.timer.warmup_seconds = 0;  // what is tested here is not a speed
  s.constants = constants;
  return s;
}

TEST(GpuConstants, TheGivenEpsReachesTheCandidateAndBothReferences) {
  KS_REQUIRE_GPU();
  Compiler compiler(Compiler::default_options());
  SupervisorOptions o;
  o.worker_command = {KSEARCH_BINARY, "worker", "--device", "0"};
  WorkerSupervisor sup(o);
  const Task& task = *find_task("rmsnorm_linear");
  const std::vector<Shape> shapes = {task.parse_shape("16,4096,6144"), task.parse_shape("3,2048,5632")};
  const Constants defaults = resolve_constants(task, {}), other = {{"eps", 1e-5}}, far = {{"eps", 1.0}};

  Candidate seed = load_candidate((project_root() / "seeds/rmsnorm_linear/gemv_fused.cu").string());
  for (const Constants& c : {defaults, other, far})
    for (auto& r : evaluate_candidate(sup, compiler, seed, {default_variant(seed.plan.params)}, shapes, at(c)))
      EXPECT_EQ(status_name(r.status), "ok") << format_constants(c) << " " << task.format_shape(r.shape) << ": " << r.error;

  Candidate fixed = load_fixture(project_root() / "tests/fixtures/hardcodes_eps.cu");
  for (const Constants& c : {defaults, other}) {
    const bool right = c == defaults;
    for (auto& r : evaluate_candidate(sup, compiler, fixed, {default_variant(fixed.plan.params)}, shapes, at(c)))
      EXPECT_EQ(status_name(r.status), right ? "ok" : "wrong") << format_constants(c) << " " << task.format_shape(r.shape)
                                                               << ": " << r.error;
  }
}

}  // namespace
}  // namespace ks
