#include "evaluator/compare.h"

#include <cmath>
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
  double ref_sq = 0, diff_sq = 0;
  for (size_t i = 0; i < n; ++i) ref_sq += want.get(i) * want.get(i);
  const double floor_scale = std::max(1e-3 * std::sqrt(ref_sq / std::max<size_t>(n, 1)),
                                      std::numeric_limits<double>::min());
  size_t worst = 0;
  double worst_err = -1;
  for (size_t r0 = 0; r0 < n; r0 += row) {
    double row_sq = 0;
    for (size_t i = r0; i < r0 + row; ++i) row_sq += want.get(i) * want.get(i);
    const double scale = std::max(std::sqrt(row_sq / row), floor_scale);
    for (size_t i = r0; i < r0 + row; ++i) {
      const double y = got.get(i), ref = want.get(i);
      double err;
      if (!std::isfinite(y) && std::isfinite(ref)) {
        ++c.not_finite;
        err = std::numeric_limits<double>::infinity();
      } else {
        err = std::abs(y - ref) / scale;
        diff_sq += (y - ref) * (y - ref);
      }
      if (err > worst_err) worst_err = err, worst = i;
    }
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
