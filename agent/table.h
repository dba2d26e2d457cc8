#pragma once
// A plain-text table: columns sized to their widest cell, numbers right-aligned.
#include <ostream>
#include <string>
#include <vector>

#include "evaluator/eval_types.h"

namespace ks::cli {

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
// "plan.steps[0] (rms_rows) 2.3 us; plan.steps[1] (gemm) 11.0 us"
std::string step_split(const std::vector<StepTime>& steps);

}  // namespace ks::cli
