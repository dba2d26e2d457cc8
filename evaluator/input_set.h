#pragma once
// One set of inputs for one shape: generated on the host from a seed, uploaded into guarded
// device buffers, kept on the host to prove later that no candidate changed them.
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "evaluator/guarded_buffer.h"
#include "tasks/task.h"

namespace ks {

struct InputSet {
  uint64_t seed = 0;
  InputKind kind = InputKind::random;
  HostBuffers host;
  std::map<std::string, std::unique_ptr<GuardedBuffer>> device;
  HostBuffers reference;  // the GPU reference plan's outputs on these inputs (f32)

  static InputSet make(const Task& task, const Shape& shape, uint64_t seed, InputKind kind);
  // Name of the first input whose bytes differ from what was uploaded, or "".
  std::string first_modified() const;
  // Name of the first input whose guard zones were written, or "".
  std::string first_broken_guard() const;
  // Guards and data back to what was uploaded, after a candidate wrote where it must not.
  void restore();
  // New random contents from `new_seed` in the same device buffers (the reference is stale
  // until recomputed).
  void refill(const Task& task, const Shape& shape, uint64_t new_seed);
};

}  // namespace ks
