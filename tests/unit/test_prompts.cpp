// The LLM's side of a candidate: the shipped prompt templates render with every placeholder
// filled, the task contract and helper summary say what they must, and a reply's last fenced
// block becomes a candidate, or a status with a reason.
#include <gtest/gtest.h>

#include <fstream>
#include <variant>

#include "agent/llm/llm_reply.h"
#include "agent/llm/prompts.h"
#include "base/paths.h"
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

// The system prompt as a run sends it: format.txt (with the helpers) inside system.txt.
std::string rendered_system_prompt() {
  const PromptSet set = load_prompts(default_prompts_dir());
  const std::string helpers = helper_summary(project_root() / "seeds" / "include");
  const std::string format =
      render_template(set.templates.at("format"), {{"arch", "sm_90a"}, {"helpers", helpers}}, "format.txt");
  return render_template(set.templates.at("system"), {{"candidate_format", format}}, "system.txt");
}

// Runs of blanks and line breaks as one space: a rewrap of the template keeps what it says.
std::string one_line(const std::string& text) {
  std::string out;
  for (char ch : text) {
    const bool blank = ch == ' ' || ch == '\n' || ch == '\t';
    if (!blank) out += ch;
    else if (!out.empty() && out.back() != ' ') out += ' ';
  }
  return out;
}

// What models asked of the prompt (issue 17): each answer stays in it, worded as the code does it.
TEST(Prompts, TheSystemPromptAnswersWhatModelsAsked) {
  const std::string raw = rendered_system_prompt();
  const std::string p = one_line(raw);
  RecordProperty("system_prompt_chars", static_cast<int>(raw.size()));
  auto says = [&](const std::string& what, const std::vector<std::string>& phrases) {
    for (auto& s : phrases) EXPECT_NE(p.find(s), std::string::npos) << what << ": \"" << s << "\" is not in\n" << raw;
  };
  says("namespace", {"all in namespace ks", "ks::load8", "ks::block_sum"});
  says("shared memory", {"extern __shared__", "opts a kernel in to \"smem\" over 48 KiB itself",
                         "MaxDynamicSharedMemorySize", "up to the GPU's per-block limit", "static __shared__"});
  says("gemm", {"A gemm step (cuBLASLt)", "\"trans_a\": bool", "\"batch\": expr", "D[m,n] = A[m,k] @ B[k,n]",
                "fp32 accumulation", "B is stored [n,k]", "strided-batched"});
  says("clusters", {"__cluster_dims__(CLUSTER, 1, 1) __launch_bounds__(THREADS)",
                    "grid x must be a multiple of CLUSTER"});
  says("applies", {"not_applicable", "A variant is compiled before applies is checked"});
  says("bulk copies", {"ks::fence_mbarrier_init()", "first calls ks::mbarrier_arrive_expect_tx(&full, total bytes",
                       "only then are the copies", "a multiple of 16", "16-byte aligned",
                       "parity = (use index / slots) & 1"});

  // Every helper the prompt names is one the headers declare, under that name.
  const std::string h = helper_summary(project_root() / "seeds" / "include");
  for (auto name : {"load8(", "block_sum(", "cluster_rank(", "cluster_sync(", "load_cluster_f32(", "mbarrier_init(",
                    "fence_mbarrier_init(", "mbarrier_arrive_expect_tx(", "mbarrier_wait(", "bulk_copy(",
                    "bulk_copy_stream("})
    EXPECT_NE(h.find(name), std::string::npos) << name << " is not among the helpers";
  // The cluster declaration is the one a seed compiles with.
  const std::string decode = read(project_root() / "seeds" / "softmax_matmul" / "flash_decode.cu");
  EXPECT_NE(one_line(decode).find("extern \"C\" __global__ void __cluster_dims__(CLUSTER, 1, 1) __launch_bounds__(THREADS)"),
            std::string::npos);
}

TEST(Prompts, TheSystemPromptsExamplePlanParses) {
  const std::string p = rendered_system_prompt();
  const size_t open = p.find("/* ksearch\n");
  ASSERT_NE(open, std::string::npos) << "no example plan in\n" << p;
  const size_t close = p.find("*/", open);
  ASSERT_NE(close, std::string::npos);
  const Candidate c = parse_candidate(p.substr(open, close + 2 - open) + "\n", "the prompt's example");
  validate_plan(c.plan, rmsnorm());
  ASSERT_EQ(c.plan.steps.size(), 2u);
  const auto* kernel = std::get_if<KernelStep>(&c.plan.steps[0].op);
  ASSERT_TRUE(kernel) << "a kernel step first";
  EXPECT_EQ(kernel->kernel, "rmsnorm");
  const auto* gemm = std::get_if<GemmStep>(&c.plan.steps[1].op);
  ASSERT_TRUE(gemm) << "then a gemm step";
  EXPECT_EQ(gemm->a, "xn");
  EXPECT_EQ(gemm->d, "Y");
  EXPECT_TRUE(gemm->trans_b);
  EXPECT_FALSE(gemm->trans_a);
  // The kernel the example declares takes what the plan passes: the plan's args, in order.
  EXPECT_NE(one_line(p).find("rmsnorm(const __nv_bfloat16* X, const __nv_bfloat16* gamma, __nv_bfloat16* xn, int K, float eps)"),
            std::string::npos);
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
