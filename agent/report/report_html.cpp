#include "agent/report/report_html.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "base/table.h"

namespace ks::cli {
namespace {

// Every shape's line and swatch takes its colour from here, in shape order.
constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                    "#9467bd", "#8c564b", "#e377c2", "#17becf"};
std::string shape_colour(size_t i) { return kPalette[i % std::size(kPalette)]; }

// No xmlns on the <svg>s: inline SVG in HTML needs none, and the page holds no URL at all.
constexpr const char* kStyle = R"(
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; padding: 0 16px; }
h1 { font-size: 22px; } h2 { font-size: 19px; margin-top: 40px; border-bottom: 1px solid #ccc; }
h3 { font-size: 15px; margin-top: 24px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.zero { color: #bbb; text-align: right; }
.meta { color: #555; }
.legend span.swatch { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px; vertical-align: -1px; }
svg { display: block; margin: 8px 0; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
pre { background: #f7f7f7; padding: 10px; overflow-x: auto; font-size: 12px; }
details { margin: 6px 0; } summary { cursor: pointer; }
)";

std::string num(double v, int decimals) { return fixed(v, decimals); }
std::string num(const std::optional<double>& v, int decimals) { return v ? fixed(*v, decimals) : "-"; }

// A tick spacing of 1, 2 or 5 times a power of ten giving about `ticks` ticks over `range`.
double tick_step(double range, int ticks) {
  const double raw = range / ticks;
  const double magnitude = std::pow(10, std::floor(std::log10(raw)));
  const double r = raw / magnitude;
  return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * magnitude;
}

std::string tick_label(double v, double step) {
  return fixed(v, step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
}

std::string svg_text(double x, double y, const std::string& text, const std::string& attrs = "") {
  return "<text x=\"" + num(x, 1) + "\" y=\"" + num(y, 1) + "\"" + (attrs.empty() ? "" : " " + attrs) + ">" +
         html_escape(text) + "</text>";
}

std::string svg_line(double x1, double y1, double x2, double y2, const std::string& attrs) {
  return "<line x1=\"" + num(x1, 1) + "\" y1=\"" + num(y1, 1) + "\" x2=\"" + num(x2, 1) + "\" y2=\"" + num(y2, 1) +
         "\" " + attrs + "/>";
}

std::string legend(const std::vector<std::pair<std::string, std::string>>& colour_and_label) {
  std::string s = "<div class=\"legend\">";
  for (auto& [colour, label] : colour_and_label)
    s += "<span class=\"swatch\" style=\"background:" + colour + "\"></span>" + html_escape(label);
  return s + "</div>\n";
}

std::string runs_table(const std::vector<ReportRun>& runs) {
  std::string s = "<table><tr><th>run</th><th>task</th><th>device</th><th>state</th><th>evaluations</th><th>seconds</th>"
                  "<th>constants</th></tr>\n";
  for (auto& r : runs)
    s += "<tr><td class=\"num\">" + std::to_string(r.id) + "</td><td>" + html_escape(r.task) + "</td><td>" +
         html_escape(r.device) + "</td><td>" + html_escape(r.state) + "</td><td class=\"num\">" +
         std::to_string(r.evaluations) + "</td><td class=\"num\">" + num(r.seconds, 0) + "</td><td>" +
         (r.constants.empty() ? "-" : html_escape(r.constants)) + "</td></tr>\n";
  return s + "</table>\n";
}

// Best speedup so far per shape against the evaluation count: a step line per shape, the
// baseline dashed at 1.0x.
std::string speedup_chart(const ReportSection& sec) {
  constexpr double W = 760, H = 330, left = 60, right = 90, top = 16, bottom = 48;
  const double pw = W - left - right, ph = H - top - bottom;
  const double xmax = std::max(1, sec.evaluations);
  double ymax = 1;
  for (auto& sh : sec.shapes)
    for (auto& st : sh.best_steps) ymax = std::max(ymax, st.speedup);
  const double ystep = tick_step(ymax * 1.1, 5);
  const double ytop = std::ceil(ymax * 1.1 / ystep) * ystep;
  auto x = [&](double v) { return left + v / xmax * pw; };
  auto y = [&](double v) { return top + ph - v / ytop * ph; };

  std::string s = "<svg width=\"" + num(W, 0) + "\" height=\"" + num(H, 0) + "\" viewBox=\"0 0 " + num(W, 0) + " " +
                  num(H, 0) + "\" role=\"img\" aria-label=\"best speedup against evaluations\">\n";
  for (double v = 0; v <= ytop + ystep / 2; v += ystep) {
    s += svg_line(left, y(v), left + pw, y(v), "stroke=\"#eee\"");
    s += svg_text(left - 6, y(v) + 4, tick_label(v, ystep) + "x", "text-anchor=\"end\"") + "\n";
  }
  const double xstep = std::max(1.0, tick_step(xmax, 8));
  for (double v = 0; v <= xmax + xstep / 2; v += xstep) {
    s += svg_line(x(v), top + ph, x(v), top + ph + 5, "stroke=\"#333\"");
    s += svg_text(x(v), top + ph + 18, tick_label(v, xstep), "text-anchor=\"middle\"") + "\n";
  }
  s += svg_line(left, top, left, top + ph, "stroke=\"#333\"") + svg_line(left, top + ph, left + pw, top + ph, "stroke=\"#333\"");
  s += svg_text(left + pw / 2, H - 8, "evaluations of the task on this GPU model, in the order recorded", "text-anchor=\"middle\"");
  s += svg_text(14, top + ph / 2, "best speedup over the baseline",
                "text-anchor=\"middle\" transform=\"rotate(-90 14 " + num(top + ph / 2, 1) + ")\"") + "\n";
  s += svg_line(left, y(1), left + pw, y(1), "stroke=\"#555\" stroke-dasharray=\"6 4\"");
  s += svg_text(left + pw + 4, y(1) + 4, "baseline 1.0x") + "\n";
  for (size_t i = 0; i < sec.shapes.size(); ++i) {
    const auto& steps = sec.shapes[i].best_steps;
    if (steps.empty()) continue;
    std::string points = num(x(steps[0].evaluation), 1) + "," + num(y(steps[0].speedup), 1);
    for (size_t k = 1; k < steps.size(); ++k)
      points += " " + num(x(steps[k].evaluation), 1) + "," + num(y(steps[k - 1].speedup), 1) + " " +
                num(x(steps[k].evaluation), 1) + "," + num(y(steps[k].speedup), 1);
    points += " " + num(x(xmax), 1) + "," + num(y(steps.back().speedup), 1);
    s += "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" + shape_colour(i) + "\" points=\"" + points + "\"/>\n";
    for (auto& st : steps)  // a point per improvement; its title is the hover text
      s += "<circle r=\"3\" fill=\"" + shape_colour(i) + "\" cx=\"" + num(x(st.evaluation), 1) + "\" cy=\"" +
           num(y(st.speedup), 1) + "\"><title>" + html_escape(sec.shapes[i].shape) + ": " + num(st.speedup, 2) +
           "x after " + std::to_string(st.evaluation) + " evaluations</title></circle>\n";
  }
  s += "</svg>\n";
  std::vector<std::pair<std::string, std::string>> keys;
  for (size_t i = 0; i < sec.shapes.size(); ++i)
    keys.emplace_back(shape_colour(i), sec.shapes[i].shape + (sec.shapes[i].best_steps.empty() ? " (nothing correct yet)" : ""));
  return s + legend(keys);
}

// Baseline, best and roofline floor per shape as horizontal bars. Each shape has its own scale:
// shapes differ by orders of magnitude in time, and one scale would flatten the small ones.
std::string time_bars(const ReportSection& sec) {
  constexpr double W = 760, label_w = 200, bar_max = 440, bar_h = 14, bar_gap = 3, group_gap = 16, top = 8;
  const std::pair<const char*, const char*> kinds[] = {{"#9e9e9e", "baseline"}, {"#2e7d32", "best"}, {"#1565c0", "roofline floor"}};
  const double group_h = 3 * (bar_h + bar_gap) + group_gap;
  const double H = top + sec.shapes.size() * group_h;
  std::string s = "<svg width=\"" + num(W, 0) + "\" height=\"" + num(H, 0) + "\" viewBox=\"0 0 " + num(W, 0) + " " +
                  num(H, 0) + "\" role=\"img\" aria-label=\"baseline, best and floor per shape\">\n";
  for (size_t i = 0; i < sec.shapes.size(); ++i) {
    const ReportShape& sh = sec.shapes[i];
    const std::optional<double> values[] = {sh.baseline_us, sh.best_us, sh.floor_us};
    double scale_max = 0;
    for (auto& v : values) scale_max = std::max(scale_max, v.value_or(0));
    const double y0 = top + i * group_h;
    s += svg_text(label_w - 8, y0 + 1.5 * (bar_h + bar_gap) + 4, sh.shape, "text-anchor=\"end\"") + "\n";
    for (int k = 0; k < 3; ++k) {
      const double y = y0 + k * (bar_h + bar_gap);
      const double w = values[k] && scale_max > 0 ? *values[k] / scale_max * bar_max : 0;
      s += "<rect x=\"" + num(label_w, 1) + "\" y=\"" + num(y, 1) + "\" width=\"" + num(w, 1) + "\" height=\"" +
           num(bar_h, 1) + "\" fill=\"" + kinds[k].first + "\"><title>" + kinds[k].second + "</title></rect>";
      const std::string value = values[k] ? num(*values[k], 1) + " \xC2\xB5s" : k == 1 ? "no correct candidate" : "-";
      s += svg_text(label_w + w + 5, y + bar_h - 3, std::string(kinds[k].second) + " " + value) + "\n";
    }
  }
  s += "</svg>\n";
  return s + legend({{kinds[0].first, "baseline"}, {kinds[1].first, "best"}, {kinds[2].first, "roofline floor"}});
}

std::string leaders_table(const ReportSection& sec) {
  std::string s =
      "<table><tr><th>shape</th><th>rank</th><th>candidate</th><th>name</th><th>params</th><th>origin</th>"
      "<th>median \xC2\xB5s</th><th>speedup</th><th>% of floor</th><th>audit</th></tr>\n";
  for (auto& sh : sec.shapes) {
    if (sh.leaders.empty()) {
      s += "<tr><td>" + html_escape(sh.shape) + "</td><td colspan=\"9\">no correct candidate yet</td></tr>\n";
      continue;
    }
    for (size_t r = 0; r < sh.leaders.size(); ++r) {
      const ReportLeader& l = sh.leaders[r];
      const std::string id = std::to_string(l.candidate_id);
      s += "<tr>" + (r ? std::string() : "<td rowspan=\"" + std::to_string(sh.leaders.size()) + "\">" + html_escape(sh.shape) + "</td>") +
           "<td class=\"num\">" + std::to_string(r + 1) + "</td><td><a href=\"#cand-" + id + "\">#" + id + "</a></td><td>" +
           html_escape(l.name) + "</td><td>" + html_escape(l.params) + "</td><td>" + html_escape(l.origin) +
           "</td><td class=\"num\">" + num(l.median_us, 1) + "</td><td class=\"num\">" + num(l.speedup, 2) +
           "x</td><td class=\"num\">" + num(l.pct_of_floor, 0) + "</td><td>" + html_escape(l.audit) + "</td></tr>\n";
    }
  }
  return s + "</table>\n";
}

// Shapes down, statuses across: ok first, the failure kinds after it.
std::string status_table(const ReportSection& sec) {
  std::set<std::string> seen;
  for (auto& sh : sec.shapes)
    for (auto& [status, n] : sh.by_status) seen.insert(status);
  std::vector<std::string> columns;
  if (seen.erase("ok")) columns.push_back("ok");
  columns.insert(columns.end(), seen.begin(), seen.end());
  std::string s = "<table><tr><th>shape</th>";
  for (auto& c : columns) s += "<th>" + html_escape(c) + "</th>";
  s += "<th>total</th></tr>\n";
  for (auto& sh : sec.shapes) {
    s += "<tr><td>" + html_escape(sh.shape) + "</td>";
    int total = 0;
    for (auto& c : columns) {
      const auto it = sh.by_status.find(c);
      const int n = it == sh.by_status.end() ? 0 : it->second;
      total += n;
      s += std::string(n ? "<td class=\"num\">" : "<td class=\"zero\">") + std::to_string(n) + "</td>";
    }
    s += "<td class=\"num\">" + std::to_string(total) + "</td></tr>\n";
  }
  return s + "</table>\n";
}

std::string llm_table(const std::map<std::string, int>& by_status) {
  std::string s = "<table><tr><th>status</th><th>calls</th></tr>\n";
  for (auto& [status, n] : by_status)
    s += "<tr><td>" + html_escape(status) + "</td><td class=\"num\">" + std::to_string(n) + "</td></tr>\n";
  return s + "</table>\n";
}

std::string section_html(const ReportSection& sec, size_t index) {
  std::string s = "<h2 id=\"sec-" + std::to_string(index) + "\">" + html_escape(sec.task) + " on " +
                  html_escape(sec.device) + "</h2>\n<p class=\"meta\">" + std::to_string(sec.evaluations) +
                  " evaluations of " + std::to_string(sec.candidates) + " candidates on " +
                  std::to_string(sec.shapes.size()) + " shapes.</p>\n";
  s += "<h3>Best speedup against evaluations</h3>\n" + speedup_chart(sec);
  s += "<h3>Times per shape (\xC2\xB5s; each shape on its own scale)</h3>\n" + time_bars(sec);
  s += "<h3>Leaders: the fastest correct candidates per shape</h3>\n" + leaders_table(sec);
  s += "<h3>Evaluations by status</h3>\n" + status_table(sec);
  if (!sec.llm_calls_by_status.empty()) s += "<h3>LLM calls by status</h3>\n" + llm_table(sec.llm_calls_by_status);
  return s;
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string s;
  s.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': s += "&amp;"; break;
      case '<': s += "&lt;"; break;
      case '>': s += "&gt;"; break;
      case '"': s += "&quot;"; break;
      case '\'': s += "&#39;"; break;
      default: s += c;
    }
  }
  return s;
}

std::string report_html(const ReportData& data) {
  std::string s = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>ksearch report: " +
                  html_escape(data.archive_path) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
  s += "<h1>ksearch report</h1>\n<p class=\"meta\">Archive " + html_escape(data.archive_path) + ", generated " +
       html_escape(data.generated_at) + ".</p>\n";
  s += "<h3>Runs</h3>\n" + runs_table(data.runs);
  s += "<ul>\n";
  for (size_t i = 0; i < data.sections.size(); ++i)
    s += "<li><a href=\"#sec-" + std::to_string(i) + "\">" + html_escape(data.sections[i].task) + " on " +
         html_escape(data.sections[i].device) + "</a></li>\n";
  s += "</ul>\n";
  for (size_t i = 0; i < data.sections.size(); ++i) s += section_html(data.sections[i], i);
  if (!data.sources.empty()) {
    s += "<h2 id=\"sources\">Sources of the leaders</h2>\n";
    for (auto& src : data.sources)
      s += "<details id=\"cand-" + std::to_string(src.candidate_id) + "\"><summary>#" + std::to_string(src.candidate_id) +
           " " + html_escape(src.name) + " " + html_escape(src.params) + "</summary>\n<pre>" + html_escape(src.text) +
           "</pre></details>\n";
  }
  return s + "</body>\n</html>\n";
}

}  // namespace ks::cli
