// ksearch report: the archive as one self-contained HTML page (agent/report_html.h): per task and
// GPU model, how the best speedup grew over the evaluations, baseline / best / floor per shape,
// the leaders with their sources, and what failed.
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "agent/cli/archived_candidate.h"
#include "agent/cli/commands.h"
#include "agent/report/report_html.h"
#include "db/archive.h"
#include "db/leaders.h"
#include "tasks/task.h"

namespace ks::cli {
namespace {

namespace fs = std::filesystem;

constexpr size_t kLeadersPerShape = 5;

struct Opts {
  std::string db, task, device, out;
};

using TaskDevice = std::pair<std::string, std::string>;
using AuditSummaries = std::map<std::pair<int64_t, std::string>, std::string>;  // by (candidate, GPU model)

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&t));
  return buf;
}

// Per (candidate, GPU model): "passed 4/4", "FAILED 1/4" (agent/archived_candidate.h); absent
// when it was never audited there.
AuditSummaries audit_summaries(Archive& archive, const Opts& o) {
  std::map<std::pair<int64_t, std::string>, AuditSummary> of;
  for (auto& a : archive.audits(o.task, o.device)) {
    AuditSummary& s = of[{a.candidate_id, a.device}];
    ++s.rows;
    s.passed += audit_passed(a);
  }
  AuditSummaries out;
  for (auto& [key, s] : of) out[key] = s.text();
  return out;
}

// One section from its evaluations, in the order they were recorded.
ReportSection build_section(const TaskDevice& td, const std::vector<const EvaluationRecord*>& evs,
                            const std::map<int64_t, CandidateRecord>& cands,
                            const std::map<int64_t, SourceRecord>& sources,
                            const AuditSummaries& audits) {
  ReportSection sec;
  sec.task = td.first;
  sec.device = td.second;
  std::vector<std::string> shape_order;  // as first evaluated: generation 0 goes through the task's shapes in order
  std::map<std::string, ReportShape> shapes;
  std::vector<EvaluationRecord> rows_of_section;
  std::set<int64_t> candidates;
  for (const EvaluationRecord* e : evs) {
    if (!shapes.count(e->shape)) shape_order.push_back(e->shape);
    ReportShape& sh = shapes[e->shape];
    sh.shape = e->shape;
    ++sh.by_status[std::string(status_name(e->status))];
    // The x axis counts what ran on the GPU, as the run's budget does: not_applicable costs nothing.
    if (e->status != Status::not_applicable) {
      ++sec.evaluations;
      candidates.insert(e->candidate_id);
    }
    if (e->baseline_us) sh.baseline_us = e->baseline_us;
    if (e->floor_us) sh.floor_us = e->floor_us;
    rows_of_section.push_back(*e);
    if (!can_lead(*e)) continue;
    if (sh.best_steps.empty() || *e->speedup > sh.best_steps.back().speedup)
      sh.best_steps.push_back({sec.evaluations, *e->speedup});
  }
  sec.candidates = static_cast<int>(candidates.size());
  const Leaderboard board = leaderboard(rows_of_section);
  const std::vector<EvaluationRecord> no_rows;
  for (const std::string& name : shape_order) {
    ReportShape& sh = shapes[name];
    const auto found = board.find({sec.device, name});
    const std::vector<EvaluationRecord>& rows = found == board.end() ? no_rows : found->second;
    if (!rows.empty()) {  // the bars show the leader's own measurement, baseline included
      sh.best_us = rows[0].median_us;
      if (rows[0].baseline_us) sh.baseline_us = rows[0].baseline_us;
      if (rows[0].floor_us) sh.floor_us = rows[0].floor_us;
    }
    for (size_t i = 0; i < rows.size() && i < kLeadersPerShape; ++i) {
      const EvaluationRecord& e = rows[i];
      const CandidateRecord& c = cands.at(e.candidate_id);
      const auto audit = audits.find({c.id, e.device});
      ReportLeader& l = sh.leaders.emplace_back();
      l.candidate_id = c.id;
      l.name = sources.at(c.source_id).name;
      l.params = c.params;
      l.origin = c.origin;
      l.median_us = *e.median_us;
      l.speedup = *e.speedup;
      if (e.floor_us) l.pct_of_floor = 100 * *e.floor_us / *e.median_us;
      if (audit != audits.end()) l.audit = audit->second;
    }
    sec.shapes.push_back(std::move(sh));
  }
  return sec;
}

