// The LLM's side of a candidate: the shipped prompt templates render with every placeholder
// filled, the task contract and helper summary say what they must, and a reply's last fenced
// block becomes a candidate, or a status with a reason.
#include <gtest/gtest.h>

#include <fstream>

#include "agent/llm_reply.h"
#include "agent/prompts.h"
#include "tasks/paths.h"
#include "unit/temp_dir.h"

namespace ks {
namespace {

const Task& rmsnorm() { return *find_task("rmsnorm_linear"); }

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(Prompts, ShippedTemplatesRenderWithTheirPlaceholders) {
  const PromptSet set = load_prompts(default_prompts_dir());
  const std::map<std::string, std::string> vars = {
      {"candidate_format", "FORMAT"}, {"arch", "sm_90a"}, {"helpers", "HELPERS"},
      {"task_contract", "CONTRACT"},  {"device_facts", "GPU"}, {"parent_results", "RESULTS"},
      {"parent_source", "SOURCE"},    {"best_source", "BEST"}, {"failure", "FAILURE"},
      {"parent_a_results", "RA"},     {"parent_a_source", "SA"}, {"parent_b_results", "RB"},
      {"parent_b_source", "SB"}};
  for (auto& [name, text] : set.templates) {
    const std::string out = render_template(text, vars, name);
    EXPECT_EQ(out.find("{{"), std::string::npos) << name;
  }
  EXPECT_NE(render_template(set.templates.at("rewrite"), vars, "rewrite").find("SOURCE"), std::string::npos);
  EXPECT_NE(render_template(set.templates.at("repair"), vars, "repair").find("FAILURE"), std::string::npos);
}

TEST(Prompts, MissingPlaceholderOrTemplateIsAClearError) {
  EXPECT_EQ(render_template("a {{ x }} b", {{"x", "1"}}, "t"), "a 1 b");
  try {
    render_template("a {{y}}", {}, "rewrite.txt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rewrite.txt: no value for the placeholder {{y}}"), std::string::npos) << e.what();
  }
  EXPECT_THROW(render_template("a {{y", {{"y", ""}}, "t"), Error);
  test::TempDir dir;
  try {
    load_prompts(dir.dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("system.txt is missing"), std::string::npos) << e.what();
  }
}

TEST(Prompts, TaskContractAndHelperSummarySayWhatACandidateNeeds) {
  const std::string c = task_contract(rmsnorm());
  for (auto s : {"rmsnorm_linear", "X[M, K] bf16, input", "Y[M, N] bf16, output", "constant eps", "K % 8 == 0",
                 "M=2048,K=4096,N=6144", "held-out"})
    EXPECT_NE(c.find(s), std::string::npos) << s << " in\n" << c;
  const std::string h = helper_summary(project_root() / "seeds" / "include");
  for (auto s : {"<ks/vec.cuh>", "uint4 load8(const __nv_bfloat16* p);", "// Loads 8 bf16 through the read-only",
                 "<ks/wgmma.cuh>", "wgmma_desc_sw128(const void* tile);", "struct OnlineSoftmax {",
                 "float add(float x);", "struct SwizzledTileLoader {", "void load(unsigned char* tile, int k0) const;", "mul8_sumsq(uint4 x, uint4 g, float& sumsq);"})
    EXPECT_NE(h.find(s), std::string::npos) << s << " in\n" << h;
  EXPECT_EQ(h.find("asm volatile"), std::string::npos) << "bodies are left out";
}

TEST(LlmReply, TheLastCompleteFencedBlockIsTheCandidate) {
  EXPECT_EQ(last_code_block("text\n```c++\nfirst\n```\nmore\n```cuda\nsecond\nline\n```\nbye"), "second\nline\n");
  EXPECT_EQ(last_code_block("```\nonly\n```"), "only\n");
  EXPECT_EQ(last_code_block("```c++\ndone\n```\n```c++\nunterminated"), "done\n");
  EXPECT_FALSE(last_code_block("no code here"));
  EXPECT_FALSE(last_code_block("```c++\nnever closed"));
}

TEST(LlmReply, ReplyBecomesACandidateOrAStatusWithAReason) {
  const std::string seed = read(project_root() / "seeds" / "rmsnorm_linear" / "gemv_fused.cu");
  ReplyCandidate ok = candidate_from_reply("Here it is:\n```c++\n" + seed + "```\n", rmsnorm(), "llm 1");
  ASSERT_EQ(ok.status, "ok") << ok.reason;
  EXPECT_EQ(ok.candidate->plan.name, "gemv_fused");

  EXPECT_EQ(candidate_from_reply("I cannot help with that.", rmsnorm(), "llm 2").status, "no_code_block");

  ReplyCandidate cut = truncated_reply(4096);
  EXPECT_EQ(cut.status, "truncated");
  EXPECT_FALSE(cut.candidate);
  EXPECT_NE(cut.reason.find("hit the --llm-max-tokens limit of 4096"), std::string::npos) << cut.reason;

  ReplyCandidate bad = candidate_from_reply("```c++\n/* ksearch { \"task\": \"rmsnorm_linear\", */\n```", rmsnorm(), "llm 3");
  EXPECT_EQ(bad.status, "bad_plan");
  EXPECT_FALSE(bad.reason.empty());

  const std::string other = read(project_root() / "seeds" / "swiglu_mlp" / "mma_gemv.cu");
  ReplyCandidate wrong = candidate_from_reply("```\n" + other + "```", rmsnorm(), "llm 4");
  EXPECT_EQ(wrong.status, "wrong_task");
  EXPECT_NE(wrong.reason.find("swiglu_mlp"), std::string::npos) << wrong.reason;
}

}  // namespace
}  // namespace ks
