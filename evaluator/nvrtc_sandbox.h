#pragma once
// One NVRTC compile in a child process (the ksearch-nvrtc helper): a wall-clock limit, an
// address-space limit, an environment holding nothing but PATH (and LD_LIBRARY_PATH when set) and
// a working directory that shows nothing a candidate may not include. Candidates are hostile: whatever their compile does costs the
// child, and comes back as a failed compile with one line saying why.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "evaluator/nvrtc_compiler.h"

namespace ks {

struct SandboxLimits {
  double timeout_s = 60;
  uint64_t memory_bytes = uint64_t{4} << 30;
};

// ksearch-nvrtc next to this executable, then in its parent folder (tests live in build/tests/),
// then where the build put it. Throws ks::Error naming every place it looked.
std::filesystem::path find_nvrtc_helper();
// The same over the given places, in order (lets tests leave the real ones out).
std::filesystem::path find_nvrtc_helper(const std::vector<std::filesystem::path>& candidates);

// Compiles `source` as `origin` with `options` in the helper, run in `cwd`: a quote include
// resolves against it, so it must hold nothing a candidate may not include, and -lineinfo
// records it in the cubin, so it must not change between compiles (the compiler passes
// seeds/include). Empty: a fresh empty folder. ok, log and cubin are set; a
// compile the limits ended, or a helper that crashed or answered garbage, is ok=false with a log
// of one "ksearch: ..." line. Throws ks::Error only for the caller's faults: an option NVRTC
// refuses, a helper that cannot start or refuses its arguments, an empty cubin.
CompileResult compile_sandboxed(const std::filesystem::path& helper, const std::string& source,
                                const std::string& origin, const std::vector<std::string>& options,
                                const SandboxLimits& limits, const std::filesystem::path& cwd = {});

}  // namespace ks
