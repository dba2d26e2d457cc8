#pragma once
#include "tasks/task.h"

namespace ks {

// O[b] = softmax(S[b], -1) @ V[b], softmax in fp32, bf16 in and out.
const Task& softmax_matmul_task();

}  // namespace ks
