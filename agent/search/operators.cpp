#include "agent/search/operators.h"

#include <algorithm>

namespace ks {
namespace {

const std::vector<Param>& params_of(const Population& pop, size_t member) {
  return pop.sources()[pop.members()[member].source].candidate->plan.params;
}

size_t tournament_on(const Population& pop, const std::vector<size_t>& pool, const std::string& shape, Rng& rng) {
  const int k = std::max<int>(3, static_cast<int>(pool.size() / 3));
  return tournament(pool, [&](size_t m) { return pop.speedup_on(m, shape); }, rng, k);
}

// The points one step away from a member's variant, each param moved to the next larger or
// smaller of its allowed values (a list is a set whose first value is the default, so it need
// not be sorted), that are not yet known on the shape.
std::vector<Variant> open_neighbours(const Population& pop, size_t member, const std::string& shape) {
  const Member& m = pop.members()[member];
  const std::vector<Param>& params = params_of(pop, member);
  const std::string& hash = pop.sources()[m.source].hash;
  std::vector<Variant> out;
  for (size_t p = 0; p < params.size(); ++p) {
    std::vector<int64_t> values = params[p].values;
    std::sort(values.begin(), values.end());
    const size_t at = static_cast<size_t>(std::lower_bound(values.begin(), values.end(), m.variant[p].second) - values.begin());
    for (size_t to : {at - 1, at + 1}) {  // at - 1 wraps past the end when at is 0
      if (to >= values.size()) continue;
      Variant v = m.variant;
      v[p].second = values[to];
      auto known = pop.find(candidate_key(hash, v));
      if (!known || !pop.known(*known, shape)) out.push_back(std::move(v));
    }
  }
  return out;
}

class Mutate final : public Operator {
 public:
  std::string name() const override { return "mutate"; }
  std::optional<Proposal> propose(const Population& pop, const std::string& shape, Rng& rng) const override {
    // Parents with somewhere new to go: once a member's neighbourhood is known, the search
    // moves on from it instead of drawing it again.
    std::vector<size_t> pool;
    for (size_t m : pop.correct_on(shape))
      if (!open_neighbours(pop, m, shape).empty()) pool.push_back(m);
    if (pool.empty()) return std::nullopt;
    const size_t parent = tournament_on(pop, pool, shape, rng);
    std::vector<Variant> next = open_neighbours(pop, parent, shape);
    Variant v = std::move(next[std::uniform_int_distribution<size_t>(0, next.size() - 1)(rng)]);
    return Proposal{pop.members()[parent].source, std::move(v), {parent}};
  }
};

class Crossover final : public Operator {
 public:
  std::string name() const override { return "crossover"; }
  std::optional<Proposal> propose(const Population& pop, const std::string& shape, Rng& rng) const override {
    const std::vector<size_t> pool = pop.correct_on(shape);
    if (pool.empty()) return std::nullopt;
    const size_t a = tournament_on(pop, pool, shape, rng);
    std::vector<size_t> mates;
    for (size_t m : pool)
      if (m != a && pop.members()[m].source == pop.members()[a].source) mates.push_back(m);
    if (mates.empty()) return std::nullopt;
    const size_t b = tournament_on(pop, mates, shape, rng);
    Variant v = pop.members()[a].variant;
    const Variant& other = pop.members()[b].variant;
    for (size_t i = 0; i < v.size(); ++i)
      if (std::bernoulli_distribution(0.5)(rng)) v[i].second = other[i].second;
    return Proposal{pop.members()[a].source, std::move(v), {a, b}};
  }
};

// Whether the member's plan accepts the shape (its `applies`, with the member's params).
bool applies(const Population& pop, size_t member, const std::string& shape_text) {
  const Member& m = pop.members()[member];
  const Plan& plan = pop.sources()[m.source].candidate->plan;
  if (!plan.applies) return true;
  const Task* task = find_task(plan.task);
  return task && plan_applies(plan, task->parse_shape(shape_text), m.variant, pop.device);
}

class Migrate final : public Operator {
 public:
  std::string name() const override { return "migrate"; }
  std::optional<Proposal> propose(const Population& pop, const std::string& shape, Rng& rng) const override {
    // Members correct somewhere, not yet tried here and applying here; ranked by their best
    // speedup elsewhere.
    std::vector<size_t> pool;
    for (size_t i = 0; i < pop.members().size(); ++i) {
      if (pop.known(i, shape) || !applies(pop, i, shape)) continue;
      for (auto& [s, r] : pop.members()[i].results)
        if (r.status == Status::ok && r.speedup) {
          pool.push_back(i);
          break;
        }
    }
    if (pool.empty()) return std::nullopt;
    auto best_elsewhere = [&](size_t m) {
      double best = 0;
      for (auto& [s, r] : pop.members()[m].results) best = std::max(best, r.speedup.value_or(0));
      return best;
    };
    const size_t chosen = tournament(pool, best_elsewhere, rng);
    return Proposal{pop.members()[chosen].source, pop.members()[chosen].variant, {}};
  }
};

}  // namespace

std::unique_ptr<Operator> make_mutate() { return std::make_unique<Mutate>(); }
std::unique_ptr<Operator> make_crossover() { return std::make_unique<Crossover>(); }
std::unique_ptr<Operator> make_migrate() { return std::make_unique<Migrate>(); }

std::vector<WeightedOperator> default_operators() {
  std::vector<WeightedOperator> ops;
  ops.push_back({make_mutate(), 0.6});
  ops.push_back({make_crossover(), 0.25});
  ops.push_back({make_migrate(), 0.15});
  return ops;
}

}  // namespace ks
