// The catalogue of reward hacks and broken kernels (tests/fixtures/README.md), each run through
// a real worker on the GPU and caught with its status; after all of them, in the same run, a
// correct seed still evaluates correctly. Prints the worker's start times and the supervisor's
// overhead per evaluation against in-process evaluation.
#include <algorithm>
#include <chrono>
#include <iostream>

#include <cstdlib>

#include "base/paths.h"
#include "evaluator/input_buffer.h"
#include "evaluator/supervisor.h"
#include "fixture_source.h"
#include "gpu/gpu_test.h"

namespace ks {
namespace {

struct Expected {
  const char* file;
  Status status;
  bool nondeterministic = false;
  bool prints = false;  // the row carries what the candidate printed
};

// Inputs are mapped read-only where the device allows it (input_buffer.h): a write into one then
// faults (crash); elsewhere the keyed fingerprint sees it (input_modified).
Status input_write() { return read_only_inputs_supported() ? Status::crash : Status::input_modified; }

const Expected kFixtures[] = {
    {"writes_past_output.cu", Status::guard_violation},
    {"writes_into_input.cu", input_write()},
    {"keeps_the_fingerprint.cu", input_write()},
    {"prints_a_forged_answer.cu", Status::wrong, false, true},
    {"prints_a_worker_error.cu", Status::ok, false, true},
    {"skips_work_when_timed.cu", Status::wrong},
    {"relies_on_nan_outputs.cu", Status::wrong},
    {"faults_then_gemm.cu", Status::crash},
    {"memoizes_by_contents.cu", Status::implausible},
    {"leaves_output_unwritten.cu", Status::wrong},
    {"caches_across_calls.cu", Status::wrong},
    {"memoizes_by_address.cu", Status::wrong},
    {"ignores_gamma.cu", Status::wrong},
    {"bf16_accumulation.cu", Status::wrong},
    {"infinite_loop.cu", Status::timeout},
    {"illegal_address.cu", Status::crash},
    {"uninitialised_workspace.cu", Status::wrong},
    {"nondeterministic.cu", Status::ok, true},
    {"fp8_weights.cu", Status::wrong},
};

SupervisorOptions worker_options() {
  SupervisorOptions o;
  o.worker_command = {KSEARCH_BINARY, "worker", "--device", "0"};
  o.watchdog_s = 5;
  return o;
}

EvalSettings quick_settings() {
  EvalSettings s;
  s.seed = 99;
  s.timer.min_seconds = 0.02;
  s.timer.warmup_seconds = 0;  // what is tested here is not a speed
  return s;
}

TEST(GpuHacks, EachCaughtWithItsStatusAndTheRunGoesOn) {
  KS_REQUIRE_GPU();
  Compiler compiler(Compiler::default_options());
  WorkerSupervisor sup(worker_options());
  const Task& task = *find_task("rmsnorm_linear");
  const std::vector<Shape> shapes = {task.parse_shape("16,4096,6144")};
  std::cout << "fixture                          status            expected          error\n";
  for (const Expected& want : kFixtures) {
    Candidate c = load_fixture(project_root() / "tests" / "fixtures" / want.file);
    auto rows = evaluate_candidate(sup, compiler, c, {default_variant(c.plan.params)}, shapes, quick_settings());
    ASSERT_EQ(rows.size(), 1u);
    std::printf("%-32s %-17s %-17s %.100s\n", want.file, std::string(status_name(rows[0].status)).c_str(),
                std::string(status_name(want.status)).c_str(), rows[0].error.c_str());
    EXPECT_EQ(status_name(rows[0].status), status_name(want.status)) << want.file << ": " << rows[0].error;
    EXPECT_EQ(rows[0].nondeterministic, want.nondeterministic) << want.file;
    EXPECT_EQ(rows[0].output_bytes > 0, want.prints) << want.file << ": " << rows[0].output.substr(0, 200);
  }
  if (read_only_inputs_supported()) {  // a write and its undoing, both inside one run
    Candidate c = load_fixture(project_root() / "tests/fixtures/writes_and_restores_input.cu");
    auto rows = evaluate_candidate(sup, compiler, c, {default_variant(c.plan.params)}, shapes, quick_settings());
    EXPECT_EQ(status_name(rows.at(0).status), "crash") << rows[0].error;
  }
  // The run goes on: a correct seed, after a hang and a crash, in the same supervisor.
  Candidate seed = load_candidate((project_root() / "seeds/rmsnorm_linear/gemv_fused.cu").string());
  for (auto& r : evaluate_candidate(sup, compiler, seed, spread_variants(seed.plan.params, 6), shapes,
                                    quick_settings()))
    EXPECT_EQ(r.status, Status::ok) << format_variant(r.variant) << ": " << r.error;
  EXPECT_GE(sup.stats().restarts, 3);  // after the hang, the crash and the fault before a gemm
  for (double s : sup.stats().start_seconds) std::cout << "[ worker start ] " << s << " s\n";
  // After each restart the worker rebuilds the shape's inputs, references and baseline check.
  for (double s : sup.stats().setup_seconds)
    if (s > 0.05) std::cout << "[ worker start ] shape setup " << s << " s\n";
}

// Without read-only inputs (forced), a write into an input is still caught, by the keyed
// fingerprint, and a rewrite crafted to keep an unkeyed one too.
TEST(GpuHacks, InputWritesAreCaughtWithoutReadOnlyInputsToo) {
  KS_REQUIRE_GPU();
  Compiler compiler(Compiler::default_options());
  ::setenv("KSEARCH_NO_READONLY_INPUTS", "1", 1);  // the worker inherits it
  WorkerSupervisor sup(worker_options());
  ::unsetenv("KSEARCH_NO_READONLY_INPUTS");
  const std::vector<Shape> shapes = {find_task("rmsnorm_linear")->parse_shape("3,2048,5632")};
  for (const char* file : {"writes_into_input.cu", "keeps_the_fingerprint.cu"}) {
    Candidate c = load_fixture(project_root() / "tests" / "fixtures" / file);
    auto rows = evaluate_candidate(sup, compiler, c, {default_variant(c.plan.params)}, shapes, quick_settings());
    EXPECT_EQ(status_name(rows.at(0).status), "input_modified") << file << ": " << rows[0].error;
  }
}

// The worker's cost: the same evaluations in process and through the worker, on one shape whose
// inputs, references and baseline are ready and whose variants are compiled (a first pass over
// them all, untimed), so only the evaluations themselves are timed. Each side is measured three
// times, alternating, and keeps its fastest pass: a timed evaluation's wall time varies by 20%
// from pass to pass on an H200, more than the pipe's cost.
TEST(GpuHacks, SupervisorOverheadPerEvaluation) {
  KS_REQUIRE_GPU();
  Compiler compiler(Compiler::default_options());
  const Task& task = *find_task("rmsnorm_linear");
  Candidate seed = load_candidate((project_root() / "seeds/rmsnorm_linear/gemv_fused.cu").string());
  // Six variants, three times: the seed's space grows with the search, this measure should not.
  std::vector<Variant> variants;
  for (int repeat = 0; repeat < 3; ++repeat)
    for (auto& v : spread_variants(seed.plan.params, 6)) variants.push_back(v);
  const std::vector<Shape> shapes = {task.parse_shape("16,4096,6144")};
  auto per_row_ms = [&](RowRunner& runner, const EvalSettings& s) {
    const auto t0 = std::chrono::steady_clock::now();
    auto rows = evaluate_candidate(runner, compiler, seed, variants, shapes, s);
    for (auto& r : rows) EXPECT_EQ(r.status, Status::ok);
    return 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
           static_cast<double>(rows.size());
  };
  for (bool time : {false, true}) {
    EvalSettings s = quick_settings();
    s.time = time;
    WorkerSupervisor sup(worker_options());
    InProcessRunner in_process(0, compiler);
    evaluate_candidate(sup, compiler, seed, variants, shapes, s);         // warm: the fixture, the cubins
    evaluate_candidate(in_process, compiler, seed, variants, shapes, s);  // and this side's modules
    double worker_ms = 1e30, in_process_ms = 1e30;
    for (int pass = 0; pass < 3; ++pass) {
      worker_ms = std::min(worker_ms, per_row_ms(sup, s));
      in_process_ms = std::min(in_process_ms, per_row_ms(in_process, s));
    }
    std::cout << "[ overhead ] per evaluation (" << (time ? "check and time" : "check only") << ", "
              << variants.size() << " rows, fastest of 3 passes): worker " << worker_ms << " ms, in process "
              << in_process_ms << " ms\n";
    EXPECT_LT(worker_ms, 1.05 * in_process_ms + 10.0);  // run-to-run noise, plus the pipe
  }
}

}  // namespace
}  // namespace ks
