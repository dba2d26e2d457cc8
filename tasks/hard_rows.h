#pragma once
// Hard activation rows, shared by the tasks whose input is a batch of activation rows: by
// row % 5 a row is scaled down (x1e-3), zeroed, scaled up (x3e3), given 1% outliers (x100), or
// left as drawn (so every input of at least 2 rows has a tiny and a zero row; the seed picks
// the outliers). Each kind is a way a kernel goes wrong: overflow in a sum of squares,
// eps handling, 0/0, a max that is not a max.
#include <cstdint>

#include "tasks/host_buffer.h"

namespace ks {

void make_hard_rows(HostBuffer& x, int64_t rows, int64_t cols, uint64_t seed);

}  // namespace ks
