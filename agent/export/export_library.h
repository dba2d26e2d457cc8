#pragma once
// `ksearch export`'s generator: from the chosen plans (parsed, at their params, with the cubins
// that were measured) and the per-shape choices, the text of every file of a standalone library:
// a C header, the dispatcher and launch code, the cubins as byte arrays, an example program, a
// manifest, a CMakeLists.txt and a PyTorch module. Pure: no archive, no GPU, no file system.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "evaluator/plan.h"
#include "tasks/task.h"

namespace ks::exporter {

// The bytes the generated code reserves for cuBLASLt per plan with a gemm step: the evaluator's
// (evaluator/engine.cpp), so the heuristic picks the algorithm that was measured.
constexpr int64_t kLtWorkspaceBytes = 32 << 20;
// Each workspace entry starts at a multiple of this in the caller's workspace (cudaMalloc's).
constexpr int64_t kWorkspaceAlign = 256;

struct ExportedPlan {
  std::optional<int64_t> candidate_id;  // nullopt: the task's baseline (seeds/<task>/baseline.cu)
  std::string origin;                   // the candidate's origin ("seed", "llm:...", "baseline")
  std::string params;                   // as the archive writes them ("THREADS=128,ROWS=2")
  std::string source;                   // the whole .cu file
  std::string source_file;              // relative path in the export, "sources/12_gemv_fused.cu"
  Plan plan;
  Variant variant;
  std::vector<char> cubin;  // NVRTC's output for the run's arch: the bytes that were measured
};

struct AuditSummary {
  int rows = 0, passed = 0;  // passed: status "ok"
  bool deterministic = true;
};

struct ShapeChoice {
  Shape shape;
  size_t plan = 0;  // index into ExportInput::plans
  std::optional<double> median_us, baseline_us, speedup, floor_us;
  AuditSummary audit;
  Constants measured_with;  // the task's constants the evaluation above was checked with (manifest)
};

struct ExportInput {
  const Task* task = nullptr;
  std::string device, arch;
  std::optional<std::string> driver_version;
  double generated_at = 0;  // unix seconds
  bool forced = false;
  std::vector<ExportedPlan> plans;  // plans[0] is the baseline
  std::vector<char> timing_cubin;   // timing_kernels.h's, for the arch: the example and tuner time as ksearch does
  std::vector<ShapeChoice> shapes;  // the measured shapes, in the task's shape order
};

// Relative path -> content of every file of the export.
using FileMap = std::map<std::string, std::string>;
FileMap generate_library(const ExportInput& in);

// The parts (export_library.cpp, export_launch.cpp, export_example.cpp, export_python.cpp).
std::string generate_header(const ExportInput& in);
std::string generate_dispatch(const ExportInput& in);  // the launch code and the dispatcher
std::string generate_cubins(const ExportInput& in);    // C: one byte array per plan
std::string generate_timing_cubin(const ExportInput& in);  // C: the example's timing kernels
std::string generate_example(const ExportInput& in);
std::string generate_manifest(const ExportInput& in);
std::string generate_cmake(const ExportInput& in);
// python/ksearch_<task>.py (export_python.cpp): the torch.library op over the built library.
std::string generate_python(const ExportInput& in);

// "ksearch_rmsnorm_linear"; throws ks::Error when the task's name (or a constant's) is not a C
// identifier.
std::string library_name(const Task& task);
// The header's macro for a constant's default: "KSEARCH_RMSNORM_LINEAR_EPS_DEFAULT".
std::string constant_default_macro(const Task& task, const Constant& c);
// The constants as the entry point's parameters, after the sizes: "float eps" (", "-separated;
// "" for a task without constants).
std::string constant_params(const Task& task);
// The C/C++ type of a plan's gemm operand or of an example buffer: "CUDA_R_16BF", ...
std::string cuda_data_type(DType t);
// A C float literal of the float the evaluator passes (static_cast<float>(v)), as short as reads
// back to that float: "1e-06f".
std::string c_float_literal(double v);
// The warm-up before the export's timings (tuner, example), seconds as C++ text: the evaluator's
// (TimerOptions::warmup_seconds), so the library times in the state ksearch timed in. "0.25".
std::string warmup_seconds_text();
// The example's warm-up before the time it prints, beside `ksearch bench`'s and PyTorch's: a
// sustained load's (kSustainedWarmupSeconds). "2.0".
std::string sustained_warmup_seconds_text();
// The export's identity: 16 hex digits of a hash of the task, the arch and every plan (its file,
// name, params and cubin bytes). Tuning cache lines (KSEARCH_TUNE_CACHE) carry it, so a line
// written by another export is never used; the manifest records it.
std::string library_id(const ExportInput& in);
// How the generated code and the manifest name a plan: "baseline baseline (default)",
// "candidate #7 gemv_fused (THREADS=128)"; no tab or line break.
std::string plan_label(const ExportedPlan& p);

}  // namespace ks::exporter

namespace ks::exporter {
// The fixed part of the dispatch source (export_runtime.cpp), for export_launch.cpp.
std::string runtime_source(const std::string& lib, const std::string& macro);
// The fixed part of the first-use tuning (export_runtime.cpp): the tuned table, the cache file,
// the timing. Expects the dispatcher and the tables export_launch.cpp emits before it.
std::string tuner_source(const std::string& lib, const std::string& macro);
}  // namespace ks::exporter
