#pragma once
// GPU tests run for real on a machine with a CUDA device and skip themselves, saying so, on one
// without (CI).
#include <gtest/gtest.h>

#include "evaluator/device.h"

#define KS_REQUIRE_GPU()                                                       \
  do {                                                                         \
    if (::ks::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device: GPU test skipped"; \
  } while (0)
