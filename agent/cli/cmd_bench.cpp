// ksearch bench: the results table, measured now. For every task (or the given ones) and search
// shape, the contenders are the archive's best candidate on this GPU model and every seed at its
// default variant; each is checked on fresh inputs and timed interleaved with the baseline, and
// the fastest correct one is reported beside the shape's roofline floor, the issues' target where
// bench/targets.json has the shape (met or missed) and, with --peers, PyTorch eager and
// torch.compile timed live on the same GPU in the same run, the way ksearch times. With --model,
// or --dims and --m (agent/cli/shape_options.h), the shapes are a model's instead of the search
// shapes.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "agent/cli/archived_candidate.h"
#include "agent/cli/commands.h"
#include "agent/cli/shape_options.h"
#include "agent/cli/peers.h"
#include "agent/search/seed_files.h"
#include "agent/search/worker_evaluator.h"
#include "base/paths.h"
#include "base/table.h"
#include "db/archive.h"
#include "db/leaders.h"
#include "evaluator/evaluate.h"
#include "evaluator/supervisor.h"

namespace ks::cli {
namespace {

struct Opts {
  std::string db, targets = (project_root() / "bench" / "targets.json").string(), python = "python3";
  std::vector<std::string> tasks, constants;
  int device = 0;
  std::optional<uint64_t> seed;
  double min_ms = 200, warmup_ms = kSustainedWarmupSeconds * 1e3, watchdog_s = 10;
  bool json = false, seeds_only = false, peers = false;
  ShapeOptions by_parts;  // --model, --dims, --buckets, --m
};

struct Contender {
  std::shared_ptr<const Candidate> candidate;
  Variant variant;
  std::string label;  // "wgmma_fused BM=128,... (seed)" or "... (archive #42)"
};

// The issues' target for one (task, shape text).
struct Target {
  double target_us = 0;
};
using Targets = std::map<std::pair<std::string, std::string>, Target>;

Targets load_targets(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read the targets file " + path + " (give --targets FILE, or --targets '' for none)");
  Targets out;
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    for (auto& r : j.at("rows"))
      out[{r.at("task").get<std::string>(), r.at("shape").get<std::string>()}] = {
          r.at("target_us").get<double>()};
  } catch (const nlohmann::json::exception& e) {
    throw Error("targets file " + path + " is not valid: " + e.what());
  }
  return out;
}

// The --task ones; else the model file's, with --model; else every task.
std::vector<const Task*> chosen_tasks(const Opts& o, const ModelFile* model) {
  if (o.tasks.empty()) return model ? model->task_list() : all_tasks();
  std::vector<const Task*> out;
  for (auto& name : o.tasks) {
    const Task* t = find_task(name);
    if (!t) throw Error("unknown task '" + name + "' (`ksearch tasks` lists them)");
    out.push_back(t);
  }
  return out;
}

// Per shape text: the archive's fastest correct candidate on this GPU model, if any.
std::map<std::string, Contender> archive_best(Archive& archive, const Task& task, const std::string& device) {
  std::map<std::string, Contender> out;
  for (auto& [key, rows] : leaderboard(archive.evaluations(task.name(), device))) {
    const ArchivedCandidate a = load_archived(archive, rows.front().candidate_id);
    out[key.second] = {a.candidate, a.variant, a.label()};
  }
  return out;
}

int run_bench(const Opts& o) {
  const ShapeParts parts = read_shape_options(o.by_parts);
  const ModelFile* model = parts.model ? &*parts.model : nullptr;
  const std::vector<const Task*> tasks = chosen_tasks(o, model);
  check_shape_parts(parts, tasks);
  std::map<const Task*, std::vector<Shape>> shapes_of;  // the search shapes, or those the options chose
  std::vector<ChosenShapes> chosen;
  for (const Task* t : tasks) {
    std::optional<ChosenShapes> c = chosen_shapes(*t, parts);
    shapes_of[t] = c ? c->shapes : t->search_shapes();
    if (c) chosen.push_back(std::move(*c));
  }
  const std::map<const Task*, Constants> constants = constants_option(tasks, o.constants, model);
  std::string constants_note;  // "; rmsnorm_linear at eps=1e-05": what the rows were checked with
  for (auto& [task, c] : constants)
    if (!c.empty()) constants_note += "; " + task->name() + " at " + format_constants(c);
  const Targets targets = o.targets.empty() ? Targets{} : load_targets(o.targets);
  std::unique_ptr<Archive> archive;
  if (!o.seeds_only) {
    if (!std::filesystem::exists(o.db))
      throw Error("no archive at " + o.db + " (give --db, or --seeds-only to bench the seeds alone)");
    archive = std::make_unique<Archive>(o.db, Archive::Mode::read);  // one snapshot, read-only
  }
  EvalSettings settings;
  settings.seed = o.seed.value_or(std::random_device{}());
  settings.timer.min_seconds = o.min_ms / 1e3;
  settings.timer.warmup_seconds = o.warmup_ms / 1e3;
  Compiler compiler(Compiler::default_options());
  WorkerSupervisor runner(SupervisorOptions{worker_command(o.device), o.watchdog_s});
  const DeviceInfo& dev = runner.device();
  const Ceilings& ceil = runner.ceilings();
  std::cerr << dev.name << ": " << fixed(ceil.bytes_per_s / 1e12, 2) << " TB/s, "
            << fixed(ceil.flops_per_s / 1e12, 0) << " TFLOP/s bf16 measured; seed " << settings.seed << constants_note
            << '\n';
  for (auto& c : chosen) print_chosen(c);

  // Every row measured first; the peers after, on the same GPU, then the table.
  struct Row {
    std::string task, shape;
    std::optional<EvalResult> best;
    std::string label;
  };
  std::vector<Row> rows;
  for (const Task* task : tasks) {
    settings.constants = constants.at(task);
    std::vector<Contender> seeds;
    for (auto& f : default_seed_files(*task)) {
      auto c = load_seed(f, *task);
      Variant v = default_variant(c->plan.params);
      seeds.push_back({c, v, c->plan.name + " " + format_variant(v) + " (seed)"});
    }
    const auto from_archive = archive ? archive_best(*archive, *task, dev.name) : std::map<std::string, Contender>{};
    for (const Shape& shape : shapes_of.at(task)) {
      const std::string shape_text = task->format_shape(shape);
      std::vector<Contender> contenders = seeds;
      if (auto it = from_archive.find(shape_text); it != from_archive.end()) contenders.push_back(it->second);
      Row row{task->name(), shape_text, std::nullopt, ""};
      for (auto& ct : contenders) {
        const CompileResult compiled = compiler.compile(compile_request(*ct.candidate, ct.variant, dev.arch));
        EvalResult r = evaluate_variant(runner, *task, *ct.candidate, ct.variant, compiled, shape, settings);
        if (r.status == Status::not_applicable) continue;
        std::cerr << task->name() << ' ' << shape_text << ' ' << ct.label << ": " << status_name(r.status)
                  << (r.timing ? " " + fixed(r.timing->candidate.median_us, 1) + " us" : " " + r.error) << '\n';
        if (r.status == Status::ok && r.timing &&
            (!row.best || r.timing->candidate.median_us < row.best->timing->candidate.median_us)) {
          row.best = r;
          row.label = ct.label;
        }
      }
      rows.push_back(std::move(row));
    }
  }
  std::map<PeerKey, PeerTimes> peers;
  if (o.peers) {
    std::vector<PeerKey> keys;
    for (auto& r : rows) keys.push_back({r.task, r.shape});
    std::cerr << "timing the peers (PyTorch eager and torch.compile) on " << keys.size() << " shapes\n";
    peers = measure_peers(o.python, keys, dev.index, settings.timer.warmup_seconds);
  }

  Table table({"task", "shape", "eager us", "compile us", "floor us", "target us", "baseline us", "best us", "% floor",
               "speedup", "vs compile", "target", "candidate"});
  nlohmann::json out = nlohmann::json::array();
  int missing = 0;
  for (const Row& r : rows) {
    const auto target = targets.find({r.task, r.shape});
    const bool has_target = target != targets.end();
    const std::string target_text = has_target ? fixed(target->second.target_us, 1) : "-";
    const auto peer = peers.find({r.task, r.shape});
    const PeerTimes none;
    const PeerTimes& p = peer == peers.end() ? none : peer->second;
    auto us = [](const std::optional<double>& v) { return v ? fixed(*v, 1) : std::string("-"); };
    if (!r.best) {
      ++missing;
      table.add({r.task, r.shape, us(p.eager_us), us(p.compile_us), "-", target_text, "-", "-", "-", "-", "-", "-",
                 "no correct candidate"});
      continue;
    }
    const auto& t = *r.best->timing;
    const double pct = 100 * r.best->floor_us / t.candidate.median_us;
    const bool met = has_target && t.candidate.median_us <= target->second.target_us;
    table.add({r.task, r.shape, us(p.eager_us), us(p.compile_us), fixed(r.best->floor_us, 1), target_text,
               fixed(t.baseline.median_us, 1), fixed(t.candidate.median_us, 1), fixed(pct, 0), fixed(t.speedup, 2) + "x",
               p.compile_us ? fixed(*p.compile_us / t.candidate.median_us, 2) + "x" : "-",
               has_target ? (met ? "met" : "missed") : "-", r.label});
    nlohmann::json row = {{"task", r.task}, {"shape", r.shape}, {"constants", constants.at(find_task(r.task))},
                          {"floor_us", r.best->floor_us},
                          {"baseline_us", t.baseline.median_us}, {"best_us", t.candidate.median_us},
                          {"pct_of_floor", pct}, {"speedup", t.speedup}, {"candidate", r.label}};
    if (p.eager_us) row["torch_eager_us"] = *p.eager_us;
    if (p.compile_us) row["torch_compile_us"] = *p.compile_us;
    if (!p.error.empty()) row["peers_error"] = p.error;
    if (has_target) {
      row["target_us"] = target->second.target_us;
      row["target_met"] = met;
    }
    out.push_back(row);
  }
  if (o.json) {
    std::cout << nlohmann::json{{"device", dev.name}, {"bandwidth_tbs", ceil.bytes_per_s / 1e12},
                                {"peak_tflops", ceil.flops_per_s / 1e12}, {"seed", settings.seed},
                                {"warmup_ms", o.warmup_ms}, {"rows", out}}.dump(2)
              << '\n';
  } else {
    std::cout << "ksearch bench on " << dev.name << " (" << fixed(ceil.bytes_per_s / 1e12, 2) << " TB/s, "
              << fixed(ceil.flops_per_s / 1e12, 0) << " TFLOP/s measured), seed " << settings.seed << constants_note
              << "; each time after " << fixed(o.warmup_ms / 1e3, 2) << " s of warm-up\n";
    table.print(std::cout);
  }
  return missing ? 1 : 0;
}

}  // namespace

