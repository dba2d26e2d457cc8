#include "agent/search/population.h"

#include <algorithm>
#include <cstdio>

#include "evaluator/cubin_cache.h"

namespace ks {

std::string source_hash(std::string_view text) {
  const std::string norm = normalized_source(text);
  // Two FNV-1a passes from different starting states: 128 bits, so that distinct sources never
  // share a key in practice.
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(fnv1a64(norm)),
                static_cast<unsigned long long>(fnv1a64(norm, 0x6c62272e07bb0142ull)));
  return buf;
}

std::string candidate_key(const std::string& hash, const Variant& v) {
  return hash + ":" + format_variant(v);
}

size_t Population::add_source(std::shared_ptr<const Candidate> c, int64_t id) {
  const std::string hash = source_hash(c->source);
  if (auto i = find_source(hash)) {
    if (id && !sources_[*i].id) sources_[*i].id = id;
    return *i;
  }
  sources_.push_back({id, hash, std::move(c)});
  source_index_[hash] = sources_.size() - 1;
  return sources_.size() - 1;
}

size_t Population::add_member(Member m) {
  if (auto i = find(m.key)) return *i;
  member_index_[m.key] = members_.size();
  members_.push_back(std::move(m));
  return members_.size() - 1;
}

size_t Population::add_child(size_t source, Variant v, const std::string& origin, const std::string& label,
                             const std::vector<size_t>& parents) {
  const std::string key = candidate_key(sources_[source].hash, v);
  if (auto i = find(key)) return *i;
  Member m;
  m.key = key;
  m.source = source;
  m.variant = std::move(v);
  m.origin = origin;
  m.label = label;
  for (size_t p : parents) {
    m.parents.push_back(members_[p].id);
    m.generation = std::max(m.generation, members_[p].generation + 1);
  }
  return add_member(std::move(m));
}

std::optional<size_t> Population::find_source(const std::string& hash) const {
  auto it = source_index_.find(hash);
  return it == source_index_.end() ? std::nullopt : std::optional<size_t>(it->second);
}

std::optional<size_t> Population::find(const std::string& key) const {
  auto it = member_index_.find(key);
  return it == member_index_.end() ? std::nullopt : std::optional<size_t>(it->second);
}

bool Population::known(size_t member, const std::string& shape) const {
  const Member& m = members_[member];
  return m.results.count(shape) || m.pending.count(shape);
}

double Population::speedup_on(size_t member, const std::string& shape) const {
  const auto& results = members_[member].results;
  auto it = results.find(shape);
  if (it == results.end() || it->second.status != Status::ok || !it->second.speedup) return 0;
  return *it->second.speedup;
}

std::vector<size_t> Population::correct_on(const std::string& shape) const {
  std::vector<size_t> out;
  for (size_t i = 0; i < members_.size(); ++i)
    if (speedup_on(i, shape) > 0) out.push_back(i);
  return out;
}

std::optional<size_t> Population::best_on(const std::string& shape) const {
  std::optional<size_t> best;
  for (size_t i : correct_on(shape))
    if (!best || speedup_on(i, shape) > speedup_on(*best, shape)) best = i;
  return best;
}

}  // namespace ks
