#pragma once
// GPU tests run for real on a machine with a CUDA device and skip themselves, saying so, on one
// without (CI).
#include <gtest/gtest.h>

#include <algorithm>

#include "evaluator/device.h"
#include "tasks/task.h"

#define KS_REQUIRE_GPU()                                                       \
  do {                                                                         \
    if (::ks::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device: GPU test skipped"; \
  } while (0)

namespace ks::gpu_test {

// A search shape shrunk for element-wise checks: at most 7 rows (every kind of hard row, by
// row % 5) and 136 along every other size.
inline Shape shrunk(const Shape& s) {
  Shape small;
  for (auto& [sym, val] : s) small[sym] = std::min<int64_t>(val, sym == "M" ? 7 : 136);
  return small;
}

}  // namespace ks::gpu_test
