// The archive: round trips, schema versions and migrations, files that are not archives (never
// written), several writer processes at once, a writer killed mid-transaction, and merging.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "db/archive.h"
#include "unit/temp_dir.h"

namespace ks {
namespace {

namespace fs = std::filesystem;

using TempDir = test::TempDir;

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

SourceRecord source(const std::string& hash) {
  return {0, hash, "rmsnorm_linear", "gemv", "/* ksearch {...} */ code of " + hash, true};
}

CandidateRecord candidate(const std::string& key, std::vector<int64_t> parents = {}) {
  CandidateRecord c;
  c.key = key;
  c.task = "rmsnorm_linear";
  c.params = "THREADS=128";
  c.origin = parents.empty() ? "seed" : "mutate";
  c.parents = std::move(parents);
  c.generation = static_cast<int>(c.parents.size());
  c.label = "seeds/x.cu";
  c.created_at = 1700000000.5;
  return c;
}

EvaluationRecord evaluation(int64_t candidate_id, const std::string& shape, double speedup) {
  EvaluationRecord e;
  e.candidate_id = candidate_id;
  e.device = "Fake GPU";
  e.shape = shape;
  e.status = Status::ok;
  e.median_us = 10.0 / speedup;
  e.p10_us = 9.0 / speedup;
  e.p90_us = 11.0 / speedup;
  e.baseline_us = 10.0;
  e.speedup = speedup;
  e.floor_us = 4.0;
  e.max_scaled_error = 0.01;
  e.rel_l2_error = 0.002;
  e.registers = 64;
  e.smem_bytes = 4096;
  e.spill_bytes = 0;
  e.resources = R"([{"kernel":"k","registers":64}])";
  e.steps = R"x([{"step":"plan.steps[1] (gemm)","median_us":6.0}])x";
  e.seed = 42;
  e.seconds = 0.4;
  e.created_at = 1700000001.25;
  return e;
}

TEST(Archive, RoundTripsEveryRecord) {
  TempDir t;
  const std::string path = t.file("a.db");
  int64_t run_id, parent, child;
  {
    Archive a(path);
    EXPECT_EQ(a.schema_version(), archive_schema().version);
    RunRecord r;
    r.task = "rmsnorm_linear";
    r.device = "Fake GPU";
    r.arch = "sm_90a";
    r.seed = 7;
    r.options = R"({"max_evals":10})";
    r.bandwidth = 3e12;
    run_id = a.add_run(r);
    CandidateRecord pc = candidate("h1:THREADS=128");
    pc.run_id = run_id;
    parent = a.add_candidate(source("h1"), pc);
    EXPECT_EQ(a.add_candidate(source("h1"), pc), parent) << "a known key returns the stored candidate";
    child = a.add_candidate(source("h1"), candidate("h1:THREADS=256", {parent}));
    EXPECT_NE(child, parent);
    EvaluationRecord e = evaluation(child, "M=1,K=4096,N=4096", 1.25);
    e.run_id = run_id;
    EXPECT_TRUE(a.add_evaluation(e));
    EXPECT_FALSE(a.add_evaluation(e)) << "the same candidate, shape and device are stored once";
    EvaluationRecord wrong = evaluation(child, "M=16,K=4096,N=6144", 1.0);
    wrong.status = Status::wrong;
    wrong.median_us = wrong.speedup = std::nullopt;
    wrong.error = "hard inputs: 3 elements off";
    EXPECT_TRUE(a.add_evaluation(wrong));
  }
  Archive a(path, Archive::Mode::existing);  // reopened: everything persisted
  const RunRecord r = *a.run(run_id);
  EXPECT_EQ(r.task, "rmsnorm_linear");
  EXPECT_EQ(r.seed, 7u);
  EXPECT_EQ(r.options, R"({"max_evals":10})");
  EXPECT_EQ(r.uid.size(), 32u);
  EXPECT_FALSE(r.host.empty());
  EXPECT_EQ(r.bandwidth, 3e12);
  EXPECT_FALSE(r.peak_flops);
  EXPECT_EQ(a.latest_run("rmsnorm_linear", "Fake GPU")->id, run_id);
  EXPECT_FALSE(a.latest_run("rmsnorm_linear", "Other GPU"));

  const CandidateRecord c = *a.candidate(child);
  EXPECT_EQ(c.parents, std::vector<int64_t>{parent});
  EXPECT_EQ(c.origin, "mutate");
  EXPECT_EQ(c.created_at, 1700000000.5);
  EXPECT_EQ(a.candidate(parent)->source_id, c.source_id) << "one source for both variants";
  EXPECT_EQ(a.source(c.source_id)->text, source("h1").text);
  EXPECT_TRUE(a.source(c.source_id)->uses_helpers);
  EXPECT_EQ(a.children(parent), std::vector<int64_t>{child});
  EXPECT_EQ(a.candidates("rmsnorm_linear").size(), 2u);
  EXPECT_TRUE(a.candidates("swiglu_mlp").empty());

  const auto evs = a.evaluations_of(child);
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].speedup, 1.25);
  EXPECT_EQ(evs[0].median_us, 8.0);
  EXPECT_EQ(evs[0].resources, R"([{"kernel":"k","registers":64}])");
  EXPECT_EQ(evs[0].steps, R"x([{"step":"plan.steps[1] (gemm)","median_us":6.0}])x");
  EXPECT_EQ(evs[0].seed, 42);
  EXPECT_EQ(evs[0].run_id, run_id);
  EXPECT_EQ(evs[1].status, Status::wrong);
  EXPECT_FALSE(evs[1].speedup);
  EXPECT_EQ(evs[1].error, "hard inputs: 3 elements off");
  EXPECT_EQ(a.evaluations("rmsnorm_linear", "Fake GPU").size(), 2u);
  EXPECT_TRUE(a.evaluations("rmsnorm_linear", "Other GPU").empty());
  EXPECT_EQ(a.run_evaluations(run_id), 1);
}

