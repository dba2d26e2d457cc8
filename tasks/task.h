#pragma once
// A task is the contract a candidate must meet: its buffers, sizes, constants and shapes, how to
// make inputs, what the right answer is (CPU fp64 and an fp32 GPU plan), and the roofline counts.
// tasks/ knows nothing of CUDA: it is data, CPU code, and CUDA source as text.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tasks/constants.h"
#include "tasks/dtype.h"
#include "tasks/host_buffer.h"

namespace ks {

// Size symbols to values, e.g. {M:16, K:4096, N:6144}.
using Shape = std::map<std::string, int64_t>;

enum class Role { in, out };

// How an input's random elements are drawn: independent normals. Declared beside the buffer so
// that whatever else fills a task's inputs (an exported library's example and tuner) draws them
// as the checker and the timer do: "timed as ksearch times" includes the data timed on.
struct Normal {
  double mean = 0, stddev = 1;
};

struct BufferSpec {
  std::string name;
  DType dtype;
  std::vector<std::string> dims;  // each a size symbol or an integer, outermost first (row-major)
  Role role;
  Normal random = {};  // inputs: how InputKind::random draws each element
};

// Pass if, for every output element, |y - ref| <= max_scaled * scale(row) where scale(row) is
// the rms of the reference row (floored at 1e-3 of the whole output's rms), and the whole output's
// ||y - ref|| / ||ref|| <= rel_l2.
struct Tolerance {
  double max_scaled;
  double rel_l2;
};

enum class InputKind { random, hard };

class Task {
 public:
  virtual ~Task() = default;

  virtual std::string name() const = 0;
  virtual std::string semantics() const = 0;                 // one line, e.g. "Y = ..."
  virtual std::vector<std::string> size_symbols() const = 0;  // the order shapes are written in
  // The sizes that vary within one model (a batch's tokens, M; for attention also the keys, N):
  // an exported library dispatches over the measured values of these, for each exact value of
  // the others (a model's K and N), and never carries a plan across to other fixed sizes.
  virtual std::vector<std::string> bucket_symbols() const { return {"M"}; }
  virtual std::vector<BufferSpec> buffers() const = 0;
  virtual std::vector<Constant> constants() const = 0;  // with their defaults
  virtual std::vector<std::string> constraints() const = 0;  // plan expressions, all true
  virtual std::vector<Shape> search_shapes() const = 0;
  virtual std::vector<Shape> audit_shapes() const = 0;
  virtual Tolerance tolerance() const = 0;

  // Fills every input buffer (allocated here) from seed; same seed, same inputs. InputKind::random
  // is random_inputs(); hard adds the task's hostile rows to it.
  virtual void generate_inputs(const Shape& s, uint64_t seed, InputKind kind,
                               HostBuffers& inputs) const = 0;
  // fp64 reference of one row (the last dimension) of an output; `row` counts the rows of the
  // output flattened to [rows, last]. Sampled rows check the GPU reference at run time. `c`: the
  // task's constants as resolve_constants gives them (every one present).
  virtual std::vector<double> cpu_reference_row(const Shape& s, const Constants& c, const HostBuffers& inputs,
                                                const std::string& output, int64_t row) const = 0;

  virtual double flops(const Shape& s) const = 0;
  virtual double min_bytes(const Shape& s) const = 0;  // each input read once, output written once

  // The fp32 GPU reference plan (a candidate file whose outputs are f32), relative to the root.
  virtual std::filesystem::path reference_plan() const = 0;
  // The unfused baseline: seeds/<task>/baseline.cu, relative to the root.
  std::filesystem::path baseline_plan() const;

  // Helpers shared by every task.
  // fp64 reference of every output, row by row in parallel (allocated here as f64).
  void cpu_reference(const Shape& s, const Constants& c, const HostBuffers& inputs, HostBuffers& outputs) const;
  std::vector<BufferSpec> inputs() const;
  // Every input, allocated and drawn from its BufferSpec::random (stream: the buffer's name).
  HostBuffers random_inputs(const Shape& s, uint64_t seed) const;
  std::vector<BufferSpec> outputs() const;
  std::vector<int64_t> dims_of(const BufferSpec& b, const Shape& s) const;
  // The product of dims_of; throws ks::Error naming the buffer if it overflows int64.
  int64_t elements_of(const BufferSpec& b, const Shape& s) const;
  // Throws ks::Error, one line naming the symbol or buffer, unless every size symbol is in
  // [1, 2^31-1] (kernels take sizes as int) and every buffer's element count and f64 byte count
  // fit int64. The rule and its reasons: tasks/shape_fit.cpp.
  void check_fits(const Shape& s) const;
  std::string format_shape(const Shape& s) const;  // "M=16,K=4096,N=6144"
  // "16,4096,6144" (in size_symbols order) or "M=16,K=4096,N=6144"; throws ks::Error.
  Shape parse_shape(const std::string& text) const;
};

const std::vector<const Task*>& all_tasks();
const Task* find_task(const std::string& name);  // nullptr if unknown

}  // namespace ks
