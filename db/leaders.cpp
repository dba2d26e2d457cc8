#include "db/leaders.h"

#include <cmath>

namespace ks {
namespace {

bool positive(const std::optional<double>& v) { return v && std::isfinite(*v) && *v > 0; }

}  // namespace

bool can_lead(const EvaluationRecord& e) {
  return e.status == "ok" && positive(e.speedup) && positive(e.median_us);
}

bool ranks_before(const EvaluationRecord& a, const EvaluationRecord& b) {
  if (*a.speedup != *b.speedup) return *a.speedup > *b.speedup;
  if (*a.median_us != *b.median_us) return *a.median_us < *b.median_us;
  return a.id < b.id;
}

}  // namespace ks
