#include "evaluator/timer.h"

#include <algorithm>
#include <chrono>
#include <random>

namespace ks {

TimeStats TimeStats::of(std::vector<double> us) {
  TimeStats t;
  if (us.empty()) return t;
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[static_cast<size_t>(q * static_cast<double>(us.size() - 1) + 0.5)]; };
  t.median_us = at(0.5);
  t.p10_us = at(0.1);
  t.p90_us = at(0.9);
  return t;
}

namespace {

// Reads n 16-byte words; the result is stored only when `never` is set (it is not), so the
// compiler must keep the loads.
constexpr const char* kFlushSource = R"(
extern "C" __global__ void ks_l2_flush(const uint4* p, unsigned long long n, unsigned* sink, int never) {
  unsigned acc = 0;
  for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (unsigned long long)gridDim.x * blockDim.x) {
    const uint4 v = p[i];
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (never) *sink = acc;
}
)";

}  // namespace

const char* l2_flush_source() { return kFlushSource; }

L2Flusher::L2Flusher(const Compiler& compiler, const std::string& arch, int sms, size_t l2_bytes)
    : buf_(std::max<size_t>(2 * l2_bytes, 8 << 20) / 16 * 16),
      sink_(sizeof(unsigned)),
      kernel_(load_own_kernel(compiler, arch, kFlushSource, "L2 flush", "ks_l2_flush")),
      blocks_(4 * sms) {
  KS_CUDA(cudaMemset(buf_.get(), 0x5A, buf_.size()));
}

void L2Flusher::enqueue(cudaStream_t s) const {
  const void* p = buf_.get();
  unsigned long long n = buf_.size() / 16;
  void* sink = sink_.get();
  int never = 0;
  void* args[] = {&p, &n, &sink, &never};
  KS_CUDA(cudaLaunchKernel(reinterpret_cast<const void*>(kernel_.kernel), dim3(blocks_), dim3(512), args, 0, s));
}

// One replay of a side, outside the events: new output and workspace contents, the L2 flushed;
// inside them (when given) the graph; after them its verification.
static void enqueue_replay(const TimedSide& side, size_t set, const L2Flusher& flush, cudaStream_t stream,
                           cudaEvent_t start, cudaEvent_t stop) {
  side.poison(stream);
  flush.enqueue(stream);
  if (start) KS_CUDA(cudaEventRecord(start, stream));
  KS_CUDA(cudaGraphLaunch(side.graph(set), stream));
  if (stop) KS_CUDA(cudaEventRecord(stop, stream));
  if (side.verify) side.verify(set, stream);
}

PairTiming time_pair(const TimedSide& candidate, const TimedSide& baseline, size_t sets,
                     const L2Flusher& flush, cudaStream_t stream, const TimerOptions& opt,
                     uint64_t rng_seed) {
  // Events are recorded in batches and read after one synchronize, so the host stays ahead of
  // the GPU and each replay starts as soon as its flush ends.
  constexpr int kBatch = 16;
  std::vector<Event> starts, stops;
  for (int i = 0; i < 2 * kBatch; ++i) {
    starts.push_back(make_event());
    stops.push_back(make_event());
  }
  std::mt19937_64 rng(rng_seed);
  const TimedSide* sides[2] = {&candidate, &baseline};
  auto replay = [&](const TimedSide& side, size_t set, cudaEvent_t start, cudaEvent_t stop) {
    enqueue_replay(side, set, flush, stream, start, stop);
  };
  auto any_set = [&] { return static_cast<size_t>(rng() % sets); };

  // A random number of warm-ups, then batches of them until warmup_seconds have passed (each
  // batch synchronized, so the wall time is the GPU's).
  const auto since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  const auto w0 = std::chrono::steady_clock::now();
  const int warmups = opt.warmup + static_cast<int>(rng() % 4);
  for (int i = 0; i < warmups; ++i)
    for (auto* side : sides) replay(*side, any_set(), nullptr, nullptr);
  KS_CUDA(cudaStreamSynchronize(stream));
  while (since(w0) < opt.warmup_seconds) {
    for (int b = 0; b < kBatch; ++b)
      for (auto* side : sides) replay(*side, any_set(), nullptr, nullptr);
    KS_CUDA(cudaStreamSynchronize(stream));
  }

  std::vector<double> cand, base;
  PairTiming r;
  const auto t0 = std::chrono::steady_clock::now();
  int done = 0;
  while (done < opt.max_replays) {
    for (int b = 0; b < kBatch; ++b) {
      const size_t set = any_set();
      const int first = static_cast<int>(rng() % 2);
      for (int k = 0; k < 2; ++k) {
        const int s = first ^ k;
        replay(*sides[s], set, starts[2 * b + s].get(), stops[2 * b + s].get());
      }
      r.last_set = set;
    }
    KS_CUDA(cudaStreamSynchronize(stream));
    for (int b = 0; b < kBatch; ++b) {
      float ms[2];
      for (int s = 0; s < 2; ++s)
        KS_CUDA(cudaEventElapsedTime(&ms[s], starts[2 * b + s].get(), stops[2 * b + s].get()));
      cand.push_back(ms[0] * 1e3);
      base.push_back(ms[1] * 1e3);
    }
    done += kBatch;
    if (done >= opt.min_replays && since(t0) >= opt.min_seconds) break;
  }
  std::vector<double> ratios;
  for (size_t i = 0; i < cand.size(); ++i) ratios.push_back(base[i] / cand[i]);
  r.candidate = TimeStats::of(cand);
  r.baseline = TimeStats::of(base);
  r.speedup = TimeStats::of(ratios).median_us;
  r.replays = static_cast<int>(cand.size());
  return r;
}

double time_one(const TimedSide& side, size_t set, const L2Flusher& flush, cudaStream_t stream) {
  Event start = make_event(), stop = make_event();
  enqueue_replay(side, set, flush, stream, start.get(), stop.get());
  KS_CUDA(cudaStreamSynchronize(stream));
  float ms = 0;
  KS_CUDA(cudaEventElapsedTime(&ms, start.get(), stop.get()));
  return ms * 1e3;
}

}  // namespace ks
