#pragma once
// Which evaluations lead a shape: one leaderboard for every command that names a leader (best,
// report, export, audit, bench), so that they never disagree, with its ranking rule a parameter.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "db/archive.h"

namespace ks {

// An evaluation may lead only when it is ok with a speedup and a time, both finite and positive:
// an ok row without a time (`eval --no-time`, a merged archive, an older ksearch) never leads.
bool can_lead(const EvaluationRecord& e);

// What a leaderboard ranks by. speedup (the default): the higher speedup over the baseline first,
// measured interleaved with the baseline, so it compares across runs and hosts better than a time
// does; time: the shorter median first. Ties go to the other measure, then to the earlier
// evaluation, so the order never depends on the input's.
enum class LeaderRule { speedup, time };
bool ranks_before(const EvaluationRecord& a, const EvaluationRecord& b, LeaderRule rule = LeaderRule::speedup);

// Per (device, shape): the evaluations of `rows` that can lead, best first.
using Leaderboard = std::map<std::pair<std::string, std::string>, std::vector<EvaluationRecord>>;
Leaderboard leaderboard(const std::vector<EvaluationRecord>& rows, LeaderRule rule = LeaderRule::speedup);

}  // namespace ks
