#include "evaluator/nvrtc_compiler.h"

#include <nvrtc.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <system_error>
#include <thread>

#include "base/error.h"
#include "base/parallel.h"
#include "base/paths.h"
#include "base/utf8.h"
#include "evaluator/cubin_cache.h"
#include "evaluator/include_policy.h"
#include "evaluator/nvrtc_sandbox.h"
#include "evaluator/plan_kernels.h"
#include "evaluator/ptxas_report.h"

namespace ks {
namespace {

// Bumped whenever the meaning of a cache entry changes, so old files read as misses.
constexpr std::string_view kCacheFormat = "ksearch cubin cache v1";

void check(nvrtcResult result, const char* call) {
  if (result != NVRTC_SUCCESS) throw Error(std::string(call) + ": " + nvrtcGetErrorString(result));
}

const char* env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

bool is_macro_name(const std::string& name) {
  auto head = [](char c) { return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
  auto tail = [&](char c) { return head(c) || (c >= '0' && c <= '9'); };
  return !name.empty() && head(name[0]) && std::all_of(name.begin() + 1, name.end(), tail);
}

// "sm_" then a number, then at most one letter suffix (sm_90a, sm_100f). Virtual architectures
// (compute_XX) are refused: they give PTX, and nvrtcGetCUBIN would return nothing.
bool is_real_arch(const std::string& arch) {
  if (arch.rfind("sm_", 0) != 0) return false;
  size_t i = 3;
  while (i < arch.size() && arch[i] >= '0' && arch[i] <= '9') ++i;
  if (i - 3 < 2) return false;
  if (i < arch.size() && arch[i] >= 'a' && arch[i] <= 'z') ++i;
  return i == arch.size();
}

std::string origin_of(const CompileRequest& req) {
  return req.origin.empty() ? "candidate.cu" : req.origin;
}

void validate(const CompileRequest& req) {
  const std::string where = " (" + origin_of(req) + ")";
  if (!is_real_arch(req.arch)) {
    throw Error("CompileRequest.arch: '" + req.arch +
                "' is not a real GPU architecture such as sm_80, sm_90a" + where);
  }
  for (const auto& [name, value] : req.defines) {
    if (!is_macro_name(name)) {
      throw Error("CompileRequest.defines: '" + name + "' is not a macro name" + where);
    }
  }
  if (req.source.find('\0') != std::string::npos) {
    throw Error("CompileRequest.source: contains a NUL byte" + where);
  }
}

// Names and contents of every regular file under `dir`, in path order, as one hash.
std::string hash_include_tree(const std::filesystem::path& dir) {
  if (dir.empty()) return "none";
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) files.push_back(it->path());
  }
  if (ec) {
    throw Error("CompilerOptions.ks_include: cannot list '" + dir.string() + "': " + ec.message());
  }
  std::sort(files.begin(), files.end());

  uint64_t hash = fnv1a64("");
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw Error("CompilerOptions.ks_include: cannot read '" + file.string() + "'");
    std::ostringstream contents;
    contents << in.rdbuf();
    const std::string name = file.lexically_relative(dir).generic_string();
    const std::string text = std::move(contents).str();
    // Sizes first, so that moving bytes between a name and a file's contents changes the hash.
    hash = fnv1a64(std::to_string(name.size()) + ":" + name + std::to_string(text.size()) + ":",
                   hash);
    hash = fnv1a64(text, hash);
  }
  return std::to_string(files.size()) + " files, " + hex64(hash);
}

void require_directory(const std::filesystem::path& dir, const char* field) {
  std::error_code ec;
  if (!dir.empty() && !std::filesystem::is_directory(dir, ec)) {
    throw Error(std::string("CompilerOptions.") + field + ": '" + dir.string() +
                "' is not a directory");
  }
}

// Appends "name <size>:<value>\n": sizes keep the concatenation unambiguous.
void add_key_field(std::string& key, std::string_view name, std::string_view value) {
  key.append(name).append(" ").append(std::to_string(value.size())).append(":");
  key.append(value).append("\n");
}