// A status is typed: a name this ksearch does not know is a damaged (or newer) archive, said in
// one line, never read as some other status.
TEST(Archive, AnUnknownStatusIsAnErrorNamingIt) {
  TempDir t;
  Archive a(t.file("a.db"));
  const int64_t id = a.add_candidate(source("h1"), candidate("h1:THREADS=128"));
  a.add_evaluation(evaluation(id, "M=1,K=4096,N=4096", 1.0));
  ASSERT_EQ(a.evaluations_of(id).at(0).status, Status::ok);
  a.connection().exec("UPDATE evaluations SET status = 'exploded'");
  try {
    a.evaluations_of(id);
    FAIL() << "an unknown status was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown status 'exploded'"), std::string::npos) << e.what();
  }
}

TEST(Archive, LlmCallsAreKeptWithTheirCandidateAndCountTowardsTheTokenBudget) {
  TempDir t;
  const std::string path = t.file("llm.db");
  int64_t run_id, call, failed, cand;
  {
    Archive a(path);
    RunRecord r;
    r.task = "rmsnorm_linear";
    r.device = "Fake GPU";
    run_id = a.add_run(r);
    LlmCallRecord ok;
    ok.run_id = run_id;
    ok.op = "rewrite";
    ok.model = "test-model";
    ok.status = "ok";
    ok.prompt_tokens = 1200;
    ok.completion_tokens = 800;
    ok.latency_s = 3.5;
    ok.messages = R"([{"role":"system","content":"You write CUDA."},{"role":"user","content":"Faster, please."}])";
    ok.reply = "Here:\n```cuda\n// the kernel\n```\n";
    call = a.add_llm_call(ok);
    LlmCallRecord bad = ok;
    bad.op = "repair";
    bad.status = "no_code_block";
    bad.error = "the reply has no complete fenced code block";
    bad.completion_tokens = 50;
    failed = a.add_llm_call(bad);
    LlmCallRecord down = ok;
    down.op = "crossover";
    down.status = "transport_error";
    down.prompt_tokens = down.completion_tokens = std::nullopt;  // no reply, no usage
    down.latency_s = std::nullopt;
    down.reply = "";
    a.add_llm_call(down);
    cand = a.add_candidate(source("h9"), candidate("h9:THREADS=128"));
    a.set_llm_call_candidate(call, cand);
  }
  Archive a(path, Archive::Mode::existing);
  const auto calls = a.llm_calls(run_id);
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].id, call);
  EXPECT_EQ(calls[0].op, "rewrite");
  EXPECT_EQ(calls[0].candidate_id, cand);
  EXPECT_EQ(calls[0].latency_s, 3.5);
  EXPECT_NE(calls[0].messages.find("Faster, please."), std::string::npos) << calls[0].messages;
  EXPECT_EQ(calls[0].reply, "Here:\n```cuda\n// the kernel\n```\n");
  EXPECT_EQ(calls[2].reply, "");
  ASSERT_TRUE(a.llm_call_of_candidate(cand));
  EXPECT_EQ(a.llm_call_of_candidate(cand)->id, call);
  EXPECT_FALSE(a.llm_call_of_candidate(cand + 1));
  EXPECT_EQ(a.llm_calls_of_task("rmsnorm_linear").size(), 3u);
  EXPECT_TRUE(a.llm_calls_of_task("swiglu_mlp").empty());
  EXPECT_EQ(calls[1].id, failed);
  EXPECT_EQ(calls[1].status, "no_code_block");
  EXPECT_FALSE(calls[1].candidate_id);
  EXPECT_FALSE(calls[2].prompt_tokens);
  EXPECT_GT(calls[2].created_at, 0);
  EXPECT_EQ(a.run_llm_tokens(run_id), 1200 + 800 + 1200 + 50);
  EXPECT_EQ(a.llm_calls(std::nullopt).size(), 3u);
  EXPECT_TRUE(a.llm_calls(run_id + 1).empty());
}

