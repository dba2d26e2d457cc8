#pragma once
// Verifies every timed replay of a candidate on the device, outside the timed events: each
// replay's outputs against the outputs its input set gave in the check that passed (bit for bit
// when the candidate is deterministic, else within the task's elementwise tolerance of each
// row). Mismatches are counted on the device and read once, after timing: a kernel that skips
// work only when it is timed fails, at the cost of one read of its outputs per replay.
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "evaluator/cuda_handles.h"
#include "evaluator/own_kernel.h"
#include "evaluator/plan_instance.h"

namespace ks {

// ksearch's compare kernel, compiled and loaded once per engine.
class VerifyKernel {
 public:
  VerifyKernel(const Compiler& compiler, const std::string& arch, int sms);
  // Counts elements of `got` that differ from `want` into *bad (bitwise when row_tol is null,
  // else |got - want| <= row_tol[i / row]); NaN always differs.
  void enqueue(const void* got, const void* want, DType dtype, size_t count, int64_t row,
               const float* row_tol, unsigned long long* bad, cudaStream_t s) const;

 private:
  OwnKernel kernel_;
  int blocks_;
};

class ReplayVerifier {
 public:
  ReplayVerifier(const VerifyKernel& kernel, const PlanInstance& inst, size_t sets);

  // The instance's outputs now are set's verified outputs (right after a passing check of set).
  void keep(size_t set, cudaStream_t s);
  // Compare within tolerance from now on: per row, `scale` times the rms of the reference row
  // (references: one HostBuffers per set, as InputSet::reference).
  void use_tolerance(const std::vector<const HostBuffers*>& references, double scale);
  // Compares the instance's outputs with set's kept ones (enqueued; counted on the device).
  void enqueue(size_t set, cudaStream_t s) const;
  // Mismatching elements over every enqueued comparison; synchronizes.
  uint64_t mismatches() const;

 private:
  const VerifyKernel& kernel_;
  std::vector<PlanInstance::OutputView> outputs_;
  std::vector<std::vector<DeviceMemory>> kept_;     // [set][output]
  std::vector<std::vector<DeviceMemory>> row_tol_;  // [set][output], empty: bitwise
  DeviceMemory bad_;
};

}  // namespace ks
