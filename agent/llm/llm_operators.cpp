#include "agent/llm/llm_operators.h"

#include <algorithm>
#include <sstream>

#include "base/table.h"
#include "evaluator/row_json.h"

namespace ks {
namespace {

// Each step's share of the time, as the archive keeps it (JSON); none when it cannot be read,
// as it only helps the model see where the time goes.
std::vector<StepTime> steps_of(const EvaluationRecord& r) {
  try {
    return steps_from_json(nlohmann::json::parse(r.steps));
  } catch (const std::exception&) {
    return {};
  }
}

const std::string& source_of(const Population& pop, size_t member) {
  return pop.sources()[pop.members()[member].source].candidate->source;
}

size_t tournament_on(const Population& pop, const std::vector<size_t>& pool, const std::string& shape, Rng& rng) {
  return tournament(pool, [&](size_t m) { return pop.speedup_on(m, shape); }, rng);
}

std::vector<ChatMessage> opening(const LlmFacts& f, const std::string& tmpl, std::map<std::string, std::string> vars) {
  const std::string format = render_template(f.prompts->templates.at("format"), {{"arch", f.arch}, {"helpers", f.helpers}}, "format.txt");
  const std::string system = render_template(f.prompts->templates.at("system"), {{"candidate_format", format}}, "system.txt");
  vars["task_contract"] = f.contract;
  vars["device_facts"] = f.device;
  return {{"system", system}, {"user", render_template(f.prompts->templates.at(tmpl), vars, tmpl + ".txt")}};
}

std::optional<LlmConversation> rewrite(const std::string& op, const Population& pop, const std::string& shape,
                                       const LlmFacts& f, Rng& rng) {
  const std::vector<size_t> pool = pop.correct_on(shape);
  if (pool.empty()) return std::nullopt;
  const size_t parent = tournament_on(pop, pool, shape, rng);
  const size_t best = *pop.best_on(shape);
  LlmConversation c{op, shape, {parent}, {}, 1};
  c.messages = opening(f, "rewrite", {{"parent_results", member_results(pop, parent, f)},
                                      {"parent_source", source_of(pop, parent)},
                                      {"best_source", source_of(pop, best)}});
  return c;
}

std::optional<LlmConversation> repair(const Population& pop, const LlmFacts& f, const std::set<size_t>& repaired,
                                      Rng& rng) {
  // The failures not yet sent, the newest first: the LLM's own children fail most, and a recent
  // failure is the likeliest to be close to working.
  std::vector<std::pair<size_t, std::string>> failed;
  for (size_t i = pop.members().size(); i-- > 0 && failed.size() < 8;) {
    if (repaired.count(i)) continue;
    for (auto& [s, r] : pop.members()[i].results)
      if (is_code_failure(r.status)) {
        failed.emplace_back(i, s);
        break;
      }
  }
  if (failed.empty()) return std::nullopt;
  const auto& [member, shape] = failed[std::uniform_int_distribution<size_t>(0, failed.size() - 1)(rng)];
  LlmConversation c{"llm_repair", shape, {member}, {}, 1};
  c.messages = opening(f, "repair", {{"parent_source", source_of(pop, member)},
                                     {"failure", failure_text(pop.members()[member].results.at(shape), shape)}});
  return c;
}

std::optional<LlmConversation> crossover(const Population& pop, const std::string& shape, const LlmFacts& f, Rng& rng) {
  const std::vector<size_t> pool = pop.correct_on(shape);
  if (pool.empty()) return std::nullopt;
  const size_t a = tournament_on(pop, pool, shape, rng);
  std::vector<size_t> mates;  // of another source: crossing variants of one source is the param operator's job
  for (size_t m : pool)
    if (pop.members()[m].source != pop.members()[a].source) mates.push_back(m);
  if (mates.empty()) return std::nullopt;
  const size_t b = tournament_on(pop, mates, shape, rng);
  LlmConversation c{"llm_crossover", shape, {a, b}, {}, 1};
  c.messages = opening(f, "crossover", {{"parent_a_results", member_results(pop, a, f)},
                                        {"parent_a_source", source_of(pop, a)},
                                        {"parent_b_results", member_results(pop, b, f)},
                                        {"parent_b_source", source_of(pop, b)}});
  return c;
}

}  // namespace

const std::vector<std::pair<std::string, double>>& llm_operator_bases() {
  static const std::vector<std::pair<std::string, double>> ops = {
      {"llm_rewrite", 0.35}, {"llm_refine", 0.35}, {"llm_repair", 0.15}, {"llm_crossover", 0.15}};
  return ops;
}

bool is_code_failure(Status s) { return s != Status::ok && s != Status::not_applicable; }

std::optional<LlmConversation> open_conversation(const std::string& op, const Population& pop, const std::string& shape,
                                                 const LlmFacts& facts, const std::set<size_t>& repaired, Rng& rng) {
  if (op == "llm_rewrite" || op == "llm_refine") return rewrite(op, pop, shape, facts, rng);
  if (op == "llm_repair") return repair(pop, facts, repaired, rng);
  if (op == "llm_crossover") return crossover(pop, shape, facts, rng);
  throw Error("no LLM operator '" + op + "'");
}

void continue_conversation(LlmConversation& c, const std::string& reply, const std::string& failure,
                           const LlmFacts& facts) {
  c.messages.push_back({"assistant", reply});
  c.messages.push_back({"user", render_template(facts.prompts->templates.at("refine"), {{"failure", failure}}, "refine.txt")});
  ++c.turn;
}

std::string device_facts(const DeviceInfo& d, const Ceilings& c) {
  std::ostringstream o;
  o << d.name << " (" << d.arch << "): " << d.sms << " SMs, " << d.smem_per_block_optin / 1024
    << " KiB of shared memory per block (opt-in), " << d.l2_bytes / (1024 * 1024) << " MiB of L2; measured "
    << fixed(c.bytes_per_s / 1e12, 2) << " TB/s from memory and " << fixed(c.flops_per_s / 1e12, 0)
    << " TFLOP/s bf16 on tensor cores";
  return o.str();
}

std::string member_results(const Population& pop, size_t member, const LlmFacts& f) {
  const Member& m = pop.members()[member];
  std::ostringstream o;
  o << "params " << (m.variant.empty() ? "(none)" : format_variant(m.variant)) << "\n";
  for (auto& [shape, r] : m.results) {
    o << "  " << shape << ": " << status_name(r.status);
    if (r.median_us) {
      o << ", " << fixed(*r.median_us, 1) << " us";
      if (r.speedup) o << ", " << fixed(*r.speedup, 2) << "x the baseline";
      if (auto b = f.baseline_us.find(shape); b != f.baseline_us.end()) o << " (" << fixed(b->second, 1) << " us)";
      if (auto fl = f.floor_us.find(shape); fl != f.floor_us.end() && *r.median_us > 0)
        o << ", " << fixed(100 * fl->second / *r.median_us, 0) << "% of the roofline floor (" << fixed(fl->second, 1) << " us)";
    }
    if (r.registers) o << ", " << *r.registers << " registers";
    if (r.smem_bytes) o << ", " << *r.smem_bytes << " B static smem";
    if (r.spill_bytes) o << ", " << *r.spill_bytes << " B spilled";
    if (is_code_failure(r.status) && !r.error.empty()) o << ": " << r.error.substr(0, 300);
    o << "\n";
    if (auto steps = steps_of(r); !steps.empty()) o << "    time per step: " << format_steps(steps) << "\n";  // where the time goes
  }
  return o.str();
}

std::string failure_text(const EvaluationRecord& r, const std::string& shape) {
  std::string s = std::string(status_name(r.status)) + " on " + shape;
  if (!r.error.empty()) s += ":\n" + r.error;
  return s;
}

}  // namespace ks
