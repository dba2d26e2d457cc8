#include "tasks/size_sweep.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <optional>
#include <sstream>

#include "base/error.h"

namespace ks {
namespace {

constexpr int64_t kMaxSize = std::numeric_limits<int32_t>::max();  // kernels take sizes as int

// A size in [1, 2^31-1], or nullopt.
std::optional<int64_t> size_of(const std::string& text) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size() || v < 1 || v > kMaxSize)
    return std::nullopt;
  return v;
}

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (auto& n : names) s += (s.empty() ? "" : ",") + n;
  return s;
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::string format_sizes(const Task& task, const Shape& sizes) {
  std::string s;
  for (auto& sym : task.size_symbols())
    if (auto it = sizes.find(sym); it != sizes.end())
      s += (s.empty() ? "" : ",") + sym + "=" + std::to_string(it->second);
  return s.empty() ? "(no fixed sizes)" : s;
}

// The shapes of one fixed set: its sizes with every combination of the bucket points, the
// bucket sizes taken in the task's size order (the first varies slowest).
std::vector<Shape> crossed(const Task& task, const Shape& fixed, const std::map<std::string, BucketRange>& buckets) {
  std::vector<Shape> out = {fixed};
  for (auto& sym : task.size_symbols()) {
    auto it = buckets.find(sym);
    if (it == buckets.end()) continue;
    std::vector<Shape> next;
    for (const Shape& s : out)
      for (int64_t v : bucket_points(it->second)) {
        Shape t = s;
        t[sym] = v;
        next.push_back(std::move(t));
      }
    out = std::move(next);
  }
  return out;
}

}  // namespace

BucketRange parse_bucket_range(const std::string& text) {
  const size_t dash = text.find('-');
  const std::string lo = text.substr(0, dash), hi = dash == std::string::npos ? lo : text.substr(dash + 1);
  const auto l = size_of(lo), h = size_of(hi);
  if (!l || !h)
    throw Error("'" + text + "' is not a range LO-HI (or one size) of sizes in 1 to 2147483647, e.g. 1-4096");
  if (*l > *h) throw Error("'" + text + "': the range starts above its end (give LO-HI with LO <= HI)");
  return {*l, *h};
}

std::string format_bucket_range(const BucketRange& r) {
  return r.lo == r.hi ? std::to_string(r.lo) : std::to_string(r.lo) + "-" + std::to_string(r.hi);
}

std::vector<int64_t> bucket_points(const BucketRange& r) {
  std::vector<int64_t> out = {r.lo};
  for (int64_t p = 1; p < r.hi; p *= 2)
    if (p > r.lo) out.push_back(p);
  if (r.hi != r.lo) out.push_back(r.hi);
  return out;
}

Shape parse_fixed_sizes(const std::string& text) {
  Shape out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error("'" + text + "': '" + item + "' is not NAME=VALUE (give e.g. K=4096,N=6144)");
    const std::string name = item.substr(0, eq);
    const auto v = size_of(item.substr(eq + 1));
    if (!v) throw Error("'" + text + "': " + name + "=" + item.substr(eq + 1) + " is not a size in 1 to 2147483647");
    if (!out.emplace(name, *v).second) throw Error("'" + text + "': " + name + " is given twice");
  }
  if (out.empty()) throw Error("'" + text + "': no sizes given (give e.g. K=4096,N=6144)");
  return out;
}

void check_bucket_symbol(const Task& task, const std::string& sym) {
  const auto buckets = task.bucket_symbols();
  if (contains(buckets, sym)) return;
  if (contains(task.size_symbols(), sym))
    throw Error(sym + " is not a bucket size of " + task.name() + " (its bucket sizes: " + joined(buckets) +
                "; a fixed size such as " + sym + " takes one value)");
  throw Error(task.name() + " has no size " + sym + " (its sizes: " + joined(task.size_symbols()) + ")");
}

void check_fixed_sizes(const Task& task, const Shape& sizes, const std::map<std::string, BucketRange>& buckets) {
  const auto symbols = task.size_symbols();
  for (auto& [name, value] : sizes) {
    if (!contains(symbols, name))
      throw Error(task.name() + " has no size " + name + " (its sizes: " + joined(symbols) + ")");
    if (auto it = buckets.find(name); it != buckets.end())
      throw Error(name + " is given both a value (" + std::to_string(value) + ") and a range (" +
                  format_bucket_range(it->second) + ")");
  }
  std::vector<std::string> missing;
  for (auto& sym : symbols)
    if (!sizes.count(sym) && !buckets.count(sym)) missing.push_back(sym);
  if (!missing.empty())
    throw Error(format_sizes(task, sizes) + " leaves " + task.name() + "'s " + joined(missing) +
                " without a value: give each size a value, or a bucket size (" + joined(task.bucket_symbols()) +
                ") a range");
}

SweptShapes sweep_shapes(const Task& task, const SizeSweep& sweep, const ShapeProblem& problem) {
  for (auto& [sym, range] : sweep.buckets) check_bucket_symbol(task, sym);
  const std::vector<FixedSizes> fixed = sweep.fixed.empty() ? std::vector<FixedSizes>{{}} : sweep.fixed;
  SweptShapes out;
  for (const FixedSizes& f : fixed) {
    check_fixed_sizes(task, f.sizes, sweep.buckets);
    const std::vector<Shape> all = crossed(task, f.sizes, sweep.buckets);
    std::vector<std::string> refused;
    size_t taken = 0;
    for (const Shape& s : all) {
      std::string why = problem(s);
      if (why.empty()) {
        if (std::find(out.shapes.begin(), out.shapes.end(), s) == out.shapes.end()) out.shapes.push_back(s);
        ++taken;
      } else {
        refused.push_back(std::move(why));
      }
    }
    if (taken == 0)
      throw Error(task.name() + ": " + format_sizes(task, f.sizes) + (f.label.empty() ? "" : " (" + f.label + ")") +
                  ": the task takes none of its " + std::to_string(all.size()) + " shape(s); the first: " +
                  refused.front());
    for (auto& why : refused) out.dropped.push_back("left out: " + why);
  }
  return out;
}

std::string describe_sweep(const Task& task, const SizeSweep& sweep) {
  std::string s;
  for (const FixedSizes& f : sweep.fixed)
    s += (s.empty() ? "" : "; ") + format_sizes(task, f.sizes) + (f.label.empty() ? "" : " (" + f.label + ")");
  std::string points;
  for (auto& sym : task.size_symbols()) {
    auto it = sweep.buckets.find(sym);
    if (it == sweep.buckets.end()) continue;
    std::string list;
    for (int64_t v : bucket_points(it->second)) {
      if (!list.empty()) list += ',';
      list += std::to_string(v);
    }
    points += (points.empty() ? "" : " x ") + sym + "=" + list;
  }
  return points.empty() ? s : s + " at " + points;
}

}  // namespace ks
