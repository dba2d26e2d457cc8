#pragma once
// Compares a candidate's output with the reference under the task's tolerance (tasks/task.h).
#include <string>

#include "tasks/task.h"

namespace ks {

struct Comparison {
  bool ok = false;
  double max_scaled = 0;  // max |y - ref| / scale(row)
  double rel_l2 = 0;      // ||y - ref|| / ||ref||
  size_t not_finite = 0;  // NaN or Inf where the reference is finite (NaN: never written)
  std::string detail;     // the worst element, e.g. "Y[3,17] = nan, want 0.0123"
};

// The last dimension is a row. scale(row) = max(rms of the reference row, 1e-3 * rms of the
// whole reference), so an all-zero reference row must be matched almost exactly.
Comparison compare_output(const std::string& name, const HostBuffer& got, const HostBuffer& want,
                          const Tolerance& tol);

}  // namespace ks
