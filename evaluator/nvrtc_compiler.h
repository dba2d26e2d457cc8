#pragma once
// NVRTC: CUDA source -> cubin for one architecture, with a content-keyed disk cache and a
// thread pool. Needs no GPU and no driver. Candidates are hostile: their includes are checked
// first (include_policy.h), and NVRTC runs in a child process with a wall-clock limit, an
// address-space limit and a stripped environment (nvrtc_sandbox.h).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace ks {

struct CompileRequest {
  std::string source;  // whole candidate file
  std::string origin;  // file name for NVRTC's messages
  std::vector<std::pair<std::string, int64_t>> defines;  // -DNAME=value
  std::string arch;    // "sm_80", "sm_90", "sm_90a", ...
};

// Per-kernel resources as ptxas reports them (--ptxas-options=-v).
struct KernelResources {
  std::string kernel;
  int registers = 0;
  int spill_store_bytes = 0, spill_load_bytes = 0;
  int stack_bytes = 0;
  int static_smem_bytes = 0;
};

struct CompileResult {
  bool ok = false;
  std::string log;            // NVRTC's log, ptxas's report included; or one "ksearch: ..." line
                              // saying why the compile was refused or stopped
  std::vector<char> cubin;    // empty unless ok
  std::vector<KernelResources> kernels;
  bool cache_hit = false;
  double seconds = 0;         // wall time of this compile (near 0 on a cache hit)
};

struct CompilerOptions {
  std::filesystem::path cache_dir;     // empty: no disk cache
  std::filesystem::path cuda_include;  // holds cuda_bf16.h
  std::filesystem::path ks_include;    // seeds/include (holds ks/*.cuh)
  int jobs = 0;                        // compile threads; 0: hardware concurrency
  double timeout_s = 60;               // wall clock of one compile; then killed, a compile_error
  uint64_t memory_limit_bytes = uint64_t{4} << 30;  // address space of one compile (RLIMIT_AS)
  std::filesystem::path nvrtc_helper;  // ksearch-nvrtc; empty: find_nvrtc_helper()
};

// CUDA_HOME/include, CUDA_PATH/include, then /usr/local/cuda/include: the first holding
// cuda_bf16.h. Throws ks::Error naming CUDA_HOME when none does.
std::filesystem::path find_cuda_include();
// The same search over the given directories, in order (lets tests leave the machine's out).
std::filesystem::path find_cuda_include(const std::vector<std::filesystem::path>& candidates);
// KSEARCH_CACHE_DIR, else $XDG_CACHE_HOME/ksearch, else $HOME/.cache/ksearch.
std::filesystem::path default_cache_dir();
// "13.0"
std::string nvrtc_version();

// The first `lines` lines of a compile log joined by " | ": a compile_error row's message.
std::string log_head(const std::string& log, int lines = 3);

class Compiler {
 public:
  // Throws ks::Error naming the field for a bad option, or every place it looked for a missing
  // ksearch-nvrtc.
  explicit Compiler(CompilerOptions opts);
  // Default options: find_cuda_include(), project_root()/seeds/include, default_cache_dir().
  static CompilerOptions default_options();

  // A cache hit spawns nothing; a miss runs NVRTC in a ksearch-nvrtc child. Whatever the source
  // makes the compile do (a refused include, a limit reached, a crash) is a failed result.
  CompileResult compile(const CompileRequest& req) const;
  // Compiles all on the pool; results in request order. A compile error is a result (ok=false);
  // a request that throws (bad arch or define, an NVRTC failure, an unwritable cache) keeps the
  // rest from starting, and its exception is rethrown once the running ones have finished.
  // on_done(done, total), when given, is called after each compile, one call at a time.
  using Progress = std::function<void(size_t done, size_t total)>;
  std::vector<CompileResult> compile_all(const std::vector<CompileRequest>& reqs, const Progress& on_done = {}) const;

  const CompilerOptions& options() const { return opts_; }

 private:
  CompilerOptions opts_;
  std::string include_hash_;  // hash of every file under ks_include: a header edit misses the cache
  std::filesystem::path helper_;  // the ksearch-nvrtc that runs every compile
};

// "sm_90a" for compute capability 9.0 (Hopper's arch-specific target), else "sm_<major><minor>".
std::string arch_for_compute_capability(int major, int minor);

}  // namespace ks