// A backstop behind the include policy and the helper's stripped environment: whatever reached
// NVRTC, the LLM's key never leaves in a log (logs go to the archive, the output, the report and
// back to the LLM). Shorter values would redact ordinary words.
std::string redact_api_key(std::string log) {
  const char* key = env("KSEARCH_LLM_API_KEY");
  if (key == nullptr || std::strlen(key) < 8) return log;
  const std::string_view secret = key, mark = "[KSEARCH_LLM_API_KEY]";
  for (size_t at = log.find(secret); at != std::string::npos; at = log.find(secret, at + mark.size())) {
    log.replace(at, secret.size(), mark);
  }
  return log;
}

// A compiled candidate whose plan launches a kernel the cubin lacks is a compile error, said
// first in the log: it could never run.
void refuse_missing_kernels(const std::string& source, CompileResult& result) {
  if (!result.ok) return;
  if (std::optional<std::string> why = missing_plan_kernel(source, result.kernels)) {
    result.ok = false;
    result.cubin.clear();
    result.log = "ksearch: " + *why + "\n" + result.log;
  }
}

}  // namespace

std::filesystem::path find_cuda_include(const std::vector<std::filesystem::path>& candidates) {
  std::string looked;
  for (const auto& dir : candidates) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(dir / "cuda_bf16.h", ec)) return dir;
    looked += (looked.empty() ? "" : ", ") + dir.string();
  }
  throw Error("CUDA include directory not found (looked in " + looked +
              " for cuda_bf16.h): set CUDA_HOME to the CUDA toolkit");
}

std::filesystem::path find_cuda_include() {
  // A variable the user set is a choice, not a hint: if it points at no toolkit, say so rather
  // than silently compiling against another one.
  for (const char* var : {"CUDA_HOME", "CUDA_PATH"}) {
    if (const char* root = env(var)) {
      std::error_code ec;
      const auto dir = std::filesystem::path(root) / "include";
      if (std::filesystem::is_regular_file(dir / "cuda_bf16.h", ec)) return dir;
      throw Error(std::string(var) + "=" + root + " holds no include/cuda_bf16.h: set " + var +
                  " to the CUDA toolkit's folder");
    }
  }
  return find_cuda_include({"/usr/local/cuda/include"});
}

std::filesystem::path default_cache_dir() {
  if (const char* dir = env("KSEARCH_CACHE_DIR")) return dir;
  if (const char* xdg = env("XDG_CACHE_HOME")) return std::filesystem::path(xdg) / "ksearch";
  if (const char* home = env("HOME")) return std::filesystem::path(home) / ".cache" / "ksearch";
  throw Error("no cubin cache directory: set KSEARCH_CACHE_DIR (HOME and XDG_CACHE_HOME are unset)");
}

std::string nvrtc_version() {
  static const std::string version = [] {
    int major = 0, minor = 0;
    check(nvrtcVersion(&major, &minor), "nvrtcVersion");
    return std::to_string(major) + "." + std::to_string(minor);
  }();
  return version;
}

std::string log_head(const std::string& log, int lines) {
  std::string r;
  size_t pos = 0;
  for (int i = 0; i < lines && pos < log.size(); ++i) {
    size_t e = log.find('\n', pos);
    if (e == std::string::npos) e = log.size();
    if (!r.empty()) r += " | ";
    r += log.substr(pos, e - pos);
    pos = e + 1;
  }
  return r;
}

std::string arch_for_compute_capability(int major, int minor) {
  if (major <= 0 || minor < 0 || minor > 9) {
    throw Error("compute capability " + std::to_string(major) + "." + std::to_string(minor) +
                " is not a valid one");
  }
  // Hopper's wgmma and setmaxnreg exist only in the arch-specific target.
  if (major == 9 && minor == 0) return "sm_90a";
  return "sm_" + std::to_string(major) + std::to_string(minor);
}

Compiler::Compiler(CompilerOptions opts) : opts_(std::move(opts)) {
  if (opts_.jobs < 0) {
    throw Error("CompilerOptions.jobs: must be >= 0 (0: one per hardware thread), got " +
                std::to_string(opts_.jobs));
  }
  require_directory(opts_.cuda_include, "cuda_include");
  require_directory(opts_.ks_include, "ks_include");
  if (!(opts_.timeout_s > 0)) {
    throw Error("CompilerOptions.timeout_s: must be > 0 seconds, got " + std::to_string(opts_.timeout_s));
  }
  if (opts_.memory_limit_bytes < (uint64_t{64} << 20)) {
    throw Error("CompilerOptions.memory_limit_bytes: must be at least 64 MiB, got " +
                std::to_string(opts_.memory_limit_bytes));
  }
  helper_ = opts_.nvrtc_helper.empty() ? find_nvrtc_helper()
                                       : find_nvrtc_helper({opts_.nvrtc_helper});
  include_hash_ = hash_include_tree(opts_.ks_include);
  if (!opts_.cache_dir.empty()) create_cache_dir(opts_.cache_dir);
}

