// Issue 18, items 1, 2 and 7: every command that only reads an archive reads one snapshot,
// read-only. A reader looping beside a writer process never fails; a reader never waits behind a
// writer's transaction; every read command works on a read-only copy in a read-only folder (as
// another user when the tests run as root) and leaves the file's bytes, its time and its folder
// as they were; a command that fails before its work creates no archive.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "db/archive.h"
#include "evaluator/device.h"
#include "run_ksearch.h"
#include "read_text.h"
#include "temp_dir.h"

namespace ks {
namespace {

namespace fs = std::filesystem;
using cli_test::ksearch;
using cli_test::ksearch_env;

const char* kTask = "rmsnorm_linear";
const char* kDevice = "Fake GPU";

using test::read_text;

// A small archive a user could have: a run, two seeds at their defaults, timed evaluations, an
// audit per candidate, an LLM call; enough for best, show, report and export to have work.
struct Fixture {
  std::string db;
  int64_t gemv = 0, mma_gemv = 0;
  explicit Fixture(const std::string& path) : db(path) {
    Archive a(db);
    RunRecord r;
    r.task = kTask;
    r.device = kDevice;
    r.arch = "sm_90a";
    r.host = "test";
    const int64_t run = a.add_run(r);
    auto add = [&](const std::string& name) {
      const std::string text = read_text(fs::path(KSEARCH_SOURCE_DIR) / "seeds" / kTask / (name + ".cu"));
      SourceRecord s{0, "hash-" + name, kTask, name, text, true};
      CandidateRecord c;
      c.key = "hash-" + name + "|default";
      c.task = kTask;
      c.params = "default";
      c.origin = "seed";
      c.run_id = run;
      return a.add_candidate(s, c);
    };
    gemv = add("gemv_fused");
    mma_gemv = add("mma_gemv");
    for (auto [cand, speedup] : {std::pair{gemv, 1.5}, {mma_gemv, 1.8}}) {
      EvaluationRecord e;
      e.candidate_id = cand;
      e.run_id = run;
      e.device = kDevice;
      e.shape = "M=1,K=4096,N=4096";
      e.status = Status::ok;
      e.baseline_us = 20.0;
      e.median_us = 20.0 / speedup;
      e.speedup = speedup;
      e.floor_us = 10.0;
      a.add_evaluation(e);
      AuditRecord au;
      au.candidate_id = cand;
      au.device = kDevice;
      au.shape = "M=3,K=2048,N=5632";
      au.seed = 1;
      au.status = Status::ok;
      a.add_audit(au);
    }
    LlmCallRecord call;
    call.run_id = run;
    call.op = "llm_rewrite";
    call.model = "m";
    call.status = "ok";
    call.candidate_id = mma_gemv;
    a.add_llm_call(call);
  }
};

// A child process, killed (SIGKILL) and reaped on destruction unless it has ended.
struct Child {
  pid_t pid = -1;
  explicit Child(std::vector<std::string> argv) {
    pid = fork();
    if (pid == 0) {
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      freopen("/dev/null", "w", stdout);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  bool running() { return pid > 0 && waitpid(pid, nullptr, WNOHANG) == 0; }
  int wait() {
    int status = 0;
    waitpid(pid, &status, 0);
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  ~Child() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
};

// What best reads, in the order it reads it: every evaluation's candidate must be among the
// candidates read (the "map::at" of issue 18 when the two reads saw two snapshots).
void read_like_best(const std::string& path) {
  Archive a(path, Archive::Mode::read);
  std::set<int64_t> ids;
  for (auto& c : a.candidates("")) ids.insert(c.id);
  for (auto& e : a.evaluations("", ""))
    if (!ids.count(e.candidate_id)) throw std::runtime_error("evaluation of a candidate not read: two snapshots");
}

TEST(ArchiveReaders, AReaderLoopingBesideAWriterProcessNeverFails) {
  test::TempDir t;
  const std::string db = t.file("busy.db");
  { Archive create(db); }
  // One transaction per row, as run writes, for far longer than the reads take.
  Child writer({ARCHIVE_WRITER, db, "pace", "1000000", "busy"});
  int reads = 0, failures = 0;
  std::string first_failure;
  for (; reads < 1000; ++reads) {
    try {
      read_like_best(db);
    } catch (const std::exception& e) {
      if (failures++ == 0) first_failure = e.what();
    }
  }
  EXPECT_TRUE(writer.running()) << "the writer must still be writing when the reads end";
  EXPECT_EQ(failures, 0) << first_failure;
  // The command itself, beside the same writer: best and report read what they print in one go.
  for (int i = 0; i < 5; ++i) {
    auto best = ksearch("best --json --db " + db);
    ASSERT_EQ(best.code, 0) << best.out;
    auto report = ksearch("report --db " + db + " --out " + t.file("r.html"));
    ASSERT_EQ(report.code, 0) << report.out;
  }
  EXPECT_TRUE(writer.running());
}

TEST(ArchiveReaders, ReadersDoNotWaitForAWriteTransaction) {
  test::TempDir t;
  Fixture f(t.file("a.db"));
  // A writer holding its write transaction open, as a long merge does.
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    execl(ARCHIVE_WRITER, ARCHIVE_WRITER, f.db.c_str(), "hold", "10", "held", nullptr);
    _exit(127);
  }
  close(out[1]);
  char buf[64] = {};
  ASSERT_GT(read(out[0], buf, sizeof buf - 1), 0);  // "in transaction"
  const auto t0 = std::chrono::steady_clock::now();
  auto best = ksearch("best --db " + f.db);
  auto show = ksearch("show " + std::to_string(f.gemv) + " --db " + f.db);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  close(out[0]);
  EXPECT_EQ(best.code, 0) << best.out;
  EXPECT_EQ(show.code, 0) << show.out;
  EXPECT_LT(s, 10) << "readers waited for the writer";
}

struct FileState {
  std::string bytes;
  struct timespec mtime {};
  std::set<std::string> folder;
};

FileState state_of(const fs::path& file) {
  FileState s;
  s.bytes = read_text(file);
  struct stat st {};
  stat(file.c_str(), &st);
  s.mtime = st.st_mtim;
  for (auto& e : fs::directory_iterator(file.parent_path())) s.folder.insert(e.path().filename().string());
  return s;
}

void expect_same(const FileState& before, const FileState& after, const std::string& what) {
  EXPECT_TRUE(before.bytes == after.bytes) << what << " changed the archive's bytes";
  EXPECT_EQ(before.mtime.tv_sec, after.mtime.tv_sec) << what;
  EXPECT_EQ(before.mtime.tv_nsec, after.mtime.tv_nsec) << what << " touched the archive";
  EXPECT_EQ(before.folder, after.folder) << what << " left files beside the archive";
}

// Every read command on `db`, each as `prefix` runs it (another user, or this one): all succeed
// and leave the file and its folder as they were.
void every_read_command(const Fixture& f, const fs::path& db, const fs::path& out, const std::string& prefix) {
  const std::string d = " --db " + db.string();
  const std::vector<std::string> commands = {
      "best" + d,
      "best --json --gpu-model '" + std::string(kDevice) + "'" + d,
      "show " + std::to_string(f.mma_gemv) + d,
      "show --json " + std::to_string(f.gemv) + d,
      "report --out " + (out / "report.html").string() + d,
      "export --task rmsnorm_linear --out " + (out / "lib").string() + d,
      "merge " + db.string() + " --db " + (out / "merged.db").string(),
  };
  for (auto& c : commands) {
    const FileState before = state_of(db);
    auto r = ksearch_env(prefix + " KSEARCH_CACHE_DIR=" + (out / "cache").string(), c);
    EXPECT_EQ(r.code, 0) << prefix << " ksearch " << c << ":\n" << r.out;
    expect_same(before, state_of(db), prefix + " ksearch " + c);
  }
}

TEST(ArchiveReaders, EveryReadCommandWorksOnAReadOnlyCopyInAReadOnlyFolder) {
  test::TempDir t;
  Fixture f(t.file("source.db"));
  const fs::path ro = t.dir / "readonly", out = t.dir / "out";
  fs::create_directories(ro);
  fs::create_directories(out);
  fs::copy_file(f.db, ro / "a.db");
  fs::permissions(ro / "a.db", fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read | fs::perms::group_exec |
                          fs::perms::others_read | fs::perms::others_exec);
  fs::permissions(out, fs::perms::all);  // the other user writes the report, the library and the cache here
  fs::permissions(t.dir, fs::perms::all);
  // As this user: when that is root, the permissions do not stop it, and the reader still must not
  // write (and tidies what SQLite made for its read).
  fs::create_directories(out / "self");
  every_read_command(f, ro / "a.db", out / "self", "");
  const std::string nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups env";
  if (geteuid() == 0 && ksearch_env(nobody, "--help").code == 0) {
    // As nobody, whom the permissions do stop: what a user without write access gets.
    fs::create_directories(out / "nobody");
    fs::permissions(out / "nobody", fs::perms::all);
    every_read_command(f, ro / "a.db", out / "nobody", nobody);
  }
  fs::permissions(ro, fs::perms::all);
}

TEST(ArchiveReaders, AReadOnlyArchiveIsOpenedReadOnly) {
  test::TempDir t;
  Fixture f(t.file("a.db"));
  Archive a(f.db, Archive::Mode::read);
  EXPECT_EQ(sqlite3_db_readonly(a.connection().get(), "main"), 1);
  EXPECT_THROW(a.add_run(RunRecord{}), sql::SqlError);  // no write goes through a reader
  EXPECT_EQ(a.candidates("").size(), 2u);
}

TEST(ArchiveReaders, AReaderNeverCreatesAFile) {
  test::TempDir t;
  EXPECT_THROW(Archive(t.file("missing.db"), Archive::Mode::read), Error);
  EXPECT_FALSE(fs::exists(t.file("missing.db")));
  for (const std::string cmd : {"best", "show 1", "report --out x.html", "export --task rmsnorm_linear --out lib"}) {
    auto r = ksearch_env("cd " + t.dir.string() + " &&", cmd);
    EXPECT_EQ(r.code, 2) << cmd << ": " << r.out;
    EXPECT_TRUE(fs::is_empty(t.dir)) << cmd << " left a file in " << t.dir;
  }
}

TEST(ArchiveReaders, AMergeOfAMissingArchiveCreatesNoTarget) {
  test::TempDir t;
  auto r = ksearch_env("cd " + t.dir.string() + " &&", "merge missing.db");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("missing.db"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::is_empty(t.dir)) << "merge left " << fs::directory_iterator(t.dir)->path();
}

TEST(ArchiveReaders, ARunWithoutAGpuCreatesNoArchive) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present: this test is for machines without one";
  test::TempDir t;
  auto r = ksearch_env("cd " + t.dir.string() + " &&", "run --task rmsnorm_linear --minutes 1");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("no CUDA device"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(t.dir / "ksearch.db")) << "run left an empty archive behind";
}

}  // namespace
}  // namespace ks
