#pragma once
// Counter-based random numbers: element i of a stream depends only on (seed, stream, i), so
// inputs are the same whatever the number of threads that fill them.
#include <cstdint>
#include <string_view>

namespace ks {

uint64_t mix64(uint64_t x);                          // splitmix64 finalizer
uint64_t stream_seed(uint64_t seed, std::string_view stream);  // one stream per buffer name
double uniform_at(uint64_t stream, uint64_t i);      // in (0, 1)
// N(0, 1). Elements 2j and 2j+1 are the pair Box-Muller makes of one pair of uniforms (the
// cosine and the sine), independent normals: normal_pair_at gives both for the cost of one.
double normal_at(uint64_t stream, uint64_t i);
void normal_pair_at(uint64_t stream, uint64_t j, double& even, double& odd);  // elements 2j, 2j+1

}  // namespace ks
