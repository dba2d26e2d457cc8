#pragma once
// Runs the ksearch binary as a user does, for the command-line tests.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace ks::cli_test {

struct Outcome {
  int code;
  std::string out;  // stdout and stderr together
};

// `env` is prefixed to the command line (e.g. "KSEARCH_DB=/tmp/x.db"); args are shell words.
inline Outcome ksearch_env(const std::string& env, const std::string& args) {
  const std::string cmd = env + " " + std::string(KSEARCH_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

inline Outcome ksearch(const std::string& args) { return ksearch_env("", args); }

// Lines of a command's output (an error is one line).
inline int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

#ifdef FAKE_WORKER
// The environment that points ksearch at the fake worker (tests/fake_worker.cpp): no GPU needed.
inline const std::string kFake = std::string("KSEARCH_WORKER=") + FAKE_WORKER;
#endif

}  // namespace ks::cli_test
