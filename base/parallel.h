#pragma once
// Running work on the machine's cores: run_on_threads for a queue of independent jobs (compiles),
// parallel_for for splitting an array (input generation, CPU references).
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <system_error>
#include <thread>
#include <vector>

namespace ks {

// Uses at most `threads` threads (the calling one when that is 1 or count is 1). When a call
// throws, no further index is started; after every started call has returned, the exception of
// the lowest failing index is rethrown. If the system refuses to start a thread, the work runs on
// those that did start (or on the calling thread).
template <class Fn>
void run_on_threads(size_t count, unsigned threads, Fn&& fn) {
  std::vector<std::exception_ptr> errors(count);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto work = [&] {
    for (size_t i; !failed.load() && (i = next.fetch_add(1)) < count;) {
      try {
        fn(i);
      } catch (...) {
        errors[i] = std::current_exception();
        failed.store(true);
      }
    }
  };

  const size_t wanted = std::min<size_t>(std::max(threads, 1u), count);
  std::vector<std::thread> pool;
  if (wanted > 1) {
    pool.reserve(wanted);
    try {
      for (size_t t = 0; t < wanted; ++t) pool.emplace_back(work);
    } catch (const std::system_error&) {
      // Fewer threads than asked for: the ones running share the remaining indices.
    }
  }
  if (pool.empty()) work();
  for (auto& t : pool) t.join();

  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

// Splits [0, n) into contiguous chunks of at least min_chunk over the machine's cores;
// fn(begin, end) per chunk.
template <class Fn>
void parallel_for(size_t n, Fn&& fn, size_t min_chunk = 1 << 16) {
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  const size_t chunks = std::clamp<size_t>(n / std::max<size_t>(min_chunk, 1), 1, cores);
  const size_t chunk = (n + chunks - 1) / chunks;
  run_on_threads(chunks, static_cast<unsigned>(chunks),
                 [&](size_t c) { fn(c * chunk, std::min(n, (c + 1) * chunk)); });
}

}  // namespace ks
