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

#include "agent/cli/commands.h"
#include "agent/cli/shape_options.h"
#include "agent/llm/llm_operators.h"
#include "agent/llm/llm_replay.h"
#include "agent/llm/llm_search.h"
#include "agent/llm/prompts.h"
#include "agent/search/progress.h"
#include "agent/search/seed_files.h"
#include "agent/search/worker_evaluator.h"
#include "base/paths.h"
#include "base/table.h"
#include "db/recorded_constants.h"
#include "evaluator/evaluate.h"
#include "evaluator/json_text.h"

namespace ks::cli {
namespace {

using nlohmann::json;

struct LlmOpts {
  std::optional<std::string> url, model, prompts, replay;
  std::optional<double> temperature, timeout_s;
  std::optional<int> max_tokens, concurrency, turns;
  std::optional<int64_t> max_tokens_total, max_reply_bytes;
};

struct Opts {
  LlmOpts llm;
  std::string task, db, devices = "0";
  bool resume = false, json = false;
  std::optional<int64_t> run_id, max_evals, seed;
  std::optional<double> minutes;
  std::optional<int> batch, seed_variants, min_replays;
  std::optional<double> min_ms, warmup_ms, watchdog_s, compile_timeout_s;
  std::vector<std::string> seeds, shapes, constants;
  ShapeOptions by_parts;  // --model, --dims, --buckets, --m
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

std::optional<std::string> from_env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? std::optional<std::string>(v) : std::nullopt;
}

// The LLM settings: a flag, else the environment (URL and model), else the resumed run's; nothing
// when no endpoint is given. The key comes from KSEARCH_LLM_API_KEY alone and is never stored.
// Everything that can be checked without a GPU is checked here: the URL, the model, the prompts.
std::optional<LlmSearchOptions> llm_options(const LlmOpts& o, const json& stored, const Task& task) {
  const json st = stored.contains("llm") ? stored["llm"] : json::object();
  // A replay needs no endpoint: its archive answers, read now so a bad file stops the run here.
  const std::optional<std::string> replay = o.replay ? o.replay : pick_opt<std::string>(std::nullopt, st, "replay");
  std::optional<std::string> url = o.url ? o.url : from_env("KSEARCH_LLM_URL");
  if (!url && !replay) url = pick_opt<std::string>(std::nullopt, st, "url");
  if (!url && !replay) return std::nullopt;
  LlmSearchOptions l;
  if (replay) {
    l.replay = std::make_shared<ReplayChat>(*replay, task.name());
    l.client.model = l.replay->model();
  } else {
    l.client.base_url = *url;
    std::optional<std::string> model = o.model ? o.model : from_env("KSEARCH_LLM_MODEL");
    l.client.model = model ? *model : pick<std::string>(std::nullopt, st, "model", "");
    l.client.api_key = from_env("KSEARCH_LLM_API_KEY").value_or("");
  }
  l.client.temperature = pick(o.temperature, st, "temperature", l.client.temperature);
  l.client.max_tokens = pick(o.max_tokens, st, "max_tokens", l.client.max_tokens);
  l.client.total_timeout_s = pick(o.timeout_s, st, "timeout_s", l.client.total_timeout_s);
  l.client.max_reply_bytes = pick(o.max_reply_bytes, st, "max_reply_bytes", l.client.max_reply_bytes);
  l.concurrency = pick(o.concurrency, st, "concurrency", l.concurrency);
  l.turns = pick(o.turns, st, "turns", l.turns);
  l.max_tokens_total = pick_opt(o.max_tokens_total, st, "max_tokens_total");
  const std::string prompts = o.prompts ? *o.prompts : pick<std::string>(std::nullopt, st, "prompts", default_prompts_dir().string());
  l.prompts = load_prompts(prompts);
  check_templates(l.prompts);
  if (!l.replay) {
    LlmClient check(l.client);  // a URL or model that cannot work is an error now, not mid-run
    l.client = check.config();
  }
  l.facts.task = &task;
  l.facts.contract = task_contract(task);
  l.facts.helpers = helper_summary(Compiler::default_options().ks_include);
  return l;
}

// The constants a run checks with: a new run's from --const, else the model file's, else the
// task's defaults; a resumed run keeps those it recorded, and a --const or a model file's value
// that differs is refused: its rows must all have been checked alike. Throws ks::Error, one line.
Constants run_constants(const Task& task, const std::optional<RunRecord>& resumed, const std::vector<std::string>& texts,
                        const ModelFile* model) {
  const Constants given = constants_option(task, texts, model);
  if (!resumed) return given;
  const Constants recorded = recorded_constants(task, resumed->constants);
  const bool model_gives = model && !model->task(task).constants.empty();
  if ((!texts.empty() || model_gives) && given != recorded)
    throw Error("run " + std::to_string(resumed->id) + " checks with " + format_constants(recorded) + ", not " +
                format_constants(given) + ": a run keeps its constants (start a new run, without --resume or --run, "
                "for other values)");
  return recorded;
}

// What a resumed run reuses; never the key.
json llm_stored(const LlmSearchOptions& l, const ReplayChat* replay) {
  if (replay)
    return {{"replay", replay->path()}, {"concurrency", l.concurrency}, {"turns", l.turns},
            {"max_tokens_total", l.max_tokens_total ? json(*l.max_tokens_total) : json()},
            {"prompts", l.prompts.dir.string()}};
  return {{"url", l.client.base_url}, {"model", l.client.model}, {"temperature", l.client.temperature},
          {"max_tokens", l.client.max_tokens}, {"timeout_s", l.client.total_timeout_s},
          {"max_reply_bytes", l.client.max_reply_bytes},
          {"concurrency", l.concurrency}, {"turns", l.turns},
          {"max_tokens_total", l.max_tokens_total ? json(*l.max_tokens_total) : json()},
          {"prompts", l.prompts.dir.string()}};
}

// What a run searches with: each option as given, else as the resumed run recorded it (`stored`,
// empty for a new run), else its default. Everything is checked here, and no GPU is touched.
struct RunSettings {
  SearchOptions so;  // all but the constants and the inputs' seed
  std::vector<std::string> seed_files, shape_texts;
  double watchdog = 0, compile_timeout = 0;
  std::optional<LlmSearchOptions> llm;
};

RunSettings run_settings(const Opts& o, const Task& task, const std::optional<ChosenShapes>& chosen, const json& stored) {
  RunSettings r;
  SearchOptions& so = r.so;  // its defaults are the fallbacks
  std::vector<std::string> seed_files = !o.seeds.empty() ? o.seeds
                                        : stored.contains("seeds") ? stored["seeds"].get<std::vector<std::string>>()
                                                                   : default_seed_files(task);
  for (auto& f : seed_files) so.seeds.push_back(load_seed(f, task));
  for (auto& s : so.seeds) r.seed_files.push_back(s->origin);
  if (so.seeds.empty()) throw Error("no seeds for " + task.name() + " (give --seeds FILE...)");
  r.shape_texts = !o.shapes.empty() ? o.shapes
                  : stored.contains("shapes") ? stored["shapes"].get<std::vector<std::string>>()
                                              : std::vector<std::string>{};
  if (chosen) {  // stored as whole shapes: `--run ID` searches them again without the file
    r.shape_texts.clear();
    for (auto& s : chosen->shapes) r.shape_texts.push_back(task.format_shape(s));
  }
  for (auto& s : r.shape_texts) so.shapes.push_back(task.parse_shape(s));
  if (so.shapes.empty()) so.shapes = task.search_shapes();
  for (auto& s : so.shapes) check_shape(task, s);

  so.max_evals = pick_opt(o.max_evals, stored, "max_evals");
  so.minutes = pick_opt(o.minutes, stored, "minutes");
  so.batch = pick(o.batch, stored, "batch", so.batch);
  so.seed_variants = pick(o.seed_variants, stored, "seed_variants", so.seed_variants);
  so.eval.timer.min_replays = pick(o.min_replays, stored, "min_replays", so.eval.timer.min_replays);
  so.eval.timer.min_seconds = pick(o.min_ms, stored, "min_ms", so.eval.timer.min_seconds * 1e3) / 1e3;
  so.eval.timer.warmup_seconds = pick(o.warmup_ms, stored, "warmup_ms", so.eval.timer.warmup_seconds * 1e3) / 1e3;
  r.watchdog = pick(o.watchdog_s, stored, "watchdog", SupervisorOptions{}.watchdog_s);
  r.compile_timeout = pick(o.compile_timeout_s, stored, "compile_timeout", CompilerOptions{}.timeout_s);
  r.llm = llm_options(o.llm, stored, task);
  return r;
}

// One worker per GPU, all of one model (results are kept per GPU model), and the compiler they
// share.
class Workers {
 public:
  // Starts the first `count` devices' workers, those not running already with these timeouts.
  void start(const std::vector<int>& devices, size_t count, double compile_timeout, double watchdog) {
    if (compiler_ && (compile_timeout != compile_timeout_ || watchdog != watchdog_)) {
      evaluators_.clear();  // before the compiler they hold
      compiler_.reset();
    }
    if (!compiler_) {
      CompilerOptions copts = Compiler::default_options();
      copts.timeout_s = compile_timeout;
      compiler_ = std::make_unique<Compiler>(copts);
      compile_timeout_ = compile_timeout;
      watchdog_ = watchdog;
    }
    while (evaluators_.size() < count) {
      const int d = devices[evaluators_.size()];
      evaluators_.push_back(std::make_unique<WorkerEvaluator>(
          *compiler_, SupervisorOptions{worker_command(d, compile_timeout), watchdog}));
      if (evaluators_.back()->device().name != evaluators_.front()->device().name)
        throw Error("--devices: device " + std::to_string(d) + " is a " + evaluators_.back()->device().name +
                    ", device " + std::to_string(devices[0]) + " a " + evaluators_.front()->device().name +
                    ": one run searches one GPU model");
    }
  }
  const std::vector<std::unique_ptr<WorkerEvaluator>>& evaluators() const { return evaluators_; }

