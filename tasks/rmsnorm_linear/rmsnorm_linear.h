#pragma once
#include "tasks/task.h"

namespace ks {

// Y = (X * rsqrt(mean(X^2, -1) + eps) * gamma) @ W^T, bf16 in and out.
const Task& rmsnorm_linear_task();

}  // namespace ks
