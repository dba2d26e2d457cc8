// The host fingerprint: the same for the same bytes whatever the thread count, different when any
// one byte changes (a tail byte too), and sensitive to order (swapped words differ).
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace ks
