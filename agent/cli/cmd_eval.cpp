// ksearch eval: checks every variant of a candidate on every shape against the fp32 GPU
// reference, times it interleaved with the task's baseline, and prints one row per pair.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "agent/cli/commands.h"
#include "base/table.h"
#include "evaluator/evaluate.h"
#include "evaluator/json_text.h"
#include "evaluator/row_json.h"
#include "evaluator/supervisor.h"

namespace ks::cli {
namespace {

struct Opts {
  std::string file, save_json;
  std::optional<std::string> variant;  // absent: every variant
  std::vector<std::string> shapes, constants;
  bool audit = false, json = false, no_time = false, in_process = false, skeleton = false;
  double watchdog_s = 10;
  double compile_timeout_s = CompilerOptions{}.timeout_s;
  int device = 0;
  std::optional<uint64_t> seed;
  int min_replays = 20;
  double min_ms = 100, warmup_ms = TimerOptions{}.warmup_seconds * 1e3;
};

nlohmann::json row_json(const Task& t, const EvalResult& r) {
  nlohmann::json j = to_json(r);
  j["shape_text"] = t.format_shape(r.shape);
  j["variant_text"] = format_variant(r.variant);
  if (r.timing) j["pct_of_floor"] = 100 * r.floor_us / r.timing->candidate.median_us;
  if (r.timing && r.skeleton_us > 0) j["skeleton_pct_of_median"] = 100 * r.skeleton_us / r.timing->candidate.median_us;
  return j;
}

// The skeleton column's cell: its median, "error" when it has none for a reason, else "-".
std::string skeleton_cell(const EvalResult& r) {
  if (r.skeleton_us > 0) return fixed(r.skeleton_us, 1);
  return r.skeleton_error.empty() ? "-" : "error";
}

std::vector<std::string> row_cells(const Task& t, const EvalResult& r, bool skeleton) {
  std::vector<std::string> cells = {t.format_shape(r.shape), format_variant(r.variant),
                                    std::string(status_name(r.status))};
  if (r.timing) {
    auto& tm = *r.timing;
    cells.insert(cells.end(), {fixed(tm.candidate.median_us, 1), fixed(tm.candidate.p10_us, 1),
                               fixed(tm.candidate.p90_us, 1), fixed(tm.baseline.median_us, 1),
                               fixed(tm.speedup, 2), fixed(100 * r.floor_us / tm.candidate.median_us, 0)});
  } else {
    cells.insert(cells.end(), 6, "-");
  }
  if (skeleton) cells.push_back(skeleton_cell(r));
  std::string err = r.error.size() > 60 ? r.error.substr(0, 57) + "..." : r.error;
  cells.push_back(err);
  return cells;
}

int run_eval(const Opts& o) {
  Candidate c = load_candidate(o.file);
  const Task* task = &task_of(c);
  std::vector<Shape> shapes;
  for (auto& s : o.shapes) shapes.push_back(task->parse_shape(s));
  if (shapes.empty()) shapes = o.audit ? task->audit_shapes() : task->search_shapes();
  for (auto& s : shapes) check_shape(*task, s);  // before the device is opened: a bad shape is the user's
  std::vector<Variant> variants = o.variant ? std::vector<Variant>{parse_variant(*o.variant, c.plan.params)}
                                           : enumerate_variants(c.plan.params);

  EvalSettings eo;
  eo.constants = constants_option(*task, o.constants);  // before the device too
  // ", eps=1e-05" on the lines that say what was run; nothing for a task without constants.
  const std::string constants_note = eo.constants.empty() ? "" : ", " + format_constants(eo.constants);
  eo.seed = o.seed.value_or(std::random_device{}());
  eo.time = !o.no_time;
  eo.timer.min_replays = o.min_replays;
  eo.timer.min_seconds = o.min_ms / 1e3;
  eo.timer.warmup_seconds = o.warmup_ms / 1e3;
  eo.skeleton = o.skeleton;
  CompilerOptions copts = Compiler::default_options();
  copts.timeout_s = o.compile_timeout_s;
  Compiler compiler(copts);
  std::unique_ptr<RowRunner> runner;
  WorkerSupervisor* supervisor = nullptr;
  if (o.in_process) {
    runner = std::make_unique<InProcessRunner>(o.device, compiler);
  } else {
    auto s = std::make_unique<WorkerSupervisor>(SupervisorOptions{
        {std::filesystem::read_symlink("/proc/self/exe").string(), "worker", "--device",
         std::to_string(o.device), "--compile-timeout", std::to_string(o.compile_timeout_s)},
        o.watchdog_s});
    supervisor = s.get();
    runner = std::move(s);
  }
  const DeviceInfo& d = runner->device();
  const Ceilings& ceil = runner->ceilings();
  std::cerr << d.name << " (" << d.arch << ", " << d.sms << " SMs, " << d.l2_bytes / (1 << 20)
            << " MiB L2): " << fixed(ceil.bytes_per_s / 1e12, 2) << " TB/s, "
            << fixed(ceil.flops_per_s / 1e12, 0) << " TFLOP/s bf16; seed " << eo.seed << constants_note << '\n';

  const size_t total = shapes.size() * variants.size();
  size_t done = 0;
  std::vector<EvalResult> rows;
  std::string fatal;
  try {
    rows = evaluate_candidate(*runner, compiler, c, variants, shapes, eo, [&](const EvalResult& r) {
      rows.push_back(r);
      std::cerr << '[' << ++done << '/' << total << "] " << task->format_shape(r.shape) << ' '
                << format_variant(r.variant) << ": " << status_name(r.status)
                << (r.timing ? " " + fixed(r.timing->candidate.median_us, 1) + " us" : "")
                << (r.skeleton_us > 0 ? " (launch skeleton " + fixed(r.skeleton_us, 1) + " us)" : "") << '\n';
    });
  } catch (const Error& e) {
    fatal = e.what();  // the rows on_row collected before the failure stand
  }

  if (supervisor && supervisor->stats().restarts) {
    double total_s = 0;
    for (double t : supervisor->stats().start_seconds) total_s += t;
    std::cerr << "worker restarts: " << supervisor->stats().restarts << " (a start takes "
              << fixed(total_s / static_cast<double>(supervisor->stats().start_seconds.size()), 2) << " s on average)\n";
  }
  int failed = 0;
  for (auto& r : rows) failed += r.status != Status::ok && r.status != Status::not_applicable;
  nlohmann::json j;
  if (o.json || !o.save_json.empty()) {
    j = {{"candidate", c.origin}, {"task", task->name()}, {"device", d.name},
                        {"arch", d.arch}, {"seed", eo.seed}, {"constants", eo.constants},
                        {"bandwidth_tbs", ceil.bytes_per_s / 1e12},
                        {"peak_tflops", ceil.flops_per_s / 1e12}, {"skeleton", o.skeleton},
                        {"rows", nlohmann::json::array()}};
    for (auto& r : rows) j["rows"].push_back(row_json(*task, r));
    if (!fatal.empty()) j["fatal"] = fatal;
  }
  // A candidate's output and errors quoting it need not be UTF-8: replace, never throw.
  const auto dump = [&] { return json_text(j, 2); };
  if (!o.save_json.empty() && !(std::ofstream(o.save_json) << dump() << '\n'))
    throw Error("cannot write " + o.save_json);
  if (o.json) {
    std::cout << dump() << '\n';
  } else {
    std::cout << c.origin << " on " << d.name << " (" << fixed(ceil.bytes_per_s / 1e12, 2)
              << " TB/s, " << fixed(ceil.flops_per_s / 1e12, 0) << " TFLOP/s measured), seed "
              << eo.seed << constants_note << "\n";
    std::vector<std::string> header = {"shape", "variant", "status", "median us", "p10 us", "p90 us",
                                       "baseline us", "speedup", "% floor"};
    if (o.skeleton) header.push_back("skeleton us");
    header.push_back("error");
    Table table(header);
    for (auto& r : rows) table.add(row_cells(*task, r, o.skeleton));
    table.print(std::cout);
    for (auto& r : rows)
      if (r.error.size() > 60)
        std::cout << task->format_shape(r.shape) << ' ' << format_variant(r.variant) << ": " << r.error << '\n';
    for (auto& r : rows)
      if (!r.steps.empty())
        std::cout << task->format_shape(r.shape) << ' ' << format_variant(r.variant)
                  << ": time per step " << format_steps(r.steps) << '\n';
    for (auto& r : rows) {
      const std::string row = task->format_shape(r.shape) + ' ' + format_variant(r.variant);
      if (r.skeleton_us > 0 && r.timing) {
        const double median = r.timing->candidate.median_us, gap = median - r.floor_us;
        std::cout << row << ": launch skeleton " << fixed(r.skeleton_us, 1) << " us, "
                  << fixed(100 * r.skeleton_us / median, 0) << "% of the median " << fixed(median, 1)
                  << " us; gap to the floor (" << fixed(r.floor_us, 1) << " us) " << fixed(gap, 1) << " us"
                  << (gap > 0 ? ", the skeleton " + fixed(100 * r.skeleton_us / gap, 0) + "% of it" : "") << '\n';
      } else if (!r.skeleton_error.empty()) {
        std::cout << row << ": no launch skeleton: " << r.skeleton_error << '\n';
      }
    }
    for (auto& r : rows) {
      if (r.output_bytes == 0 || r.status == Status::ok || r.status == Status::not_applicable) continue;
      constexpr size_t kShown = 4096;
      std::cout << "--- " << task->format_shape(r.shape) << ' ' << format_variant(r.variant)
                << ": the candidate printed " << r.output_bytes << " bytes"
                << (r.output_bytes > kShown ? " (the first " + std::to_string(kShown) + " shown)" : "") << " ---\n"
                << r.output.substr(0, kShown) << (r.output.empty() || r.output.back() == '\n' ? "" : "\n");
    }
  }
  if (!fatal.empty()) {
    std::cerr << "ksearch: " << fatal << '\n';
    return 2;
  }
  if (failed) std::cerr << failed << " of " << rows.size() << " evaluation(s) did not pass\n";
  return failed ? 1 : 0;
}

}  // namespace

Action add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "eval", "Check every variant of a candidate on the task's shapes and time it against the baseline (needs a GPU)");
  auto o = std::make_shared<Opts>();
  cmd->add_option("FILE", o->file, "Candidate .cu file (plan comment + CUDA code)")->required();
  cmd->add_option("--shape", o->shapes, "Shape(s), e.g. 16,4096,6144 or M=16,K=4096,N=6144 (default: the task's search shapes)");
  cmd->add_flag("--audit-shapes", o->audit, "Use the task's held-out audit shapes instead of the search shapes");
  cmd->add_option("--variant", o->variant, "Only this variant, e.g. THREADS=128,ROWS=2 (default: every variant)")
      ->check(variant_text());
  cmd->add_option("--device", o->device, "CUDA device index")->check(non_negative());
  cmd->add_option("--seed", o->seed, "Input seed (default: a fresh one, printed)");
  add_const_option(cmd, o->constants);
  auto* no_time = cmd->add_flag("--no-time", o->no_time, "Check only, do not time");
  cmd->add_flag("--skeleton", o->skeleton,
                "Also time each timed row's launch skeleton: the plan's steps with the same grids, blocks, "
                "dynamic smem, cluster dims and PDL, every kernel replaced by an empty one with its "
                "parameters, timed as the plan is (graph replays, L2 flushed, medians, beside the "
                "baseline): how much of a row's time is launch and ramp. A column 'skeleton us' (JSON: "
                "skeleton_us; skeleton_error where there is none, e.g. a plan with a gemm step; it never "
                "fails a row)")
      ->excludes(no_time);
  cmd->add_option("--min-replays", o->min_replays, "Timed replays per side, at least (default 20)")->check(positive());
  cmd->add_option("--min-ms", o->min_ms, "Wall milliseconds of timing per row, at least (default 100)")->check(non_negative());
  cmd->add_option("--warmup-ms", o->warmup_ms, warmup_help(TimerOptions{}.warmup_seconds * 1e3))->check(non_negative());
  cmd->add_option("--watchdog", o->watchdog_s, "Seconds a candidate may take on one shape before its worker is killed (default 10)")
      ->check(positive());
  cmd->add_option("--compile-timeout", o->compile_timeout_s, "Seconds one NVRTC compile may take before it is killed, a compile_error (default 60)")
      ->check(positive());
  cmd->add_flag("--in-process", o->in_process, "Run candidates in this process, not in a worker: no watchdog, and a crash ends the run");
  cmd->add_flag("--json", o->json, "Print the results as JSON instead of the table");
  cmd->add_option("--save-json", o->save_json, "Also write the results as JSON to this file");
  return [o] { return run_eval(*o); };
}

}  // namespace ks::cli
