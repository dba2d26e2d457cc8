#pragma once
// Counter-based random numbers: element i of a stream depends only on (seed, stream, i), so
// inputs are the same whatever the number of threads that fill them.
#include <cstdint>
#include <string_view>

namespace ks {

uint64_t mix64(uint64_t x);                          // splitmix64 finalizer
uint64_t stream_seed(uint64_t seed, std::string_view stream);  // one stream per buffer name
double uniform_at(uint64_t stream, uint64_t i);      // in (0, 1)
double normal_at(uint64_t stream, uint64_t i);       // N(0, 1)

}  // namespace ks
