#include "base/parallel.h"
#include "evaluator/compare.h"

#include <atomic>
#include <cmath>
#include <thread>
#include <utility>
#include <cstdio>
#include <limits>

namespace ks {

static std::string element_name(const std::string& name, const std::vector<int64_t>& dims, size_t i) {
  std::vector<int64_t> idx(dims.size());
  for (size_t d = dims.size(); d-- > 0;) {
    idx[d] = static_cast<int64_t>(i % static_cast<size_t>(dims[d]));
    i /= static_cast<size_t>(dims[d]);
  }
  std::string s = name + "[";
  for (size_t d = 0; d < idx.size(); ++d) {
    if (d) s += ',';
    s += std::to_string(idx[d]);
  }
  return s + "]";
}

Comparison compare_output(const std::string& name, const HostBuffer& got, const HostBuffer& want,
                          const Tolerance& tol) {
  Comparison c;
  const size_t n = want.count();
  if (got.count() != n) {
    c.detail = name + ": " + std::to_string(got.count()) + " elements, want " + std::to_string(n);
    return c;
  }
  const size_t row = want.dims.empty() ? 1 : static_cast<size_t>(want.dims.back());
  const size_t rows = n / std::max<size_t>(row, 1);
  // Rows in parallel (an output of 12.6M elements took 0.15 s on one core, six times per
  // evaluation); each chunk keeps its own sums and worst element, merged in chunk order.
  struct Part {
    double ref_sq = 0, diff_sq = 0, worst_err = -1;
    size_t worst = 0, not_finite = 0;
  };
  std::vector<Part> parts(std::max(1u, std::thread::hardware_concurrency()));
  std::atomic<size_t> next{0};
  auto chunks = [&](auto&& fn) {
    next = 0;
    parallel_for(rows, [&](size_t b, size_t e) { fn(parts[next++], b * row, e * row); }, 64);
  };
  // Each chunk sums into locals and writes its Part once: Parts share cache lines.
  chunks([&](Part& p, size_t b, size_t e) {
    double sq = 0;
    for (size_t i = b; i < e; ++i) sq += want.get(i) * want.get(i);
    p.ref_sq = sq;
  });
  double ref_sq = 0;
  for (Part& p : parts) ref_sq += std::exchange(p.ref_sq, 0);
  const double floor_scale = std::max(1e-3 * std::sqrt(ref_sq / std::max<size_t>(n, 1)),
                                      std::numeric_limits<double>::min());
  chunks([&](Part& out, size_t b, size_t e) {
    Part p;
    for (size_t r0 = b; r0 < e; r0 += row) {
      double row_sq = 0;
      for (size_t i = r0; i < r0 + row; ++i) row_sq += want.get(i) * want.get(i);
      const double scale = std::max(std::sqrt(row_sq / row), floor_scale);
      for (size_t i = r0; i < r0 + row; ++i) {
        const double y = got.get(i), ref = want.get(i);
        double err;
        if (!std::isfinite(y) && std::isfinite(ref)) {
          ++p.not_finite;
          err = std::numeric_limits<double>::infinity();
        } else {
          err = std::abs(y - ref) / scale;
          p.diff_sq += (y - ref) * (y - ref);
        }
        if (err > p.worst_err) p.worst_err = err, p.worst = i;
      }
    }
    out = p;
  });
  double diff_sq = 0, worst_err = -1;
  size_t worst = 0;
  for (const Part& p : parts) {
    diff_sq += p.diff_sq;
    c.not_finite += p.not_finite;
    if (p.worst_err > worst_err || (p.worst_err == worst_err && p.worst < worst)) worst_err = p.worst_err, worst = p.worst;
  }
  c.max_scaled = worst_err;
  c.rel_l2 = ref_sq > 0 ? std::sqrt(diff_sq / ref_sq) : std::sqrt(diff_sq);
  c.ok = c.not_finite == 0 && c.max_scaled <= tol.max_scaled && c.rel_l2 <= tol.rel_l2;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s = %.6g, want %.6g (max scaled error %.3g, limit %.3g; rel L2 %.3g, limit %.3g%s)",
                element_name(name, want.dims, worst).c_str(), got.get(worst), want.get(worst),
                c.max_scaled, tol.max_scaled, c.rel_l2, tol.rel_l2,
                c.not_finite ? (", " + std::to_string(c.not_finite) + " elements NaN/Inf").c_str() : "");
  c.detail = buf;
  return c;
}

}  // namespace ks
