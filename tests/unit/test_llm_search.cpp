// LlmSearch::start_calls (agent/llm/llm_search.h): a free slot gets a call whenever some operator
// has something to ask, whatever the draws. Here only a repair applies (one candidate failed to
// compile, none is correct: nothing to rewrite or cross) and it holds about a quarter of the
// weight; before, 8 draws by weight could all miss it (about 1 run in 8), no call was made, and a
// run whose parameter operators had nothing left ended with its LLM budget unspent.
#include <gtest/gtest.h>

#include <fstream>

#include "agent/llm/llm_search.h"
#include "base/paths.h"
#include "unit/temp_dir.h"

namespace ks {
namespace {

const std::string kShape = "M=16,K=4096,N=6144";

// Answers at once (as a replay does), with nothing; keeps which operator asked each call.
class RecordingChat : public ChatSource {
 public:
  ChatResult chat(const std::string& op, const std::vector<ChatMessage>&, const std::atomic<bool>*) override {
    ops.push_back(op);
    ChatResult r;
    r.error = "not asked in this test";
    return r;
  }
  std::string model() const override { return "recording"; }
  bool answers_at_once() const override { return true; }
  std::vector<std::string> ops;
};

struct OneFailedCandidate {
  test::TempDir dir;
  Archive archive{dir.file("a.db"), Archive::Mode::create};
  int64_t run_id = 0;
  Population pop;
  LlmSearchOptions opt;

  OneFailedCandidate() {
    RunRecord r;
    r.task = "rmsnorm_linear";
    run_id = archive.add_run(r);
    std::ifstream in(std::string(KSEARCH_SOURCE_DIR) + "/tests/fixtures/llm/tiny_seed.cu");
    const std::string text{std::istreambuf_iterator<char>(in), {}};
    const size_t source = pop.add_source(std::make_shared<const Candidate>(parse_candidate(text, "tiny.cu")));
    Member m;
    m.id = 1;
    m.source = source;
    m.variant = {{"THREADS", 128}};
    m.key = candidate_key(pop.sources()[source].hash, m.variant);
    const size_t idx = pop.add_member(std::move(m));
    EvaluationRecord& e = pop.members()[idx].results[kShape];
    e.status = Status::compile_error;
    e.error = "tiny.cu(40): error: identifier \"acc2\" is undefined";
    opt.prompts = load_prompts(default_prompts_dir());
    opt.facts.task = find_task("rmsnorm_linear");
    opt.facts.arch = "sm_90a";
    opt.concurrency = 1;
    opt.turns = 1;  // refine off: rewrite, repair, crossover
  }
};

TEST(LlmSearch, AFreeSlotGetsACallWheneverAnOperatorHasOneToAsk) {
  OneFailedCandidate f;
  const auto pick = [] { return std::optional<std::string>(kShape); };
  for (uint64_t seed = 1; seed <= 64; ++seed) {
    auto chat = std::make_shared<RecordingChat>();
    LlmSearchOptions opt = f.opt;
    opt.replay = chat;
    LlmSearch llm(opt, f.archive, f.run_id, [] {});
    Rng rng(seed);
    llm.start_calls(f.pop, pick, rng);
    EXPECT_EQ(llm.in_flight(), 1) << "rng seed " << seed;
    EXPECT_EQ(chat->ops, std::vector<std::string>{"llm_repair"}) << "rng seed " << seed;
    // The one failure is repaired once: nothing is left to ask, and no call is made.
    (void)llm.take_children(f.pop);
    llm.start_calls(f.pop, pick, rng);
    EXPECT_EQ(chat->ops.size(), 1u) << "rng seed " << seed;
  }
}

TEST(LlmSearch, NoCallWhenNoShapeIsOpen) {
  OneFailedCandidate f;
  auto chat = std::make_shared<RecordingChat>();
  f.opt.replay = chat;
  LlmSearch llm(f.opt, f.archive, f.run_id, [] {});
  Rng rng(1);
  llm.start_calls(f.pop, [] { return std::optional<std::string>(); }, rng);
  EXPECT_EQ(llm.in_flight(), 0);
  EXPECT_TRUE(chat->ops.empty());
}

}  // namespace
}  // namespace ks
