#pragma once
// A candidate is one .cu file: a plan in a leading /* ksearch {json} */ comment, then CUDA code.
// The same format serves seeds, LLM output, the baseline and the GPU reference.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "evaluator/expr.h"
#include "evaluator/nvrtc_compiler.h"
#include "tasks/task.h"

namespace ks {

// Thrown for a bad plan; what() names the field, e.g. "plan.steps[1].grid[0]: ...".
struct PlanError : Error {
  using Error::Error;
};

struct KernelStep {
  std::string kernel;          // extern "C" __global__ name
  std::vector<Expr> grid;      // 1 to 3 expressions
  std::vector<Expr> block;     // 1 to 3 expressions
  std::optional<Expr> smem;    // dynamic shared memory bytes (absent: 0)
  // Buffer/workspace names, tensor map names, constants, or integer expressions.
  std::vector<std::string> args;
  // Programmatic dependent launch: the step may start while the previous step drains; the kernel
  // waits (ks::pdl_wait, griddepcontrol.wait) before it reads what that step wrote. "pdl": true,
  // or an expression ("PDL": a param the search decides), launched so where it is nonzero;
  // absent: never.
  std::optional<Expr> pdl;
};

// A TMA descriptor (CUtensorMap) over a task buffer or workspace entry, encoded by ksearch on the
// host (cuTensorMapEncodeTiled) and passed by value, 128 bytes: the kernel takes it as
// `const __grid_constant__ ks::TensorMap` (ks/tma.cuh). Dims, strides and box go innermost first,
// as cuTensorMapEncodeTiled takes them; every number is an expression.
struct TensorMapSpec {
  std::string buffer;
  std::vector<Expr> dims;     // elements, rank 1 to 5
  std::vector<Expr> strides;  // elements between consecutive indices of dims[1..]; empty: packed
  std::vector<Expr> box;      // elements one copy moves, per dim, each 1 to 256
  int swizzle = 0;            // bytes of the swizzle pattern: 0 (none), 32, 64 or 128
  int l2_promotion = 0;       // bytes: 0 (none), 64, 128 or 256
  bool oob_nan = false;       // elements outside dims read as NaN (default: zero)
  std::optional<DType> dtype; // a workspace entry's element type (a task buffer has its own)
  // Absent: always encoded. Else an expression: where it is 0 (a variant that does not use the
  // map, such as a direct-store form beside a TMA-store one), nothing is encoded or checked and
  // the kernel gets 128 zero bytes, so a shape the map could not describe still runs.
  std::optional<Expr> when;
};

// What a plan's expressions know of the GPU they run on: SMS (multiprocessors), SMEM_MAX (opt-in
// shared memory per block, bytes) and L2_BYTES, so a persistent grid or a ring depth follows
// the device instead of being a searched constant.
struct DeviceFacts {
  int64_t sms = 0, smem_max = 0, l2_bytes = 0;
};
inline constexpr const char* kDeviceFactNames[] = {"SMS", "SMEM_MAX", "L2_BYTES"};
// An H100 SXM's (132 SMs, 227 KiB, 50 MiB): what a plan is checked against where no GPU is at
// hand (ksearch compile, the CI's checks of every shipped variant). Evaluations use the device's.
inline constexpr DeviceFacts kNominalDevice{132, 232448, 52428800};

// D[m,n] = A[m,k] @ B[k,n] on row-major buffers, through cuBLASLt, fp32 accumulation.
// trans_a: A is stored as [k,m]; trans_b: B is stored as [n,k] (so D = A @ B^T).
// batch > 1: strided-batched, each operand's batch stride its own m*k, k*n, m*n.
struct GemmStep {
  std::string a, b, d;          // buffer or workspace names
  Expr m, n, k;
  bool trans_a = false, trans_b = false;
  std::optional<Expr> batch;    // absent: 1
};

struct Step {
  std::variant<KernelStep, GemmStep> op;
};

struct Param {
  std::string name;
  std::vector<int64_t> values;  // allowed values, in file order; the first is the default
};

struct Plan {
  std::string task;
  std::string name;
  std::vector<Param> params;
  // Named integer expressions ("let": {"SMEM": "STAGES * TILE + 1024"}), in file order: each may
  // use size symbols, params and the lets before it, and every later expression may use it. A let
  // of params alone reaches the kernel's code too, as a -D macro like a param.
  std::vector<std::pair<std::string, Expr>> lets;
  std::optional<Expr> applies;  // absent: applies to every shape
  std::vector<std::pair<std::string, Expr>> workspace;  // name -> bytes
  std::vector<std::pair<std::string, TensorMapSpec>> tensor_maps;  // name -> map, args name them
  std::vector<Step> steps;
};

struct Candidate {
  std::string origin;  // file path or other label, for messages
  std::string source;  // the whole file, plan comment included (NVRTC compiles it as is)
  Plan plan;
};

// One point of the parameter space, in the plan's param order.
using Variant = std::vector<std::pair<std::string, int64_t>>;

// Parses the leading "/* ksearch" comment (JSON) of text. Throws PlanError naming the field and,
// for JSON syntax errors, the byte offset.
Candidate parse_candidate(std::string_view text, std::string_view origin);
Candidate load_candidate(const std::string& path);  // reads the file, then parse_candidate

// The candidate's code as the search tells candidates apart: the plan's JSON written compactly,
// then the CUDA code without comments, blank lines and runs of blanks. Two files that differ only
// there are one candidate. Throws PlanError where parse_candidate would.
std::string normalized_source(std::string_view text);

// The plan's tensor map of that name, or nullptr: how an arg naming one is told apart.
const TensorMapSpec* find_tensor_map(const Plan& plan, const std::string& name);

// Checks the plan against its task: task name matches, names in args/gemm/expressions resolve
// (buffers, workspace, size symbols, constants, params), no name defined twice. Throws PlanError.
void validate_plan(const Plan& plan, const Task& task);
// The task the candidate names, with its plan validated against it; an unknown task or a bad plan
// is a PlanError naming the candidate.
const Task& task_of(const Candidate& c);

std::vector<Variant> enumerate_variants(const std::vector<Param>& params);  // row-major, last fastest
Variant default_variant(const std::vector<Param>& params);
// At most n points spread evenly over enumerate_variants' order, the default first; all of a
// smaller space. What a test checks of a space too large to check whole.
std::vector<Variant> spread_variants(const std::vector<Param>& params, size_t n);
std::string format_variant(const Variant& v);  // "THREADS=128,ROWS=2"; "default" when empty
// Whether the plan's `applies` accepts the variant on any of the task's search or held-out shapes
// on the nominal device: a variant that applies nowhere never runs (`ksearch compile` leaves it
// out by default).
bool applies_somewhere(const Plan& plan, const Task& task, const Variant& v);
// "THREADS=128,ROWS=2": every name a param, every value allowed, unnamed params at their default.
Variant parse_variant(const std::string& text, const std::vector<Param>& params);

// The bytes of workspace entry `name` (its expression on env), checked before it is allocated:
// a PlanError naming the entry when negative or more than `limit` (the device's free memory).
size_t workspace_bytes(const std::string& name, const Expr& bytes, const Env& env, size_t limit);

// Size symbols, params, the device's facts and the plan's lets: the env a plan's expressions are
// evaluated in for one shape and variant on one GPU. Throws ExprError where a let cannot be
// evaluated (a division by zero).
Env make_env(const Plan& plan, const Shape& shape, const Variant& variant, const DeviceFacts& device);
// Size symbols and params alone, for expressions that use no let and no device fact.
Env make_env(const Shape& shape, const Variant& variant);

// Whether the plan takes the shape at the variant on the device: its applies, after its lets, is
// nonzero. An expression that cannot be evaluated there (a division by zero) is the candidate's
// mistake, not a reason to skip it: the plan "applies", and its evaluation reports the error as a
// launch_error.
bool plan_applies(const Plan& plan, const Shape& shape, const Variant& variant, const DeviceFacts& device);

// What NVRTC is given as -D macros for a variant: its params, then the lets of params alone that
// can be evaluated (one dividing by zero is left out: its evaluation fails as a launch_error).
std::vector<std::pair<std::string, int64_t>> compile_defines(const Plan& plan, const Variant& variant);
// The compile of one variant of a candidate for `arch`: every place that compiles one asks this,
// so none can leave the lets out.
CompileRequest compile_request(const Candidate& c, const Variant& variant, const std::string& arch);

}  // namespace ks
