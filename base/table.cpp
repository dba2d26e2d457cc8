#include "base/table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ks {

static bool numeric(const std::string& s) {
  return !s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' || s[0] == '.');
}

void Table::print(std::ostream& os) const {
  std::vector<size_t> width(header_.size());
  for (size_t c = 0; c < header_.size(); ++c) width[c] = header_[c].size();
  for (auto& r : rows_)
    for (size_t c = 0; c < r.size() && c < width.size(); ++c) width[c] = std::max(width[c], r[c].size());
  auto line = [&](const std::vector<std::string>& r, bool is_header) {
    std::string s;
    for (size_t c = 0; c < width.size(); ++c) {
      const std::string cell = c < r.size() ? r[c] : "";
      const std::string pad(width[c] - cell.size(), ' ');
      const bool right = !is_header && numeric(cell);
      s += (c ? "  " : "") + (right ? pad + cell : cell + (c + 1 < width.size() ? pad : ""));
    }
    os << s << '\n';
  };
  line(header_, true);
  for (auto& r : rows_) line(r, false);
}

std::string fixed(double v, int decimals) {
  if (std::isnan(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace ks