 private:
  double compile_timeout_ = 0, watchdog_ = 0;
  std::unique_ptr<Compiler> compiler_;
  std::vector<std::unique_ptr<WorkerEvaluator>> evaluators_;
};

int run_search(const Opts& o) {
  // A resumed run's archive must exist; a new run's is created only once everything it needs
  // (the options, the seeds, a GPU) is there: a run that cannot start leaves no file behind.
  std::unique_ptr<Archive> opened;
  if (o.run_id || o.resume) opened = std::make_unique<Archive>(o.db, Archive::Mode::existing);

  // The run to resume, if any, decides the task.
  std::optional<RunRecord> resumed;
  if (o.run_id) {
    resumed = opened->run(*o.run_id);
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
  if (!o.shapes.empty() && o.by_parts.given())
    throw Error("--shape gives whole shapes and --model, --dims, --buckets, --m give them by parts: use one or the other");
  const ShapeParts parts = read_shape_options(o.by_parts);
  check_shape_parts(parts, {task});
  const ModelFile* model = parts.model ? &*parts.model : nullptr;
  const std::optional<ChosenShapes> chosen = chosen_shapes(*task, parts);
  run_constants(*task, resumed, o.constants, model);
  const std::vector<int> devices = parse_devices(o.devices);
  RunSettings s = run_settings(o, *task, chosen, resumed ? json::parse(resumed->options) : json::object());

  // --resume is `--run ID` with the id of the latest run of the task on this GPU model, which the
  // first device's worker names: found before anything that run recorded is used, then checked
  // and taken as `--run ID` would (the worker goes on if the run's timeouts are those it has).
  Workers workers;
  std::string continuing;  // said once every device's worker is up
  if (o.resume && !resumed) {
    workers.start(devices, 1, s.compile_timeout, s.watchdog);
    const std::string& gpu = workers.evaluators().front()->device().name;
    resumed = opened->latest_run(task->name(), gpu);
    if (!resumed) throw Error("no run of " + task->name() + " on " + gpu + " in " + o.db + " to resume");
    run_constants(*task, resumed, o.constants, model);
    s = run_settings(o, *task, chosen, json::parse(resumed->options));
    continuing = "--resume: continuing run " + std::to_string(resumed->id) + ", the latest run of " + task->name() +
                 " on " + gpu + " in " + o.db + ", with the options it recorded";
  }
  const json stored = resumed ? json::parse(resumed->options) : json::object();
  SearchOptions& so = s.so;
  const std::vector<std::shared_ptr<const Candidate>>& seeds = so.seeds;
  const std::vector<Shape>& shapes = so.shapes;
  std::optional<LlmSearchOptions>& llm = s.llm;
  ReplayChat* replay = llm ? dynamic_cast<ReplayChat*>(llm->replay.get()) : nullptr;

  workers.start(devices, devices.size(), s.compile_timeout, s.watchdog);
  const std::vector<std::unique_ptr<WorkerEvaluator>>& evaluators = workers.evaluators();
  const DeviceInfo& dev = evaluators.front()->device();
  if (!opened) opened = std::make_unique<Archive>(o.db);
  Archive& archive = *opened;

  if (resumed && resumed->device != dev.name)
    throw Error("run " + std::to_string(resumed->id) + " searched on " + resumed->device + "; this is a " + dev.name);
  if (!continuing.empty()) std::cerr << continuing << "\n";

  so.eval.constants = run_constants(*task, resumed, o.constants, model);
  RunRecord run = resumed ? *resumed : RunRecord{};
  if (replay && resumed) replay->skip_used(archive.llm_calls(resumed->id));  // not the same replies again
  if (!resumed) {
    run.task = task->name();
    run.device = dev.name;
    run.arch = dev.arch;
    run.seed = static_cast<uint64_t>(o.seed.value_or(static_cast<int64_t>(std::random_device{}() >> 1)));
    run.constants = constants_json(so.eval.constants);
  }
  so.eval.seed = run.seed;
  json options = {{"max_evals", so.max_evals ? json(*so.max_evals) : json()},
                  {"minutes", so.minutes ? json(*so.minutes) : json()},
                  {"batch", so.batch}, {"seed_variants", so.seed_variants}, {"seeds", s.seed_files},
                  {"shapes", s.shape_texts}, {"model", model ? json(model->path) : stored.value("model", json())},
                  {"devices", devices}, {"watchdog", s.watchdog}, {"compile_timeout", s.compile_timeout},
                  {"min_replays", so.eval.timer.min_replays}, {"min_ms", so.eval.timer.min_seconds * 1e3},
                  {"warmup_ms", so.eval.timer.warmup_seconds * 1e3},  // how the times were taken
                  {"llm", llm ? llm_stored(*llm, replay) : json()}};
  run.options = json_text(options);

  const Ceilings& ceil = evaluators.front()->ceilings();
  if (llm) {
    llm->facts.device = device_facts(dev, ceil);
    llm->facts.arch = dev.arch;
  }
  run.bandwidth = ceil.bytes_per_s;
  run.peak_flops = ceil.flops_per_s;
  if (resumed)
    archive.update_run(run);
  else
    run.id = archive.add_run(run);

  std::cerr << (resumed ? "resuming" : "starting") << " run " << run.id << ": " << task->name() << " on "
            << devices.size() << " x " << dev.name << " (" << fixed(ceil.bytes_per_s / 1e12, 2) << " TB/s, "
            << fixed(ceil.flops_per_s / 1e12, 0) << " TFLOP/s measured), seed " << run.seed << ", "
            << (so.eval.constants.empty() ? "" : format_constants(so.eval.constants) + ", ") << seeds.size()
            << " seed file(s), " << shapes.size() << " shapes; budget: "
            << (so.max_evals ? std::to_string(*so.max_evals) + " evaluations" : "no evaluation limit") << ", "
            << (so.minutes ? fixed(*so.minutes, 1) + " minutes" : "no time limit") << "; archive " << o.db
            << "\n";
  if (chosen) print_chosen(*chosen);
  if (llm)
    std::cerr << "LLM proposals: " << llm->client.model << " at "
              << (replay ? "the " + std::to_string(replay->recorded()) + " recorded call(s) of " + task->name() +
                               " in " + replay->path()
                         : llm->client.base_url)
              << ", "
              << llm->concurrency << " call(s) in flight, refine up to " << llm->turns << " turns, "
              << (llm->max_tokens_total ? std::to_string(*llm->max_tokens_total) + " tokens" : "no token limit")
              << ", prompts " << llm->prompts.dir.string() << "\n";

  if (llm)  // the driver makes the LLM's part once, when it starts
    so.llm = [l = std::make_shared<LlmSearchOptions>(std::move(*llm))](Archive& a, int64_t run_id, std::function<void()> wake) {
      return std::unique_ptr<LlmProposals>(std::make_unique<LlmSearch>(std::move(*l), a, run_id, std::move(wake)));
    };
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
    std::cout << json_text(json{{"event", "done"}, {"run", run.id}, {"stop_reason", sum.stop_reason},
                                {"constants", so.eval.constants},
                                {"evals", sum.progress.evals}, {"evals_this_session", sum.progress.evals_this_session},
                                {"seconds", sum.progress.session_seconds}, {"by_status", sum.progress.by_status},
                                {"by_operator", sum.progress.by_operator}, {"operator_shares", sum.progress.op_shares},
                                {"llm_calls", sum.progress.llm_calls}, {"llm_tokens", sum.progress.llm_tokens},
                                {"shapes", shapes_json}})
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
      ->check(positive());
  cmd->add_option("--minutes", o->minutes, "Stop after this many minutes of searching in the run")->check(positive());
  cmd->add_option("--seed", o->seed, "Seed of the search's choices and of the inputs (default: a fresh one, printed)")
      ->check(non_negative());
  cmd->add_flag("--resume", o->resume, "Continue the latest run of the task on this GPU model");
  cmd->add_option("--run", o->run_id, "Continue this run (an id from `ksearch best` or `ksearch show`)");
  cmd->add_option("--devices", o->devices, "CUDA devices, one worker each, e.g. 0,1,2,3 (default 0)");
  cmd->add_option("--seeds", o->seeds, "Seed candidate files (default: seeds/<task>/*.cu but baseline.cu)");
  cmd->add_option("--shape", o->shapes, "Only these shapes, e.g. 16,4096,6144 (default: the task's search shapes)");
  add_const_option(cmd, o->constants);
  add_shape_options(cmd, o->by_parts, "the task's search shapes");
  cmd->add_option("--batch", o->batch, "Children proposed per step (default 4)")->check(in_range(1, 256));
  cmd->add_option("--seed-variants", o->seed_variants, "Variants of each seed sampled into generation 0 (default 16)")
      ->check(in_range(1, 100000));
  cmd->add_option("--min-replays", o->min_replays, "Timed replays per side, at least (default 20)")->check(positive());
  cmd->add_option("--min-ms", o->min_ms, "Wall milliseconds of timing per evaluation, at least (default 100)")
      ->check(non_negative());
  cmd->add_option("--warmup-ms", o->warmup_ms, warmup_help(TimerOptions{}.warmup_seconds * 1e3))->check(non_negative());
  cmd->add_option("--watchdog", o->watchdog_s, "Seconds a candidate may take on one shape before its worker is killed (default 10)")
      ->check(positive());
  cmd->add_option("--compile-timeout", o->compile_timeout_s, "Seconds one NVRTC compile may take before it is killed, a compile_error (default 60)")
      ->check(positive());
  cmd->add_flag("--json", o->json, "One JSON object per evaluation on stdout, and a summary object last");
  LlmOpts& l = o->llm;
  const char* group = "LLM proposals (off unless an endpoint is given; the API key is read from "
                      "KSEARCH_LLM_API_KEY only, and never printed or stored)";
  auto* url = cmd->add_option("--llm-url", l.url, "OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (or KSEARCH_LLM_URL)")
      ->group(group);
  cmd->add_option("--llm-model", l.model, "Model name the endpoint serves (or KSEARCH_LLM_MODEL)")->group(group);
  cmd->add_option("--llm-temperature", l.temperature, "Sampling temperature (default 0.7)")->check(in_range(0.0, 2.0))->group(group);
  cmd->add_option("--llm-max-tokens", l.max_tokens,
                  "Completion tokens per call, at most (default " + std::to_string(LlmConfig{}.max_tokens) +
                      "; a reply cut at it is recorded as truncated)")
      ->check(positive())->group(group);
  cmd->add_option("--llm-timeout", l.timeout_s, "Seconds one attempt of a call may take, reply included (default 300)")
      ->check(positive())->group(group);
  cmd->add_option("--llm-max-reply-bytes", l.max_reply_bytes,
                  "Bytes of one reply, at most (default " + std::to_string(LlmConfig{}.max_reply_bytes) +
                      "); a larger one is refused as it arrives and recorded as too_large")
      ->check(positive())->group(group);
  cmd->add_option("--llm-concurrency", l.concurrency, "Calls in flight at once (default 2)")->check(in_range(1, 64))->group(group);
  cmd->add_option("--llm-turns", l.turns, "Turns of a refine conversation: its child's failure goes back to the LLM (default 3)")
      ->check(in_range(1, 20))->group(group);
  cmd->add_option("--llm-max-tokens-total", l.max_tokens_total, "Stop the run once its calls used this many tokens, prompt and completion")
      ->check(positive())->group(group);
  cmd->add_option("--llm-replay", l.replay,
                  "Answer the LLM calls from this archive's recorded replies (by task and operator, in order), "
                  "not an endpoint")
      ->excludes(url)  // one answers or the other: never a silent choice
      ->group(group);
  cmd->add_option("--prompts", l.prompts, "A folder of prompt templates to use instead of prompts/")->group(group);
  return [o] { return run_search(*o); };
}

}  // namespace ks::cli
