#pragma once
// Runs a program once: the input written to its stdin, its stdout and stderr read back, all
// against a wall-clock deadline and size caps; killed (SIGKILL) and reaped however it ends.
// Thread-safe (posix_spawn, O_CLOEXEC pipes), and the child gets no descriptor but its three:
// an open file of another thread never leaks into it.
#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace ks {

struct BoundedRun {
  std::vector<std::string> argv;  // argv[0]: the program's path (no PATH search)
  std::vector<std::string> env;   // "NAME=value": the child's whole environment
  std::filesystem::path cwd;      // its working directory
  std::string input;              // written to its stdin, which is then closed
  double timeout_s = 60;          // from the start to the reaped exit
  size_t max_output = 1 << 20;    // stdout beyond this: killed, output_overflow
  size_t max_errors = 4096;       // stderr: the first bytes are kept, the rest read and dropped
};

struct BoundedResult {
  std::string output, errors;  // stdout (whole unless overflowed), stderr's head
  bool timed_out = false;      // killed at the deadline
  bool output_overflow = false;  // killed for writing more than max_output
  int wait_status = 0;         // waitpid's
  bool exited_ok() const;      // exit code 0
  std::string exit_status() const;  // "exit code 3", "signal 9 (Killed)"
};

// Throws ks::Error naming the failing call when the child cannot be started or waited for;
// whatever the child does is a result.
BoundedResult run_bounded(const BoundedRun& run);

}  // namespace ks
