// `ksearch run` with LLM proposals, end to end: the real binary, the fake worker, and a real HTTP
// server on loopback playing scripted replies in order (one call in flight, so the order is the
// script's): a good candidate that becomes the best; malformed JSON; a reply with no code block;
// 429 with Retry-After then success; 500 three times then success; a hang past the timeout then
// success; a candidate that does not compile; one the checker finds wrong; 401. The run survives
// all, records each call with its status and the candidate it produced, and the key reaches
// neither the archive nor the output.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "db/archive.h"
#include "unit/loopback_http.h"
#include "unit/run_ksearch.h"
#include "unit/temp_dir.h"

namespace ks {
namespace {

using cli_test::ksearch_env;
using cli_test::Outcome;
using ::test::chat_completion;
using ::test::LoopbackHttpServer;
using ::test::ScriptedReply;

const std::string kKey = "sk-live-NEVER-STORE-ME-42";
const std::string kSeed = std::string(KSEARCH_SOURCE_DIR) + "/tests/fixtures/llm/tiny_seed.cu";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// The tiny seed under another name, with a line for the fake worker (its time, or "wrong").
std::string rewrite_of_seed(const std::string& name, const std::string& fake_worker_line) {
  std::string s = std::regex_replace(read_file(kSeed), std::regex("\"name\": \"tiny\""), "\"name\": \"" + name + "\"");
  return s + "// fake-worker: " + fake_worker_line + "\n";
}

std::string reply_with(const std::string& candidate, int prompt_tokens = 1000, int completion_tokens = 500) {
  return chat_completion("I unrolled the K loop.\n\n```cuda\n" + candidate + "```\n", prompt_tokens, completion_tokens);
}

Outcome llm_run(const std::string& db, const LoopbackHttpServer& server, const std::string& args) {
  return ksearch_env(std::string("KSEARCH_WORKER=") + FAKE_WORKER + " KSEARCH_LLM_API_KEY=" + kKey,
                     "run --task rmsnorm_linear --seeds " + kSeed + " --shape 16,4096,6144 --db " + db +
                         " --seed 7 --llm-url " + server.url() + " --llm-model scripted-model " + args);
}

TEST(LlmRun, EveryScriptedReplyIsRecordedAndTheRunGoesOn) {
  test::TempDir t;
  const std::string db = t.file("a.db");
  std::string not_compiling = rewrite_of_seed("broken", "us=10");
  not_compiling.insert(not_compiling.find("#include <cuda_bf16.h>"), "this is not CUDA;\n");
  LoopbackHttpServer server({
      {200, reply_with(rewrite_of_seed("fast", "us=20")), {}, 0},          // 1 ok: the new best
      {200, "{\"choices\": [ {\"message\": ", {}, 0},                       // 2 malformed JSON
      {200, chat_completion("I would unroll the loop, but here is no code."), {}, 0},  // 3
      {429, "{}", {"Retry-After: 1"}, 0},                                    // 4 waits 1 s, then
      {200, reply_with(rewrite_of_seed("second", "us=30")), {}, 0},         //   ok
      {500, "{}", {}, 0}, {500, "{}", {}, 0}, {500, "{}", {}, 0},           // 5 three 500s, then
      {200, reply_with("/* ksearch { \"task\": */\nint x;\n"), {}, 0},      //   a plan that does not parse
      {200, "{}", {}, 1300},  // 6 hangs past --llm-timeout 1 (the retry comes after it: backoff >= 0.5 s), then
      {200, reply_with(std::regex_replace(rewrite_of_seed("other", "us=10"), std::regex("rmsnorm_linear"), "swiglu_mlp")), {}, 0},
      {200, reply_with(not_compiling), {}, 0},                               // 7 compile_error
      {200, reply_with(rewrite_of_seed("subtly_wrong", "wrong")), {}, 0},   // 8 wrong
      {401, "{\"error\": {\"message\": \"invalid key " + kKey + "\"}}", {}, 0},  // 9 the LLM is set aside
  });
  const Outcome r = llm_run(db, server, "--llm-concurrency 1 --llm-turns 1 --llm-timeout 1 --max-evals 200");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("LLM proposals: scripted-model at " + server.url()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("LLM proposals are off for the rest of this run: the LLM endpoint refused the API key (HTTP 401"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("nothing new is left to try"), std::string::npos) << "the run went on to its end: " << r.out;
  EXPECT_NE(r.out.find("operator weights at the end: mutate"), std::string::npos) << r.out;

  Archive a(db, Archive::Mode::existing);
  const std::vector<LlmCallRecord> calls = a.llm_calls(std::nullopt);
  std::vector<std::string> statuses;
  for (auto& c : calls) statuses.push_back(c.status);
  const std::vector<std::string> want = {"ok", "bad_response", "no_code_block", "ok", "bad_plan",
                                         "wrong_task", "ok", "ok", "http_401"};
  EXPECT_EQ(statuses, want);
  ASSERT_EQ(calls.size(), want.size());
  for (auto& c : calls) {
    EXPECT_EQ(c.model, "scripted-model");
    EXPECT_EQ(c.run_id, 1);
    EXPECT_TRUE(c.op.starts_with("llm_")) << c.op;
    EXPECT_EQ(c.candidate_id.has_value(), c.status == "ok") << c.status << ": only an ok reply produces a candidate";
  }
  EXPECT_NE(calls[1].error.find("malformed JSON"), std::string::npos) << calls[1].error;
  EXPECT_NE(calls[4].error.find("plan"), std::string::npos) << calls[4].error;
  EXPECT_NE(calls[5].error.find("swiglu_mlp"), std::string::npos) << calls[5].error;
  EXPECT_GE(*calls[3].latency_s, 0.9) << "the 429's Retry-After was honoured";
  EXPECT_EQ(a.run_llm_tokens(1), 6 * 1500 + 11 + 7) << "usage of every reply that had one";

  // What became of each candidate the LLM produced, on the one shape.
  std::map<int64_t, EvaluationRecord> eval_of;
  for (auto& e : a.evaluations("rmsnorm_linear", "Fake GPU")) eval_of[e.candidate_id] = e;
  auto status_of = [&](const LlmCallRecord& c) { return eval_of.at(*c.candidate_id).status; };
  EXPECT_EQ(status_of(calls[0]), Status::ok);
  EXPECT_DOUBLE_EQ(*eval_of.at(*calls[0].candidate_id).median_us, 20.0);
  EXPECT_EQ(status_of(calls[3]), Status::ok);
  EXPECT_EQ(status_of(calls[6]), Status::compile_error);
  EXPECT_NE(eval_of.at(*calls[6].candidate_id).error.find("this"), std::string::npos) << "the compile log is kept";
  EXPECT_EQ(status_of(calls[7]), Status::wrong);

  // The good one became the best, and param mutation may have built on it.
  double best_us = 1e9;
  int64_t best = 0;
  for (auto& [id, e] : eval_of)
    if (e.status == Status::ok && *e.median_us < best_us) best_us = *e.median_us, best = id;
  EXPECT_DOUBLE_EQ(best_us, 20.0);
  bool from_llm = false;
  for (auto& c : a.candidates("rmsnorm_linear"))
    if (c.id == best) from_llm = c.origin.starts_with("llm_") || (!c.parents.empty() && c.parents[0] == *calls[0].candidate_id);
  EXPECT_TRUE(from_llm) << "the best is the LLM's good candidate or a variant of it";

  // The key went to the server, and nowhere else.
  ASSERT_FALSE(server.requests().empty());
  EXPECT_NE(server.requests()[0].find("Authorization: Bearer " + kKey), std::string::npos);
  EXPECT_EQ(r.out.find(kKey), std::string::npos) << "the key is in the output";
  for (auto& f : std::filesystem::directory_iterator(t.dir))
    EXPECT_EQ(read_file(f.path().string()).find(kKey), std::string::npos) << "the key is in " << f.path();
}

TEST(LlmRun, TheTokenBudgetEndsTheRunLikeTheOthers) {
  test::TempDir t;
  const std::string db = t.file("a.db");
  std::vector<ScriptedReply> script;
  for (int i = 0; i < 6; ++i)
    script.push_back({200, reply_with(rewrite_of_seed("v" + std::to_string(i), "us=" + std::to_string(50 - i)), 600, 400), {}, 0});
  LoopbackHttpServer server(script);
  const Outcome r = llm_run(db, server, "--llm-concurrency 1 --llm-max-tokens-total 2500 --max-evals 500 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("\"stop_reason\":\"budget\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("the LLM token budget (2500) is spent"), std::string::npos) << r.out;
  Archive a(db, Archive::Mode::existing);
  EXPECT_EQ(a.llm_calls(1).size(), 3u) << "no call starts once 2500 tokens are used";
  EXPECT_EQ(a.run_llm_tokens(1), 3000);
  EXPECT_EQ(a.run(1)->state, "budget");
  for (auto& c : a.llm_calls(1)) EXPECT_TRUE(c.candidate_id) << "each child was evaluated before the run ended";
}

// A reply is a candidate the moment it arrives: a budget that ends before it is evaluated keeps
// it (stored, linked to its call, counted as pending), and --resume evaluates it first. The two
// calls start once the seed's two variants are in (a rewrite needs a measured parent); the
// third evaluation allowed takes one child, and the budget ends before the other.
TEST(LlmRun, RepliesArrivingAsTheBudgetEndsAreKeptAndResumeEvaluatesThemFirst) {
  test::TempDir t;
  const std::string db = t.file("a.db");
  std::vector<ScriptedReply> script;
  for (int i = 0; i < 6; ++i)
    script.push_back({200, reply_with(rewrite_of_seed("late_" + std::to_string(i), "us=" + std::to_string(20 + i))), {}, 300});
  LoopbackHttpServer server(script);
  const std::string slow = std::string("KSEARCH_FAKE_DELAY_MS=400 KSEARCH_WORKER=") + FAKE_WORKER;
  const std::string args = "run --task rmsnorm_linear --seeds " + kSeed + " --shape 16,4096,6144 --db " + db +
                           " --seed 7 --llm-url " + server.url() + " --llm-model scripted-model --llm-concurrency 2";
  Outcome r = ksearch_env(slow, args + " --max-evals 3");
  ASSERT_EQ(r.code, 0) << r.out;
  std::set<int64_t> kept, evaluated;
  {
    Archive a(db, Archive::Mode::existing);
    for (auto& c : a.llm_calls(1)) {
      ASSERT_EQ(c.status, "ok") << c.error;
      ASSERT_TRUE(c.candidate_id) << "a reply that parses is stored as a candidate when it arrives";
      kept.insert(*c.candidate_id);
    }
    ASSERT_GE(kept.size(), 2u) << r.out;
    for (auto& e : a.evaluations("rmsnorm_linear", "Fake GPU"))
      if (kept.count(e.candidate_id)) evaluated.insert(e.candidate_id);
    ASSERT_EQ(evaluated.size(), 1u) << "the budget allowed one LLM child: " << r.out;
  }
  EXPECT_NE(r.out.find("LLM candidates by outcome: ok 1, pending " + std::to_string(kept.size() - 1)),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("--resume evaluates them first"), std::string::npos) << r.out;

  // Resumed, without the LLM: the kept candidate is evaluated before anything else.
  r = ksearch_env(std::string("KSEARCH_WORKER=") + FAKE_WORKER,
                  "run --resume --task rmsnorm_linear --seeds " + kSeed + " --shape 16,4096,6144 --db " + db +
                      " --max-evals " + std::to_string(2 + kept.size()));
  ASSERT_EQ(r.code, 0) << r.out;
  Archive a(db, Archive::Mode::existing);
  std::vector<EvaluationRecord> evals = a.evaluations("rmsnorm_linear", "Fake GPU");
  std::sort(evals.begin(), evals.end(), [](auto& x, auto& y) { return x.id < y.id; });
  ASSERT_EQ(evals.size(), 2 + kept.size()) << r.out;
  for (size_t i = 3; i < evals.size(); ++i)
    EXPECT_TRUE(kept.count(evals[i].candidate_id) && !evaluated.count(evals[i].candidate_id))
        << "the resumed run began with the pending ones";
  EXPECT_NE(r.out.find("LLM candidates by outcome: ok " + std::to_string(kept.size())), std::string::npos) << r.out;
}

// A reply is evaluated on every search shape, not only the one its call was made for: one whose
// `applies` admits only the large shape runs there, whichever shape prompted it.
TEST(LlmRun, AReplyIsEvaluatedOnEveryShapeItAppliesTo) {
  test::TempDir t;
  const std::string db = t.file("a.db");
  std::string prefill_only = rewrite_of_seed("prefill_only", "us=40");
  prefill_only.replace(prefill_only.find("\"params\""), 0, "\"applies\": \"M >= 2048\",\n  ");
  LoopbackHttpServer server({{200, reply_with(prefill_only), {}, 0}});
  const Outcome r = ksearch_env(std::string("KSEARCH_WORKER=") + FAKE_WORKER,
                                "run --task rmsnorm_linear --seeds " + kSeed +
                                    " --shape 1,4096,4096 --shape 2048,4096,6144 --db " + db +
                                    " --seed 3 --llm-url " + server.url() +
                                    " --llm-model scripted-model --llm-concurrency 1 --llm-turns 1 --max-evals 40");
  ASSERT_EQ(r.code, 0) << r.out;
  Archive a(db, Archive::Mode::existing);
  const std::vector<LlmCallRecord> calls = a.llm_calls(1);
  ASSERT_FALSE(calls.empty());
  ASSERT_TRUE(calls[0].candidate_id) << calls[0].status << ": " << calls[0].error;
  std::map<std::string, std::string> status_on;  // "" for a shape with no row
  for (auto& e : a.evaluations("rmsnorm_linear", "Fake GPU"))
    if (e.candidate_id == *calls[0].candidate_id) status_on[e.shape] = status_name(e.status);
  EXPECT_EQ(status_on["M=2048,K=4096,N=6144"], "ok") << r.out;
  EXPECT_EQ(status_on["M=1,K=4096,N=4096"], "not_applicable") << r.out;
}

TEST(LlmRun, AReplyCutAtTheTokenLimitIsTruncatedNeverACandidateAndTheRunGoesOn) {
  test::TempDir t;
  const std::string db = t.file("a.db");
  // The cut reply holds a complete block that would parse: it still must not become a candidate.
  const std::string cut = "```cuda\n" + rewrite_of_seed("cut", "us=10") + "```\nA faster version:\n```cuda\n#include";
  LoopbackHttpServer server({
      {200, chat_completion(cut, 1000, 2048, "length"), {}, 0},
      {200, reply_with(rewrite_of_seed("whole", "us=20")), {}, 0},
  });
  const Outcome r = llm_run(db, server, "--llm-concurrency 1 --llm-max-tokens 2048 --llm-max-tokens-total 4000 --max-evals 500");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("an LLM reply was cut (status truncated): the reply hit the --llm-max-tokens limit of 2048"),
            std::string::npos) << r.out;
  ASSERT_GE(server.requests().size(), 1u);
  const std::string req = server.requests()[0];
  EXPECT_EQ(nlohmann::json::parse(req.substr(req.find("\r\n\r\n") + 4))["max_tokens"], 2048);

  Archive a(db, Archive::Mode::existing);
  const std::vector<LlmCallRecord> calls = a.llm_calls(1);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].status, "truncated");
  EXPECT_NE(calls[0].error.find("hit the --llm-max-tokens limit of 2048"), std::string::npos) << calls[0].error;
  EXPECT_NE(calls[0].error.find("give a larger --llm-max-tokens"), std::string::npos) << calls[0].error;
  EXPECT_FALSE(calls[0].candidate_id) << "a cut reply is never a candidate";
  EXPECT_EQ(*calls[0].completion_tokens, 2048) << "its tokens were spent and count";
  EXPECT_EQ(calls[1].status, "ok") << "the run went on to the next call";
  EXPECT_TRUE(calls[1].candidate_id);
  for (auto& src : a.sources("rmsnorm_linear")) EXPECT_NE(src.name, "cut") << "the cut reply's block was kept";
}

TEST(LlmRun, ShowPrintsTheConversationThatProducedACandidate) {
  test::TempDir t;
  const std::string db = t.file("a.db");
  LoopbackHttpServer server({
      {200, reply_with(rewrite_of_seed("fast", "us=20")), {}, 0},
      {401, "{}", {}, 0},  // the LLM is set aside: the run ends with what it has
  });
  const Outcome r = llm_run(db, server, "--llm-concurrency 1 --llm-turns 1 --max-evals 200");
  ASSERT_EQ(r.code, 0) << r.out;
  int64_t id = 0;
  {
    Archive a(db, Archive::Mode::existing);
    const std::vector<LlmCallRecord> calls = a.llm_calls(std::nullopt);
    ASSERT_FALSE(calls.empty());
    ASSERT_TRUE(calls[0].candidate_id) << calls[0].status;
    id = *calls[0].candidate_id;
    EXPECT_NE(calls[0].messages.find("\"role\":\"system\""), std::string::npos) << "the messages sent are kept";
    EXPECT_NE(calls[0].reply.find("I unrolled the K loop."), std::string::npos) << "the reply is kept";
  }
  const Outcome shown = cli_test::ksearch("show " + std::to_string(id) + " --db " + db);
  ASSERT_EQ(shown.code, 0) << shown.out;
  EXPECT_NE(shown.out.find("model scripted-model, 1000 prompt + 500 completion tokens, status ok"), std::string::npos)
      << shown.out;
  EXPECT_NE(shown.out.find("--- system ("), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("--- user ("), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find(" chars, "), std::string::npos) << "each message says its size: " << shown.out;
  EXPECT_NE(shown.out.find("--- reply: assistant ("), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("I unrolled the K loop."), std::string::npos) << shown.out;
  const Outcome json = cli_test::ksearch("show " + std::to_string(id) + " --json --db " + db);
  ASSERT_EQ(json.code, 0) << json.out;
  const nlohmann::json j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["llm_call"]["operator"].get<std::string>().substr(0, 4), "llm_");
  EXPECT_EQ(j["llm_call"]["prompt_tokens"], 1000);
  EXPECT_EQ(j["llm_call"]["messages"][0]["role"], "system");
  EXPECT_NE(j["llm_call"]["reply"].get<std::string>().find("```cuda"), std::string::npos);
}

