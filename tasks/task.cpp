#include "tasks/task.h"

#include <algorithm>
#include <charconv>
#include <sstream>

#include "base/error.h"
#include "base/parallel.h"
#include "base/random.h"
#include "tasks/gemm/gemm.h"
#include "tasks/rmsnorm_linear/rmsnorm_linear.h"
#include "tasks/softmax_matmul/softmax_matmul.h"
#include "tasks/swiglu_mlp/swiglu_mlp.h"

namespace ks {

std::filesystem::path Task::baseline_plan() const {
  return std::filesystem::path("seeds") / name() / "baseline.cu";
}

std::vector<BufferSpec> Task::inputs() const {
  std::vector<BufferSpec> r;
  for (auto& b : buffers())
    if (b.role == Role::in) r.push_back(b);
  return r;
}

HostBuffers Task::random_inputs(const Shape& s, uint64_t seed) const {
  HostBuffers in;
  for (auto& b : inputs()) {
    HostBuffer h(b.dtype, dims_of(b, s));
    fill_normal(h, stream_seed(seed, b.name), b.random.mean, b.random.stddev);
    in[b.name] = std::move(h);
  }
  return in;
}

std::vector<BufferSpec> Task::outputs() const {
  std::vector<BufferSpec> r;
  for (auto& b : buffers())
    if (b.role == Role::out) r.push_back(b);
  return r;
}

std::vector<int64_t> Task::dims_of(const BufferSpec& b, const Shape& s) const {
  std::vector<int64_t> d;
  for (auto& sym : b.dims) {
    if (auto it = s.find(sym); it != s.end()) {
      d.push_back(it->second);
      continue;
    }
    int64_t literal = 0;
    auto [p, ec] = std::from_chars(sym.data(), sym.data() + sym.size(), literal);
    if (ec != std::errc() || p != sym.data() + sym.size())
      throw Error(name() + ": shape " + format_shape(s) + " has no size " + sym);
    d.push_back(literal);
  }
  return d;
}

void Task::cpu_reference(const Shape& s, const Constants& c, const HostBuffers& inputs, HostBuffers& outputs) const {
  for (auto& spec : this->outputs()) {
    HostBuffer out(DType::f64, dims_of(spec, s));
    const size_t row = static_cast<size_t>(out.dims.back()), rows = out.count() / row;
    parallel_for(rows, [&](size_t b, size_t e) {
      for (size_t r = b; r < e; ++r) {
        auto values = cpu_reference_row(s, c, inputs, spec.name, static_cast<int64_t>(r));
        for (size_t i = 0; i < row; ++i) out.set(r * row + i, values[i]);
      }
    }, 1);
    outputs[spec.name] = std::move(out);
  }
}

std::string Task::format_shape(const Shape& s) const {
  std::string r;
  for (auto& sym : size_symbols()) {
    if (!r.empty()) r += ',';
    auto it = s.find(sym);
    r += sym + "=" + (it == s.end() ? std::string("?") : std::to_string(it->second));
  }
  return r;
}

static int64_t parse_size(const std::string& text, const std::string& whole) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v <= 0)
    throw Error("shape '" + whole + "': '" + text + "' is not a positive integer");
  return v;
}

Shape Task::parse_shape(const std::string& text) const {
  auto syms = size_symbols();
  std::vector<std::string> parts;
  std::stringstream ss(text);
  for (std::string p; std::getline(ss, p, ',');) parts.push_back(p);
  std::string expected;
  for (auto& s : syms) expected += (expected.empty() ? "" : ",") + s;
  if (parts.size() != syms.size())
    throw Error("shape '" + text + "': " + name() + " needs " + std::to_string(syms.size()) +
                " sizes (" + expected + ")");
  Shape shape;
  for (size_t i = 0; i < parts.size(); ++i) {
    auto eq = parts[i].find('=');
    if (eq == std::string::npos) {
      shape[syms[i]] = parse_size(parts[i], text);
      continue;
    }
    std::string sym = parts[i].substr(0, eq);
    if (std::find(syms.begin(), syms.end(), sym) == syms.end())
      throw Error("shape '" + text + "': " + name() + " has no size " + sym + " (sizes: " +
                  expected + ")");
    if (shape.count(sym)) throw Error("shape '" + text + "': " + sym + " given twice");
    shape[sym] = parse_size(parts[i].substr(eq + 1), text);
  }
  return shape;
}

const std::vector<const Task*>& all_tasks() {
  static const std::vector<const Task*> tasks = {&rmsnorm_linear_task(), &swiglu_mlp_task(),
                                                  &softmax_matmul_task(), &gemm_task()};
  return tasks;
}

const Task* find_task(const std::string& name) {
  for (auto* t : all_tasks())
    if (t->name() == name) return t;
  return nullptr;
}

}  // namespace ks