ReportData gather(Archive& archive, const Opts& o) {
  ReportData data;
  data.archive_path = o.db;
  data.generated_at = utc_now();
  std::map<int64_t, CandidateRecord> cands;
  for (auto& c : archive.candidates(o.task)) cands[c.id] = c;
  std::map<int64_t, SourceRecord> sources;
  for (auto& s : archive.sources(o.task)) sources[s.id] = s;
  const auto evaluations = archive.evaluations(o.task, o.device);
  std::map<TaskDevice, std::vector<const EvaluationRecord*>> by_section;
  for (auto& e : evaluations) by_section[{cands.at(e.candidate_id).task, e.device}].push_back(&e);
  const auto audits = audit_summaries(archive, o);
  std::set<int64_t> shown;
  for (auto& [td, evs] : by_section) {
    data.sections.push_back(build_section(td, evs, cands, sources, audits));
    for (auto& sh : data.sections.back().shapes)
      for (auto& l : sh.leaders)
        if (shown.insert(l.candidate_id).second) {
          const CandidateRecord& c = cands.at(l.candidate_id);
          data.sources.push_back({c.id, l.name, c.params, sources.at(c.source_id).text});
        }
  }
  std::map<int64_t, TaskDevice> run_section;
  for (auto& r : archive.runs()) {
    if ((!o.task.empty() && r.task != o.task) || (!o.device.empty() && r.device != o.device)) continue;
    data.runs.push_back({r.id, r.task, r.device, r.state, archive.run_evaluations(r.id), r.active_seconds,
                         recorded_constants_text(r.task, r.constants)});
    run_section[r.id] = {r.task, r.device};
  }
  for (auto& call : archive.llm_calls(std::nullopt)) {
    if (!call.run_id || !run_section.count(*call.run_id)) continue;
    for (auto& sec : data.sections)
      if (TaskDevice{sec.task, sec.device} == run_section[*call.run_id]) ++sec.llm_calls_by_status[call.status];
  }
  return data;
}

// Written beside the target and renamed over it, so a reader never sees half a page.
void write_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw Error("cannot write " + tmp + ": " + std::strerror(errno));
    f << text;
    f.close();
    if (!f) {
      fs::remove(tmp);
      throw Error("cannot write " + tmp + " (disk full?)");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error("cannot write " + path + ": " + ec.message());
  }
}

int write_report(const Opts& o) {
  if (o.out.empty()) throw Error("--out is required: the HTML file to write, e.g. --out report.html");
  if (!o.task.empty() && !find_task(o.task)) throw Error("unknown task '" + o.task + "' (`ksearch tasks` lists them)");
  Archive archive(o.db, Archive::Mode::read);  // one snapshot: every table read agrees
  const ReportData data = gather(archive, o);
  if (data.sections.empty())
    throw Error("no evaluations in " + o.db + (o.task.empty() ? "" : " for " + o.task) +
                (o.device.empty() ? "" : " on " + o.device) + " to report (`ksearch run` makes some)");
  write_atomically(o.out, report_html(data));
  std::set<std::string> tasks;
  size_t shapes = 0, candidates = 0;
  for (auto& sec : data.sections) {
    tasks.insert(sec.task);
    shapes += sec.shapes.size();
    candidates += sec.candidates;
  }
  auto count = [](size_t n, const std::string& what) { return std::to_string(n) + " " + what + (n == 1 ? "" : "s"); };
  std::cout << "wrote " << o.out << ": " << count(tasks.size(), "task") << " on " << count(data.sections.size(), "task/GPU pair")
            << ", " << count(shapes, "shape") << ", " << count(candidates, "candidate") << ", "
            << count(data.sources.size(), "leader") << " with sources\n";
  return 0;
}

}  // namespace

Action add_report_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("report", "The archive as one self-contained HTML page: progress, per-shape times, leaders, failures");
  auto o = std::make_shared<Opts>();
  cmd->add_option("--out", o->out, "The HTML file to write (required), e.g. report.html");
  add_db_option(cmd, o->db);
  cmd->add_option("--task", o->task, "Only this task");
  // A model name, not a device index as eval's, bench's and audit's --device: named apart.
  cmd->add_option("--gpu-model", o->device, "Only this GPU model, e.g. \"NVIDIA H100 80GB HBM3\"");
  cmd->add_option("--device", o->device, "The old spelling of --gpu-model")->group("");  // hidden, still accepted
  return [o] { return write_report(*o); };
}

}  // namespace ks::cli
