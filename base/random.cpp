#include "base/random.h"

#include <cmath>
#include <numbers>

namespace ks {

uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t stream_seed(uint64_t seed, std::string_view stream) {
  uint64_t h = mix64(seed);
  for (char c : stream) h = mix64(h ^ static_cast<unsigned char>(c));
  return h;
}

double uniform_at(uint64_t stream, uint64_t i) {
  return (static_cast<double>(mix64(stream ^ mix64(i)) >> 11) + 0.5) * 0x1.0p-53;
}

void normal_pair_at(uint64_t stream, uint64_t j, double& even, double& odd) {
  // Box-Muller on two independent uniforms of this pair.
  const double u1 = uniform_at(stream, 2 * j), u2 = uniform_at(stream, 2 * j + 1);
  const double r = std::sqrt(-2.0 * std::log(u1));
  // The angle in float: a fixture's inputs are bf16 or f32, and float's sine and cosine cost a
  // third of double's (drawing swiglu M=4096's three input sets took ~1.9 s of 16 cores before).
  const float a = static_cast<float>(2.0 * std::numbers::pi * u2);
  even = r * std::cos(a);
  odd = r * std::sin(a);
}

double normal_at(uint64_t stream, uint64_t i) {
  double even, odd;
  normal_pair_at(stream, i / 2, even, odd);
  return i % 2 ? odd : even;
}

}  // namespace ks
