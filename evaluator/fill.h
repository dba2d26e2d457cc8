#pragma once
// What outputs and workspace hold before a candidate's call: NaN (0xFF bytes), zeros, or a
// finite value (one byte from 0x01..0x7B repeated: finite in bf16, f16 and f32), chosen per call
// from a source no kernel can observe. Every three consecutive calls see all three kinds, for the
// outputs and for the workspace, in a random order, so a check of three calls or more never
// passes a plan that relies on any one of them (NaN outputs it skips, zeroed workspace it
// accumulates into).
#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace ks {

class InitialContents {
 public:
  explicit InitialContents(uint64_t seed) : rng_(seed) {}
  unsigned char output() { return next(outputs_); }
  unsigned char workspace() { return next(workspace_); }
  uint64_t draw() { return rng_(); }  // for other choices a kernel must not predict

 private:
  unsigned char next(std::vector<unsigned char>& bag) {
    if (bag.empty()) {
      bag = {0xFF, 0x00, static_cast<unsigned char>(0x01 + rng_() % 0x7B)};
      std::shuffle(bag.begin(), bag.end(), rng_);
    }
    const unsigned char b = bag.back();
    bag.pop_back();
    return b;
  }

  std::mt19937_64 rng_;
  std::vector<unsigned char> outputs_, workspace_;
};

}  // namespace ks
