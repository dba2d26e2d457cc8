// ksearch-nvrtc: compiles one CUDA source with NVRTC, answers, and exits. The compiler
// (nvrtc_sandbox.cpp) starts one per compile with a stripped environment and working directory:
// candidates are hostile, and a compile that reads a /proc file, expands a macro bomb or
// instantiates templates without end must cost this process, not the search.
//
//   ksearch-nvrtc --memory-limit BYTES --cpu-limit SECONDS
//
// The limits are set first, before a byte of the request is read. Request on stdin, answer on
// stdout, both as frames (nvrtc_frames.h):
//   request: magic, origin, source, option...
//   answer:  magic, status, call, result, log, cubin
// with status "ok", "compile_error", "out_of_memory", "too_large" or "nvrtc_error" (then call and
// result name the failing NVRTC call and its result). Exit 0 after an answer; 2 when the
// arguments, the limits or the request are wrong (the caller's fault, said on stderr).
#include <nvrtc.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "evaluator/nvrtc_frames.h"

namespace {

// The caller's caps, kept here too so that an honest answer is never refused as garbage.
constexpr size_t kMaxLog = size_t{1} << 20;
constexpr size_t kMaxCubin = size_t{256} << 20;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "ksearch-nvrtc: %s\n", what.c_str());
  std::exit(2);
}

uint64_t parse_number(const char* text, const char* flag) {
  uint64_t value = 0;
  const std::string_view s(text);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || value == 0) {
    fail(std::string(flag) + ": '" + text + "' is not a positive integer");
  }
  return value;
}

void limit(int resource, rlim_t soft, rlim_t hard, const char* name) {
  const rlimit value{soft, hard};
  if (setrlimit(resource, &value) != 0) {
    fail(std::string("setrlimit(") + name + "): " + std::strerror(errno));
  }
}

std::string read_stdin() {
  std::string data;
  char buf[65536];
  for (;;) {
    const ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(std::string("read(stdin): ") + std::strerror(errno));
    if (n == 0) return data;
    data.append(buf, static_cast<size_t>(n));
  }
}

void write_stdout(const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(STDOUT_FILENO, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    // The caller gave up (its deadline passed): nobody is left to tell.
    if (n <= 0) std::exit(3);
    done += static_cast<size_t>(n);
  }
}

std::string answer(std::string_view status, std::string_view call, std::string_view result,
                   std::string_view log, std::string_view cubin) {
  std::string out;
  for (std::string_view frame : {ks::frames::kAnswerMagic, status, call, result, log, cubin}) {
    ks::frames::append(out, frame);
  }
  return out;
}

// An NVRTC call that failed: out of memory is the limit's doing, anything else is NVRTC's word.
std::string failed(const char* call, nvrtcResult result, std::string_view log = {}) {
  const char* status = result == NVRTC_ERROR_OUT_OF_MEMORY ? "out_of_memory" : "nvrtc_error";
  return answer(status, call, nvrtcGetErrorString(result), log, {});
}

std::string program_log(nvrtcProgram program, nvrtcResult& result) {
  size_t size = 0;
  result = nvrtcGetProgramLogSize(program, &size);
  if (result != NVRTC_SUCCESS) return {};
  std::string log(size, '\0');
  if (size > 0) result = nvrtcGetProgramLog(program, log.data());
  log.resize(std::strlen(log.c_str()));  // the size counts the terminating NUL
  if (log.size() > kMaxLog) {
    constexpr std::string_view kCut = "\n[ksearch: the log was cut at 1 MiB]\n";
    log.resize(kMaxLog - kCut.size());
    log.append(kCut);
  }
  return log;
}

std::string compile(const std::vector<std::string_view>& request) {
  const std::string origin(request[1]), source(request[2]);
  std::vector<std::string> options(request.begin() + 3, request.end());
  std::vector<const char*> argv;
  for (const auto& option : options) argv.push_back(option.c_str());

  nvrtcProgram program = nullptr;
  nvrtcResult r = nvrtcCreateProgram(&program, source.c_str(), origin.c_str(), 0, nullptr, nullptr);
  if (r != NVRTC_SUCCESS) return failed("nvrtcCreateProgram", r);
  // The process ends right after the answer: the program is not destroyed, its memory goes with
  // the process.
  const nvrtcResult compiled =
      nvrtcCompileProgram(program, static_cast<int>(argv.size()), argv.data());
  const std::string log = program_log(program, r);
  if (r != NVRTC_SUCCESS) return failed("nvrtcGetProgramLog", r);
  if (compiled == NVRTC_ERROR_COMPILATION) return answer("compile_error", "", "", log, {});
  if (compiled != NVRTC_SUCCESS) return failed("nvrtcCompileProgram", compiled, log);

  size_t size = 0;
  r = nvrtcGetCUBINSize(program, &size);
  if (r != NVRTC_SUCCESS) return failed("nvrtcGetCUBINSize", r, log);
  if (size > kMaxCubin) return answer("too_large", "nvrtcGetCUBINSize", "", log, {});
  std::string cubin(size, '\0');
  if (size > 0) {
    r = nvrtcGetCUBIN(program, cubin.data());
    if (r != NVRTC_SUCCESS) return failed("nvrtcGetCUBIN", r, log);
  }
  return answer("ok", "", "", log, cubin);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t memory = 0, cpu = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 < argc && arg == "--memory-limit") {
      memory = parse_number(argv[++i], "--memory-limit");
    } else if (i + 1 < argc && arg == "--cpu-limit") {
      cpu = parse_number(argv[++i], "--cpu-limit");
    } else {
      fail("unknown argument '" + std::string(arg) +
           "' (usage: ksearch-nvrtc --memory-limit BYTES --cpu-limit SECONDS)");
    }
  }
  if (memory == 0 || cpu == 0) fail("--memory-limit and --cpu-limit are required");
  // No core file (the address space may be gigabytes, and it holds the candidate), no file
  // written at all (NVRTC writes none), a bounded address space, and CPU time as a backstop for
  // the caller's wall clock should the caller die: SIGXCPU at the limit, SIGKILL 5 s later.
  limit(RLIMIT_CORE, 0, 0, "RLIMIT_CORE");
  limit(RLIMIT_FSIZE, 0, 0, "RLIMIT_FSIZE");
  limit(RLIMIT_AS, memory, memory, "RLIMIT_AS");
  limit(RLIMIT_CPU, cpu, cpu + 5, "RLIMIT_CPU");
  // Ends with the thread that started it (which waits for it), or with the process if it dies.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(std::string("prctl: ") + std::strerror(errno));

  // Built before the compile, so that running out of memory can still be told.
  const std::string out_of_memory = answer("out_of_memory", "", "", "", "");
  try {
    const std::string data = read_stdin();
    std::vector<std::string_view> request;
    if (!ks::frames::split(data, data.size(), request) || request.size() < 3 ||
        request[0] != ks::frames::kRequestMagic) {
      fail("the request on stdin is not " + std::string(ks::frames::kRequestMagic) +
           ", origin, source, options");
    }
    write_stdout(compile(request));
  } catch (const std::bad_alloc&) {
    write_stdout(out_of_memory);
  }
  return 0;
}
