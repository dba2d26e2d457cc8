#pragma once
// Operator weights that adapt to what has paid off. Each operator's weight is its base weight
// scaled by its success rate so far: children that were correct and faster than their parents on
// the shape, out of children evaluated. The rate starts from a prior of one success in two tries,
// so an untried operator keeps its base share, and never falls below kMinRate, so that no operator
// is starved by an unlucky start.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/search/population.h"

namespace ks {

class OperatorWeights {
 public:
  static constexpr double kMinRate = 0.05;

  void add(const std::string& name, double base);
  bool has(const std::string& name) const;
  // One evaluated child of the operator, and whether it paid off. Unknown names are ignored.
  void record(const std::string& name, bool paid_off);

  double weight(const std::string& name) const;
  // Every operator's weight over their sum, in the order added.
  std::vector<std::pair<std::string, double>> shares() const;
  // An operator drawn by weight among those `eligible` accepts (all when empty) whose weight is
  // above 0; nothing when none is.
  std::optional<std::string> draw(Rng& rng, const std::function<bool(const std::string&)>& eligible = {}) const;

  struct Tally {
    double base = 0;
    int64_t tries = 0, wins = 0;
  };
  const Tally& tally(const std::string& name) const { return ops_.at(name); }

 private:
  std::vector<std::string> order_;
  std::map<std::string, Tally> ops_;
};

// "mutate 52%, crossover 30%, migrate 18%"
std::string format_shares(const std::vector<std::pair<std::string, double>>& shares);

}  // namespace ks
