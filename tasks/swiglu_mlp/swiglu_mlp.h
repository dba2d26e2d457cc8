#pragma once
#include "tasks/task.h"

namespace ks {

// Y = (silu(X @ Wg^T) * (X @ Wu^T)) @ Wd^T, bf16 in and out, the gate and up weights merged.
const Task& swiglu_mlp_task();

}  // namespace ks