CompilerOptions Compiler::default_options() {
  CompilerOptions opts;
  opts.cuda_include = find_cuda_include();
  opts.ks_include = project_root() / "seeds" / "include";
  opts.cache_dir = default_cache_dir();
  return opts;
}

CompileResult Compiler::compile(const CompileRequest& req) const {
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  validate(req);
  const std::string origin = origin_of(req);
  // Before the cache too: an entry stored under an older policy must not slip past this one.
  if (auto refusal = include_refusal(req.source, {opts_.ks_include, opts_.cuda_include})) {
    CompileResult result;
    result.log = *refusal + "\n";
    result.seconds = elapsed();
    return result;
  }

  std::vector<std::string> options = {"--gpu-architecture=" + req.arch, "-std=c++17", "-lineinfo",
                                      "--ptxas-options=-v"};
  if (!opts_.cuda_include.empty()) options.push_back("-I" + opts_.cuda_include.string());
  if (!opts_.ks_include.empty()) options.push_back("-I" + opts_.ks_include.string());
  for (const auto& [name, value] : req.defines) {
    options.push_back("-D" + name + "=" + std::to_string(value));
  }

  // Everything the cubin and the log depend on. The options carry the arch, the defines and
  // both include paths (-lineinfo records header paths); the origin names the file in the log
  // and the line table.
  std::string key;
  if (!opts_.cache_dir.empty()) {
    add_key_field(key, "format", kCacheFormat);
    add_key_field(key, "nvrtc", nvrtc_version());
    for (const auto& option : options) add_key_field(key, "option", option);
    add_key_field(key, "ks_include", include_hash_);
    add_key_field(key, "origin", origin);
    add_key_field(key, "source", req.source);
    if (std::optional<CachedCompile> hit = load_cached(opts_.cache_dir, key)) {
      CompileResult result;
      result.ok = true;
      result.cache_hit = true;
      result.kernels = parse_ptxas_report(hit->log);
      result.log = redact_api_key(std::move(hit->log));
      result.cubin = std::move(hit->cubin);
      refuse_missing_kernels(req.source, result);
      result.log = valid_utf8(result.log);
      result.seconds = elapsed();
      return result;
    }
  }

  // The helper runs in seeds/include: it holds only headers a candidate may include anyway, and
  // it is the same for every compile (-lineinfo records the working directory in the cubin).
  const std::filesystem::path& cwd = opts_.ks_include.empty() ? opts_.cuda_include : opts_.ks_include;
  CompileResult result = compile_sandboxed(helper_, req.source, origin, options,
                                           {opts_.timeout_s, opts_.memory_limit_bytes}, cwd);
  result.log = redact_api_key(std::move(result.log));
  result.kernels = parse_ptxas_report(result.log);
  // Failed compiles are not cached: a fixed header or toolkit must get its chance.
  if (result.ok && !key.empty()) store_cached(opts_.cache_dir, key, {result.log, result.cubin});
  refuse_missing_kernels(req.source, result);  // after the cache: the cubin is NVRTC's, whatever the plan says
  result.log = valid_utf8(result.log);  // NVRTC quotes the candidate's bytes, a crash's output any bytes
  result.seconds = elapsed();
  return result;
}

std::vector<CompileResult> Compiler::compile_all(const std::vector<CompileRequest>& reqs, const Progress& on_done) const {
  const unsigned threads =
      opts_.jobs > 0 ? static_cast<unsigned>(opts_.jobs) : std::thread::hardware_concurrency();
  std::vector<CompileResult> results(reqs.size());
  std::mutex mu;
  size_t done = 0;
  // Each compile() runs in a process of its own.
  run_on_threads(reqs.size(), threads, [&](size_t i) {
    results[i] = compile(reqs[i]);
    if (!on_done) return;
    std::lock_guard lock(mu);
    on_done(++done, reqs.size());
  });
  return results;
}

}  // namespace ks
