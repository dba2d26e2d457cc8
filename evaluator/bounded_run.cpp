#include "evaluator/bounded_run.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>

#include "base/error.h"

namespace ks {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& call, int err) {
  throw Error(call + ": " + std::strerror(err));
}

// One end of a pipe; closed on the way out.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  bool open() const { return fd_ >= 0; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read, write;
  Pipe() {
    int fds[2];
    // O_CLOEXEC: a child another thread spawns at this moment must not inherit our ends.
    if (::pipe2(fds, O_CLOEXEC) != 0) fail("pipe2", errno);
    read.reset(fds[0]);
    write.reset(fds[1]);
  }
};

// posix_spawn's attribute and file-action objects, destroyed on the way out.
struct SpawnSetup {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  SpawnSetup() {
    if (int rc = posix_spawnattr_init(&attr)) fail("posix_spawnattr_init", rc);
    if (int rc = posix_spawn_file_actions_init(&actions)) {
      posix_spawnattr_destroy(&attr);
      fail("posix_spawn_file_actions_init", rc);
    }
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

void check_spawn(int rc, const char* call) {
  if (rc != 0) fail(call, rc);
}

// The child, SIGKILLed and reaped unless it was reaped already.
class Reaper {
 public:
  explicit Reaper(pid_t pid) : pid_(pid) {}
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;
  ~Reaper() {
    if (reaped_) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  // Waits until the deadline; false if the child is still running then.
  bool wait(int& status, Clock::time_point deadline) {
    for (;;) {
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) return reaped_ = true;
      if (r < 0 && errno != EINTR) fail("waitpid", errno);
      if (Clock::now() >= deadline) return false;
      ::usleep(1000);
    }
  }
  void kill_and_wait(int& status) {
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, &status, 0) < 0) {
      if (errno != EINTR) fail("waitpid", errno);
    }
    reaped_ = true;
  }

 private:
  pid_t pid_;
  bool reaped_ = false;
};

pid_t spawn(const BoundedRun& run, Pipe& in, Pipe& out, Pipe& err) {
  SpawnSetup s;
  check_spawn(posix_spawn_file_actions_adddup2(&s.actions, in.read.get(), STDIN_FILENO),
              "posix_spawn_file_actions_adddup2");
  check_spawn(posix_spawn_file_actions_adddup2(&s.actions, out.write.get(), STDOUT_FILENO),
              "posix_spawn_file_actions_adddup2");
  check_spawn(posix_spawn_file_actions_adddup2(&s.actions, err.write.get(), STDERR_FILENO),
              "posix_spawn_file_actions_adddup2");
  // Descriptors opened without O_CLOEXEC elsewhere in this process (a file a thread reads) stay
  // out of the child.
  check_spawn(posix_spawn_file_actions_addclosefrom_np(&s.actions, STDERR_FILENO + 1),
              "posix_spawn_file_actions_addclosefrom_np");
  check_spawn(posix_spawn_file_actions_addchdir_np(&s.actions, run.cwd.c_str()),
              "posix_spawn_file_actions_addchdir_np");
  // Default signal handling (an ignored SIGPIPE would survive the exec), and a process group of
  // its own: Ctrl-C at the terminal is for the search, which lets the compiles in flight finish;
  // the child ends with its caller all the same (the caller kills it). For the same reason only
  // SIGINT and SIGTERM are blocked, where they reach every process at once (Slurm's requeue,
  // preemption, scancel, time limit): a compile killed by them would be recorded as the
  // candidate's compile error.
  sigset_t stop_signals, all;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigfillset(&all);
  check_spawn(posix_spawnattr_setsigmask(&s.attr, &stop_signals), "posix_spawnattr_setsigmask");
  check_spawn(posix_spawnattr_setsigdefault(&s.attr, &all), "posix_spawnattr_setsigdefault");
  check_spawn(posix_spawnattr_setpgroup(&s.attr, 0), "posix_spawnattr_setpgroup");
  check_spawn(posix_spawnattr_setflags(&s.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                                    POSIX_SPAWN_SETPGROUP),
              "posix_spawnattr_setflags");

  std::vector<char*> args, env;
  for (const auto& a : run.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const auto& e : run.env) env.push_back(const_cast<char*>(e.c_str()));
  env.push_back(nullptr);
  pid_t pid = -1;
  if (int rc = ::posix_spawn(&pid, args[0], &s.actions, &s.attr, args.data(), env.data())) {
    throw Error("cannot start " + run.argv[0] + ": posix_spawn: " + std::strerror(rc));
  }
  return pid;
}

