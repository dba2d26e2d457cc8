// `ksearch run`, `best`, `show` and `merge` as a user runs them, against a fake worker
// (KSEARCH_WORKER) that answers every evaluation ok with a made-up time: the search, its budgets,
// resuming, Ctrl-C, the JSON progress, and the errors a user can make. The candidates are the
// real seeds, compiled by NVRTC as in a real run.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "db/archive.h"
#include "evaluator/device.h"
#include "unit/run_ksearch.h"
#include "unit/temp_dir.h"

extern char** environ;

namespace ks {
namespace {

namespace fs = std::filesystem;
using cli_test::ksearch_env;
using cli_test::Outcome;
using cli_test::kFake;
using cli_test::lines;

using TempDir = test::TempDir;


Outcome fake_run(const std::string& args, const std::string& env = "") {
  return ksearch_env(kFake + " " + env, "run --task rmsnorm_linear " + args);
}

TEST(RunCli, SearchesStopsAtItsBudgetAndResumes) {
  TempDir t;
  const std::string db = t.file("a.db");
  Outcome r = fake_run("--db " + db + " --max-evals 12 --seed 3");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("starting run 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("its budget is spent; 12 evaluations"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("seed default"), std::string::npos) << r.out;

  r = fake_run("--db " + db + " --resume --max-evals 30");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("resuming run 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("18 evaluations"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("30 in the run"), std::string::npos) << r.out;

  Archive a(db, Archive::Mode::existing);
  std::set<std::pair<int64_t, std::string>> seen;
  int gpu_rows = 0;
  for (auto& e : a.evaluations("rmsnorm_linear", "Fake GPU")) {
    EXPECT_TRUE(seen.insert({e.candidate_id, e.shape}).second) << "evaluated twice: " << e.candidate_id << " " << e.shape;
    gpu_rows += e.status != Status::not_applicable;
  }
  EXPECT_EQ(gpu_rows, 30);
  EXPECT_EQ(a.run(1)->state, "budget");
  EXPECT_EQ(a.run(1)->seed, 3u) << "a resumed run keeps its seed";

  Outcome best = ksearch_env("", "best --db " + db);
  EXPECT_EQ(best.code, 0) << best.out;
  EXPECT_NE(best.out.find("rmsnorm_linear on Fake GPU"), std::string::npos) << best.out;
  EXPECT_NE(best.out.find("M=1,K=4096,N=4096"), std::string::npos) << best.out;
  // Candidate #1 is one of the task's seeds (which one depends on the seed files there are).
  const std::optional<CandidateRecord> first = a.candidate(1);
  ASSERT_TRUE(first.has_value());
  const std::optional<SourceRecord> first_source = a.source(first->source_id);
  ASSERT_TRUE(first_source.has_value());
  EXPECT_EQ(first->origin, "seed");
  EXPECT_EQ(first->label, "seeds/rmsnorm_linear/" + first_source->name + ".cu") << "a seed's plan is named as its file";
  Outcome show = ksearch_env("KSEARCH_DB=" + db, "show '#1'");
  EXPECT_EQ(show.code, 0) << show.out;
  EXPECT_NE(show.out.find("candidate #1: " + first_source->name + " "), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("from: " + first->label), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("extern \"C\" __global__"), std::string::npos) << "the source is shown";
  EXPECT_EQ(nlohmann::json::parse(ksearch_env("", "show 1 --json --db " + db).out).at("id"), 1);
  EXPECT_FALSE(nlohmann::json::parse(ksearch_env("", "best --json --db " + db).out).empty());
}

TEST(RunCli, JsonProgressIsOneObjectPerEvaluation) {
  TempDir t;
  Outcome r = fake_run("--db " + t.file("a.db") + " --max-evals 9 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  int evals = 0;
  nlohmann::json last;
  for (size_t start = 0; start < r.out.size();) {
    const size_t end = r.out.find('\n', start);
    const std::string line = r.out.substr(start, end - start);
    start = end + 1;
    if (!line.starts_with('{')) continue;  // stderr's lines are mixed in here
    last = nlohmann::json::parse(line);
    if (last.at("event") == "eval" && last.at("status") != "not_applicable") ++evals;
  }
  EXPECT_EQ(evals, 9);
  EXPECT_EQ(last.at("event"), "done");
  EXPECT_EQ(last.at("stop_reason"), "budget");
  EXPECT_EQ(last.at("shapes").size(), 5u);
}

// A `ksearch run --json` of its own, its stdout read line by line.
struct SpawnedRun {
  pid_t pid = -1;
  FILE* out = nullptr;
};

SpawnedRun spawn_run(const std::string& db, const std::vector<std::string>& extra_env,
                     const std::vector<std::string>& extra_args = {}) {
  int out[2];
  EXPECT_EQ(pipe(out), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  std::vector<std::string> env = extra_env;
  env.push_back(kFake);
  for (char** e = environ; *e; ++e) env.push_back(*e);
  std::vector<char*> envp, argv;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = {KSEARCH_BINARY, "run", "--task", "rmsnorm_linear", "--db", db, "--json"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  SpawnedRun r;
  EXPECT_EQ(posix_spawn(&r.pid, KSEARCH_BINARY, &fa, nullptr, argv.data(), envp.data()), 0);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  r.out = fdopen(out[0], "r");
  return r;
}

// Evaluations on the GPU in the JSON lines to come, up to `stop_after` (0: to the end); `last`
// gets the last line read.
int count_evals(FILE* in, int stop_after, std::string* last = nullptr) {
  char line[65536];
  int n = 0;
  while (fgets(line, sizeof line, in)) {
    auto j = nlohmann::json::parse(line);
    if (last) *last = line;
    if (j.at("event") == "eval" && j.at("status") != "not_applicable" && ++n == stop_after) break;
  }
  return n;
}

// Waits (up to 20 s) until the fake worker has received `n` requests (KSEARCH_FAKE_REQUESTS=log
// appends a line per request): the n-th evaluation is then under way, not merely about to start.
bool wait_for_requests(const std::string& log, int n) {
  for (int waited_ms = 0; waited_ms < 20000; waited_ms += 10) {
    std::ifstream in(log);
    const int lines = static_cast<int>(std::count(std::istreambuf_iterator<char>(in), {}, '\n'));
    if (lines >= n) return true;
    usleep(10 * 1000);
  }
  return false;
}

// Every process descended from pid, as /proc has them now.
std::vector<pid_t> descendants(pid_t pid) {
  std::multimap<pid_t, pid_t> children;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string text((std::istreambuf_iterator<char>(stat)), {});
    const size_t paren = text.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(text.substr(paren + 1));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    children.emplace(ppid, std::stoi(name));
  }
  std::vector<pid_t> out;
  std::vector<pid_t> todo = {pid};
  while (!todo.empty()) {
    const pid_t p = todo.back();
    todo.pop_back();
    for (auto [it, end] = children.equal_range(p); it != end; ++it) {
      out.push_back(it->second);
      todo.push_back(it->second);
    }
  }
  return out;
}

// Ctrl-C: the evaluation in flight finishes and is written, then the run ends as stopped.
TEST(RunCli, CtrlCFinishesTheEvaluationInFlightAndKeepsIt) {
  TempDir t;
  const std::string db = t.file("a.db");
  const std::string log = t.file("requests.log");
  SpawnedRun run = spawn_run(db, {"KSEARCH_FAKE_DELAY_MS=400", "KSEARCH_FAKE_REQUESTS=" + log});
  const int before = count_evals(run.out, 2);  // two results, then Ctrl-C while the third runs
  ASSERT_TRUE(wait_for_requests(log, 3)) << "the third evaluation never started";
  kill(run.pid, SIGINT);
  std::string last;
  const int total = before + count_evals(run.out, 0, &last);
  fclose(run.out);
  int status = 0;
  waitpid(run.pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_EQ(total, 3) << "the evaluation in flight at Ctrl-C was lost, or another one started";
  EXPECT_EQ(nlohmann::json::parse(last).at("stop_reason"), "stopped");
  Archive a(db, Archive::Mode::existing);
  EXPECT_EQ(a.run_evaluations(1), 3);
  EXPECT_EQ(a.run(1)->state, "stopped");
}

// SIGTERM to every process of the run at once, as Slurm signals a job it requeues, preempts,
// cancels or times out (and `kill -- -PGID`, a container's stop): the worker and the compiler
// helpers must not die of it. The evaluation in flight finishes and is written as it came out,
// never as a crash or a compile error (which no resumed run would evaluate again), and the
// resumed run spends the rest of the budget.
TEST(RunCli, SigtermToEveryProcessFinishesTheEvaluationInFlightAndRecordsNoFailure) {
  TempDir t;
  const std::string db = t.file("a.db");
  const std::string log = t.file("requests.log");
  SpawnedRun run = spawn_run(db, {"KSEARCH_FAKE_DELAY_MS=400", "KSEARCH_FAKE_REQUESTS=" + log});
  const int before = count_evals(run.out, 2);
  ASSERT_TRUE(wait_for_requests(log, 3)) << "the third evaluation never started";
  const std::vector<pid_t> children = descendants(run.pid);
  ASSERT_FALSE(children.empty()) << "the worker is a child of ksearch run";
  kill(run.pid, SIGTERM);
  for (pid_t c : children) kill(c, SIGTERM);
  std::string last;
  const int total = before + count_evals(run.out, 0, &last);
  fclose(run.out);
  int status = 0;
  waitpid(run.pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_EQ(total, 3) << "the evaluation in flight at SIGTERM was lost, or another one started";
  EXPECT_EQ(nlohmann::json::parse(last).at("stop_reason"), "stopped");
  {
    Archive a(db, Archive::Mode::existing);
    for (const EvaluationRecord& e : a.evaluations("", ""))
      EXPECT_TRUE(e.status == Status::ok || e.status == Status::not_applicable)
          << "candidate " << e.candidate_id << " on " << e.shape << ": " << status_name(e.status) << " " << e.error;
    EXPECT_EQ(a.run_evaluations(1), 3);
  }
  Outcome r = fake_run("--db " + db + " --resume --max-evals 8");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("resuming run 1"), std::string::npos) << r.out;
  EXPECT_EQ(Archive(db, Archive::Mode::existing).run_evaluations(1), 8);
}

// --devices 0,1: one worker per GPU (fake ones here, each naming the index it was started with),
// one population. Both GPUs evaluate and say so in the JSON progress, no (candidate, shape) is
// evaluated twice, Ctrl-C lets each GPU finish what it has in flight and keeps it, and --resume
// goes on on both.
TEST(RunCli, TwoDevicesShareOneRunLoseNothingAtCtrlCAndResumeOnBoth) {
  TempDir t;
  const std::string db = t.file("a.db");
  // The GPU evaluations in the JSON lines to come, up to `stop_after` (0: to the end), and the
  // devices that ran them.
  auto read = [](FILE* in, int stop_after, std::map<int, int>& by_device, std::string* last = nullptr) {
    char line[65536];
    int n = 0;
    while (fgets(line, sizeof line, in)) {
      const auto j = nlohmann::json::parse(line);
      if (last) *last = line;
      if (j.at("event") != "eval" || j.at("status") == "not_applicable") continue;
      ++by_device[j.at("device").get<int>()];
      if (++n == stop_after) break;
    }
    return n;
  };
  SpawnedRun run = spawn_run(db, {"KSEARCH_FAKE_DELAY_MS=300"}, {"--devices", "0,1"});
  std::map<int, int> by_device;
  const int before = read(run.out, 8, by_device);
  kill(run.pid, SIGINT);
  std::string last;
  const int after = read(run.out, 0, by_device, &last);
  fclose(run.out);
  int status = 0;
  waitpid(run.pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_EQ(before, 8);
  EXPECT_LE(after, 2) << "after Ctrl-C only what the two GPUs had in flight may finish";
  EXPECT_EQ(nlohmann::json::parse(last).at("stop_reason"), "stopped");
  EXPECT_EQ(by_device.size(), 2u) << "both GPUs evaluate";
  for (auto [device, n] : by_device) EXPECT_TRUE(device == 0 || device == 1) << "device " << device;
  {
    Archive a(db, Archive::Mode::existing);
    EXPECT_EQ(a.run_evaluations(1), before + after) << "an evaluation reported is an evaluation kept";
    EXPECT_EQ(a.run(1)->state, "stopped");
  }

  Outcome r = fake_run("--db " + db + " --resume --devices 0,1 --max-evals 24 --json", "KSEARCH_FAKE_DELAY_MS=50");
  ASSERT_EQ(r.code, 0) << r.out;
  std::map<int, int> resumed;
  std::istringstream out(r.out);
  for (std::string l; std::getline(out, l);) {
    if (l.empty() || l[0] != '{') continue;
    const auto j = nlohmann::json::parse(l);
    if (j.at("event") == "eval" && j.at("status") != "not_applicable") ++resumed[j.at("device").get<int>()];
  }
  EXPECT_EQ(resumed.size(), 2u) << "the resumed run evaluates on both GPUs\n" << r.out;
  Archive a(db, Archive::Mode::existing);
  EXPECT_EQ(a.run_evaluations(1), 24) << r.out;
  std::set<std::pair<int64_t, std::string>> seen;
  for (auto& e : a.evaluations("rmsnorm_linear", "Fake GPU"))
    EXPECT_TRUE(seen.insert({e.candidate_id, e.shape}).second) << "evaluated twice: " << e.candidate_id << " " << e.shape;
}

TEST(RunCli, UserErrorsAreOneClearLine) {
  TempDir t;
  const std::string db = t.file("a.db");
  const std::string notes = t.file("notes.txt");
  std::ofstream(notes) << "not an archive\n" << std::string(3000, 'z');
  const struct {
    std::string args, says;
  } cases[] = {
      {"run --task no_such_task --db " + db, "unknown task 'no_such_task'"},
      {"run --db " + db, "--task is required"},
      {"run --task rmsnorm_linear --devices 0,x --db " + db, "'x' is not a device index"},
      {"run --task rmsnorm_linear --shape 1,2 --db " + db, "shape"},
      {"run --task rmsnorm_linear --seeds " + std::string(KSEARCH_SOURCE_DIR) + "/seeds/swiglu_mlp/mma_gemv.cu --db " + db,
       "is a candidate for swiglu_mlp, not rmsnorm_linear"},
      {"run --task rmsnorm_linear --run 7 --db " + db, "run 7 is not in"},
      {"run --task rmsnorm_linear --db " + notes, "is not a ksearch archive"},
      {"best --db " + t.file("missing.db"), "no archive at"},
      {"best --db " + notes, "is not a ksearch archive"},
      {"show 999 --db " + db, "no candidate 999"},
      {"merge " + t.file("missing.db") + " --db " + db, "no archive at"},
  };
  fs::remove(db);
  Archive(db).add_run(RunRecord{});  // an archive to find things missing in
  const std::string notes_before = std::string(std::istreambuf_iterator<char>(std::ifstream(notes).rdbuf()), {});
  for (auto& c : cases) {
    Outcome r = ksearch_env(kFake, c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out;
    EXPECT_EQ(lines(r.out), 1) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.says), std::string::npos) << c.args << "\n" << r.out;
  }
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(std::ifstream(notes).rdbuf()), {}), notes_before)
      << "a file that is not an archive was written";
}

// --resume with nothing to continue: no archive, or none of the task's runs on this GPU model
// (only another task's, or another model's). One line and exit code 2; nothing created or run.
TEST(RunCli, ResumeWithoutAnEarlierRunOnThisGpuModelIsRefused) {
  TempDir t;
  const std::string db = t.file("a.db"), log = t.file("requests.log");
  const std::string env = kFake + " KSEARCH_FAKE_REQUESTS=" + log;
  Outcome r = ksearch_env(env, "run --task rmsnorm_linear --resume --max-evals 2 --db " + db);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(lines(r.out), 1) << r.out;
  EXPECT_NE(r.out.find("no archive at"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(db)) << "--resume created an archive";
  {
    Archive a(db);
    a.add_run(RunRecord{.task = "rmsnorm_linear", .device = "Other GPU"});
    a.add_run(RunRecord{.task = "swiglu_mlp", .device = "Fake GPU"});
  }
  r = ksearch_env(env, "run --task rmsnorm_linear --resume --max-evals 2 --db " + db);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(lines(r.out), 1) << r.out;
  EXPECT_NE(r.out.find("no run of rmsnorm_linear on Fake GPU in " + db + " to resume"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(log)) << "a refused resume asked the worker for something";
  Archive a(db, Archive::Mode::read);
  EXPECT_EQ(a.runs().size(), 2u) << "a refused resume started a run";
}

TEST(RunCli, WithoutAGpuRunSaysSoInOneLine) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present: this test is for machines without one";
  TempDir t;
  Outcome r = ksearch_env("", "run --task rmsnorm_linear --max-evals 1 --db " + t.file("a.db"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(lines(r.out), 1) << r.out;
  EXPECT_NE(r.out.find("no CUDA device"), std::string::npos) << r.out;
  // Issue 18: a run that never started leaves no archive (not even an empty one).
  EXPECT_FALSE(std::filesystem::exists(t.file("a.db"))) << "a run that never started left an archive";
}

TEST(RunCli, MergeBringsRunsFromOtherHostsTogether) {
  TempDir t;
  const std::string a = t.file("a.db"), b = t.file("b.db");
  ASSERT_EQ(fake_run("--db " + a + " --max-evals 8 --seed 1").code, 0);
  ASSERT_EQ(fake_run("--db " + b + " --max-evals 8 --seed 2 --shape 2048,4096,6144").code, 0);
  Outcome m = ksearch_env("", "merge " + b + " --db " + a);
  ASSERT_EQ(m.code, 0) << m.out;
  EXPECT_NE(m.out.find("merged " + b + " into " + a + ": 1 runs"), std::string::npos) << m.out;
  Outcome again = ksearch_env("", "merge " + b + " --db " + a);
  EXPECT_NE(again.out.find(": 0 runs, 0 sources, 0 candidates, 0 evaluations"), std::string::npos) << again.out;
  Outcome best = ksearch_env("", "best --db " + a);
  EXPECT_NE(best.out.find("M=2048,K=4096,N=6144"), std::string::npos) << "b's shape arrived\n" << best.out;
  EXPECT_NE(best.out.find("M=1,K=4096,N=4096"), std::string::npos) << "a's shape stayed\n" << best.out;
}

}  // namespace
}  // namespace ks
