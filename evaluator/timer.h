#pragma once
// Times a candidate against the baseline: CUDA graphs replayed in pairs, the L2 flushed and the
// outputs and workspace given new contents before each replay and the candidate's output verified
// after it (outside the timed region), CUDA events around each replay, medians of at least
// min_replays and min_seconds, after warm-ups of at least warmup_seconds. Nothing a kernel can
// observe tells it which call is timed: the number of warm-ups, the order within each pair and the
// input set of each pair are drawn at random, and every timed replay is verified.
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "evaluator/cuda_handles.h"
#include "evaluator/nvrtc_compiler.h"
#include "evaluator/own_kernel.h"

namespace ks {

struct TimerOptions {
  int warmup = 3;
  int min_replays = 20;
  double min_seconds = 0.1;  // wall time of the measuring loop
  int max_replays = 5000;
  // Wall time of the warm-ups, at least: times are of a GPU under sustained load, as a server's is.
  // Under load the GPU lowers its clocks to stay within its power limit, after a while: on an H200
  // a 3072x28672x4096 bf16 GEMM took 930 us for its first ~0.1 s after an idle second, then
  // 1075 us; a 1536-row one 475 then 553 us (a decode GEMV: no change). Without this, a short
  // timing after a pause (a compile, a check) is of the faster state, a long one of a mix.
  double warmup_seconds = 0.25;
};

// The warm-up of a time that stands beside another harness's: `ksearch bench` (beside PyTorch's,
// whose script warms up as long) and the exported library's example. A search's evaluations are
// spaced by compiles and checks, seconds in which the GPU's power state recovers; a server's GPU
// never pauses. On an H200 the baseline SwiGLU MLP at M=1024,H=4096,I=14336 timed 502-506 us
// after 0.25 s of warm-up (clocks 1650-1800 MHz, 700 W limit) and 539-547 us over 3 s of timing
// (1515-1620 MHz after ~2 s), as the exported example (546-548) and torch.compile (553) timed it.
// A search keeps the short warm-up: its fitness is a ratio of interleaved replays, both in the
// same state; its absolute times are of the recovered state.
constexpr double kSustainedWarmupSeconds = 2.0;

struct TimeStats {
  double median_us = 0, p10_us = 0, p90_us = 0;
  static TimeStats of(std::vector<double> us);
};

struct PairTiming {
  TimeStats candidate, baseline;
  double speedup = 0;  // median over replay pairs of baseline / candidate
  int replays = 0;     // per side
  size_t last_set = 0; // the input set of the candidate's last timed replay
};

// What one side needs: its graph for input set i, a call that gives its outputs and workspace
// new contents before a replay, and (optionally) one that verifies a replay's outputs after it.
struct TimedSide {
  std::function<cudaGraphExec_t(size_t set)> graph;
  std::function<void(cudaStream_t)> poison;
  std::function<void(size_t set, cudaStream_t)> verify = {};
};

// Empties the L2 of anything a replay could reuse by reading a buffer of twice its size. Reading,
// not writing (a memset): a memset leaves the L2 full of dirty lines, and the next replay's reads
// then pay for writing them back inside the timed region (on an H100 the unfused baseline at
// M=1, K=4096, N=4096 took 26.0 us after a memset flush, 21.6 us after a read).
// The flush kernel's source (extern "C" ks_l2_flush(const uint4* p, unsigned long long n,
// unsigned* sink, int never): reads n 16-byte words), for whoever times as ksearch does (the
// exported library's example program embeds it).
const char* l2_flush_source();

class L2Flusher {
 public:
  L2Flusher(const Compiler& compiler, const std::string& arch, int sms, size_t l2_bytes);
  void enqueue(cudaStream_t s) const;

 private:
  DeviceMemory buf_, sink_;
  OwnKernel kernel_;
  int blocks_ = 0;
};

// rng_seed: where the random order comes from (the engine draws it from std::random_device).
PairTiming time_pair(const TimedSide& candidate, const TimedSide& baseline, size_t sets,
                     const L2Flusher& flush, cudaStream_t stream, const TimerOptions& opt,
                     uint64_t rng_seed);

// One replay of one side, flushed and poisoned first, timed with events: microseconds.
double time_one(const TimedSide& side, size_t set, const L2Flusher& flush, cudaStream_t stream);

}  // namespace ks
