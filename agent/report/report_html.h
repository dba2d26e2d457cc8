#pragma once
// The HTML of `ksearch report`, built from plain data (filled from the archive by
// agent/cmd_report.cpp) so it can be tested without one. The page is self-contained: inline CSS
// and inline SVG, no script, nothing fetched, so it can be mailed or archived as one file.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ks::cli {

struct ReportRun {
  int64_t id = 0;
  std::string task, device, state;
  int64_t evaluations = 0;
  double seconds = 0;
  std::string constants;  // what it checked with, "eps=1e-05"; "" for a task without constants
};

// A point where the best speedup on a shape rose: after `evaluation` evaluations of the task on
// the GPU model (in the order they were recorded), the best was `speedup`.
struct BestStep {
  int evaluation = 0;
  double speedup = 0;
};

struct ReportLeader {
  int64_t candidate_id = 0;
  std::string name, params, origin;
  double median_us = 0, speedup = 0;
  std::optional<double> pct_of_floor;
  std::string audit = "-";  // "passed 4/4", "FAILED 1/4", or "-" when never audited here
};

struct ReportShape {
  std::string shape;
  std::vector<BestStep> best_steps;  // rising; empty when nothing was correct on the shape
  std::optional<double> baseline_us, best_us, floor_us;
  std::vector<ReportLeader> leaders;  // fastest first
  std::map<std::string, int> by_status;
};

// One task on one GPU model.
struct ReportSection {
  std::string task, device;
  int evaluations = 0;  // the x range of the chart
  int candidates = 0;   // evaluated here
  std::vector<ReportShape> shapes;
  std::map<std::string, int> llm_calls_by_status;  // of this task's runs on this GPU model
};

struct ReportSource {
  int64_t candidate_id = 0;
  std::string name, params, text;
};

struct ReportData {
  std::string archive_path, generated_at;
  std::vector<ReportRun> runs;
  std::vector<ReportSection> sections;
  std::vector<ReportSource> sources;  // of every leader, each once
};

std::string html_escape(std::string_view text);  // & < > " '
std::string report_html(const ReportData& data);

}  // namespace ks::cli
