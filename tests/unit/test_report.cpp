// `ksearch report`: the HTML builder on hand-made data (escaping, charts, leader anchors, the
// status counts, nothing fetched or run), and the command on the archive of a short fake search
// (the fake worker, as in test_run_cli.cpp) with the errors a user can make.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "agent/report/report_html.h"
#include "db/archive.h"
#include "unit/run_ksearch.h"
#include "unit/temp_dir.h"

namespace ks {
namespace {

namespace fs = std::filesystem;
using cli::ReportData;
using cli_test::ksearch_env;
using cli_test::Outcome;
using cli_test::kFake;
using cli_test::lines;


size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

std::string read(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// The cells' text of the row of `shape` in the table after `heading`, tags dropped.
std::vector<std::string> row_cells(const std::string& html, const std::string& heading, const std::string& shape) {
  const size_t table = html.find("<table", html.find(heading));
  const size_t row = html.rfind("<tr>", html.find(">" + shape + "</td>", table));
  const std::string tr = html.substr(row, html.find("</tr>", row) - row);
  std::vector<std::string> cells;
  for (size_t at = tr.find("<td"); at != std::string::npos; at = tr.find("<td", at + 1)) {
    const size_t start = tr.find('>', at) + 1;
    cells.push_back(tr.substr(start, tr.find("</td>", start) - start));
  }
  return cells;
}

ReportData sample() {
  ReportData d;
  d.archive_path = "/tmp/a&b.db";
  d.generated_at = "2026-01-01 00:00:00 UTC";
  d.runs.push_back({1, "rmsnorm_linear", "Fake GPU", "budget", 12, 3});
  cli::ReportSection& sec = d.sections.emplace_back();
  sec.task = "rmsnorm_linear";
  sec.device = "Fake GPU";
  sec.evaluations = 12;
  sec.candidates = 9;
  sec.llm_calls_by_status = {{"ok", 2}, {"no_code_block", 1}};
  cli::ReportShape& a = sec.shapes.emplace_back();
  a.shape = "M=1,K=8,N=8";
  a.best_steps = {{1, 0.5}, {4, 1.3}, {9, 2.1}};
  a.baseline_us = 10.0;
  a.best_us = 4.8;
  a.floor_us = 2.0;
  a.leaders.push_back({7, "gemv<fused>", "{\"BLOCK\":128}", "mutate", 4.8, 2.1, 41.7, "passed 4/4"});
  a.leaders.push_back({9, "tiled", "{}", "seed", 7.7, 1.3, std::nullopt, "-"});
  a.by_status = {{"ok", 2}, {"compile_error", 3}};
  cli::ReportShape& b = sec.shapes.emplace_back();
  b.shape = "M=64,K=8,N=8";  // nothing correct here
  b.baseline_us = 20.0;
  b.floor_us = 5.0;
  b.by_status = {{"wrong", 4}, {"timeout", 1}};
  d.sources.push_back({7, "gemv<fused>", "{\"BLOCK\":128}", "if (a < b && c) { /* <script>& */ }"});
  d.sources.push_back({9, "tiled", "{}", "int main() {}"});
  return d;
}

TEST(ReportHtml, EscapesEverythingFromTheArchive) {
  EXPECT_EQ(cli::html_escape("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
  const std::string html = cli::report_html(sample());
  EXPECT_NE(html.find("<pre>if (a &lt; b &amp;&amp; c) { /* &lt;script&gt;&amp; */ }</pre>"), std::string::npos) << html;
  EXPECT_NE(html.find("gemv&lt;fused&gt;"), std::string::npos);
  EXPECT_NE(html.find("/tmp/a&amp;b.db"), std::string::npos);
  EXPECT_EQ(html.find("gemv<fused>"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos) << "a source's text got through unescaped";
  EXPECT_EQ(html.find("http"), std::string::npos) << "the page must not fetch or link anything outside it";
}

TEST(ReportHtml, DrawsChartsAndLinksEachLeaderToItsSource) {
  const std::string html = cli::report_html(sample());
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>"));
  EXPECT_EQ(count(html, "<svg"), 2u) << "the speedup chart and the bars";
  EXPECT_EQ(count(html, "<polyline"), 1u) << "one step line: the second shape has nothing correct";
  EXPECT_NE(html.find("stroke-dasharray"), std::string::npos) << "the baseline at 1.0x is dashed";
  EXPECT_NE(html.find("baseline 1.0x"), std::string::npos);
  EXPECT_NE(html.find("best 4.8 \xC2\xB5s"), std::string::npos) << "bars carry their values";
  EXPECT_NE(html.find("roofline floor 5.0 \xC2\xB5s"), std::string::npos);
  for (const std::string id : {"7", "9"}) {
    EXPECT_EQ(count(html, "href=\"#cand-" + id + "\""), 1u) << id;
    EXPECT_EQ(count(html, "id=\"cand-" + id + "\""), 1u) << id;
  }
  EXPECT_LT(html.find("href=\"#cand-7\""), html.find("id=\"cand-7\"")) << "the sources come after the leaders";
  const auto leader = row_cells(html, "Leaders", "M=1,K=8,N=8");
  ASSERT_EQ(leader.size(), 10u);
  EXPECT_EQ(leader[5], "mutate");
  EXPECT_EQ(leader[7], "2.10x");
  EXPECT_EQ(leader[8], "42");
  EXPECT_EQ(leader[9], "passed 4/4");
  EXPECT_NE(html.find("no correct candidate yet"), std::string::npos);
}

TEST(ReportHtml, CountsEvaluationsByStatusPerShape) {
  const std::string html = cli::report_html(sample());
  const size_t table = html.find("<table", html.find("Evaluations by status"));
  const std::string header = html.substr(table, html.find("</tr>", table) - table);
  EXPECT_NE(header.find("<th>shape</th><th>ok</th><th>compile_error</th><th>timeout</th><th>wrong</th><th>total</th>"),
            std::string::npos) << header;
  EXPECT_EQ(row_cells(html, "Evaluations by status", "M=1,K=8,N=8"),
            (std::vector<std::string>{"M=1,K=8,N=8", "2", "3", "0", "0", "5"}));
  EXPECT_EQ(row_cells(html, "Evaluations by status", "M=64,K=8,N=8"),
            (std::vector<std::string>{"M=64,K=8,N=8", "0", "0", "1", "4", "5"}));
  EXPECT_EQ(row_cells(html, "LLM calls by status", "no_code_block"), (std::vector<std::string>{"no_code_block", "1"}));
}

TEST(ReportCli, WritesOnePageForAFakeSearch) {
  test::TempDir t;
  const std::string db = t.file("a.db"), out = t.file("report.html");
  Outcome run = ksearch_env(kFake, "run --task rmsnorm_linear --max-evals 12 --seed 3 --db " + db);
  ASSERT_EQ(run.code, 0) << run.out;
  Outcome r = ksearch_env("", "report --db " + db + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(lines(r.out), 1) << r.out;
  std::set<std::string> shapes;  // 12 evaluations of generation 0 may not reach every search shape
  for (auto& e : Archive(db, Archive::Mode::existing).evaluations("", "")) shapes.insert(e.shape);
  ASSERT_FALSE(shapes.empty());
  EXPECT_NE(r.out.find("wrote " + out + ": 1 task on 1 task/GPU pair, " + std::to_string(shapes.size()) + " shape"),
            std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out + ".tmp"));
  const std::string html = read(out);
  EXPECT_NE(html.find("rmsnorm_linear on Fake GPU"), std::string::npos);
  for (auto& shape : shapes) EXPECT_NE(html.find("<td>" + shape + "</td>"), std::string::npos) << shape;
  EXPECT_GE(count(html, "<svg"), 2u);
  const size_t link = html.find("href=\"#cand-");
  ASSERT_NE(link, std::string::npos) << "no leader";
  const std::string leader = html.substr(link + 12, html.find('"', link + 12) - link - 12);
  EXPECT_NE(html.find("<details id=\"cand-" + leader + "\">"), std::string::npos) << leader;
  EXPECT_NE(html.find("extern &quot;C&quot; __global__"), std::string::npos) << "sources are shown, escaped";
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);

  // The same with the filters that select it, and one that selects nothing.
  EXPECT_EQ(ksearch_env("", "report --task rmsnorm_linear --device 'Fake GPU' --db " + db + " --out " + out).code, 0);
  Outcome none = ksearch_env("", "report --gpu-model 'No Such GPU' --db " + db + " --out " + t.file("none.html"));
  EXPECT_EQ(none.code, 2) << none.out;
  EXPECT_EQ(lines(none.out), 1) << none.out;
  EXPECT_NE(none.out.find("no evaluations in " + db + " on No Such GPU"), std::string::npos) << none.out;
  EXPECT_FALSE(fs::exists(t.file("none.html")));
}

TEST(ReportCli, UserErrorsAreOneClearLine) {
  test::TempDir t;
  const std::string db = t.file("a.db"), out = t.file("r.html");
  Archive(db).add_run(RunRecord{});  // an archive with nothing evaluated in it
  const struct {
    std::string args, says;
  } cases[] = {
      {"report --db " + t.file("missing.db") + " --out " + out, "no archive at " + t.file("missing.db")},
      {"report --task no_such_task --db " + db + " --out " + out, "unknown task 'no_such_task'"},
      {"report --db " + db + " --out " + out, "no evaluations in " + db + " to report"},
      {"report --db " + db, "--out is required"},
  };
  for (auto& c : cases) {
    Outcome r = ksearch_env("", c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out;
    EXPECT_EQ(lines(r.out), 1) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.says), std::string::npos) << c.args << "\n" << r.out;
  }
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(t.file("missing.db"))) << "a report never creates an archive";
  Outcome help = ksearch_env("", "report --help");
  EXPECT_EQ(help.code, 0) << help.out;
  EXPECT_NE(help.out.find("--out"), std::string::npos) << help.out;
}

// An unwritable --out: one line, exit 2, nothing left behind. Needs an archive with evaluations.
TEST(ReportCli, AnUnwritableOutIsOneClearLine) {
  test::TempDir t;
  const std::string db = t.file("a.db");
  {
    Archive a(db);
    RunRecord run;
    run.task = "rmsnorm_linear";
    run.device = "Fake GPU";
    SourceRecord src;
    src.hash = "h";
    src.task = "rmsnorm_linear";
    src.name = "k";
    src.text = "x";
    CandidateRecord c;
    c.key = "k";
    c.task = "rmsnorm_linear";
    c.params = "{}";
    c.origin = "seed";
    c.run_id = a.add_run(run);
    EvaluationRecord e;
    e.candidate_id = a.add_candidate(src, c);
    e.run_id = c.run_id;
    e.device = "Fake GPU";
    e.shape = "M=1,K=8,N=8";
    e.status = Status::wrong;
    ASSERT_TRUE(a.add_evaluation(e));
  }
  for (const std::string& out : {t.file("no/such/folder/r.html"), t.dir.string()}) {
    Outcome r = ksearch_env("", "report --db " + db + " --out " + out);
    EXPECT_EQ(r.code, 2) << out << "\n" << r.out;
    EXPECT_EQ(lines(r.out), 1) << r.out;
    EXPECT_NE(r.out.find("cannot write"), std::string::npos) << r.out;
    EXPECT_FALSE(fs::exists(out + ".tmp"));
  }
  // The same archive can be reported: a shape with nothing correct is a page too.
  Outcome ok = ksearch_env("", "report --db " + db + " --out " + t.file("r.html"));
  EXPECT_EQ(ok.code, 0) << ok.out;
  EXPECT_NE(read(t.file("r.html")).find("no correct candidate yet"), std::string::npos);
}

}  // namespace
}  // namespace ks
