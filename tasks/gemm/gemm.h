#pragma once
#include "tasks/task.h"

namespace ks {

// Y = X @ W^T, bf16 in and out: a plain GEMM, to measure a GEMM mainloop against cuBLASLt.
const Task& gemm_task();

}  // namespace ks