// Reads what is there, keeping `into` at most `keep` bytes long; false at end of file.
bool drain(Fd& fd, std::string& into, size_t keep) {
  char buf[65536];
  const ssize_t n = ::read(fd.get(), buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n < 0) fail("read", errno);
  if (n == 0) return false;
  const size_t take = std::min(static_cast<size_t>(n), keep > into.size() ? keep - into.size() : 0);
  into.append(buf, take);
  return true;
}

}  // namespace

bool BoundedResult::exited_ok() const {
  return WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
}

std::string BoundedResult::exit_status() const {
  if (WIFEXITED(wait_status)) return "exit code " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    const int sig = WTERMSIG(wait_status);
    return "signal " + std::to_string(sig) + " (" + sigdescr_np(sig) + ")";
  }
  return "wait status " + std::to_string(wait_status);
}

BoundedResult run_bounded(const BoundedRun& run) {
  if (run.argv.empty()) throw Error("run_bounded: no program given");
  // A write to a child that died must be an error return, not a signal that ends this process.
  static std::once_flag sigpipe;
  std::call_once(sigpipe, [] { ::signal(SIGPIPE, SIG_IGN); });

  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(run.timeout_s));
  Pipe in, out, err;
  Reaper child(spawn(run, in, out, err));
  in.read.reset();
  out.write.reset();
  err.write.reset();
  // Non-blocking, so that a child that stops reading its stdin cannot hold us past the deadline.
  if (::fcntl(in.write.get(), F_SETFL, O_NONBLOCK) != 0) fail("fcntl(O_NONBLOCK)", errno);

  BoundedResult result;
  size_t written = 0;
  if (run.input.empty()) in.write.reset();
  while (out.read.open() || err.read.open()) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      result.timed_out = true;
      break;
    }
    pollfd fds[3] = {{in.write.get(), POLLOUT, 0},
                     {out.read.get(), POLLIN, 0},
                     {err.read.get(), POLLIN, 0}};  // a closed one (-1) is skipped by poll
    const int ready = ::poll(fds, 3, static_cast<int>(std::min<long long>(left, 1000)));
    if (ready < 0 && errno != EINTR) fail("poll", errno);
    if (ready <= 0) continue;
    if (fds[0].revents != 0) {
      const ssize_t n = ::write(in.write.get(), run.input.data() + written, run.input.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      // EPIPE: the child is gone or stopped reading; its answer (or its end) tells why.
      if ((n < 0 && errno != EINTR && errno != EAGAIN) || written == run.input.size()) {
        in.write.reset();
      }
    }
    // One byte past the cap is kept, to tell an overflow from an answer of exactly the cap.
    if (fds[1].revents != 0 && !drain(out.read, result.output, run.max_output + 1)) out.read.reset();
    if (result.output.size() > run.max_output) {
      result.output_overflow = true;
      break;
    }
    if (fds[2].revents != 0 && !drain(err.read, result.errors, run.max_errors)) err.read.reset();
  }
  if (result.timed_out || result.output_overflow || !child.wait(result.wait_status, deadline)) {
    // Past the deadline, a child that closed its pipes but lives on counts as timed out too.
    if (!result.output_overflow) result.timed_out = true;
    child.kill_and_wait(result.wait_status);
  }
  return result;
}

}  // namespace ks