TEST(Archive, AuditsAreKeptPerShapeAndSeedAndAReAuditReplacesItsRow) {
  TempDir t;
  Archive a(t.file("audit.db"));
  const int64_t cand = a.add_candidate(source("h1"), candidate("h1:THREADS=128"));
  AuditRecord r;
  r.candidate_id = cand;
  r.device = "Fake GPU";
  r.shape = "M=3,K=2048,N=5632";
  r.seed = 11;
  r.status = Status::ok;
  r.median_us = 12.5;
  r.max_scaled_error = 0.004;
  a.add_audit(r);
  r.seed = 12;
  r.deterministic = false;
  a.add_audit(r);
  r.status = Status::wrong;  // the same seed again: replaces
  r.error = "Y[0,1] = 3, want 1";
  a.add_audit(r);
  const auto rows = a.audits("rmsnorm_linear", "Fake GPU");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].seed, 11);
  EXPECT_TRUE(rows[0].deterministic);
  EXPECT_EQ(rows[0].median_us, 12.5);
  EXPECT_EQ(rows[1].status, Status::wrong);
  EXPECT_FALSE(rows[1].deterministic);
  EXPECT_EQ(rows[1].error, "Y[0,1] = 3, want 1");
  EXPECT_TRUE(a.audits("swiglu_mlp", "").empty());
  EXPECT_TRUE(a.audits("", "Other GPU").empty());
}

TEST(Archive, FilesThatAreNotArchivesAreRefusedAndLeftAsTheyWere) {
  TempDir t;
  const std::string text = t.file("notes.txt");
  std::ofstream(text) << "these are my notes, not a database\n" << std::string(5000, 'x');
  const std::string before = read_all(text);
  try {
    Archive a(text);
    FAIL() << "opened a text file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a ksearch archive (not an SQLite database)"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_all(text), before);

  const std::string other = t.file("other.db");
  { sql::Connection c(other, true); c.exec("CREATE TABLE inventory (item TEXT); INSERT INTO inventory VALUES ('bolt')"); }
  const std::string other_before = read_all(other);
  EXPECT_THROW(
      {
        try {
          Archive a(other);
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("of another application"), std::string::npos) << e.what();
          throw;
        }
      },
      Error);
  EXPECT_EQ(read_all(other), other_before);

  EXPECT_THROW(Archive a(t.dir.string()), Error);  // a folder
  EXPECT_THROW(Archive a(t.file("missing.db"), Archive::Mode::existing), Error);
  EXPECT_FALSE(fs::exists(t.file("missing.db"))) << "Mode::existing never creates";
  std::ofstream(t.file("empty.db")).close();
  EXPECT_THROW(Archive a(t.file("empty.db"), Archive::Mode::existing), Error);
  Archive fresh(t.file("empty.db"));  // an empty file may become an archive when creating
  EXPECT_EQ(fresh.schema_version(), archive_schema().version);
}

TEST(Archive, ANewerSchemaIsRefused) {
  TempDir t;
  const std::string path = t.file("a.db");
  { Archive a(path); a.connection().exec("PRAGMA user_version = 99"); }
  try {
    Archive a(path);
    FAIL() << "opened a newer archive";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("version 99, newer than this ksearch's"), std::string::npos) << e.what();
  }
  sql::Connection c(path, false);
  sql::Statement s(c, "PRAGMA user_version");
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.i64(0), 99) << "left as it was";
}

