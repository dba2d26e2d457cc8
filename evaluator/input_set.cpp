#include "evaluator/input_set.h"

#include <cstring>

namespace ks {

InputSet InputSet::make(const Task& task, const Shape& shape, uint64_t seed, InputKind kind) {
  InputSet s;
  s.seed = seed;
  s.kind = kind;
  task.generate_inputs(shape, seed, kind, s.host);
  for (auto& [name, hb] : s.host) {
    auto buf = std::make_unique<GuardedBuffer>(hb.bytes.size());
    upload(buf->data(), hb.bytes.data(), hb.bytes.size());
    s.device[name] = std::move(buf);
  }
  return s;
}

std::string InputSet::first_modified() const {
  for (auto& [name, buf] : device) {
    const auto& want = host.at(name).bytes;
    auto got = download(buf->data(), buf->bytes());
    if (std::memcmp(got.data(), want.data(), want.size()) != 0) return name;
  }
  return "";
}

void InputSet::refill(const Task& task, const Shape& shape, uint64_t new_seed) {
  seed = new_seed;
  kind = InputKind::random;
  host.clear();
  task.generate_inputs(shape, seed, kind, host);
  restore();
}

void InputSet::restore() {
  for (auto& [name, buf] : device) {
    buf->fill_guards();
    upload(buf->data(), host.at(name).bytes.data(), buf->bytes());
  }
}

std::string InputSet::first_broken_guard() const {
  for (auto& [name, buf] : device)
    if (!buf->guards_intact()) return name;
  return "";
}

}  // namespace ks
