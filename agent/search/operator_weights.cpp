#include "agent/search/operator_weights.h"

#include <algorithm>
#include <cmath>

namespace ks {

void OperatorWeights::add(const std::string& name, double base) {
  if (!ops_.count(name)) order_.push_back(name);
  ops_[name].base = base;
}

bool OperatorWeights::has(const std::string& name) const { return ops_.count(name) > 0; }

void OperatorWeights::record(const std::string& name, bool paid_off) {
  auto it = ops_.find(name);
  if (it == ops_.end()) return;
  ++it->second.tries;
  if (paid_off) ++it->second.wins;
}

double OperatorWeights::weight(const std::string& name) const {
  const Tally& t = ops_.at(name);
  const double rate = (static_cast<double>(t.wins) + 1) / (static_cast<double>(t.tries) + 2);
  return t.base * std::max(rate, kMinRate);
}

std::vector<std::pair<std::string, double>> OperatorWeights::shares() const {
  double sum = 0;
  for (auto& n : order_) sum += weight(n);
  std::vector<std::pair<std::string, double>> out;
  for (auto& n : order_) out.emplace_back(n, sum > 0 ? weight(n) / sum : 0);
  return out;
}

std::optional<std::string> OperatorWeights::draw(Rng& rng, const std::function<bool(const std::string&)>& eligible) const {
  std::vector<std::string> names;
  std::vector<double> weights;
  for (auto& n : order_) {
    if (eligible && !eligible(n)) continue;
    if (weight(n) <= 0) continue;  // off (a base of 0): std::discrete_distribution of all zeros picks the first
    names.push_back(n);
    weights.push_back(weight(n));
  }
  if (names.empty()) return std::nullopt;
  return names[std::discrete_distribution<size_t>(weights.begin(), weights.end())(rng)];
}

std::string format_shares(const std::vector<std::pair<std::string, double>>& shares) {
  std::string s;
  for (auto& [name, share] : shares)
    s += (s.empty() ? "" : ", ") + name + " " + std::to_string(static_cast<int>(std::lround(100 * share))) + "%";
  return s;
}

}  // namespace ks
