#include "evaluator/nvrtc_sandbox.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>

#include "base/error.h"
#include "evaluator/bounded_run.h"
#include "evaluator/nvrtc_frames.h"

#ifndef KSEARCH_NVRTC_HELPER
#error "KSEARCH_NVRTC_HELPER (the built helper's path) comes from evaluator/CMakeLists.txt"
#endif

namespace ks {
namespace {

constexpr const char* kHelperName = "ksearch-nvrtc";
// The answer's caps: the helper cuts its log and refuses a larger cubin itself, so only garbage
// goes past them.
constexpr size_t kMaxLog = size_t{1} << 20;
constexpr size_t kMaxCubin = size_t{256} << 20;
constexpr size_t kMaxAnswer = kMaxLog + kMaxCubin + 4096;

// An empty folder for the helper to run in, where the caller names none: a quote include resolves
// against the working directory, which must show nothing. Removed on the way out.
class EmptyDir {
 public:
  EmptyDir() {
    std::error_code ec;
    std::filesystem::path base = std::filesystem::temp_directory_path(ec);
    if (ec) base = "/tmp";
    std::string pattern = (base / "ksearch-nvrtc-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw Error("mkdtemp(" + pattern + "): " + std::strerror(errno));
    }
    path_ = pattern;
  }
  EmptyDir(const EmptyDir&) = delete;
  EmptyDir& operator=(const EmptyDir&) = delete;
  ~EmptyDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);  // best effort: the helper cannot write files
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// What NVRTC needs and nothing else: no API key, no user variable. libnvrtc finds
// libnvrtc-builtins through its own location and the loader's cache; LD_LIBRARY_PATH is kept
// for toolkits installed where only it points.
std::vector<std::string> helper_environment() {
  std::vector<std::string> env = {"PATH=/usr/bin:/bin"};
  if (const char* path = std::getenv("LD_LIBRARY_PATH"); path != nullptr && *path != '\0') {
    env.push_back(std::string("LD_LIBRARY_PATH=") + path);
  }
  return env;
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

std::string timeout_line(const SandboxLimits& limits) {
  return "ksearch: the compile exceeded its " + seconds_text(limits.timeout_s) +
         " s limit and was killed";
}

std::string memory_line(const SandboxLimits& limits) {
  return "ksearch: the compile exceeded its " + std::to_string(limits.memory_bytes >> 20) +
         " MiB memory limit";
}

CompileResult failed(std::string log) {
  CompileResult r;
  r.log = std::move(log) + "\n";
  return r;
}

// stderr's first line, for a message of one line.
std::string first_line(const std::string& text) {
  const std::string line = text.substr(0, text.find('\n'));
  return line.empty() ? "" : ": " + line;
}

bool says_out_of_memory(std::string_view text) {
  return text.find("bad_alloc") != std::string_view::npos ||
         text.find("out of memory") != std::string_view::npos;
}

// A helper that ended without a whole answer.
CompileResult no_answer(const BoundedResult& run, const std::filesystem::path& helper,
                        const SandboxLimits& limits) {
  if (run.timed_out) return failed(timeout_line(limits));
  if (WIFSIGNALED(run.wait_status) && WTERMSIG(run.wait_status) == SIGXCPU) {
    return failed(timeout_line(limits) + " (its CPU time ran out)");
  }
  if (says_out_of_memory(run.errors)) return failed(memory_line(limits) + first_line(run.errors));
  // Exit code 2 is the helper refusing its arguments or limits, 127 the loader failing to start
  // it: this installation's fault, the same for every candidate, so not a candidate's failure.
  if (WIFEXITED(run.wait_status) &&
      (WEXITSTATUS(run.wait_status) == 2 || WEXITSTATUS(run.wait_status) == 127)) {
    throw Error(helper.string() + " ended with " + run.exit_status() + first_line(run.errors));
  }
  if (run.output_overflow) {
    return failed("ksearch: the compiler helper answered more than " +
                  std::to_string(kMaxAnswer >> 20) + " MiB and was killed");
  }
  return failed("ksearch: the compiler helper ended with " + run.exit_status() +
                " without an answer" + first_line(run.errors));
}

}  // namespace

std::filesystem::path find_nvrtc_helper(const std::vector<std::filesystem::path>& candidates) {
  std::string looked;
  for (const auto& file : candidates) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(file, ec) && ::access(file.c_str(), X_OK) == 0) {
      return file;
    }
    looked += (looked.empty() ? "" : ", ") + file.string();
  }
  throw Error(std::string("the NVRTC helper ") + kHelperName + " was not found (looked for " +
              looked + "): build the ksearch_nvrtc target, which CMake puts next to ksearch");
}

