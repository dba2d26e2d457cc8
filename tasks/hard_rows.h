#pragma once
// Hard activation rows, shared by the tasks whose input is a batch of activation rows: by
// (row + seed) % 5 a row is left as drawn, scaled up (x3e3), scaled down (x1e-3), zeroed, or
// given 1% outliers (x100). Each kind is a way a kernel goes wrong: overflow in a sum of squares,
// eps handling, 0/0, a max that is not a max.
#include <cstdint>

#include "tasks/host_buffer.h"

namespace ks {

void make_hard_rows(HostBuffer& x, int64_t rows, int64_t cols, uint64_t seed);

}  // namespace ks
