// The LLM operators' side that needs no server: the conversations they open hold what the issue
// asks for (the parent with its measurements, the best, the GPU's facts, the helpers; a failure's
// log), they decline when the population offers them nothing, and operator weights adapt to what
// paid off.
#include <gtest/gtest.h>

#include <fstream>

#include "agent/llm/llm_operators.h"
#include "agent/search/operator_weights.h"
#include "base/paths.h"

namespace ks {
namespace {

const std::string kShape = "M=16,K=4096,N=6144";

std::string tiny_seed(const std::string& name) {
  std::ifstream in(std::string(KSEARCH_SOURCE_DIR) + "/tests/fixtures/llm/tiny_seed.cu");
  std::string s{std::istreambuf_iterator<char>(in), {}};
  s.replace(s.find("\"tiny\""), 6, "\"" + name + "\"");
  return s;
}

// Two sources; a: correct at 2x, b: correct at 3x, c (of a's source): failed to compile.
struct Fixture {
  Population pop;
  PromptSet prompts = load_prompts(default_prompts_dir());
  LlmFacts facts;
  size_t a, b, c;

  Fixture() {
    facts.task = find_task("rmsnorm_linear");
    facts.prompts = &prompts;
    facts.contract = "CONTRACT-TEXT";
    facts.device = device_facts(DeviceInfo{0, "NVIDIA H100 80GB HBM3", 9, 0, "sm_90a", 132, 50u << 20, 232448, 0, 0, 0},
                                Ceilings{2.99e12, 7.85e14});
    facts.helpers = "HELPER-DECLS";
    facts.arch = "sm_90a";
    facts.floor_us[kShape] = 16.9;
    facts.baseline_us[kShape] = 26.7;
    const size_t sa = pop.add_source(std::make_shared<const Candidate>(parse_candidate(tiny_seed("alpha"), "a.cu")));
    const size_t sb = pop.add_source(std::make_shared<const Candidate>(parse_candidate(tiny_seed("beta"), "b.cu")));
    a = add(sa, 128, 1);
    b = add(sb, 128, 2);
    c = add(sa, 256, 3);
    EvaluationRecord& ra = pop.members()[a].results[kShape];
    ra.speedup = 2.0, ra.median_us = 13.3, ra.registers = 40, ra.smem_bytes = 128, ra.spill_bytes = 0;
    EvaluationRecord& rb = pop.members()[b].results[kShape];
    rb.speedup = 3.0, rb.median_us = 8.9;
    EvaluationRecord& rc = pop.members()[c].results[kShape];
    rc.status = Status::compile_error;
    rc.error = "tiny.cu(40): error: identifier \"acc2\" is undefined";
  }
  size_t add(size_t source, int64_t threads, int64_t id) {
    Member m;
    m.id = id;
    m.source = source;
    m.variant = {{"THREADS", threads}};
    m.key = candidate_key(pop.sources()[source].hash, m.variant);
    return pop.add_member(std::move(m));
  }
};

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(LlmOperators, RewriteShowsTheParentItsMeasurementsTheBestAndTheGpu) {
  Fixture f;
  Rng rng(1);
  auto c = open_conversation("llm_rewrite", f.pop, kShape, f.facts, {}, rng);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->messages.size(), 2u);
  EXPECT_EQ(c->messages[0].role, "system");
  EXPECT_TRUE(has(c->messages[0].content, "HELPER-DECLS")) << "the helpers are in the candidate format";
  EXPECT_TRUE(has(c->messages[0].content, "for sm_90a"));
  const std::string& u = c->messages[1].content;
  EXPECT_TRUE(has(u, "CONTRACT-TEXT"));
  EXPECT_TRUE(has(u, "NVIDIA H100 80GB HBM3 (sm_90a): 132 SMs, 227 KiB of shared memory per block (opt-in), 50 MiB of L2; "
                     "measured 2.99 TB/s from memory and 785 TFLOP/s"))
      << u;
  EXPECT_TRUE(has(u, "\"name\": \"beta\"")) << "the best source is shown";
  ASSERT_EQ(c->parents.size(), 1u);
  if (c->parents[0] == f.a) {
    EXPECT_TRUE(has(u, kShape + ": ok, 13.3 us, 2.00x the baseline (26.7 us), 127% of the roofline floor (16.9 us), "
                            "40 registers, 128 B static smem"))
        << u;
  }
  EXPECT_EQ(c->shape, kShape);
  EXPECT_FALSE(open_conversation("llm_rewrite", f.pop, "M=1,K=4096,N=4096", f.facts, {}, rng))
      << "no correct parent on that shape";
}

TEST(LlmOperators, AParentOfSeveralStepsShowsWhereItsTimeGoes) {
  Fixture f;
  for (size_t m : {f.a, f.b})
    f.pop.members()[m].results[kShape].steps =
        R"j([{"step": "plan.steps[0] (rms_rows)", "median_us": 2.31}, {"step": "plan.steps[1] (gemm)", "median_us": 10.96}])j";
  f.pop.members()[f.a].results["M=1,K=4096,N=4096"].median_us = 5.0;  // one step: no split shown
  Rng rng(5);
  auto c = open_conversation("llm_rewrite", f.pop, kShape, f.facts, {}, rng);
  ASSERT_TRUE(c);
  const std::string& u = c->messages[1].content;
  EXPECT_TRUE(has(u, "\n    time per step: plan.steps[0] (rms_rows) 2.3 us; plan.steps[1] (gemm) 11.0 us\n")) << u;
  EXPECT_EQ(u.find("time per step"), u.rfind("time per step")) << "only the shape that has a split";
  EXPECT_TRUE(has(u, "each step's time")) << "the template says what the split is";
}

TEST(LlmOperators, RepairSendsAFailureWithItsLogOnceAndRefineContinuesTheConversation) {
  Fixture f;
  Rng rng(2);
  auto c = open_conversation("llm_repair", f.pop, "any shape", f.facts, {}, rng);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->parents, std::vector<size_t>{f.c});
  EXPECT_EQ(c->shape, kShape) << "the shape it failed on";
  EXPECT_TRUE(has(c->messages[1].content, "compile_error on " + kShape + ":\ntiny.cu(40): error: identifier \"acc2\" is undefined"));
  EXPECT_FALSE(open_conversation("llm_repair", f.pop, kShape, f.facts, {f.c}, rng)) << "each failure is sent once";