// The LLM's calls of a run, each as its operator, status and the key of the candidate it produced.
std::vector<std::string> call_outcomes(Archive& a) {
  std::map<int64_t, std::string> key_of;
  for (auto& c : a.candidates("")) key_of[c.id] = c.key;
  std::vector<std::string> out;
  for (auto& c : a.llm_calls(std::nullopt))
    out.push_back(c.op + " " + c.status + " " + (c.candidate_id ? key_of.at(*c.candidate_id) : "-"));
  return out;
}

std::vector<std::string> candidate_keys(Archive& a) {  // in id order: the order they came out
  std::vector<std::string> out;
  for (auto& c : a.candidates("")) out.push_back(c.key + " " + c.origin.substr(0, c.origin.find(' ')));
  return out;
}

// Which operator asks a call follows the GPU work's timing (the search's draws interleave with
// the batches), so this run is built to offer the LLM one operator only: the seed is wrong and
// every reply's candidate fails too (wrong, or does not compile), so there is never a correct
// parent to rewrite or cross, only failures to repair. Then the recorded run and its replay make
// the same calls, and the same candidates come out in the same order.
TEST(LlmRun, AReplayOfARecordedRunGivesTheSameCandidatesInTheSameOrder) {
  test::TempDir t;
  const std::string recorded = t.file("recorded.db"), replayed = t.file("replayed.db"), seed = t.file("wrong_seed.cu");
  std::ofstream(seed) << rewrite_of_seed("wrong_seed", "wrong");
  std::string not_compiling = rewrite_of_seed("broken", "us=10");
  not_compiling.insert(not_compiling.find("#include <cuda_bf16.h>"), "this is not CUDA;\n");
  std::vector<ScriptedReply> script = {
      {200, reply_with(rewrite_of_seed("first", "wrong"), 600, 400), {}, 0},
      {200, reply_with(not_compiling, 600, 400), {}, 0},
      {200, reply_with(rewrite_of_seed("second", "wrong"), 600, 400), {}, 0},
      {200, reply_with(rewrite_of_seed("third", "wrong"), 600, 400), {}, 0},
      {200, reply_with(rewrite_of_seed("fourth", "wrong"), 600, 400), {}, 0},
  };
  const std::string env = std::string("KSEARCH_WORKER=") + FAKE_WORKER;
  const std::string common = "run --task rmsnorm_linear --seeds " + seed +
                             " --shape 16,4096,6144 --seed 3 --llm-concurrency 1 --llm-turns 1 "
                             "--llm-max-tokens-total 5000 --max-evals 500";
  {
    LoopbackHttpServer server(script);
    const Outcome r = ksearch_env(env + " KSEARCH_LLM_API_KEY=" + kKey,
                                  common + " --db " + recorded + " --llm-url " + server.url() + " --llm-model scripted-model");
    ASSERT_EQ(r.code, 0) << r.out;
  }
  // No endpoint, no model, no key: the recorded archive answers.
  const Outcome r = ksearch_env(env + " KSEARCH_LLM_URL= KSEARCH_LLM_MODEL=", common + " --db " + replayed + " --llm-replay " + recorded);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("LLM proposals: replay:" + recorded + " at the 5 recorded call(s) of rmsnorm_linear"),
            std::string::npos)
      << r.out;

  // A replay answers as it is asked: replayed again, it repeats itself exactly.
  const std::string again = t.file("again.db");
  ASSERT_EQ(ksearch_env(env, common + " --db " + again + " --llm-replay " + recorded).code, 0);

  Archive a(recorded, Archive::Mode::existing), b(replayed, Archive::Mode::existing), c(again, Archive::Mode::existing);
  EXPECT_EQ(candidate_keys(c), candidate_keys(b));
  EXPECT_EQ(call_outcomes(c), call_outcomes(b));
  const std::vector<std::string> want = call_outcomes(a);
  ASSERT_EQ(want.size(), 5u);
  for (auto& w : want) EXPECT_TRUE(w.starts_with("llm_repair ")) << w;
  EXPECT_EQ(call_outcomes(b), want);
  EXPECT_EQ(candidate_keys(b), candidate_keys(a)) << "the same candidates, in the same order";
  EXPECT_EQ(candidate_keys(a).size(), 2u + 5u) << "the seed's two variants and a candidate per reply";
  EXPECT_EQ(b.run_llm_tokens(1), a.run_llm_tokens(1)) << "the recorded tokens are the calls'";
  const std::vector<LlmCallRecord> ca = a.llm_calls(std::nullopt), cb = b.llm_calls(std::nullopt);
  ASSERT_EQ(cb.size(), ca.size());
  for (size_t i = 0; i < ca.size(); ++i) {
    EXPECT_EQ(cb[i].model, "replay:" + recorded);
    EXPECT_EQ(cb[i].reply, ca[i].reply) << "call " << i;
    EXPECT_EQ(cb[i].prompt_tokens, 600);
  }
}

