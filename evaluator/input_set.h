#pragma once
// One set of inputs for one shape: generated on the host from a seed, uploaded into device
// buffers that plans can only read (input_buffer.h), kept on the host. Where the device cannot
// map them read-only, each input's fingerprint proves later that no candidate changed it.
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <string>

#include "evaluator/fingerprint.h"
#include "evaluator/input_buffer.h"
#include "tasks/task.h"

namespace ks {

struct InputSet {
  uint64_t seed = 0;
  InputKind kind = InputKind::random;
  HostBuffers host;
  std::map<std::string, uint64_t> fingerprints;  // of host's buffers
  std::map<std::string, std::unique_ptr<InputBuffer>> device;
  HostBuffers reference;  // the GPU reference plan's outputs on these inputs (f32)
  // Compares fingerprints on the device when set; else downloads every input.
  const DeviceFingerprint* fingerprint = nullptr;

  static InputSet make(const Task& task, const Shape& shape, uint64_t seed, InputKind kind,
                       const DeviceFingerprint* fingerprint = nullptr);
  // Read-only for plans: nothing they run can change the inputs, so nothing needs checking.
  bool read_only() const;
  // Name of the first input whose bytes differ from what was uploaded, or "".
  std::string first_modified(cudaStream_t stream = nullptr) const;
  // Name of the first input whose guard zones were written, or "".
  std::string first_broken_guard() const;
  // Guards and data back to what was uploaded, after a candidate wrote where it must not.
  void restore();
  // New contents of the same kind, from the next seed of the set's chain, in the same device
  // buffers (the reference is stale until recomputed). Generated ahead on another thread after
  // prefetch(). The kind is kept: a hard set refilled as random left every later candidate on
  // that shape unchecked on hard rows (a kernel ignoring eps passed; GpuConstants, on an H200).
  void refill(const Task& task, const Shape& shape);
  void prefetch(const Task& task, const Shape& shape);

 private:
  struct Contents {
    HostBuffers host;
    std::map<std::string, uint64_t> fingerprints;
  };
  static Contents generate(const Task& task, const Shape& shape, uint64_t seed, InputKind kind,
                           const DeviceFingerprint* fingerprint);
  std::future<Contents> upcoming_;
  uint64_t upcoming_seed_ = 0;
  bool prefetching_ = false;
};

}  // namespace ks
