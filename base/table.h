#pragma once
// A plain-text table: columns sized to their widest cell, numbers right-aligned.
#include <ostream>
#include <string>
#include <vector>

namespace ks {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(std::ostream& os) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

std::string fixed(double v, int decimals);  // "12.34"; "-" for NaN

}  // namespace ks