Action add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "bench", "The results table: the best candidate per task and shape (the archive's best on this GPU and every seed's default), measured now against the baseline (needs a GPU)");
  auto o = std::make_shared<Opts>();
  add_db_option(cmd, o->db);
  cmd->add_option("--task", o->tasks, "Only these tasks (default: every task)");
  cmd->add_option("--targets", o->targets,
                  "JSON of per-shape targets to print beside the measured columns (default: bench/targets.json; '' for none)");
  cmd->add_flag("--seeds-only", o->seeds_only, "Bench the seeds at their defaults, without an archive");
  cmd->add_option("--device", o->device, "CUDA device index")->check(non_negative());
  cmd->add_option("--seed", o->seed, "Input seed (default: a fresh one, printed)");
  add_const_option(cmd, o->constants);
  add_shape_options(cmd, o->by_parts, "the search shapes");
  cmd->add_option("--min-ms", o->min_ms, "Wall milliseconds of timing per evaluation, at least (default 200)")
      ->check(non_negative());
  cmd->add_option("--warmup-ms", o->warmup_ms, warmup_help(kSustainedWarmupSeconds * 1e3))->check(non_negative());
  cmd->add_option("--watchdog", o->watchdog_s, "Seconds a candidate may take on one shape before its worker is killed (default 10)")
      ->check(positive());
  cmd->add_flag("--peers", o->peers,
                "Also time PyTorch eager and torch.compile on the same shapes and GPU, the way ksearch times "
                "(scripts/torch_peers.py; needs a Python with torch)");
  cmd->add_option("--python", o->python, "The Python --peers runs (default: python3)");
  cmd->add_flag("--json", o->json, "Print JSON instead of the table");
  return [o] { return run_bench(*o); };
}

}  // namespace ks::cli
