// ksearch export: a standalone library of a task's best audited candidates on one GPU model
// (agent/export_library.h generates the files). Reads the archive, picks a plan per measured
// shape, compiles each chosen variant with NVRTC for the run's arch (the bytes that were
// measured: NVRTC's output is deterministic), and writes the files.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "agent/cli/archived_candidate.h"
#include "agent/cli/commands.h"
#include "agent/export/export_library.h"
#include "agent/export/timing_kernels.h"
#include "base/paths.h"
#include "db/archive.h"
#include "db/leaders.h"
#include "db/recorded_constants.h"
#include "evaluator/nvrtc_compiler.h"
#include "evaluator/timer.h"

namespace ks::cli {
namespace {

namespace fs = std::filesystem;
using exporter::AuditSummary;
using exporter::ExportedPlan;

struct Opts {
  std::string db, task, device, out;
  bool force = false;
};

std::string device_of(Archive& archive, const Opts& o) {
  if (!o.device.empty()) return o.device;
  std::set<std::string> devices;
  for (auto& e : archive.evaluations(o.task, "")) devices.insert(e.device);
  for (auto& a : archive.audits(o.task, "")) devices.insert(a.device);
  if (devices.empty()) throw Error("no evaluations of " + o.task + " in " + o.db + ": nothing to export");
  if (devices.size() > 1) {
    std::string list;
    for (auto& d : devices) list += (list.empty() ? "" : ", ") + ("\"" + d + "\"");
    throw Error(o.task + " was measured on several GPU models (" + list + "): choose one with --gpu-model");
  }
  return *devices.begin();
}

// Audited-passed: at least one audit row on the device, every row ok and deterministic.
bool passed(const AuditSummary& a) { return a.rows > 0 && a.passed == a.rows && a.deterministic; }

std::string safe_name(std::string s) {
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') c = '_';
  return s;
}

CompileResult compile_or_throw(const Compiler& compiler, const Candidate& c, const Variant& v,
                               const std::string& arch, const std::string& label) {
  CompileResult r = compiler.compile(compile_request(c, v, arch));
  if (!r.ok) throw Error(label + " does not compile for " + arch + " now: " + log_head(r.log));
  return r;
}

int run_export(const Opts& o) {
  const Task* task = find_task(o.task);
  if (!task) throw Error("unknown task '" + o.task + "' (`ksearch tasks` lists them)");
  if (!fs::exists(o.db)) throw Error("no archive at " + o.db + " (give --db)");
  Archive archive(o.db, Archive::Mode::read);  // one snapshot, read-only
  const std::string device = device_of(archive, o);

  std::map<int64_t, AuditSummary> audit;
  for (auto& a : archive.audits(task->name(), device)) {
    AuditSummary& s = audit[a.candidate_id];
    ++s.rows;
    s.passed += a.status == Status::ok;
    s.deterministic = s.deterministic && a.deterministic;
  }
  bool any_passed = false;
  for (auto& [_, s] : audit) any_passed = any_passed || passed(s);
  if (!any_passed && !o.force)
    throw Error("no audited candidate of " + task->name() + " on \"" + device + "\": run `ksearch audit --task " +
                task->name() + "` first (or --force to export unaudited candidates)");

  // Per measured shape: the best eligible evaluation by speedup; the baseline where none beats it.
  std::map<std::string, EvaluationRecord> best;
  std::map<std::string, EvaluationRecord> measured;  // any ok evaluation per shape: its baseline and floor
  std::optional<int64_t> run_id;
  std::vector<EvaluationRecord> eligible;
  for (auto& e : archive.evaluations(task->name(), device)) {
    if (!can_lead(e)) continue;
    measured.emplace(e.shape, e);
    if (!run_id && e.run_id) run_id = e.run_id;
    if (o.force || passed(audit[e.candidate_id])) eligible.push_back(e);
  }
  for (auto& [key, rows] : leaderboard(eligible)) best.emplace(key.second, rows.front());
  std::optional<RunRecord> run = run_id ? archive.run(*run_id) : std::nullopt;
  if (!run) run = archive.latest_run(task->name(), device);
  if (!run || run->arch.empty())
    throw Error("the archive names no arch for " + task->name() + " on \"" + device + "\" (no run recorded)");

  exporter::ExportInput in;
  in.task = task;
  in.device = device;
  in.arch = run->arch;
  in.generated_at = unix_now();
  in.forced = o.force;
  try {  // a driver version, where the run's options record one
    auto j = nlohmann::json::parse(run->options);
    for (const char* key : {"driver_version", "driver"})
      if (j.contains(key)) in.driver_version = j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
  } catch (const nlohmann::json::exception&) {
  }

  const Compiler compiler(Compiler::default_options());
  const fs::path baseline_path = project_root() / task->baseline_plan();
  const Candidate baseline = load_candidate(baseline_path.string());
  const Variant base_variant = default_variant(baseline.plan.params);
  in.plans.push_back({std::nullopt, "baseline", format_variant(base_variant), baseline.source, "sources/baseline.cu",
                      baseline.plan, base_variant,
                      compile_or_throw(compiler, baseline, base_variant, in.arch, "the baseline").cubin});

  // The shapes to export: the task's search shapes the archive measured, then every other shape
  // it measured (a run's --shape: a model's own sizes), each in its sizes' order.
  std::vector<Shape> shapes;
  std::set<std::string> listed;
  for (const Shape& shape : task->search_shapes())
    if (measured.count(task->format_shape(shape)) && listed.insert(task->format_shape(shape)).second) shapes.push_back(shape);
  std::vector<Shape> others;
  for (auto& [text, _] : measured) {
    Shape shape;
    try {
      shape = task->parse_shape(text);
    } catch (const Error&) {
      continue;  // not a shape of this task's (an archive written by hand): nothing to dispatch
    }
    if (listed.insert(task->format_shape(shape)).second) others.push_back(shape);
  }
  const auto syms = task->size_symbols();
  std::sort(others.begin(), others.end(), [&](const Shape& a, const Shape& b) {
    for (auto& s : syms)
      if (a.at(s) != b.at(s)) return a.at(s) < b.at(s);
    return false;
  });
  shapes.insert(shapes.end(), others.begin(), others.end());

  std::map<int64_t, size_t> plan_of;  // candidate id -> index in in.plans
  for (const Shape& shape : shapes) {
    const std::string text = task->format_shape(shape);
    if (!measured.count(text)) continue;
    exporter::ShapeChoice sc;
    sc.shape = shape;
    auto it = best.find(text);
    if (it == best.end() || *it->second.speedup <= 1.0) {  // the baseline is as fast
      const EvaluationRecord& any = measured.at(text);  // the baseline's time as the search measured it
      sc.median_us = sc.baseline_us = any.baseline_us;
      if (any.baseline_us) sc.speedup = 1.0;
      sc.floor_us = any.floor_us;
      sc.measured_with = recorded_constants(*task, any.constants);
      in.shapes.push_back(sc);
      continue;
    }
    const EvaluationRecord& e = it->second;
    if (!plan_of.count(e.candidate_id)) {
      const ArchivedCandidate a = load_archived(archive, e.candidate_id);
      std::vector<char> cubin = compile_or_throw(compiler, *a.candidate, a.variant, in.arch, a.label()).cubin;
      plan_of[a.id] = in.plans.size();
      in.plans.push_back({a.id, a.origin, format_variant(a.variant), a.candidate->source,
                          "sources/" + std::to_string(a.id) + "_" + safe_name(a.name) + ".cu", a.candidate->plan,
                          a.variant, std::move(cubin)});
    }
    sc.plan = plan_of[e.candidate_id];
    sc.median_us = e.median_us;
    sc.baseline_us = e.baseline_us;
    sc.speedup = e.speedup;
    sc.floor_us = e.floor_us;
    sc.measured_with = recorded_constants(*task, e.constants);
    sc.audit = audit[e.candidate_id];
    in.shapes.push_back(sc);
  }

  const CompileResult timing = compiler.compile({exporter::timing_kernels_source(), "ks_timing.cu", {}, in.arch});
  if (!timing.ok)
    throw Error("ksearch's timing kernels (L2 flush, input fill) do not compile for " + in.arch + ": " + log_head(timing.log));
  in.timing_cubin = timing.cubin;

  const exporter::FileMap files = exporter::generate_library(in);
  for (auto& [rel, content] : files) {
    const fs::path path = fs::path(o.out) / rel;
    fs::create_directories(path.parent_path());
    std::ofstream f(path, std::ios::binary);
    f << content;
    if (!f) throw Error("cannot write " + path.string());
  }

  if (o.force) std::cout << "forced: unaudited candidates may be exported (the manifest says \"forced\": true)\n";
  std::cout << "exported " << exporter::library_name(*task) << " for " << device << " (" << in.arch << ") to "
            << o.out << "\n";
  for (auto& sc : in.shapes) {
    const ExportedPlan& p = in.plans[sc.plan];
    std::cout << "  " << task->format_shape(sc.shape) << ": "
              << (p.candidate_id ? "#" + std::to_string(*p.candidate_id) + " " + p.plan.name + " " + p.params
                                 : std::string("baseline"))
              << (sc.speedup ? " (" + std::to_string(*sc.speedup).substr(0, 4) + "x)" : std::string()) << "\n";
  }
  std::cout << "build: cmake -S " << o.out << " -B " << o.out << "/build && cmake --build " << o.out << "/build\n";
  return 0;
}

}  // namespace

Action add_export_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "A standalone library (C header, embedded cubins, dispatcher, CMake) of a task's best audited candidates");
  auto o = std::make_shared<Opts>();
  add_db_option(cmd, o->db);
  cmd->add_option("--task", o->task, "The task")->required();
  cmd->add_option("--gpu-model", o->device, "The GPU model (default: the only one the archive has for the task)");
  cmd->add_option("--device-name", o->device, "The old spelling of --gpu-model")->group("");  // hidden, still accepted
  cmd->add_option("--out", o->out, "The folder to write")->required();
  cmd->add_flag("--force", o->force, "Export unaudited candidates too (the best by speedup per shape)");
  return [o] { return run_export(*o); };
}

}  // namespace ks::cli
