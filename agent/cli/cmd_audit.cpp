// ksearch audit: re-verifies the archive's best candidates on this GPU model where the search never
// looked. Each is checked on the task's held-out shapes (and the search shapes it won on) with
// fresh input seeds, hard inputs included, twice per shape with two different seeds: first at the
// task's constants (or --const), then at those moved by a factor of 10 (eps 1e-6, then 1e-5), since
// the exported library takes them at run time and a kernel that ignores its eps must not pass;
// each check runs the candidate twice on the same inputs, so bitwise determinism is recorded too.
// Every row goes to the audits table; export trusts only candidates whose every row passed.
// With --model, or --dims and --m (agent/cli/shape_options.h), the shapes are a model's: the
// candidates are the leaders on those shapes, each checked on all of them.
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "agent/cli/archived_candidate.h"
#include "agent/cli/commands.h"
#include "agent/cli/shape_options.h"
#include "agent/search/worker_evaluator.h"
#include "base/random.h"
#include "base/table.h"
#include "db/leaders.h"
#include "db/recorded_constants.h"
#include "evaluator/evaluate.h"
#include "evaluator/json_text.h"
#include "evaluator/supervisor.h"

namespace ks::cli {
namespace {

struct Opts {
  std::string db, task;
  std::vector<std::string> constants;
  int top = 3, device = 0;
  std::optional<uint64_t> seed;
  double min_ms = 100, warmup_ms = TimerOptions{}.warmup_seconds * 1e3, watchdog_s = 10;
  bool json = false;
  ShapeOptions by_parts;  // --model, --dims, --buckets, --m
};

// The candidates to audit, by id: per searched shape (of `only`, when given), the `top` fastest
// correct ones on the device; for each, the shapes it is among them on.
std::map<int64_t, std::set<std::string>> leaders(Archive& archive, const Task& task, const std::string& device, int top,
                                                 const std::optional<std::set<std::string>>& only) {
  std::map<int64_t, std::set<std::string>> out;
  for (auto& [key, rows] : leaderboard(archive.evaluations(task.name(), device))) {
    if (only && !only->count(key.second)) continue;
    for (size_t i = 0; i < rows.size() && static_cast<int>(i) < top; ++i) out[rows[i].candidate_id].insert(key.second);
  }
  return out;
}

int run_audit(const Opts& o) {
  const ShapeParts parts = read_shape_options(o.by_parts);
  const ModelFile* model = parts.model ? &*parts.model : nullptr;
  std::vector<const Task*> tasks = model ? model->task_list() : all_tasks();
  if (!o.task.empty()) {
    const Task* t = find_task(o.task);
    if (!t) throw Error("unknown task '" + o.task + "' (`ksearch tasks` lists them)");
    tasks = {t};
  }
  check_shape_parts(parts, tasks);
  std::map<const Task*, ChosenShapes> chosen;  // by task, where the shape options chose
  for (const Task* t : tasks)
    if (auto c = chosen_shapes(*t, parts)) chosen[t] = std::move(*c);
  const std::map<const Task*, Constants> constants = constants_option(tasks, o.constants, model);
  Archive archive(o.db, Archive::Mode::existing);
  Compiler compiler(Compiler::default_options());
  WorkerSupervisor runner(SupervisorOptions{worker_command(o.device), o.watchdog_s});
  const DeviceInfo& dev = runner.device();
  const uint64_t seed = o.seed.value_or(std::random_device{}());
  std::cerr << "auditing on " << dev.name << ", seed " << seed;
  for (auto& [task, c] : constants)
    if (!c.empty())
      std::cerr << "; " << task->name() << " at " << format_constants(c) << ", then at "
                << format_constants(varied_constants(*task, c));
  std::cerr << '\n';
  for (const Task* t : tasks)
    if (auto c = chosen.find(t); c != chosen.end()) print_chosen(c->second);

  Table table({"task", "candidate", "shape", "seed", "constants", "status", "deterministic", "median us", "error"});
  nlohmann::json rows = nlohmann::json::array();
  int audited = 0, failed = 0, n = 0;
  // What to audit, read in one snapshot: a search writing the archive meanwhile cannot make the
  // leaders and their candidates disagree.
  struct Audited {
    const Task* task;
    int64_t id;
    std::set<std::string> won_on;
    ArchivedCandidate a;
  };
  std::vector<Audited> audited_candidates;
  {
    const auto snapshot = archive.snapshot();
    for (const Task* task : tasks) {
      std::optional<std::set<std::string>> only;
      if (auto c = chosen.find(task); c != chosen.end()) {
        only.emplace();
        for (auto& s : c->second.shapes) only->insert(task->format_shape(s));
      }
      for (auto& [id, won_on] : leaders(archive, *task, dev.name, o.top, only))
        audited_candidates.push_back({task, id, won_on, load_archived(archive, id)});
    }
  }
  {
    for (auto& [task, id, won_on, a] : audited_candidates) {
      const CompileResult compiled = compiler.compile(compile_request(*a.candidate, a.variant, dev.arch));
      // Held-out shapes first (the point of an audit), then the search shapes it leads on; or
      // the chosen shapes, among which are those it leads on.
      std::vector<Shape> shapes;
      if (auto c = chosen.find(task); c != chosen.end()) {
        shapes = c->second.shapes;
      } else {
        shapes = task->audit_shapes();
        for (auto& s : won_on) shapes.push_back(task->parse_shape(s));
      }
      int rows_of_candidate = 0, passed = 0;
      for (const Shape& shape : shapes) {
        for (int twice = 0; twice < 2; ++twice) {
          EvalSettings settings;
          // Fresh, repeatable from --seed, and below 2^63: SQLite integers are signed.
          settings.seed = mix64(seed ^ static_cast<uint64_t>(id) * 0x9E3779B97F4A7C15ull ^ static_cast<uint64_t>(n++)) >> 1;
          settings.timer.min_seconds = o.min_ms / 1e3;
          settings.timer.warmup_seconds = o.warmup_ms / 1e3;
          settings.constants = twice == 0 ? constants.at(task) : varied_constants(*task, constants.at(task));
          const EvalResult r = evaluate_variant(runner, *task, *a.candidate, a.variant, compiled, shape, settings);
          if (r.status == Status::not_applicable) break;  // its plan does not take this shape
          AuditRecord rec;
          rec.candidate_id = id;
          rec.device = dev.name;
          rec.shape = task->format_shape(shape);
          rec.seed = static_cast<int64_t>(settings.seed);
          rec.status = r.status;
          rec.error = r.error;
          rec.deterministic = !r.nondeterministic;
          rec.constants = constants_json(settings.constants);
          if (r.timing) rec.median_us = r.timing->candidate.median_us;
          if (r.status == Status::ok || r.status == Status::wrong) {
            rec.max_scaled_error = r.max_scaled;
            rec.rel_l2_error = r.rel_l2;
          }
          archive.add_audit(rec);
          ++rows_of_candidate;
          passed += audit_passed(rec);
          const std::string constants_text = settings.constants.empty() ? "" : format_constants(settings.constants);
          std::cerr << task->name() << ' ' << a.label() << ' ' << rec.shape
                    << (constants_text.empty() ? "" : " " + constants_text) << ": " << status_name(rec.status)
                    << (rec.deterministic ? "" : ", nondeterministic")
                    << (rec.median_us ? " " + fixed(*rec.median_us, 1) + " us" : " " + rec.error.substr(0, 120)) << '\n';
          table.add({task->name(), "#" + std::to_string(id) + " " + a.name, rec.shape, std::to_string(rec.seed),
                     constants_text.empty() ? "-" : constants_text, std::string(status_name(rec.status)),
                     rec.deterministic ? "yes" : "NO", rec.median_us ? fixed(*rec.median_us, 1) : "-",
                     rec.error.substr(0, 60)});
          rows.push_back({{"task", task->name()}, {"candidate", id}, {"shape", rec.shape}, {"seed", rec.seed},
                          {"constants", settings.constants},
                          {"status", status_name(rec.status)}, {"deterministic", rec.deterministic},
                          {"median_us", rec.median_us ? nlohmann::json(*rec.median_us) : nlohmann::json()},
                          {"error", rec.error}});
        }
      }
      ++audited;
      if (passed != rows_of_candidate || rows_of_candidate == 0) ++failed;
    }
  }
  if (audited == 0)
    throw Error("nothing to audit: no correct candidate on " + dev.name + " in " + o.db +
                (o.task.empty() ? "" : " for " + o.task) + (chosen.empty() ? "" : " on the chosen shapes") +
                " (run `ksearch run` first)");
  if (o.json) {
    std::cout << json_text(nlohmann::json{{"device", dev.name}, {"seed", seed}, {"candidates", audited}, {"failed", failed},
                                {"rows", rows}}, 2)
              << '\n';
  } else {
    table.print(std::cout);
    std::cout << audited << " candidate(s) audited on " << dev.name << ": " << audited - failed << " passed every row, "
              << failed << " did not; rows are in the audits table of " << o.db << '\n';
  }
  return failed ? 1 : 0;
}

}  // namespace

Action add_audit_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "audit", "Re-verify the best candidates on held-out shapes, hard inputs and fresh seeds, twice each (needs a GPU)");
  auto o = std::make_shared<Opts>();
  add_db_option(cmd, o->db);
  cmd->add_option("--task", o->task, "Only this task (default: every task)");
  cmd->add_option("--top", o->top, "Candidates per search shape: the fastest correct ones on this GPU model (default 3)")
      ->check(positive());
  cmd->add_option("--device", o->device, "CUDA device index")->check(non_negative());
  cmd->add_option("--seed", o->seed, "Seed the audit's input seeds come from (default: a fresh one, printed)");
  add_const_option(cmd, o->constants);
  add_shape_options(cmd, o->by_parts, "the held-out shapes (the candidates audited: the leaders on the chosen shapes)");
  cmd->add_option("--min-ms", o->min_ms, "Wall milliseconds of timing per row, at least (default 100)")
      ->check(non_negative());
  cmd->add_option("--warmup-ms", o->warmup_ms, warmup_help(TimerOptions{}.warmup_seconds * 1e3))->check(non_negative());
  cmd->add_option("--watchdog", o->watchdog_s, "Seconds a candidate may take on one shape before its worker is killed (default 10)")
      ->check(positive());
  cmd->add_flag("--json", o->json, "Print JSON instead of the table");
  return [o] { return run_audit(*o); };
}

}  // namespace ks::cli
