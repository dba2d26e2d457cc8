#pragma once
// A child process with a pipe to its stdin and one from its reply descriptor, read line by line
// against a deadline, each line at most max_line bytes. Killed (SIGKILL) and reaped when the
// owner lets go of it.
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace ks {

class ChildProcess {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Read { line, timeout, eof, too_long };

  struct Options {
    // The child's descriptor that carries its replies: 1 (stdout) or another, e.g. 3, so that
    // nothing the child prints by accident (a candidate's device printf) reaches the reply
    // channel; the child's stdout is then our stderr.
    int reply_fd = 1;
    // The child's environment as NAME=value strings; nullopt: ours.
    std::optional<std::vector<std::string>> env;
    size_t max_line = size_t{16} << 20;  // a longer line reads as too_long
  };

  // Throws ks::Error naming argv[0].
  explicit ChildProcess(const std::vector<std::string>& argv) : ChildProcess(argv, Options{}) {}
  ChildProcess(const std::vector<std::string>& argv, Options opts);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // False when the child has closed its stdin (it died).
  bool write_line(const std::string& line);
  Read read_line(std::string& line, Clock::time_point deadline);
  void kill();                   // SIGKILL, then reap
  std::string exit_status();     // reaps if needed: "exit code 3", "signal 11 (Segmentation fault)"
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int to_child_ = -1, from_child_ = -1;
  std::string buffer_;
  size_t max_line_;
  bool reaped_ = false;
  int wait_status_ = 0;
};

}  // namespace ks