TEST(LlmRun, AResumedReplayGoesOnFromTheRepliesItUsed) {
  test::TempDir t;
  const std::string recorded = t.file("recorded.db"), replayed = t.file("replayed.db"), seed = t.file("wrong_seed.cu");
  // Repair only, as above.
  std::ofstream(seed) << rewrite_of_seed("wrong_seed", "wrong");
  const std::string env = std::string("KSEARCH_WORKER=") + FAKE_WORKER;
  const std::string common = "run --task rmsnorm_linear --seeds " + seed +
                             " --shape 16,4096,6144 --seed 2 --llm-concurrency 1 --llm-turns 1 --max-evals 500";
  {
    LoopbackHttpServer server({{200, reply_with(rewrite_of_seed("first", "wrong"), 600, 400), {}, 0},
                               {200, reply_with(rewrite_of_seed("second", "wrong"), 600, 400), {}, 0}});
    ASSERT_EQ(ksearch_env(env, common + " --llm-max-tokens-total 2000 --db " + recorded + " --llm-url " + server.url() +
                                   " --llm-model scripted-model")
                  .code,
              0);
  }
  Outcome r = ksearch_env(env, common + " --llm-max-tokens-total 1000 --db " + replayed + " --llm-replay " + recorded);
  ASSERT_EQ(r.code, 0) << r.out;
  r = ksearch_env(env, "run --run 1 --llm-max-tokens-total 2000 --db " + replayed);  // the replay file is the run's
  ASSERT_EQ(r.code, 0) << r.out;
  Archive a(recorded, Archive::Mode::existing), b(replayed, Archive::Mode::existing);
  EXPECT_EQ(call_outcomes(b), call_outcomes(a)) << "the resumed replay took the second reply, not the first again\n" << r.out;
}

