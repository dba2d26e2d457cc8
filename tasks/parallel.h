#pragma once
// Splits [0, n) into contiguous chunks over the machine's cores; fn(begin, end) per chunk.
#include <algorithm>
#include <cstddef>
#include <thread>
#include <vector>

namespace ks {

template <class Fn>
void parallel_for(size_t n, Fn&& fn, size_t min_chunk = 1 << 16) {
  size_t workers = std::max<size_t>(1, std::thread::hardware_concurrency());
  workers = std::min(workers, std::max<size_t>(1, n / min_chunk));
  if (workers <= 1) {
    fn(size_t{0}, n);
    return;
  }
  std::vector<std::jthread> pool;
  size_t chunk = (n + workers - 1) / workers;
  for (size_t b = 0; b < n; b += chunk) pool.emplace_back([&fn, b, e = std::min(n, b + chunk)] { fn(b, e); });
}

}  // namespace ks
