#include "agent/search/progress.h"

#include <unistd.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>

#include "base/table.h"
#include "evaluator/json_text.h"

namespace ks::cli {
namespace {

using Clock = std::chrono::steady_clock;

double rate(const SearchProgress& p) {
  return p.session_seconds > 0 ? static_cast<double>(p.evals_this_session) / p.session_seconds : 0;
}

std::string describe(const Population& pop, size_t member) {
  const Member& m = pop.members()[member];
  return "#" + std::to_string(m.id) + " " + pop.sources()[m.source].candidate->plan.name + " " +
         format_variant(m.variant);
}

}  // namespace

std::string compact_shape(const std::string& shape) {
  return std::regex_replace(shape, std::regex("[A-Za-z_][A-Za-z_0-9]*="), "");
}

ProgressPrinter::ProgressPrinter(bool json, const Population& pop)
    : json_(json), tty_(isatty(STDERR_FILENO)), pop_(pop), last_(Clock::now()) {}

// "ok 3, wrong 1, pending 2"
static std::string format_counts(const std::map<std::string, int64_t>& counts) {
  std::string s;
  for (auto& [what, n] : counts) s += (s.empty() ? "" : ", ") + what + " " + std::to_string(n);
  return s;
}

std::string ProgressPrinter::line(const SearchProgress& p) const {
  std::string s = "run " + std::to_string(p.run_id) + ": " + std::to_string(p.evals) + " evals, " +
                  fixed(rate(p), 2) + "/s, gen " + std::to_string(p.generation) + " | best";
  for (auto& [shape, speedup] : p.best) s += " " + compact_shape(shape) + " " + fixed(speedup, 2) + "x";
  std::string failures;
  for (auto& [status, n] : p.by_status)
    if (status != "ok" && status != "not_applicable")
      failures += (failures.empty() ? "" : ", ") + status + " " + std::to_string(n);
  if (!failures.empty()) s += " | " + failures;
  if (!p.op_shares.empty()) s += " | ops " + format_shares(p.op_shares);
  if (p.llm)
    s += " | llm " + std::to_string(p.llm_calls) + " calls, " + std::to_string(p.llm_tokens) + " tokens, " +
         std::to_string(p.llm_in_flight) + " in flight";
  if (!p.llm_candidates.empty()) s += " | llm candidates " + format_counts(p.llm_candidates);
  return s;
}

void ProgressPrinter::update(const SearchProgress& p) {
  for (const std::string& n : p.notices) {  // once each, on a line of its own
    if (json_) {
      std::cout << json_text(nlohmann::json{{"event", "notice"}, {"run", p.run_id}, {"message", n}}) << std::endl;
    } else {
      std::cerr << (tty_ && shown_ ? "\r\x1b[K" : "") << "ksearch: " << n << '\n';
    }
  }
  if (!p.last) return;  // notices alone
  if (json_) {
    nlohmann::json j = {{"event", "eval"}, {"run", p.run_id}, {"evals", p.evals},
                        {"evals_per_s", rate(p)}, {"seconds", p.seconds}, {"generation", p.generation},
                        {"best", p.best}, {"by_status", p.by_status}, {"operator_shares", p.op_shares}};
    if (p.llm) j["llm"] = {{"calls", p.llm_calls}, {"tokens", p.llm_tokens}, {"in_flight", p.llm_in_flight}};
    if (!p.llm_candidates.empty()) j["llm_candidates"] = p.llm_candidates;
    if (p.last && p.last_row) {
      const EvalResult& r = *p.last_row;
      j["candidate"] = p.last->id;
      j["origin"] = p.last->origin;
      j["params"] = format_variant(p.last->variant);
      j["shape"] = p.last_shape;
      j["device"] = p.last_device;
      j["status"] = std::string(status_name(r.status));
      if (r.timing) {
        j["median_us"] = r.timing->candidate.median_us;
        j["speedup"] = r.timing->speedup;
      }
      if (!r.error.empty()) j["error"] = r.error;
    }
    std::cout << json_text(j) << std::endl;
    return;
  }
  const auto now = Clock::now();
  const double every = tty_ ? 0.25 : 10.0;
  if (shown_ && std::chrono::duration<double>(now - last_).count() < every) return;
  last_ = now;
  shown_ = true;
  if (tty_)
    std::cerr << '\r' << line(p) << "\x1b[K" << std::flush;
  else
    std::cerr << line(p) << '\n';
}

void ProgressPrinter::finish() {
  if (!json_ && tty_ && shown_) std::cerr << '\n';
}

void print_summary(std::ostream& os, const SearchSummary& sum, const Population& pop,
                   const RunRecord& run, const std::string& archive_path) {
  const SearchProgress& p = sum.progress;
  const std::string why = sum.stop_reason == "budget"      ? "its budget is spent"
                          : sum.stop_reason == "stopped"   ? "stopped by a signal"
                          : sum.stop_reason == "exhausted" ? "nothing new is left to try"
                                                           : sum.stop_reason;
  os << "run " << run.id << " (" << run.task << " on " << run.device << "): " << why << "; "
     << p.evals_this_session << " evaluations in " << fixed(p.session_seconds, 0) << " s ("
     << fixed(rate(p), 2) << "/s), " << p.evals << " in the run; archive " << archive_path << "\n";
  Table t({"shape", "floor us", "baseline us", "seed default", "best", "best us", "% floor",
           "to 95% s", "candidate"});
  for (const ShapeSummary& s : sum.shapes) {
    auto x = [](const std::optional<double>& v) { return v ? fixed(*v, 2) + "x" : "-"; };
    t.add({s.shape, fixed(s.floor_us, 1), s.baseline_us ? fixed(*s.baseline_us, 1) : "-",
           x(s.best_seed_default), x(s.best_speedup), s.best_us ? fixed(*s.best_us, 1) : "-",
           s.best_us && s.floor_us > 0 ? fixed(100 * s.floor_us / *s.best_us, 0) : "-",
           s.seconds_to_95 ? fixed(*s.seconds_to_95, 0) : "-",
           s.best ? describe(pop, *s.best) + " (" + pop.members()[*s.best].origin + ", gen " +
                        std::to_string(pop.members()[*s.best].generation) + ")"
                  : "-"});
  }
  t.print(os);
  std::string failures;
  for (auto& [status, n] : p.by_status)
    if (status != "ok") failures += (failures.empty() ? "" : ", ") + status + " " + std::to_string(n);
  if (!failures.empty()) os << "other outcomes this session: " << failures << "\n";
  std::string ops;
  for (auto& [op, n] : p.by_operator) ops += (ops.empty() ? "" : ", ") + op + " " + std::to_string(n);
  if (!ops.empty()) os << "children proposed: " << ops << "\n";
  if (!p.op_shares.empty()) os << "operator weights at the end: " << format_shares(p.op_shares) << "\n";
  if (p.llm) os << "LLM: " << p.llm_calls << " calls this session, " << p.llm_tokens << " tokens in the run\n";
  if (!p.llm_candidates.empty()) {
    os << "LLM candidates by outcome: " << format_counts(p.llm_candidates) << "\n";
    if (auto it = p.llm_candidates.find("pending"); it != p.llm_candidates.end())
      os << it->second << " LLM candidate(s) not yet evaluated on every search shape: ksearch run --resume "
         << "evaluates them first\n";
  }
}

}  // namespace ks::cli
