#include "evaluator/fingerprint.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <random>
#include <thread>

#include "base/parallel.h"
#include "evaluator/cuda_check.h"

namespace ks {
namespace {

constexpr size_t kMaxSpans = 64;

// The host and the device compute the same thing: word i (little-endian, the last one padded
// with zero bytes) contributes finalize((word ^ key) + (i + 1) * golden). Without the key a
// kernel could rewrite words in pairs whose terms swap (word 0 := word 1 + golden, word 1 :=
// word 0 - golden) and keep the sum; the key is drawn per process where no kernel can read it.
inline uint64_t word_mix(uint64_t w, uint64_t i, uint64_t key) {
  uint64_t x = (w ^ key) + (i + 1) * 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

constexpr const char* kSource = R"(
__device__ __forceinline__ unsigned long long word_mix(unsigned long long w, unsigned long long i,
                                                     unsigned long long key) {
  unsigned long long x = (w ^ key) + (i + 1) * 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
// *sum += fingerprint of the n bytes at a (256-byte aligned, as every device buffer here).
extern "C" __global__ void ks_fingerprint(const unsigned char* a, unsigned long long n,
                                          unsigned long long* sum, unsigned long long key) {
  const unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
  const unsigned long long first = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
  const unsigned long long words = n / 8, pairs = words / 2;
  const ulonglong2* a16 = (const ulonglong2*)a;
  unsigned long long s = 0;
  for (unsigned long long j = first; j < pairs; j += stride) {
    const ulonglong2 w = a16[j];
    s += word_mix(w.x, 2 * j, key) + word_mix(w.y, 2 * j + 1, key);
  }
  if (first == 0) {
    if (words % 2) s += word_mix(((const unsigned long long*)a)[words - 1], words - 1, key);
    if (n % 8) {
      unsigned long long w = 0;
      for (unsigned long long b = words * 8; b < n; ++b) w |= (unsigned long long)a[b] << (8 * (b - words * 8));
      s += word_mix(w, words, key);
    }
  }
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  if (threadIdx.x % 32 == 0) atomicAdd(sum, s);
}
)";

}  // namespace

uint64_t host_fingerprint(const std::vector<std::byte>& bytes, uint64_t key) {
  const size_t n = bytes.size(), words = n / 8;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::vector<uint64_t> partial(std::max(1u, std::thread::hardware_concurrency()), 0);
  std::atomic<size_t> slot{0};
  parallel_for(words, [&](size_t b, size_t e) {
    uint64_t s = 0;
    for (size_t i = b; i < e; ++i) {
      uint64_t w;
      std::memcpy(&w, p + 8 * i, 8);
      s += word_mix(w, i, key);
    }
    partial[slot++] = s;
  });
  uint64_t s = 0;
  for (uint64_t x : partial) s += x;
  if (n % 8) {
    uint64_t w = 0;
    for (size_t b = words * 8; b < n; ++b) w |= static_cast<uint64_t>(p[b]) << (8 * (b - words * 8));
    s += word_mix(w, words, key);
  }
  return s;
}

DeviceFingerprint::DeviceFingerprint(const Compiler& compiler, const std::string& arch, int sms)
    : sums_(kMaxSpans * sizeof(uint64_t)),
      kernel_(load_own_kernel(compiler, arch, kSource, "fingerprint", "ks_fingerprint")),
      blocks_(2 * sms),
      key_(std::random_device{}() | (uint64_t{std::random_device{}()} << 32)) {}

std::vector<uint64_t> DeviceFingerprint::of(const std::vector<Span>& spans, cudaStream_t stream) const {
  if (spans.size() > kMaxSpans) throw Error("DeviceFingerprint: more than 64 buffers at once");
  std::vector<uint64_t> out(spans.size());
  if (spans.empty()) return out;
  KS_CUDA(cudaMemsetAsync(sums_.get(), 0, spans.size() * sizeof(uint64_t), stream));
  for (size_t i = 0; i < spans.size(); ++i) {
    const void* a = spans[i].data;
    unsigned long long n = spans[i].bytes;
    uint64_t* sum = sums_.as<uint64_t>() + i;
    unsigned long long key = key_;
    void* args[] = {&a, &n, &sum, &key};
    KS_CUDA(cudaLaunchKernel(reinterpret_cast<const void*>(kernel_.kernel), dim3(blocks_), dim3(256), args, 0, stream));
  }
  KS_CUDA(cudaMemcpyAsync(out.data(), sums_.get(), out.size() * sizeof(uint64_t), cudaMemcpyDeviceToHost, stream));
  KS_CUDA(cudaStreamSynchronize(stream));
  return out;
}

}  // namespace ks
