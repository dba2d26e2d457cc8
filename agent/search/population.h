#pragma once
// What the search knows of one task on one GPU model: every candidate (a source at one point of
// its parameter space), its results per shape, and which evaluations are under way. Loaded from
// the archive when a run starts; the driver keeps it up to date as results come in.
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "db/archive.h"
#include "evaluator/eval_types.h"
#include "evaluator/plan.h"

namespace ks {

using Rng = std::mt19937_64;

// 32 hex digits naming a candidate file's normalized text (evaluator/plan.h): files that differ
// only in comments and blank space share it.
std::string source_hash(std::string_view text);
// What the archive stores a candidate under: one source at one variant.
std::string candidate_key(const std::string& source_hash, const Variant& v);

struct Source {
  int64_t id = 0;  // in the archive; 0 until stored
  std::string hash;
  std::shared_ptr<const Candidate> candidate;  // origin: where it came from (a seed file)
};

struct Member {
  int64_t id = 0;  // in the archive; 0 until its first result is stored
  std::string key;
  size_t source = 0;  // index into Population::sources()
  Variant variant;
  std::string origin, label;
  std::vector<int64_t> parents;  // archive ids
  int generation = 0;
  std::map<std::string, EvaluationRecord> results;  // by shape text: what the archive holds
  std::set<std::string> pending;               // shapes it is being evaluated on
};

class Population {
 public:
  // The GPU the population's results are of: its plans' `applies` see its SMS, SMEM_MAX and
  // L2_BYTES.
  DeviceFacts device = kNominalDevice;

  // The index of the source with this text's hash, added when new.
  size_t add_source(std::shared_ptr<const Candidate> c, int64_t id = 0);
  // The index of the member with m's key, added when new.
  size_t add_member(Member m);
  // The index of the member at this point of a source, added when new as a child of `parents`
  // (member indices; they are stored already) proposed by `origin`.
  size_t add_child(size_t source, Variant v, const std::string& origin, const std::string& label,
                   const std::vector<size_t>& parents);
  std::optional<size_t> find_source(const std::string& hash) const;
  std::optional<size_t> find(const std::string& key) const;

  // Deques: references stay valid as the population grows.
  const std::deque<Source>& sources() const { return sources_; }
  std::deque<Source>& sources() { return sources_; }
  const std::deque<Member>& members() const { return members_; }
  std::deque<Member>& members() { return members_; }

  // Evaluated on the shape already, or being evaluated.
  bool known(size_t member, const std::string& shape) const;
  // Members that are correct on the shape and were timed there: the parents to choose from.
  std::vector<size_t> correct_on(const std::string& shape) const;
  std::optional<size_t> best_on(const std::string& shape) const;  // highest speedup
  double speedup_on(size_t member, const std::string& shape) const;  // 0 unless correct and timed

 private:
  std::deque<Source> sources_;
  std::deque<Member> members_;
  std::map<std::string, size_t> source_index_, member_index_;
};

// The fittest of k members drawn at random (with replacement) from pool, which is not empty.
template <class Fitness>
size_t tournament(const std::vector<size_t>& pool, Fitness&& fitness, Rng& rng, int k = 3) {
  std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
  size_t best = pool[pick(rng)];
  for (int i = 1; i < k; ++i) {
    const size_t c = pool[pick(rng)];
    if (fitness(c) > fitness(best)) best = c;
  }
  return best;
}

}  // namespace ks
