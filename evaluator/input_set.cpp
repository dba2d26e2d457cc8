#include "evaluator/input_set.h"

#include <cstring>

#include "base/random.h"

namespace ks {

static uint64_t next_seed(uint64_t seed) { return mix64(seed ^ 0x5EED); }

InputSet::Contents InputSet::generate(const Task& task, const Shape& shape, uint64_t seed,
                                      InputKind kind, const DeviceFingerprint* fingerprint) {
  Contents c;
  task.generate_inputs(shape, seed, kind, c.host);
  if (fingerprint)
    for (auto& [name, hb] : c.host) c.fingerprints[name] = host_fingerprint(hb.bytes, fingerprint->key());
  return c;
}

InputSet InputSet::make(const Task& task, const Shape& shape, uint64_t seed, InputKind kind,
                        const DeviceFingerprint* fingerprint) {
  InputSet s;
  s.seed = seed;
  s.kind = kind;
  s.fingerprint = fingerprint;
  Contents c = generate(task, shape, seed, kind, fingerprint);
  s.host = std::move(c.host);
  s.fingerprints = std::move(c.fingerprints);
  for (auto& [name, hb] : s.host) {
    auto buf = std::make_unique<InputBuffer>(hb.bytes.size());
    upload(buf->writable(), hb.bytes.data(), hb.bytes.size());
    s.device[name] = std::move(buf);
  }
  return s;
}

bool InputSet::read_only() const {
  for (auto& [name, buf] : device)
    if (!buf->read_only()) return false;
  return true;
}

std::string InputSet::first_modified(cudaStream_t stream) const {
  if (read_only()) return "";
  if (fingerprint) {
    std::vector<DeviceFingerprint::Span> spans;
    for (auto& [name, buf] : device) spans.push_back({buf->data(), buf->bytes()});
    const std::vector<uint64_t> got = fingerprint->of(spans, stream);
    size_t i = 0;
    for (auto& [name, buf] : device)
      if (got[i++] != fingerprints.at(name)) return name;
    return "";
  }
  for (auto& [name, buf] : device) {
    const auto& want = host.at(name).bytes;
    auto got = download(buf->data(), buf->bytes());
    if (std::memcmp(got.data(), want.data(), want.size()) != 0) return name;
  }
  return "";
}

void InputSet::refill(const Task& task, const Shape& shape) {
  const uint64_t next = next_seed(seed);
  Contents fresh = upcoming_.valid() && upcoming_seed_ == next
                       ? upcoming_.get()
                       : generate(task, shape, next, kind, fingerprint);
  seed = next;
  host = std::move(fresh.host);
  fingerprints = std::move(fresh.fingerprints);
  restore();
  if (prefetching_) prefetch(task, shape);
}

void InputSet::prefetch(const Task& task, const Shape& shape) {
  prefetching_ = true;
  upcoming_seed_ = next_seed(seed);
  upcoming_ = std::async(std::launch::async, [&task, shape, s = upcoming_seed_, k = kind, fp = fingerprint] {
    return generate(task, shape, s, k, fp);
  });
}

void InputSet::restore() {
  for (auto& [name, buf] : device) {
    buf->fill_guards();
    upload(buf->writable(), host.at(name).bytes.data(), buf->bytes());
  }
}

std::string InputSet::first_broken_guard() const {
  for (auto& [name, buf] : device)
    if (!buf->guards_intact()) return name;
  return "";
}

}  // namespace ks