TEST(Archive, MigrationsRunInOrderOnceAndAFailedOneChangesNothing) {
  TempDir t;
  const std::string path = t.file("a.db");
  const Schema v1{1, "CREATE TABLE notes (a INTEGER);", {}};
  { Archive a(path, Archive::Mode::create, v1); a.connection().exec("INSERT INTO notes VALUES (1)"); }

  const Schema broken{3, "-", {"ALTER TABLE notes ADD COLUMN b INTEGER DEFAULT 2;", "THIS IS NOT SQL;"}};
  try {
    Archive a(path, Archive::Mode::existing, broken);
    FAIL() << "a failing migration was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("from schema version 2 failed, nothing was changed"), std::string::npos) << e.what();
  }
  {
    Archive a(path, Archive::Mode::existing, v1);  // still version 1, column b not added
    EXPECT_EQ(a.schema_version(), 1);
    EXPECT_THROW(sql::Statement(a.connection(), "SELECT b FROM notes"), sql::SqlError);
  }
  const Schema v3{3, "-", {"ALTER TABLE notes ADD COLUMN b INTEGER DEFAULT 2;",
                           "UPDATE notes SET b = b * 10 + a;"}};
  for (int open = 0; open < 2; ++open) {  // the second open finds version 3 and migrates nothing
    Archive a(path, Archive::Mode::existing, v3);
    EXPECT_EQ(a.schema_version(), 3);
    sql::Statement s(a.connection(), "SELECT a, b FROM notes");
    ASSERT_TRUE(s.step());
    EXPECT_EQ(s.i64(1), 21);
  }
}

TEST(Archive, AVersion1ArchiveMigratesKeepingItsRowsAndThenKeepsWhatWasSaid) {
  TempDir t;
  const std::string path = t.file("v1.db");
  std::ifstream in(std::string(KSEARCH_SOURCE_DIR) + "/tests/fixtures/archive/schema_v1.sql");
  const Schema v1{1, std::string(std::istreambuf_iterator<char>(in), {}), {}};
  ASSERT_NE(v1.create_sql.find("CREATE TABLE llm_calls"), std::string::npos);
  int64_t run_id, cand;
  {
    Archive a(path, Archive::Mode::create, v1);
    ASSERT_EQ(a.schema_version(), 1);
    // Version 1 has no constants column in runs (nor messages or reply in llm_calls): the rows
    // are written as that ksearch wrote them.
    a.connection().exec("INSERT INTO runs (uid, task, device, arch, host, seed, options, state, started_at, "
                        "updated_at) VALUES ('u1', 'rmsnorm_linear', 'Fake GPU', '', 'h', 0, '{}', 'running', 1, 1)");
    run_id = a.connection().last_insert_id();
    cand = a.add_candidate(source("old"), candidate("old:1"));
    a.connection().exec("INSERT INTO llm_calls (run_id, operator, model, status, error, prompt_tokens, "
                        "completion_tokens, latency_s, candidate_id, created_at) VALUES (" +
                        std::to_string(run_id) + ", 'llm_rewrite', 'old-model', 'ok', '', 10, 20, 1.5, " +
                        std::to_string(cand) + ", 1)");
  }
  Archive a(path, Archive::Mode::existing);
  EXPECT_EQ(a.schema_version(), archive_schema().version);
  EXPECT_EQ(a.runs().size(), 1u);
  EXPECT_EQ(a.candidates("").size(), 1u);
  auto calls = a.llm_calls(std::nullopt);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].model, "old-model");
  EXPECT_EQ(calls[0].candidate_id, cand);
  EXPECT_EQ(calls[0].prompt_tokens, 10);
  EXPECT_EQ(calls[0].messages, "[]") << "an old call says it kept nothing";
  EXPECT_EQ(calls[0].reply, "");
  LlmCallRecord now;
  now.run_id = run_id;
  now.op = "llm_repair";
  now.model = "new-model";
  now.status = "no_code_block";
  now.messages = R"([{"role":"user","content":"Fix it."}])";
  now.reply = "I cannot.";
  a.add_llm_call(now);
  calls = a.llm_calls(run_id);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].messages, now.messages);
  EXPECT_EQ(calls[1].reply, "I cannot.");

  // The migrated file is what a new archive is: the same llm_calls columns.
  auto columns = [](Archive& x) {
    std::vector<std::string> out;
    sql::Statement s(x.connection(), "SELECT name FROM pragma_table_info('llm_calls') ORDER BY name");
    while (s.step()) out.push_back(s.text(0));
    return out;
  };
  Archive fresh(t.file("fresh.db"));
  EXPECT_EQ(columns(a), columns(fresh));
}

