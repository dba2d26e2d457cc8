#include "tasks/hard_rows.h"

#include "base/parallel.h"
#include "base/random.h"

namespace ks {

void make_hard_rows(HostBuffer& x, int64_t rows, int64_t cols, uint64_t seed) {
  // In this order from row 0, whatever the seed: with fewer than 5 rows (decode) the kinds that
  // test eps and 0/0 are the ones kept. Rotated by the seed, a 3-row input lacked the tiny row
  // 2 times in 5, and a kernel that ignores eps passed (GpuConstants, on an H200).
  enum Kind { tiny, zero, large, outliers, as_drawn };
  const uint64_t outlier_stream = stream_seed(seed, "outliers");
  parallel_for(static_cast<size_t>(rows), [&](size_t b, size_t e) {
    for (size_t m = b; m < e; ++m) {
      const auto kind = static_cast<Kind>(m % 5);
      for (int64_t k = 0; k < cols; ++k) {
        const size_t i = m * static_cast<size_t>(cols) + static_cast<size_t>(k);
        double v = x.get(i);
        switch (kind) {
          case as_drawn: break;
          case large: v *= 3e3; break;
          case tiny: v *= 1e-3; break;
          case zero: v = 0; break;
          case outliers:
            if (uniform_at(outlier_stream, i) < 0.01) v *= 100;
            break;
        }
        x.set(i, v);
      }
    }
  }, 1);
}

}  // namespace ks
