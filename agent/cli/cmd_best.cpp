// ksearch best: the leaderboard of the archive: per task, GPU model and shape, the fastest
// correct candidates (by speedup over the baseline, measured interleaved with it), with what
// their audits on that GPU model found.
#include <algorithm>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "agent/cli/archived_candidate.h"
#include "agent/cli/commands.h"
#include "base/table.h"
#include "db/archive.h"
#include "db/leaders.h"
#include "evaluator/json_text.h"
#include "tasks/task.h"

namespace ks::cli {
namespace {

struct Opts {
  std::string db, task, device;
  int top = 1;
  bool json = false;
};

int show_best(const Opts& o) {
  if (!o.task.empty() && !find_task(o.task)) throw Error("unknown task '" + o.task + "' (`ksearch tasks` lists them)");
  Archive archive(o.db, Archive::Mode::read);  // one snapshot: candidates and evaluations agree
  std::map<int64_t, CandidateRecord> cands;
  for (auto& c : archive.candidates(o.task)) cands[c.id] = c;
  std::map<int64_t, std::string> source_name;
  for (auto& s : archive.sources(o.task)) source_name[s.id] = s.name;

  // (task, device, shape) -> the leaderboard there; and how many were tried there.
  using Key = std::tuple<std::string, std::string, std::string>;
  std::map<std::string, std::vector<EvaluationRecord>> by_task;
  std::map<Key, int> tried;
  for (auto& e : archive.evaluations(o.task, o.device)) {
    const std::string& task = cands.at(e.candidate_id).task;
    if (e.status != Status::not_applicable) ++tried[{task, e.device, e.shape}];
    by_task[task].push_back(e);
  }
  std::map<Key, std::vector<EvaluationRecord>> ok;
  for (auto& [task, rows] : by_task)
    for (auto& [key, ranked] : leaderboard(rows)) ok[{task, key.first, key.second}] = std::move(ranked);
  const std::vector<AuditRecord> audits = archive.audits(o.task, o.device);
  auto audit_of = [&](int64_t candidate, const std::string& device) {
    std::vector<AuditRecord> mine;
    for (auto& a : audits)
      if (a.device == device) mine.push_back(a);
    return summarize_audits(mine, candidate);
  };
  // What the rows shown were checked with, per (task, device): named in the heading when they
  // agree, else in a column. Speed does not depend on it, so they still rank together.
  std::map<std::pair<std::string, std::string>, std::set<std::string>> constants;
  for (auto& [k, rows] : ok)
    for (size_t i = 0; i < rows.size() && static_cast<int>(i) < o.top; ++i)
      constants[{std::get<0>(k), std::get<1>(k)}].insert(recorded_constants_text(std::get<0>(k), rows[i].constants));
  nlohmann::json out = nlohmann::json::array();
  std::string current;
  bool constants_column = false;
  std::unique_ptr<Table> table;
  auto flush = [&] {
    if (table) table->print(std::cout);
    table.reset();
  };
  for (auto& [k, rows] : ok) {
    auto& [task, device, shape] = k;
    if (!o.json && task + device != current) {
      flush();
      if (!current.empty()) std::cout << '\n';
      current = task + device;
      const std::set<std::string>& seen = constants[{task, device}];
      constants_column = seen.size() > 1;
      std::cout << task << " on " << device
                << (seen.size() == 1 && !seen.begin()->empty() ? ", checked with " + *seen.begin() : "") << "\n";
      std::vector<std::string> head = {"shape", "rank", "candidate", "name", "params", "median us", "baseline us",
                                       "speedup", "% floor", "origin", "gen", "tried", "audit"};
      if (constants_column) head.push_back("constants");
      table = std::make_unique<Table>(head);
    }
    for (size_t i = 0; i < rows.size() && static_cast<int>(i) < o.top; ++i) {
      const EvaluationRecord& e = rows[i];
      const CandidateRecord& c = cands.at(e.candidate_id);
      const double pct = e.floor_us ? 100 * *e.floor_us / *e.median_us : -1;  // -1: not known
      const AuditSummary audit = audit_of(c.id, device);
      if (o.json) {
        out.push_back({{"task", task}, {"device", device}, {"shape", shape}, {"rank", i + 1},
                       {"candidate", c.id}, {"name", source_name[c.source_id]}, {"params", c.params},
                       {"median_us", *e.median_us}, {"baseline_us", e.baseline_us.value_or(0)},
                       {"speedup", *e.speedup}, {"pct_of_floor", pct < 0 ? nlohmann::json() : nlohmann::json(pct)}, {"origin", c.origin},
                       {"generation", c.generation}, {"evaluations", tried[k]},
                       {"constants", recorded_constants_json(task, e.constants)},
                       {"audit", {{"rows", audit.rows}, {"passed", audit.passed}, {"status", audit.text()}}}});
        continue;
      }
      std::vector<std::string> cells = {i ? "" : shape, std::to_string(i + 1), "#" + std::to_string(c.id),
                                        source_name[c.source_id], c.params, fixed(*e.median_us, 1),
                                        e.baseline_us ? fixed(*e.baseline_us, 1) : "-", fixed(*e.speedup, 2) + "x",
                                        pct < 0 ? "-" : fixed(pct, 0), c.origin, std::to_string(c.generation),
                                        i ? "" : std::to_string(tried[k]), audit.text()};
      if (constants_column) cells.push_back(recorded_constants_text(task, e.constants));
      table->add(cells);
    }
  }
  if (o.json) {
    std::cout << json_text(out, 2) << '\n';
  } else {
    flush();
    if (ok.empty()) std::cout << "no correct candidate in " << o.db << (o.task.empty() ? "" : " for " + o.task) << " yet\n";
  }
  return 0;
}

}  // namespace

Action add_best_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("best", "The leaderboard: the fastest correct candidates per task, GPU model and shape");
  auto o = std::make_shared<Opts>();
  add_db_option(cmd, o->db);
  cmd->add_option("--task", o->task, "Only this task");
  // A model name, not a device index as eval's, bench's and audit's --device: named apart.
  cmd->add_option("--gpu-model", o->device, "Only this GPU model, e.g. \"NVIDIA H100 80GB HBM3\"");
  cmd->add_option("--device", o->device, "The old spelling of --gpu-model")->group("");  // hidden, still accepted
  cmd->add_option("--top", o->top, "Candidates per shape (default 1)")->check(positive());
  cmd->add_flag("--json", o->json, "Print JSON instead of tables");
  return [o] { return show_best(*o); };
}

}  // namespace ks::cli
