#include "tasks/host_buffer.h"

#include <cstring>

#include "base/error.h"
#include "base/parallel.h"
#include "base/random.h"

namespace ks {

HostBuffer::HostBuffer(DType t, std::vector<int64_t> d) : dtype(t), dims(std::move(d)) {
  size_t n = 0;
  if (__builtin_mul_overflow(count(), dtype_size(dtype), &n))
    throw Error("host buffer: its byte count overflows size_t");
  bytes.resize(n);
}

// Checked, though shapes are checked before anything is allocated (Task::check_fits): a product
// that wrapped would allocate a small buffer that later writes overrun.
size_t HostBuffer::count() const {
  size_t n = 1;
  for (int64_t d : dims)
    if (d < 0 || __builtin_mul_overflow(n, static_cast<size_t>(d), &n))
      throw Error("host buffer: its element count overflows size_t");
  return n;
}

double HostBuffer::get(size_t i) const {
  switch (dtype) {
    case DType::bf16: return bf16_to_float(as<uint16_t>()[i]);
    case DType::f16: return f16_to_float(as<uint16_t>()[i]);
    case DType::f32: return as<float>()[i];
    case DType::f64: return as<double>()[i];
    case DType::i32: return as<int32_t>()[i];
  }
  return 0;
}

void HostBuffer::set(size_t i, double v) {
  switch (dtype) {
    case DType::bf16: as<uint16_t>()[i] = float_to_bf16(static_cast<float>(v)); break;
    case DType::f16: as<uint16_t>()[i] = float_to_f16(static_cast<float>(v)); break;
    case DType::f32: as<float>()[i] = static_cast<float>(v); break;
    case DType::f64: as<double>()[i] = v; break;
    case DType::i32: as<int32_t>()[i] = static_cast<int32_t>(v); break;
  }
}

void fill_normal(HostBuffer& b, uint64_t stream, double mean, double stddev) {
  // By pairs: elements 2j and 2j+1 come from one Box-Muller step (half the transcendentals).
  const size_t n = b.count();
  parallel_for((n + 1) / 2, [&](size_t begin, size_t end) {
    for (size_t j = begin; j < end; ++j) {
      double even, odd;
      normal_pair_at(stream, j, even, odd);
      b.set(2 * j, mean + stddev * even);
      if (2 * j + 1 < n) b.set(2 * j + 1, mean + stddev * odd);
    }
  });
}

}  // namespace ks
