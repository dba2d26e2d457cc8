// Whether a shape fits what ksearch and the kernels do with its sizes, checked before anything is
// allocated, so an absurd --shape is one line naming the symbol or buffer, not an overflowed
// allocation size, a wrapped kernel argument or a machine taken by a 2^60-byte buffer.
//
// The rule, and why:
// - Every size symbol is in [1, 2^31-1]. Kernels receive sizes as int arguments (the plan
//   runner refuses an argument that does not fit an int32), and the GPU references and seeds
//   take M, N, K as int: a larger size cannot even reach them.
// - A buffer's element count may exceed 2^31-1. The GPU references (tasks/*/reference.cu) and
//   the baselines index with 64-bit offsets ((size_t)row * K), and real shapes need it: the
//   attention scores of 32 heads at 8192 x 8192 are 2^31 elements. A candidate that indexes
//   such a buffer with an int fails its check (wrong, or a guard or address fault), which is the
//   checker's verdict to give, not the shape's.
// - Every buffer's element count, and its bytes at 8 bytes an element (the widest copy ksearch
//   makes: the CPU reference's f64 outputs), fit int64, so no product of dims anywhere
//   (host buffers, device allocations, byte budgets) overflows. Whether it fits in memory is the
//   allocator's answer; this rule only keeps the arithmetic honest.
#include <cstdint>
#include <limits>

#include "base/error.h"
#include "tasks/task.h"

namespace ks {

namespace {

constexpr int64_t kMaxSize = std::numeric_limits<int32_t>::max();
constexpr int64_t kMaxElementBytes = 8;  // f64, the CPU reference's outputs
constexpr int64_t kMaxElements = std::numeric_limits<int64_t>::max() / kMaxElementBytes;

}  // namespace

int64_t Task::elements_of(const BufferSpec& b, const Shape& s) const {
  int64_t n = 1;
  for (int64_t d : dims_of(b, s))
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      throw Error(name() + ": shape " + format_shape(s) + ": buffer " + b.name +
                  " has more elements than an int64 counts (2^63-1)");
  return n;
}

void Task::check_fits(const Shape& s) const {
  const std::string where = name() + ": shape " + format_shape(s) + ": ";
  for (auto& sym : size_symbols()) {
    auto it = s.find(sym);
    if (it == s.end()) throw Error(where + "has no size " + sym);
    if (it->second < 1)
      throw Error(where + sym + "=" + std::to_string(it->second) + " is not a positive size");
    if (it->second > kMaxSize)
      throw Error(where + sym + "=" + std::to_string(it->second) +
                  " is more than a kernel's int argument holds (2^31-1 = 2147483647)");
  }
  for (auto& b : buffers()) {
    const int64_t n = elements_of(b, s);
    if (n > kMaxElements)
      throw Error(where + "buffer " + b.name + " has " + std::to_string(n) +
                  " elements, more than 2^60, whose bytes (8 an element as the f64 reference) "
                  "would overflow int64");
  }
}

}  // namespace ks