std::filesystem::path find_nvrtc_helper() {
  std::vector<std::filesystem::path> candidates;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path() / kHelperName);
    candidates.push_back(exe.parent_path().parent_path() / kHelperName);
  }
  candidates.push_back(KSEARCH_NVRTC_HELPER);
  return find_nvrtc_helper(candidates);
}

CompileResult compile_sandboxed(const std::filesystem::path& helper, const std::string& source,
                                const std::string& origin, const std::vector<std::string>& options,
                                const SandboxLimits& limits, const std::filesystem::path& cwd) {
  if (!(limits.timeout_s > 0) || limits.memory_bytes < (uint64_t{64} << 20)) {
    throw Error("SandboxLimits: timeout_s must be > 0 and memory_bytes at least 64 MiB");
  }
  BoundedRun run;
  // CPU time is a backstop for the wall clock, should this process die and leave the helper.
  const auto cpu_s = static_cast<uint64_t>(std::ceil(limits.timeout_s)) + 5;
  run.argv = {helper.string(), "--memory-limit", std::to_string(limits.memory_bytes),
              "--cpu-limit", std::to_string(cpu_s)};
  run.env = helper_environment();
  std::optional<EmptyDir> empty;
  if (cwd.empty()) empty.emplace();
  run.cwd = cwd.empty() ? empty->path() : cwd;
  for (std::string_view frame : {frames::kRequestMagic, std::string_view(origin),
                                 std::string_view(source)}) {
    frames::append(run.input, frame);
  }
  for (const auto& option : options) frames::append(run.input, option);
  run.timeout_s = limits.timeout_s;
  run.max_output = kMaxAnswer;

  const BoundedResult done = run_bounded(run);
  std::vector<std::string_view> answer;
  if (done.timed_out || !done.exited_ok()) return no_answer(done, helper, limits);
  if (!frames::split(done.output, kMaxCubin, answer) || answer.size() != 6 ||
      answer[0] != frames::kAnswerMagic || answer[4].size() > kMaxLog) {
    return failed("ksearch: the compiler helper answered garbage (" +
                  std::to_string(done.output.size()) + " bytes that are not an answer)");
  }
  const std::string_view status = answer[1], call = answer[2], code = answer[3];
  CompileResult result;
  result.log = std::string(answer[4]);
  if (status == "ok") {
    if (answer[5].empty()) throw Error("nvrtcGetCUBIN: no cubin (" + origin + ")");
    result.ok = true;
    result.cubin.assign(answer[5].begin(), answer[5].end());
  } else if (status == "compile_error") {
    // EDG says "catastrophic error: out of memory" when the address-space limit stops it.
    if (result.log.find("catastrophic error: out of memory") != std::string::npos) {
      result.log = memory_line(limits) + "\n" + result.log;
    }
  } else if (status == "out_of_memory") {
    result.log = memory_line(limits) + " (" + (call.empty() ? "std::bad_alloc" : std::string(call)) +
                 ")\n" + result.log;
  } else if (status == "too_large") {
    result.log = "ksearch: the cubin is larger than " + std::to_string(kMaxCubin >> 20) +
                 " MiB\n" + result.log;
  } else if (status == "nvrtc_error") {
    // An option or program NVRTC refuses is ours; anything else NVRTC fails at, the candidate
    // made it fail.
    if (code == "NVRTC_ERROR_INVALID_OPTION" || code == "NVRTC_ERROR_INVALID_INPUT" ||
        code == "NVRTC_ERROR_INVALID_PROGRAM") {
      throw Error(std::string(call) + ": " + std::string(code) + " (" + origin + "): " +
                  result.log);
    }
    result.log = "ksearch: " + std::string(call) + " failed: " + std::string(code) + "\n" +
                 result.log;
  } else {
    return failed("ksearch: the compiler helper answered garbage (status '" +
                  std::string(status.substr(0, 40)) + "')");
  }
  return result;
}

}  // namespace ks
