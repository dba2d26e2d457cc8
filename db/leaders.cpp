#include "db/leaders.h"

#include <algorithm>
#include <cmath>

namespace ks {
namespace {

bool positive(const std::optional<double>& v) { return v && std::isfinite(*v) && *v > 0; }

}  // namespace

bool can_lead(const EvaluationRecord& e) {
  return e.status == Status::ok && positive(e.speedup) && positive(e.median_us);
}

bool ranks_before(const EvaluationRecord& a, const EvaluationRecord& b, LeaderRule rule) {
  const bool by_speedup = rule == LeaderRule::speedup;
  if (by_speedup && *a.speedup != *b.speedup) return *a.speedup > *b.speedup;
  if (*a.median_us != *b.median_us) return *a.median_us < *b.median_us;
  if (!by_speedup && *a.speedup != *b.speedup) return *a.speedup > *b.speedup;
  return a.id < b.id;
}

Leaderboard leaderboard(const std::vector<EvaluationRecord>& rows, LeaderRule rule) {
  Leaderboard board;
  for (const EvaluationRecord& e : rows)
    if (can_lead(e)) board[{e.device, e.shape}].push_back(e);
  for (auto& [_, ranked] : board)
    std::sort(ranked.begin(), ranked.end(),
              [rule](const EvaluationRecord& a, const EvaluationRecord& b) { return ranks_before(a, b, rule); });
  return board;
}

}  // namespace ks
