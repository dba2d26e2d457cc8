#pragma once
// The two roofline ceilings, measured on the device: memory bandwidth from a large
// device-to-device copy (bytes read plus written), and the bf16 matrix rate from a cuBLASLt
// 8192^3 GEMM on random data. floor = max(flops / peak, bytes / bandwidth).
#include "evaluator/cuda_handles.h"
#include "evaluator/lt_gemm.h"

namespace ks {

struct Ceilings {
  double bytes_per_s = 0;
  double flops_per_s = 0;
  double floor_us(double flops, double bytes) const;
};

Ceilings measure_ceilings(const LtContext& lt, cudaStream_t stream);

}  // namespace ks
