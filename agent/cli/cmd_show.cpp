// ksearch show ID: one candidate: where it came from, its evaluations on every shape and GPU
// model, its children, the LLM conversation that produced it (if one did), and its source.
#include <algorithm>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "agent/cli/commands.h"
#include "base/table.h"
#include "db/archive.h"
#include "evaluator/json_text.h"
#include "evaluator/row_json.h"

namespace ks::cli {
namespace {

struct Opts {
  std::string db;
  int64_t id = 0;
  bool no_source = false, json = false;
};

std::string when(double unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::gmtime(&t));
  return std::string(buf) + " UTC";
}

std::string ids(const std::vector<int64_t>& v) {
  std::string s;
  for (int64_t i : v) s += (s.empty() ? "#" : " #") + std::to_string(i);
  return s.empty() ? "none" : s;
}

// The LLM call that produced a candidate, as JSON: its row, the messages sent and the reply.
nlohmann::json call_json(const LlmCallRecord& l) {
  nlohmann::json j = {{"id", l.id}, {"operator", l.op}, {"model", l.model}, {"status", l.status},
                      {"error", l.error}, {"messages", nlohmann::json::parse(l.messages)}, {"reply", l.reply}};
  if (l.prompt_tokens) j["prompt_tokens"] = *l.prompt_tokens;
  if (l.completion_tokens) j["completion_tokens"] = *l.completion_tokens;
  if (l.latency_s) j["latency_s"] = *l.latency_s;
  return j;
}

std::string size_of(const std::string& text) {
  const size_t lines = std::count(text.begin(), text.end(), '\n') + (text.empty() || text.ends_with('\n') ? 0 : 1);
  return std::to_string(text.size()) + " chars, " + std::to_string(lines) + " lines";
}

// The conversation whole: long texts are what a reader came for, so each is headed by its role and
// size rather than cut.
void print_conversation(std::ostream& out, const LlmCallRecord& l) {
  auto tokens = [](const std::optional<int64_t>& v) { return v ? std::to_string(*v) : "-"; };
  out << "\nLLM call " << l.id << ": " << l.op << ", model " << l.model << ", " << tokens(l.prompt_tokens)
      << " prompt + " << tokens(l.completion_tokens) << " completion tokens, status " << l.status
      << (l.error.empty() ? "" : " (" + l.error + ")") << "\n";
  const nlohmann::json messages = nlohmann::json::parse(l.messages);
  if (messages.empty() && l.reply.empty()) {
    out << "(its messages and reply were not kept: the call predates archive schema version 2)\n";
    return;
  }
  for (const auto& m : messages) {
    const std::string text = m.value("content", "");
    out << "\n--- " << m.value("role", "?") << " (" << size_of(text) << ") ---\n"
        << text << (text.ends_with('\n') ? "" : "\n");
  }
  out << "\n--- reply: assistant (" << size_of(l.reply) << ") ---\n" << l.reply
      << (l.reply.empty() || l.reply.ends_with('\n') ? "" : "\n");
}

int show_candidate(const Opts& o) {
  Archive archive(o.db, Archive::Mode::read);  // one snapshot, read-only
  const std::optional<CandidateRecord> c = archive.candidate(o.id);
  if (!c) throw Error("no candidate " + std::to_string(o.id) + " in " + o.db + " (`ksearch best` lists the leaders)");
  const SourceRecord src = archive.source(c->source_id).value();
  const auto evs = archive.evaluations_of(c->id);
  const auto children = archive.children(c->id);
  const std::optional<LlmCallRecord> call = archive.llm_call_of_candidate(c->id);
  if (o.json) {
    nlohmann::json j = {{"id", c->id}, {"task", c->task}, {"name", src.name}, {"params", c->params},
                        {"origin", c->origin}, {"parents", c->parents}, {"children", children},
                        {"generation", c->generation}, {"label", c->label}, {"created_at", c->created_at},
                        {"source_hash", src.hash}, {"uses_helpers", src.uses_helpers},
                        {"evaluations", nlohmann::json::array()}};
    if (c->run_id) j["run"] = *c->run_id;
    if (call) j["llm_call"] = call_json(*call);
    if (!o.no_source) j["source"] = src.text;
    for (auto& e : evs) {
      nlohmann::json ej = {{"device", e.device}, {"shape", e.shape}, {"status", status_name(e.status)}, {"error", e.error},
                           {"nondeterministic", e.nondeterministic}, {"seconds", e.seconds},
                           {"resources", nlohmann::json::parse(e.resources)},
                           {"constants", recorded_constants_json(c->task, e.constants)},
                           {"steps", nlohmann::json::parse(e.steps)}};
      for (auto [k, v] : {std::pair{"median_us", e.median_us}, {"p10_us", e.p10_us}, {"p90_us", e.p90_us},
                          {"baseline_us", e.baseline_us}, {"speedup", e.speedup}, {"floor_us", e.floor_us}})
        if (v) ej[k] = *v;
      j["evaluations"].push_back(ej);
    }
    std::cout << json_text(j, 2) << '\n';
    return 0;
  }
  std::cout << "candidate #" << c->id << ": " << src.name << " " << c->params << " (" << c->task << ")\n"
            << "origin: " << c->origin << (c->parents.empty() ? "" : " of " + ids(c->parents))
            << ", generation " << c->generation
            << (c->run_id ? ", run " + std::to_string(*c->run_id) : "") << ", " << when(c->created_at) << "\n"
            << "from: " << c->label << " (source " << src.hash.substr(0, 12)
            << (src.uses_helpers ? ", uses the ks/ device helpers" : "") << ")\n"
            << "children: " << ids(children) << "\n\n";
  // What the evaluations were checked with: one line when they agree, else a column.
  std::set<std::string> constants;
  for (auto& e : evs) constants.insert(recorded_constants_text(c->task, e.constants));
  const bool constants_column = constants.size() > 1;
  std::vector<std::string> head = {"device", "shape", "status", "median us", "p10 us", "p90 us", "baseline us", "speedup",
                                   "% floor", "regs", "smem B", "spill B", "error"};
  if (constants_column) head.insert(head.begin() + 2, "constants");
  Table t(head);
  auto num = [](const std::optional<double>& v, int d) { return v ? fixed(*v, d) : "-"; };
  auto count = [](const std::optional<int64_t>& v) { return v ? std::to_string(*v) : "-"; };
  for (auto& e : evs) {
    std::string err = e.error.size() > 70 ? e.error.substr(0, 67) + "..." : e.error;
    if (e.nondeterministic) err = "nondeterministic" + std::string(err.empty() ? "" : "; ") + err;
    std::vector<std::string> cells = {
        e.device, e.shape, std::string(status_name(e.status)), num(e.median_us, 1), num(e.p10_us, 1), num(e.p90_us, 1),
        num(e.baseline_us, 1), e.speedup ? fixed(*e.speedup, 2) + "x" : "-",
        e.floor_us && e.median_us ? fixed(100 * *e.floor_us / *e.median_us, 0) : "-", count(e.registers),
        count(e.smem_bytes), count(e.spill_bytes), err};
    if (constants_column) cells.insert(cells.begin() + 2, recorded_constants_text(c->task, e.constants));
    t.add(cells);
  }
  if (evs.empty()) {
    std::cout << "not evaluated yet\n";
  } else {
    if (!constants_column && !constants.begin()->empty()) std::cout << "checked with " << *constants.begin() << "\n";
    t.print(std::cout);
  }
  for (auto& e : evs)
    if (e.steps != "[]")
      std::cout << e.shape << ": time per step " << format_steps(steps_from_json(nlohmann::json::parse(e.steps))) << "\n";
  if (call) print_conversation(std::cout, *call);
  if (!o.no_source) std::cout << "\n" << src.text << (src.text.ends_with('\n') ? "" : "\n");
  return 0;
}

}  // namespace

Action add_show_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("show", "One candidate: its origin, evaluations, children and source");
  auto o = std::make_shared<Opts>();
  cmd->add_option("ID", o->id, "Candidate id (as `ksearch best` shows it, with or without the #)")
      ->required()
      ->transform([](std::string s) { return s.starts_with('#') ? s.substr(1) : s; });
  add_db_option(cmd, o->db);
  cmd->add_flag("--no-source", o->no_source, "Leave the source out");
  cmd->add_flag("--json", o->json, "Print JSON");
  return [o] { return show_candidate(*o); };
}

}  // namespace ks::cli