TEST(LlmRun, AReplayThatRunsOutSaysSoOnceAndTheRunGoesOn) {
  test::TempDir t;
  const std::string recorded = t.file("recorded.db");
  {
    LoopbackHttpServer server({{200, reply_with(rewrite_of_seed("fast", "us=20")), {}, 0}, {401, "{}", {}, 0}});
    ASSERT_EQ(llm_run(recorded, server, "--llm-concurrency 1 --llm-turns 1 --max-evals 200").code, 0);
  }
  // Drop the 401: the replay has one reply, then nothing.
  { Archive a(recorded, Archive::Mode::existing); a.connection().exec("DELETE FROM llm_calls WHERE status != 'ok'"); }
  const Outcome r = ksearch_env(std::string("KSEARCH_WORKER=") + FAKE_WORKER,
                                "run --task rmsnorm_linear --seeds " + kSeed + " --shape 16,4096,6144 --db " +
                                    t.file("b.db") + " --seed 7 --llm-concurrency 1 --llm-turns 1 --max-evals 200 "
                                    "--llm-replay " + recorded);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("LLM proposals are off for the rest of this run: " + recorded + " has no llm_"), std::string::npos)
      << r.out;
  Archive b(t.file("b.db"), Archive::Mode::existing);
  const auto calls = b.llm_calls(std::nullopt);
  ASSERT_GE(calls.size(), 2u);
  EXPECT_EQ(calls.back().status, "replay_exhausted");
}

