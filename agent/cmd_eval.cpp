// ksearch eval: checks every variant of a candidate on every shape against the fp32 GPU
// reference, times it interleaved with the task's baseline, and prints one row per pair.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "agent/commands.h"
#include "agent/table.h"
#include "evaluator/evaluate.h"

namespace ks::cli {
namespace {

struct Opts {
  std::string file, variant, save_json;
  std::vector<std::string> shapes;
  bool audit = false, json = false, no_time = false;
  int device = 0;
  std::optional<uint64_t> seed;
  int min_replays = 20;
  double min_ms = 100;
};

nlohmann::json row_json(const Task& t, const EvalRow& r) {
  nlohmann::json j = {{"shape", t.format_shape(r.shape)}, {"variant", format_variant(r.variant)},
                      {"status", status_name(r.status)}, {"error", r.error},
                      {"floor_us", r.floor_us}, {"max_scaled_error", r.max_scaled},
                      {"rel_l2_error", r.rel_l2}};
  for (auto& k : r.resources)
    j["kernels"].push_back({{"kernel", k.kernel}, {"registers", k.registers},
                            {"spill_bytes", k.spill_store_bytes + k.spill_load_bytes},
                            {"stack_bytes", k.stack_bytes}, {"static_smem_bytes", k.static_smem_bytes}});
  if (r.timing) {
    auto& tm = *r.timing;
    j["median_us"] = tm.candidate.median_us;
    j["p10_us"] = tm.candidate.p10_us;
    j["p90_us"] = tm.candidate.p90_us;
    j["baseline_us"] = tm.baseline.median_us;
    j["speedup"] = tm.speedup;
    j["pct_of_floor"] = 100 * r.floor_us / tm.candidate.median_us;
    j["replays"] = tm.replays;
  }
  return j;
}

std::vector<std::string> row_cells(const Task& t, const EvalRow& r) {
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
  std::string err = r.error.size() > 60 ? r.error.substr(0, 57) + "..." : r.error;
  cells.push_back(err);
  return cells;
}

int run_eval(const Opts& o) {
  Candidate c = load_candidate(o.file);
  const Task* task = find_task(c.plan.task);
  if (!task) throw Error(c.origin + ": plan.task: unknown task '" + c.plan.task + "' (see ksearch tasks)");
  validate_plan(c.plan, *task);
  std::vector<Shape> shapes;
  for (auto& s : o.shapes) shapes.push_back(task->parse_shape(s));
  if (shapes.empty()) shapes = o.audit ? task->audit_shapes() : task->search_shapes();
  for (auto& s : shapes) check_shape(*task, s);
  std::vector<Variant> variants = o.variant.empty() ? enumerate_variants(c.plan.params)
                                                    : std::vector<Variant>{parse_variant(o.variant, c.plan.params)};

  EvalOptions eo;
  eo.seed = o.seed.value_or(std::random_device{}());
  eo.time = !o.no_time;
  eo.timer.min_replays = o.min_replays;
  eo.timer.min_seconds = o.min_ms / 1e3;
  Compiler compiler(Compiler::default_options());
  Evaluator ev(*task, o.device, compiler, eo);
  const DeviceInfo& d = ev.device();
  const Ceilings& ceil = ev.ceilings();
  std::cerr << d.name << " (" << d.arch << ", " << d.sms << " SMs, " << d.l2_bytes / (1 << 20)
            << " MiB L2): " << fixed(ceil.bytes_per_s / 1e12, 2) << " TB/s, "
            << fixed(ceil.flops_per_s / 1e12, 0) << " TFLOP/s bf16; seed " << eo.seed << '\n';

  const size_t total = shapes.size() * variants.size();
  size_t done = 0;
  std::vector<EvalRow> rows;
  std::string fatal;
  try {
    rows = ev.evaluate(c, variants, shapes, [&](const EvalRow& r) {
      rows.push_back(r);
      std::cerr << '[' << ++done << '/' << total << "] " << task->format_shape(r.shape) << ' '
                << format_variant(r.variant) << ": " << status_name(r.status)
                << (r.timing ? " " + fixed(r.timing->candidate.median_us, 1) + " us" : "") << '\n';
    });
  } catch (const Error& e) {
    fatal = e.what();  // the rows on_row collected before the failure stand
  }

  int failed = 0;
  for (auto& r : rows) failed += r.status != Status::ok && r.status != Status::not_applicable;
  nlohmann::json j;
  if (o.json || !o.save_json.empty()) {
    j = {{"candidate", c.origin}, {"task", task->name()}, {"device", d.name},
                        {"arch", d.arch}, {"seed", eo.seed},
                        {"bandwidth_tbs", ceil.bytes_per_s / 1e12},
                        {"peak_tflops", ceil.flops_per_s / 1e12}, {"rows", nlohmann::json::array()}};
    for (auto& r : rows) j["rows"].push_back(row_json(*task, r));
    if (!fatal.empty()) j["fatal"] = fatal;
  }
  if (!o.save_json.empty() && !(std::ofstream(o.save_json) << j.dump(2) << '\n'))
    throw Error("cannot write " + o.save_json);
  if (o.json) {
    std::cout << j.dump(2) << '\n';
  } else {
    std::cout << c.origin << " on " << d.name << " (" << fixed(ceil.bytes_per_s / 1e12, 2)
              << " TB/s, " << fixed(ceil.flops_per_s / 1e12, 0) << " TFLOP/s measured), seed "
              << eo.seed << "\n";
    Table table({"shape", "variant", "status", "median us", "p10 us", "p90 us", "baseline us",
                 "speedup", "% floor", "error"});
    for (auto& r : rows) table.add(row_cells(*task, r));
    table.print(std::cout);
    for (auto& r : rows)
      if (r.error.size() > 60)
        std::cout << task->format_shape(r.shape) << ' ' << format_variant(r.variant) << ": " << r.error << '\n';
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
  cmd->add_option("--variant", o->variant, "Only this variant, e.g. THREADS=128,ROWS=2 (default: every variant)");
  cmd->add_option("--device", o->device, "CUDA device index")->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", o->seed, "Input seed (default: a fresh one, printed)");
  cmd->add_flag("--no-time", o->no_time, "Check only, do not time");
  cmd->add_option("--min-replays", o->min_replays, "Timed replays per side, at least (default 20)")->check(CLI::PositiveNumber);
  cmd->add_option("--min-ms", o->min_ms, "Wall milliseconds of timing per row, at least (default 100)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", o->json, "Print the results as JSON instead of the table");
  cmd->add_option("--save-json", o->save_json, "Also write the results as JSON to this file");
  return [o] { return run_eval(*o); };
}

}  // namespace ks::cli
