// ksearch run: the evolutionary search of one task on this host's GPUs, every result kept in the
// archive; stops at its budget or Ctrl-C (after the evaluation in flight) and resumes.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "agent/commands.h"
#include "agent/progress.h"
#include "agent/seed_files.h"
#include "agent/table.h"
#include "agent/worker_evaluator.h"
#include "evaluator/evaluate.h"
#include "tasks/paths.h"

namespace ks::cli {
namespace {

using nlohmann::json;

struct Opts {
  std::string task, db, devices = "0";
  bool resume = false, json = false;
  std::optional<int64_t> run_id, max_evals, seed;
  std::optional<double> minutes;
  std::optional<int> batch, seed_variants, min_replays;
  std::optional<double> min_ms, watchdog_s;
  std::vector<std::string> seeds, shapes;
};

std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int) {
  if (g_stop.exchange(true)) _exit(130);  // a second Ctrl-C: now (the archive stays consistent)
  const char msg[] = "\nksearch: stopping after the evaluation in flight (Ctrl-C again to quit now)\n";
  (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

std::vector<int> parse_devices(const std::string& text) {
  std::vector<int> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    size_t used = 0;
    int d = -1;
    try {
      d = std::stoi(item, &used);
    } catch (const std::exception&) {
    }
    if (d < 0 || used != item.size())
      throw Error("--devices: '" + item + "' is not a device index (give e.g. 0 or 0,1,2,3)");
    if (std::find(out.begin(), out.end(), d) != out.end())
      throw Error("--devices: device " + item + " is given twice");
    out.push_back(d);
  }
  if (out.empty()) throw Error("--devices: no device given");
  return out;
}

// A value given on the command line, else the resumed run's, else the default.
template <class T>
T pick(const std::optional<T>& given, const json& stored, const char* key, T fallback) {
  if (given) return *given;
  if (stored.contains(key) && !stored[key].is_null()) return stored[key].get<T>();
  return fallback;
}

template <class T>
std::optional<T> pick_opt(const std::optional<T>& given, const json& stored, const char* key) {
  if (given) return given;
  if (stored.contains(key) && !stored[key].is_null()) return stored[key].get<T>();
  return std::nullopt;
}

int run_search(const Opts& o) {
  Archive archive(o.db);

  // The run to resume, if any, decides the task.
  std::optional<RunRecord> resumed;
  if (o.run_id) {
    resumed = archive.run(*o.run_id);
    if (!resumed) throw Error("run " + std::to_string(*o.run_id) + " is not in " + o.db);
    if (!o.task.empty() && o.task != resumed->task)
      throw Error("run " + std::to_string(*o.run_id) + " searches " + resumed->task + ", not " + o.task);
  } else if (o.task.empty()) {
    throw Error("--task is required (or --run ID to resume a run); `ksearch tasks` lists them");
  }
  const std::string task_name = resumed ? resumed->task : o.task;
  const Task* task = find_task(task_name);
  if (!task) throw Error("unknown task '" + task_name + "' (`ksearch tasks` lists them)");

  // What the user gave is checked before any GPU is touched.
  const std::vector<int> devices = parse_devices(o.devices);
  json stored = resumed ? json::parse(resumed->options) : json::object();
  std::vector<std::string> seed_files = !o.seeds.empty() ? o.seeds
                                        : stored.contains("seeds") ? stored["seeds"].get<std::vector<std::string>>()
                                                                   : default_seed_files(*task);
  std::vector<std::shared_ptr<const Candidate>> seeds;
  for (auto& f : seed_files) seeds.push_back(load_seed(f, *task));
  seed_files.clear();
  for (auto& s : seeds) seed_files.push_back(s->origin);
  if (seeds.empty()) throw Error("no seeds for " + task->name() + " (give --seeds FILE...)");
  std::vector<std::string> shape_texts = !o.shapes.empty() ? o.shapes
                                         : stored.contains("shapes") ? stored["shapes"].get<std::vector<std::string>>()
                                                                     : std::vector<std::string>{};
  std::vector<Shape> shapes;
  for (auto& s : shape_texts) shapes.push_back(task->parse_shape(s));
  if (shapes.empty()) shapes = task->search_shapes();
  for (auto& s : shapes) check_shape(*task, s);

  SearchOptions so;  // its defaults are the fallbacks
  so.shapes = shapes;
  so.seeds = seeds;
  so.max_evals = pick_opt(o.max_evals, stored, "max_evals");
  so.minutes = pick_opt(o.minutes, stored, "minutes");
  so.batch = pick(o.batch, stored, "batch", so.batch);
  so.seed_variants = pick(o.seed_variants, stored, "seed_variants", so.seed_variants);
  so.eval.timer.min_replays = pick(o.min_replays, stored, "min_replays", so.eval.timer.min_replays);
  so.eval.timer.min_seconds = pick(o.min_ms, stored, "min_ms", so.eval.timer.min_seconds * 1e3) / 1e3;
  const double watchdog = pick(o.watchdog_s, stored, "watchdog", SupervisorOptions{}.watchdog_s);

  // One worker per GPU, all of one model: results are kept per GPU model.
  Compiler compiler(Compiler::default_options());
  std::vector<std::unique_ptr<WorkerEvaluator>> evaluators;
  for (int d : devices) {
    evaluators.push_back(std::make_unique<WorkerEvaluator>(compiler, SupervisorOptions{worker_command(d), watchdog}));
    if (evaluators.back()->device().name != evaluators.front()->device().name)
      throw Error("--devices: device " + std::to_string(d) + " is a " + evaluators.back()->device().name +
                  ", device " + std::to_string(devices[0]) + " a " + evaluators.front()->device().name +
                  ": one run searches one GPU model");
  }
  const DeviceInfo& dev = evaluators.front()->device();

  if (o.resume && !resumed) {
    resumed = archive.latest_run(task->name(), dev.name);
    if (!resumed) throw Error("no run of " + task->name() + " on " + dev.name + " in " + o.db + " to resume");
  }
  if (resumed && resumed->device != dev.name)
    throw Error("run " + std::to_string(resumed->id) + " searched on " + resumed->device + "; this is a " + dev.name);

  RunRecord run = resumed ? *resumed : RunRecord{};
  if (!resumed) {
    run.task = task->name();
    run.device = dev.name;
    run.arch = dev.arch;
    run.seed = static_cast<uint64_t>(o.seed.value_or(static_cast<int64_t>(std::random_device{}() >> 1)));
  }
  so.eval.seed = run.seed;
  json options = {{"max_evals", so.max_evals ? json(*so.max_evals) : json()},
                  {"minutes", so.minutes ? json(*so.minutes) : json()},
                  {"batch", so.batch}, {"seed_variants", so.seed_variants}, {"seeds", seed_files},
                  {"shapes", shape_texts}, {"devices", devices}, {"watchdog", watchdog},
                  {"min_replays", so.eval.timer.min_replays}, {"min_ms", so.eval.timer.min_seconds * 1e3}};
  run.options = options.dump();

  const Ceilings& ceil = evaluators.front()->ceilings();
  run.bandwidth = ceil.bytes_per_s;
  run.peak_flops = ceil.flops_per_s;
  if (resumed)
    archive.update_run(run);
  else
    run.id = archive.add_run(run);

  std::cerr << (resumed ? "resuming" : "starting") << " run " << run.id << ": " << task->name() << " on "
            << devices.size() << " x " << dev.name << " (" << fixed(ceil.bytes_per_s / 1e12, 2) << " TB/s, "
            << fixed(ceil.flops_per_s / 1e12, 0) << " TFLOP/s measured), seed " << run.seed << ", "
            << seeds.size() << " seed file(s), " << shapes.size() << " shapes; budget: "
            << (so.max_evals ? std::to_string(*so.max_evals) + " evaluations" : "no evaluation limit") << ", "
            << (so.minutes ? fixed(*so.minutes, 1) + " minutes" : "no time limit") << "; archive " << o.db
            << "\n";

  std::vector<DeviceEvaluator*> devs;
  for (auto& e : evaluators) devs.push_back(e.get());
  SearchDriver driver(archive, run, devs, so);
  ProgressPrinter printer(o.json, driver.population());
  install_signal_handlers();
  SearchSummary sum;
  try {
    sum = driver.run(g_stop, [&](const SearchProgress& p) { printer.update(p); });
  } catch (...) {
    printer.finish();
    throw;
  }
  printer.finish();
  if (o.json) {
    json shapes_json = json::array();
    for (auto& s : sum.shapes) {
      json j = {{"shape", s.shape}, {"floor_us", s.floor_us}};
      if (s.baseline_us) j["baseline_us"] = *s.baseline_us;
      if (s.best_seed_default) j["best_seed_default_speedup"] = *s.best_seed_default;
      if (s.best) {
        j["best_candidate"] = driver.population().members()[*s.best].id;
        j["best_speedup"] = *s.best_speedup;
        if (s.best_us) j["best_us"] = *s.best_us;
      }
      if (s.seconds_to_95) j["seconds_to_95"] = *s.seconds_to_95;
      shapes_json.push_back(j);
    }
    std::cout << json{{"event", "done"}, {"run", run.id}, {"stop_reason", sum.stop_reason},
                      {"evals", sum.progress.evals}, {"evals_this_session", sum.progress.evals_this_session},
                      {"seconds", sum.progress.session_seconds}, {"by_status", sum.progress.by_status},
                      {"by_operator", sum.progress.by_operator}, {"shapes", shapes_json}}
                     .dump()
              << std::endl;
  } else {
    print_summary(std::cout, sum, driver.population(), run, o.db);
  }
  return sum.stop_reason == "stopped" ? 130 : 0;
}

}  // namespace

Action add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "run", "Search one task for faster fused kernels on this host's GPUs; every result goes to the archive");
  auto o = std::make_shared<Opts>();
  cmd->add_option("--task", o->task, "The task to search (see `ksearch tasks`)");
  add_db_option(cmd, o->db);
  cmd->add_option("--max-evals", o->max_evals, "Stop after this many evaluations in the run (candidate x shape, on a GPU)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--minutes", o->minutes, "Stop after this many minutes of searching in the run")->check(CLI::PositiveNumber);
  cmd->add_option("--seed", o->seed, "Seed of the search's choices and of the inputs (default: a fresh one, printed)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--resume", o->resume, "Continue the latest run of the task on this GPU model");
  cmd->add_option("--run", o->run_id, "Continue this run (an id from `ksearch best` or `ksearch show`)");
  cmd->add_option("--devices", o->devices, "CUDA devices, one worker each, e.g. 0,1,2,3 (default 0)");
  cmd->add_option("--seeds", o->seeds, "Seed candidate files (default: seeds/<task>/*.cu but baseline.cu)");
  cmd->add_option("--shape", o->shapes, "Only these shapes, e.g. 16,4096,6144 (default: the task's search shapes)");
  cmd->add_option("--batch", o->batch, "Children proposed per step (default 4)")->check(CLI::Range(1, 256));
  cmd->add_option("--seed-variants", o->seed_variants, "Variants of each seed sampled into generation 0 (default 16)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--min-replays", o->min_replays, "Timed replays per side, at least (default 20)")->check(CLI::PositiveNumber);
  cmd->add_option("--min-ms", o->min_ms, "Wall milliseconds of timing per evaluation, at least (default 100)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--watchdog", o->watchdog_s, "Seconds a candidate may take on one shape before its worker is killed (default 10)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", o->json, "One JSON object per evaluation on stdout, and a summary object last");
  return [o] { return run_search(*o); };
}

}  // namespace ks::cli
