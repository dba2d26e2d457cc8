// A short real search on the GPU with LLM proposals: a loopback server plays three hand-written
// rewrites of the gemv_fused seed's search (one better: the mma_gemv design, tuned; one wrong: it
// drops gamma; one that does not compile), then 401. Each lands in the archive with the right
// status, and the better one becomes the best on the shape.
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <regex>

#include "base/paths.h"
#include "db/archive.h"
#include "gpu/gpu_test.h"
#include "unit/loopback_http.h"
#include "unit/run_ksearch.h"

namespace ks {
namespace {

std::string seed_text(const std::string& file) {
  std::ifstream in(project_root() / "seeds" / "rmsnorm_linear" / file);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::string renamed(std::string text, const std::string& from, const std::string& to) {
  return std::regex_replace(text, std::regex("\"name\": \"" + from + "\""), "\"name\": \"" + to + "\"");
}

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::string reply_with(const std::string& why, const std::string& candidate) {
  return ::test::chat_completion(why + "\n\n```cuda\n" + candidate + "```\n", 3000, 2500);
}

TEST(GpuLlm, HandWrittenRewritesLandWithTheirStatusAndTheBetterOneBecomesTheBest) {
  KS_REQUIRE_GPU();
  // Better: the tensor-core GEMV, its defaults the parameters that won M=16 in the issue 6 search.
  std::string better = renamed(seed_text("mma_gemv.cu"), "mma_gemv", "llm_better");
  better = replace_once(better, "\"KSPLIT\": [8, 2, 4, 16]", "\"KSPLIT\": [16, 2, 4, 8]");
  better = replace_once(better, "\"UNROLL\": [4, 1, 2, 8]", "\"UNROLL\": [1, 2, 4, 8]");
  better = replace_once(better, "\"WR\": [1, 2]", "\"WR\": [2, 1]");
  // Wrong: gamma read as all ones.
  const std::string wrong = replace_once(renamed(seed_text("gemv_fused.cu"), "gemv_fused", "llm_wrong"),
                                         "ks::unpack8(ks::load8(gamma + 8 * c), g);",
                                         "for (int j = 0; j < 8; ++j) g[j] = 1.0f;");
  // Does not compile: an undeclared name.
  const std::string broken = replace_once(renamed(seed_text("gemv_fused.cu"), "gemv_fused", "llm_broken"),
                                          "float g[8];", "float g[8]; acc_total += 1;");
  ::test::LoopbackHttpServer server({
      {200, reply_with("Tensor cores with W on the 16-row side.", better), {}, 0},
      {200, reply_with("Gamma is close to 1; skip it.", wrong), {}, 0},
      {200, reply_with("Count the work.", broken), {}, 0},
      {401, "{\"error\": {\"message\": \"key revoked\"}}", {}, 0},
  });
  const std::string db = (std::filesystem::temp_directory_path() / ("ksearch_gpu_llm_" + std::to_string(getpid()) + ".db")).string();
  for (auto ext : {"", "-wal", "-shm"}) std::filesystem::remove(db + ext);
  const cli_test::Outcome r = cli_test::ksearch(
      "run --task rmsnorm_linear --seeds " + (project_root() / "seeds/rmsnorm_linear/gemv_fused.cu").string() +
      " --shape 16,4096,6144 --seed 11 --seed-variants 4 --max-evals 40 --db " + db + " --llm-url " + server.url() +
      " --llm-model hand-written --llm-concurrency 1 --llm-turns 1");
  std::cout << r.out;
  ASSERT_EQ(r.code, 0) << r.out;

  Archive a(db, Archive::Mode::existing);
  const RunRecord run = a.runs().at(0);
  // Replies are taken once per batch, so the run may end before the 401 is: it is checked when there.
  const auto calls = a.llm_calls(run.id);
  ASSERT_GE(calls.size(), 3u);
  std::map<int64_t, EvaluationRecord> eval_of;
  for (auto& e : a.evaluations("rmsnorm_linear", run.device)) eval_of[e.candidate_id] = e;
  std::map<int64_t, std::string> source_name;
  for (auto& src : a.sources("rmsnorm_linear")) source_name[src.id] = src.name;
  std::map<std::string, int64_t> candidate_named;  // the LLM's candidates by plan name
  for (auto& c : a.candidates("rmsnorm_linear"))
    if (c.origin.starts_with("llm_")) candidate_named[source_name.at(c.source_id)] = c.id;
  std::cout << "\n| reply | LLM call | evaluation | median us | speedup | error |\n|---|---|---|---|---|---|\n";
  for (const LlmCallRecord& call : calls) {
    std::string name = "-";
    for (auto& [n, id] : candidate_named)
      if (call.candidate_id == id) name = n;
    std::cout << "| " << name << " | " << call.status << " | ";
    if (call.candidate_id) {
      const EvaluationRecord& e = eval_of.at(*call.candidate_id);
      std::cout << e.status << " | " << (e.median_us ? std::to_string(*e.median_us) : "-") << " | "
                << (e.speedup ? std::to_string(*e.speedup) : "-") << " | " << e.error.substr(0, 80);
    } else {
      std::cout << "- | - | - | " << call.error.substr(0, 80);
    }
    std::cout << " |\n";
  }
  for (size_t i = 0; i < calls.size(); ++i) EXPECT_EQ(calls[i].status, i < 3 ? "ok" : "http_401");
  ASSERT_EQ(candidate_named.size(), 3u);
  EXPECT_EQ(eval_of.at(candidate_named.at("llm_better")).status, Status::ok);
  EXPECT_EQ(eval_of.at(candidate_named.at("llm_wrong")).status, Status::wrong);
  EXPECT_EQ(eval_of.at(candidate_named.at("llm_broken")).status, Status::compile_error);
  EXPECT_NE(eval_of.at(candidate_named.at("llm_broken")).error.find("acc_total"), std::string::npos);
  const int64_t better_id = candidate_named.at("llm_better");

  // The best on the shape: the better rewrite, or a parameter variant the search made of it.
  int64_t best = 0;
  double best_speedup = 0;
  for (auto& [id, e] : eval_of)
    if (e.status == Status::ok && e.speedup.value_or(0) > best_speedup) best = id, best_speedup = *e.speedup;
  int64_t source_of_better = 0, source_of_best = 0;
  for (auto& c : a.candidates("rmsnorm_linear")) {
    if (c.id == better_id) source_of_better = c.source_id;
    if (c.id == best) source_of_best = c.source_id;
  }
  EXPECT_EQ(source_of_best, source_of_better) << "the best is candidate " << best << ", not the better rewrite";
  std::cout << "best: candidate " << best << " at " << std::fixed << std::setprecision(2) << best_speedup
            << "x; the better rewrite itself " << *eval_of.at(better_id).speedup << "x\n";
  for (auto ext : {"", "-wal", "-shm"}) std::filesystem::remove(db + ext);
}

}  // namespace
}  // namespace ks
