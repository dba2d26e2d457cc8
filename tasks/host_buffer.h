#pragma once
// A typed array on the host: what input generators fill and references read and write.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dtype.h"

namespace ks {

struct HostBuffer {
  DType dtype = DType::f32;
  std::vector<int64_t> dims;
  std::vector<std::byte> bytes;

  HostBuffer() = default;
  HostBuffer(DType t, std::vector<int64_t> d);

  size_t count() const;
  double get(size_t i) const;         // element i as a double
  void set(size_t i, double v);       // stores v rounded to dtype
  template <class T> T* as() { return reinterpret_cast<T*>(bytes.data()); }
  template <class T> const T* as() const { return reinterpret_cast<const T*>(bytes.data()); }
};

using HostBuffers = std::map<std::string, HostBuffer>;

// b[i] = mean + stddev * normal_at(stream, i) (base/random.h), in parallel.
void fill_normal(HostBuffer& b, uint64_t stream, double mean, double stddev);

}  // namespace ks
