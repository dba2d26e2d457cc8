#pragma once
// Which evaluation leads a shape: one rule for every command that names a leader (best, report,
// export, audit, bench), so that they never disagree.
#include "db/archive.h"

namespace ks {

// An evaluation may lead only when it is ok with a speedup and a time, both finite and positive:
// an ok row without a time (`eval --no-time`, a merged archive, an older ksearch) never leads.
bool can_lead(const EvaluationRecord& e);

// The order of leaders, for rows that can_lead: the higher speedup first (speedups are measured
// interleaved with the baseline, so they compare across runs better than times do); then the
// shorter time; then the earlier evaluation, so that the order never depends on the input's.
bool ranks_before(const EvaluationRecord& a, const EvaluationRecord& b);

}  // namespace ks
