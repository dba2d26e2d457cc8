#pragma once
// Times a candidate against the baseline: CUDA graphs replayed in turn (A B A B ...), the L2
// flushed and the outputs poisoned before each replay (outside the timed region), input sets
// rotated, CUDA events around each replay, medians of at least min_replays and min_seconds.
#include <cuda_runtime.h>

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
};

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

// What one side needs: its graph for input set i, and a call that poisons its outputs.
struct TimedSide {
  std::function<cudaGraphExec_t(size_t set)> graph;
  std::function<void(cudaStream_t)> poison;
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

PairTiming time_pair(const TimedSide& candidate, const TimedSide& baseline, size_t sets,
                     const L2Flusher& flush, cudaStream_t stream, const TimerOptions& opt = {});

}  // namespace ks
