// Every variant of every seed (and the baseline) is correct on every search and held-out shape
// it applies to; the fixtures of bad kernels are each caught with the right status.
#include <filesystem>

#include "evaluator/evaluate.h"
#include "gpu/gpu_test.h"
#include "tasks/paths.h"

namespace ks {
namespace {

std::vector<std::filesystem::path> seed_files(const Task& t) {
  std::vector<std::filesystem::path> files;
  for (auto& e : std::filesystem::directory_iterator(project_root() / "seeds" / t.name()))
    if (e.path().extension() == ".cu") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

Evaluator& evaluator(const Task& t) {
  static Compiler compiler(Compiler::default_options());
  static std::map<std::string, std::unique_ptr<Evaluator>> evs;
  auto& ev = evs[t.name()];
  if (!ev) {
    EvalOptions opts;
    opts.seed = 1234;
    opts.time = false;
    ev = std::make_unique<Evaluator>(t, 0, compiler, opts);
  }
  return *ev;
}

TEST(GpuSeeds, EveryVariantCorrectOnEveryShape) {
  KS_REQUIRE_GPU();
  for (const Task* task : all_tasks()) {
    std::vector<Shape> shapes = task->search_shapes();
    for (auto& s : task->audit_shapes()) shapes.push_back(s);
    for (auto& file : seed_files(*task)) {
      Candidate c = load_candidate(file.string());
      auto rows = evaluator(*task).evaluate(c, enumerate_variants(c.plan.params), shapes);
      int applied = 0;
      for (auto& r : rows) {
        EXPECT_TRUE(r.status == Status::ok || r.status == Status::not_applicable)
            << file.filename() << " " << task->format_shape(r.shape) << " " << format_variant(r.variant)
            << ": " << status_name(r.status) << ": " << r.error;
        applied += r.status != Status::not_applicable;
      }
      EXPECT_GT(applied, 0) << file.filename() << " applies to no shape";
    }
  }
}

struct Fixture {
  const char* file;
  Status expected;
  friend void PrintTo(const Fixture& f, std::ostream* os) { *os << f.file; }
};

class GpuFixtures : public ::testing::TestWithParam<Fixture> {};

TEST_P(GpuFixtures, CaughtWithTheRightStatus) {
  KS_REQUIRE_GPU();
  Candidate c = load_candidate((project_root() / "tests" / "fixtures" / GetParam().file).string());
  const Task& task = *find_task(c.plan.task);
  auto rows = evaluator(task).evaluate(c, {default_variant(c.plan.params)},
                                       {task.parse_shape("16,4096,6144"), task.parse_shape("3,2048,5632")});
  for (auto& r : rows)
    EXPECT_EQ(status_name(r.status), status_name(GetParam().expected))
        << task.format_shape(r.shape) << ": " << r.error;
}

INSTANTIATE_TEST_SUITE_P(Hacks, GpuFixtures,
                         ::testing::Values(Fixture{"writes_past_output.cu", Status::guard_violation},
                                           Fixture{"leaves_output_unwritten.cu", Status::wrong},
                                           Fixture{"writes_into_input.cu", Status::input_modified}),
                         [](const auto& info) {
                           std::string n = info.param.file;
                           return n.substr(0, n.find('.'));
                         });

}  // namespace
}  // namespace ks
