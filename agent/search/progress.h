#pragma once
// What `ksearch run` shows while it searches: a live line on a terminal (rewritten in place, on
// stderr), a line every ten seconds elsewhere, or one JSON object per evaluation on stdout
// (--json); and the closing summary.
#include <chrono>
#include <iosfwd>
#include <string>

#include "agent/search/driver.h"

namespace ks::cli {

// "M=16,K=4096,N=6144" -> "16,4096,6144"
std::string compact_shape(const std::string& shape);

class ProgressPrinter {
 public:
  ProgressPrinter(bool json, const Population& pop);
  void update(const SearchProgress& p);  // after every evaluation
  void finish();                         // ends the live line

 private:
  std::string line(const SearchProgress& p) const;

  bool json_, tty_;
  const Population& pop_;
  std::chrono::steady_clock::time_point last_;
  bool shown_ = false;
};

void print_summary(std::ostream& os, const SearchSummary& sum, const Population& pop,
                   const RunRecord& run, const std::string& archive_path);

}  // namespace ks::cli
