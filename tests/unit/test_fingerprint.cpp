// The host fingerprint: the same for the same bytes whatever the thread count, different when any
// one byte changes (a tail byte too), and sensitive to order (swapped words differ).
#include <gtest/gtest.h>

#include <cstring>

#include <random>

#include "evaluator/fingerprint.h"

namespace ks {
namespace {

TEST(Fingerprint, SeesEveryByteAndItsPlace) {
  std::vector<std::byte> b(3 * (1 << 20) + 5);
  std::mt19937_64 rng(1);
  for (auto& x : b) x = static_cast<std::byte>(rng());
  const uint64_t f = host_fingerprint(b);
  EXPECT_EQ(host_fingerprint(b), f);
  for (size_t at : {size_t{0}, size_t{12345}, b.size() - 1}) {
    auto c = b;
    c[at] ^= std::byte{1};
    EXPECT_NE(host_fingerprint(c), f) << at;
  }
  auto swapped = b;
  std::swap_ranges(swapped.begin(), swapped.begin() + 8, swapped.begin() + 8);
  EXPECT_NE(host_fingerprint(swapped), f) << "a plain sum of words would not see this";
  EXPECT_NE(host_fingerprint({}), host_fingerprint(std::vector<std::byte>(8)));
}

// The rewrite a kernel could craft against an unkeyed fingerprint: word 0 := word 1 + golden,
// word 1 := word 0 - golden swaps the two words' terms, keeping the sum. With a key it cannot
// know, the sum changes.
TEST(Fingerprint, AKeyDefeatsARewriteCraftedToKeepTheSum) {
  std::vector<std::byte> b(64);
  std::mt19937_64 rng(7);
  for (auto& x : b) x = static_cast<std::byte>(rng());
  uint64_t w[2];
  std::memcpy(w, b.data(), 16);
  auto crafted = b;
  const uint64_t golden = 0x9E3779B97F4A7C15ull, rewritten[2] = {w[1] + golden, w[0] - golden};
  std::memcpy(crafted.data(), rewritten, 16);
  EXPECT_EQ(host_fingerprint(crafted, 0), host_fingerprint(b, 0)) << "the attack works without a key";
  for (uint64_t key : {0x1234567890ABCDEFull, 0xFFFFFFFF00000001ull, 0x5DEECE66D0B0C0DEull})
    EXPECT_NE(host_fingerprint(crafted, key), host_fingerprint(b, key)) << key;
}

}  // namespace
}  // namespace ks