TEST(Archive, ACorruptFileIsAClearError) {
  TempDir t;
  const std::string path = t.file("a.db");
  {
    Archive a(path);
    for (int i = 0; i < 200; ++i) {
      SourceRecord s = source("h" + std::to_string(i));
      s.text += std::string(2000, 'c');
      a.add_candidate(s, candidate("k" + std::to_string(i)));
    }
  }  // closing checkpoints the WAL into the file
  std::string bytes = read_all(path);
  ASSERT_GT(bytes.size(), 64u * 4096);
  for (size_t i = 8 * 4096; i < 40 * 4096; ++i) bytes[i] = static_cast<char>(i * 7919 % 251);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  try {
    Archive a(path, Archive::Mode::existing);
    FAIL() << "opened a corrupt archive";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_TRUE(what.find("corrupt") != std::string::npos || what.find("malformed") != std::string::npos) << what;
  }
}

// Runs tests/archive_writer (a process of its own) with the arguments.
pid_t spawn_writer(const std::vector<std::string>& args, int* out_fd) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv = {const_cast<char*>(ARCHIVE_WRITER)};
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(ARCHIVE_WRITER, argv.data());
    _exit(127);
  }
  close(fds[1]);
  *out_fd = fds[0];
  return pid;
}

std::string read_line(int fd) {
  std::string line;
  char ch;
  while (read(fd, &ch, 1) == 1 && ch != '\n') line += ch;
  return line;
}

TEST(Archive, TwoWriterProcessesAtOnceLoseNothing) {
  TempDir t;
  const std::string path = t.file("shared.db");  // both create it at the same moment
  int fa, fb;
  const pid_t a = spawn_writer({path, "write", "150", "a"}, &fa);
  const pid_t b = spawn_writer({path, "write", "150", "b"}, &fb);
  EXPECT_EQ(read_line(fa), "done");
  EXPECT_EQ(read_line(fb), "done");
  int sa, sb;
  waitpid(a, &sa, 0);
  waitpid(b, &sb, 0);
  close(fa);
  close(fb);
  EXPECT_TRUE(WIFEXITED(sa) && WEXITSTATUS(sa) == 0);
  EXPECT_TRUE(WIFEXITED(sb) && WEXITSTATUS(sb) == 0);
  Archive arc(path, Archive::Mode::existing);
  EXPECT_EQ(arc.candidates("rmsnorm_linear").size(), 300u);
  EXPECT_EQ(arc.evaluations("rmsnorm_linear", "Fake GPU").size(), 300u);
  EXPECT_EQ(arc.sources("").size(), 2u);
}

TEST(Archive, AWriterKilledMidTransactionLeavesItConsistent) {
  TempDir t;
  const std::string path = t.file("a.db");
  {
    Archive a(path);
    a.add_candidate(source("committed"), candidate("committed:1"));
  }
  // One writer holds a transaction of 500 candidates open and is killed.
  int fd;
  const pid_t held = spawn_writer({path, "hold", "500", "held"}, &fd);
  ASSERT_EQ(read_line(fd), "in transaction");
  kill(held, SIGKILL);
  waitpid(held, nullptr, 0);
  close(fd);
  // Another is killed at an arbitrary point of a stream of small transactions.
  const pid_t busy = spawn_writer({path, "write", "100000", "busy"}, &fd);
  usleep(300 * 1000);
  kill(busy, SIGKILL);
  waitpid(busy, nullptr, 0);
  close(fd);

  Archive a(path, Archive::Mode::existing);  // quick_check passes, or this throws
  int held_rows = 0, busy_rows = 0, committed = 0;
  for (auto& c : a.candidates("")) {
    held_rows += c.key.rfind("held-", 0) == 0;
    busy_rows += c.key.rfind("hash-busy", 0) == 0;
    committed += c.key == "committed:1";
    EXPECT_TRUE(a.source(c.source_id)) << "candidate " << c.key << " lost its source";
  }
  EXPECT_EQ(committed, 1);
  EXPECT_EQ(held_rows, 0) << "an uncommitted transaction left rows behind";
  EXPECT_GT(busy_rows, 0) << "the busy writer committed nothing in 300 ms";
  // Every evaluation the busy writer committed has its candidate (foreign keys hold).
  sql::Statement orphans(a.connection(),
                         "SELECT count(*) FROM evaluations e LEFT JOIN candidates c ON c.id = e.candidate_id WHERE c.id IS NULL");
  ASSERT_TRUE(orphans.step());
  EXPECT_EQ(orphans.i64(0), 0);
  a.add_candidate(source("after"), candidate("after:1"));  // and it takes writes again
}

