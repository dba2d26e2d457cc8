// The device fingerprint of a buffer equals the host's, and one changed byte anywhere (the last
// of an odd-sized tail too) changes it: the checker's proof that inputs were left alone.
#include <random>

#include "evaluator/device.h"
#include "evaluator/fingerprint.h"
#include "gpu/gpu_test.h"

namespace ks {
namespace {

TEST(GpuFingerprint, DeviceMatchesHostAndSeesOneChangedByte) {
  KS_REQUIRE_GPU();
  const DeviceInfo dev = open_device(0);
  Compiler compiler(Compiler::default_options());
  DeviceFingerprint fp(compiler, dev.arch, dev.sms);
  for (size_t n : {size_t{1}, size_t{15}, size_t{4096}, size_t{1000003}, size_t{50u << 20}}) {
    std::vector<std::byte> host(n);
    std::mt19937_64 rng(n);
    for (auto& b : host) b = static_cast<std::byte>(rng());
    DeviceMemory mem(n);
    upload(mem.get(), host.data(), n);
    const uint64_t want = host_fingerprint(host, fp.key());
    EXPECT_EQ(fp.of({{mem.get(), n}}, nullptr).at(0), want) << n << " bytes";
    for (size_t at : {size_t{0}, n / 2, n - 1}) {
      std::byte flipped = host[at] ^ std::byte{0x10};
      upload(static_cast<std::byte*>(mem.get()) + at, &flipped, 1);
      EXPECT_NE(fp.of({{mem.get(), n}}, nullptr).at(0), want) << n << " bytes, byte " << at;
      upload(static_cast<std::byte*>(mem.get()) + at, &host[at], 1);
    }
  }
}

}  // namespace
}  // namespace ks