TEST(LlmRun, ABadReplayArchiveIsOneLineAndExit2BeforeAnyWork) {
  test::TempDir t;
  const std::string fake = std::string("KSEARCH_WORKER=") + FAKE_WORKER;
  Outcome r = ksearch_env(fake, "run --task rmsnorm_linear --db " + t.file("a.db") + " --llm-replay " + t.file("none.db"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--llm-replay: no archive at " + t.file("none.db")), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  std::ofstream(t.file("notes.txt")) << "not an archive\n";
  r = ksearch_env(fake, "run --task rmsnorm_linear --db " + t.file("a.db") + " --llm-replay " + t.file("notes.txt"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--llm-replay: " + t.file("notes.txt") + " is not a ksearch archive"), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_FALSE(std::filesystem::exists(t.file("a.db")) && Archive(t.file("a.db"), Archive::Mode::existing).runs().size())
      << "no run was started";
  r = ksearch_env(fake, "run --task rmsnorm_linear --db " + t.file("a.db") + " --llm-replay " + t.file("a.db") +
                            " --llm-url http://127.0.0.1:9/v1");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--llm-url excludes --llm-replay"), std::string::npos) << r.out;
}

TEST(LlmRun, ABadEndpointOrPromptsFolderIsOneClearLineBeforeAnyWork) {
  test::TempDir t;
  const std::string fake = std::string("KSEARCH_WORKER=") + FAKE_WORKER;
  Outcome r = ksearch_env(fake, "run --task rmsnorm_linear --db " + t.file("a.db") + " --llm-url ftp://x --llm-model m");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--llm-url 'ftp://x' is not an http:// or https:// URL"), std::string::npos) << r.out;
  r = ksearch_env(fake + " KSEARCH_LLM_MODEL=", "run --task rmsnorm_linear --db " + t.file("a.db") + " --llm-url http://127.0.0.1:9/v1");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("no LLM model: give --llm-model or KSEARCH_LLM_MODEL"), std::string::npos) << r.out;
  std::filesystem::create_directory(t.file("prompts"));
  for (auto& f : std::filesystem::directory_iterator(std::string(KSEARCH_SOURCE_DIR) + "/prompts"))
    std::filesystem::copy_file(f.path(), t.file("prompts/" + f.path().filename().string()));
  std::ofstream(t.file("prompts/rewrite.txt")) << "Make {{parent_sourse}} faster.\n";
  r = ksearch_env(fake, "run --task rmsnorm_linear --db " + t.file("a.db") +
                            " --llm-url http://127.0.0.1:9/v1 --llm-model m --prompts " + t.file("prompts"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("rewrite.txt: no value for the placeholder {{parent_sourse}}"), std::string::npos) << r.out;
  const std::string help = ksearch_env("", "run --help").out;
  EXPECT_NE(help.find("--llm-max-tokens-total"), std::string::npos);
  EXPECT_NE(help.find("(default 16384; a reply cut at it is recorded as truncated)"), std::string::npos) << help;
}

}  // namespace
}  // namespace ks