TEST(Archive, MergeAddsWhatIsNewAndRemapsIds) {
  TempDir t;
  const std::string pa = t.file("a.db"), pb = t.file("b.db");
  {
    Archive a(pa);
    const int64_t x = a.add_candidate(source("shared"), candidate("shared:1"));
    a.add_evaluation(evaluation(x, "M=1,K=4096,N=4096", 1.1));
  }
  int64_t b_parent, b_child;
  {
    Archive b(pb);
    RunRecord r;
    r.task = "rmsnorm_linear";
    r.device = "Fake GPU";
    r.arch = "sm_90a";
    const int64_t run = b.add_run(r);
    // Ids in b differ from a's: b's first candidate is new to a.
    b_parent = b.add_candidate(source("only_b"), candidate("only_b:1"));
    b_child = b.add_candidate(source("only_b"), candidate("only_b:2", {b_parent}));
    const int64_t shared = b.add_candidate(source("shared"), candidate("shared:1"));
    b.add_evaluation(evaluation(shared, "M=1,K=4096,N=4096", 9.9));  // a already has this one
    EvaluationRecord e = evaluation(b_child, "M=16,K=4096,N=6144", 1.5);
    e.run_id = run;
    b.add_evaluation(e);
    LlmCallRecord call;
    call.run_id = run;
    call.op = "llm_rewrite";
    call.model = "m";
    call.status = "ok";
    call.candidate_id = b_child;
    call.messages = R"([{"role":"user","content":"Make it faster."}])";
    call.reply = "Done:\n```cuda\nint x;\n```\n";
    b.add_llm_call(call);
    b.connection().exec("INSERT INTO audits (candidate_id, device, shape, seed, status, error, "
                        "deterministic, created_at) VALUES (" + std::to_string(b_child) +
                        ", 'Fake GPU', 'M=3,K=4096,N=4096', 5, 'ok', '', 1, 0)");
  }
  Archive a(pa);
  MergeStats st = a.merge_from(pb);
  EXPECT_EQ(st.runs, 1);
  EXPECT_EQ(st.sources, 1);
  EXPECT_EQ(st.candidates, 2);
  EXPECT_EQ(st.evaluations, 1);
  EXPECT_EQ(st.audits, 1);
  EXPECT_EQ(st.llm_calls, 1);
  MergeStats again = a.merge_from(pb);
  EXPECT_EQ(again.runs + again.sources + again.candidates + again.evaluations + again.audits, 0);

  std::map<std::string, CandidateRecord> by_key;
  for (auto& c : a.candidates("")) by_key[c.key] = c;
  ASSERT_EQ(by_key.size(), 3u);
  EXPECT_EQ(by_key["only_b:2"].parents, std::vector<int64_t>{by_key["only_b:1"].id});
  for (auto& e : a.evaluations("", "")) {
    if (e.candidate_id == by_key["shared:1"].id) {
      EXPECT_EQ(e.speedup, 1.1) << "the target's row stands";
    }
    if (e.candidate_id == by_key["only_b:2"].id) {
      EXPECT_EQ(e.run_id, a.runs().at(0).id);
    }
  }
  const auto calls = a.llm_calls(std::nullopt);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].candidate_id, by_key["only_b:2"].id);
  EXPECT_EQ(calls[0].messages, R"([{"role":"user","content":"Make it faster."}])") << "merge carries what was said";
  EXPECT_EQ(calls[0].reply, "Done:\n```cuda\nint x;\n```\n");
  EXPECT_THROW(a.merge_from(pa), Error);
}

}  // namespace
}  // namespace ks
