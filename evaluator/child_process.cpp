#include "evaluator/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/error.h"

extern char** environ;

namespace ks {

static void check_sys(int rc, const char* call) {
  if (rc != 0) throw Error(std::string(call) + ": " + std::strerror(rc == -1 ? errno : rc));
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, Options opts) : max_line_(opts.max_line) {
  // A write to a child that died must be an error return, not a signal that ends us.
  ::signal(SIGPIPE, SIG_IGN);
  int in[2], out[2];
  check_sys(::pipe2(in, O_CLOEXEC), "pipe2");
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    check_sys(-1, "pipe2");
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
  if (opts.reply_fd == STDOUT_FILENO) {
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
  } else {
    posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out[1], opts.reply_fd);
  }
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // A process group of its own: Ctrl-C at the terminal signals the foreground group, and the
  // child (a worker) must finish its request while the parent winds down. It still ends when
  // the parent does: its stdin closes, or the parent's destructor kills it. SIGINT and SIGTERM
  // blocked, for the same reason, where they reach every process of the job at once (Slurm's
  // requeue, preemption, scancel and time limit; `kill -- -PGID`): a worker dying of them would
  // turn the evaluation in flight into a crash that no resumed run evaluates again.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  posix_spawnattr_setsigmask(&attr, &stop_signals);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&attr, 0);
  std::vector<char*> envp;
  if (opts.env) {
    for (auto& e : *opts.env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
  }
  int rc = ::posix_spawn(&pid_, args[0], &fa, &attr, args.data(), opts.env ? envp.data() : environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  ::close(out[1]);
  to_child_ = in[1];
  from_child_ = out[0];
  if (rc != 0) {
    ::close(to_child_);
    ::close(from_child_);
    throw Error("cannot start " + argv[0] + ": posix_spawn: " + std::strerror(rc));
  }
}

ChildProcess::~ChildProcess() {
  kill();
  if (to_child_ >= 0) ::close(to_child_);
  if (from_child_ >= 0) ::close(from_child_);
}

bool ChildProcess::write_line(const std::string& line) {
  std::string data = line + '\n';
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(to_child_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

ChildProcess::Read ChildProcess::read_line(std::string& line, Clock::time_point deadline) {
  for (;;) {
    if (size_t nl = buffer_.find('\n'); nl != std::string::npos) {
      line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return Read::line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (buffer_.size() > max_line_) return Read::too_long;
    if (left <= 0) return Read::timeout;
    pollfd p{from_child_, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (rc < 0 && errno != EINTR) check_sys(-1, "poll");
    if (rc <= 0) continue;
    char buf[65536];
    ssize_t n = ::read(from_child_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Read::eof;  // a partial last line is dropped with the child
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

void ChildProcess::kill() {
  if (pid_ <= 0 || reaped_) return;
  ::kill(pid_, SIGKILL);
  exit_status();
}

std::string ChildProcess::exit_status() {
  if (!reaped_) {
    // A child that closed its stdout may still be running: give it two seconds to end.
    const auto give_up = Clock::now() + std::chrono::seconds(2);
    for (;;) {
      pid_t r = ::waitpid(pid_, &wait_status_, WNOHANG);
      if (r == pid_ || (r < 0 && errno != EINTR)) break;
      if (Clock::now() > give_up) {
        ::kill(pid_, SIGKILL);
        while (::waitpid(pid_, &wait_status_, 0) < 0 && errno == EINTR) {
        }
        break;
      }
      ::usleep(10000);
    }
    reaped_ = true;
  }
  if (WIFEXITED(wait_status_)) return "exit code " + std::to_string(WEXITSTATUS(wait_status_));
  if (WIFSIGNALED(wait_status_))
    return "signal " + std::to_string(WTERMSIG(wait_status_)) + " (" + strsignal(WTERMSIG(wait_status_)) + ")";
  return "status " + std::to_string(wait_status_);
}

}  // namespace ks
