#pragma once
// A child process with pipes to its stdin and stdout (its stderr is ours), read line by line
// against a deadline. Killed (SIGKILL) and reaped when the owner lets go of it.
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace ks {

class ChildProcess {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Read { line, timeout, eof };

  explicit ChildProcess(const std::vector<std::string>& argv);  // throws ks::Error naming argv[0]
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
  bool reaped_ = false;
  int wait_status_ = 0;
};

}  // namespace ks
