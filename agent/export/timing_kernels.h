#pragma once
// The kernels an exported library times with, compiled into one cubin at export time: ksearch's L2
// flush (evaluator/timer.h) and ks_fill_normal, which draws inputs on the device as the task
// declares them (BufferSpec::random), so the example and the first-use tuner time on data drawn as
// ksearch checks and times on, with no period (the tuner used to repeat one 1 MiB block).
#include <string>

namespace ks::exporter {

// CUDA source of extern "C" ks_l2_flush (see l2_flush_source()) and
//   ks_fill_normal(void* p, unsigned long long n, int dtype, float mean, float stddev,
//                  unsigned long long seed): p[i] = mean + stddev * z(seed, i) as dtype (ksearch's
//   DType: 0 bf16, 1 f16, 2 f32, 3 f64, 4 i32 rounded), z a standard normal of a hash of (seed, i).
std::string timing_kernels_source();

}  // namespace ks::exporter