  auto r = open_conversation("llm_refine", f.pop, kShape, f.facts, {}, rng);
  ASSERT_TRUE(r);
  continue_conversation(*r, "```c++\nbroken\n```", "wrong on " + kShape + ":\nmax scaled error 3.1", f.facts);
  ASSERT_EQ(r->messages.size(), 4u);
  EXPECT_EQ(r->turn, 2);
  EXPECT_EQ(r->messages[2].role, "assistant");
  EXPECT_EQ(r->messages[3].role, "user");
  EXPECT_TRUE(has(r->messages[3].content, "max scaled error 3.1"));
}

TEST(LlmOperators, CrossoverTakesTwoParentsOfDifferentSources) {
  Fixture f;
  Rng rng(3);
  auto c = open_conversation("llm_crossover", f.pop, kShape, f.facts, {}, rng);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->parents.size(), 2u);
  EXPECT_NE(f.pop.members()[c->parents[0]].source, f.pop.members()[c->parents[1]].source);
  EXPECT_TRUE(has(c->messages[1].content, "\"name\": \"alpha\"") && has(c->messages[1].content, "\"name\": \"beta\""));
  f.pop.members()[f.b].results.clear();  // one source left correct
  EXPECT_FALSE(open_conversation("llm_crossover", f.pop, kShape, f.facts, {}, rng));
}

TEST(OperatorWeights, AdaptToWhatPaidOffWithAFloor) {
  OperatorWeights w;
  w.add("mutate", 0.6);
  w.add("crossover", 0.4);
  EXPECT_NEAR(w.shares()[0].second, 0.6, 1e-12) << "untried: the base shares";
  for (int i = 0; i < 20; ++i) w.record("mutate", false);
  for (int i = 0; i < 20; ++i) w.record("crossover", i % 2 == 0);
  w.record("no such operator", true);  // ignored
  const auto shares = w.shares();
  EXPECT_LT(shares[0].second, 0.2) << format_shares(shares);
  EXPECT_EQ(w.tally("crossover").wins, 10);
  EXPECT_NEAR(w.weight("mutate"), 0.6 * OperatorWeights::kMinRate, 1e-12) << "0 of 20 is floored";
  EXPECT_EQ(format_shares(shares), "mutate 13%, crossover 87%");
  Rng rng(4);
  EXPECT_EQ(*w.draw(rng, [](const std::string& n) { return n == "mutate"; }), "mutate");
  EXPECT_FALSE(w.draw(rng, [](const std::string&) { return false; }));
  // An operator of base 0 is off: never drawn, even when it is the only one eligible.
  w.add("refine", 0);
  EXPECT_FALSE(w.draw(rng, [](const std::string& n) { return n == "refine"; }));
  for (int i = 0; i < 50; ++i) EXPECT_NE(*w.draw(rng), "refine");
}

}  // namespace
}  // namespace ks
