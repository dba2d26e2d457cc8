// The fixed part of an exported library's source: status handling, the per-device state (the
// embedded cubins loaded once per device, a cuBLASLt handle), a checked kernel launch, and a
// cuBLASLt GEMM with the evaluator's semantics (evaluator/lt_gemm.cpp). It expects kCubins,
// kKernels, kKernelCount and kNeedsLt defined before it; @LIB@ and @MACRO@ are replaced.
#include "agent/export/export_library.h"

namespace ks::exporter {
namespace {

constexpr const char* kRuntime = R"RUNTIME(
// Plan expression arithmetic over int64_t with ksearch's rules (evaluator/expr.cpp): an overflow,
// a division by zero or a cdiv by a non-positive number throws ExprFault, which the entry points
// report as a bad shape; never undefined behaviour, whatever shape a caller passes.
struct ExprFault : std::runtime_error {
  using std::runtime_error::runtime_error;
};
[[noreturn]] inline void expr_fault(const char* what) { throw ExprFault(what); }
inline int64_t ks_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) expr_fault("int64 overflow in '+'");
  return r;
}
inline int64_t ks_sub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) expr_fault("int64 overflow in '-'");
  return r;
}
inline int64_t ks_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) expr_fault("int64 overflow in '*'");
  return r;
}
inline int64_t ks_neg(int64_t a) { return ks_sub(0, a); }
inline int64_t ks_div(int64_t a, int64_t b) {
  if (b == 0) expr_fault("division by zero");
  if (a == INT64_MIN && b == -1) expr_fault("int64 overflow in '/'");
  return a / b;
}
inline int64_t ks_mod(int64_t a, int64_t b) {
  if (b == 0) expr_fault("division by zero in '%'");
  return b == -1 ? 0 : a % b;  // INT64_MIN % -1 traps in C
}
inline int64_t ks_cdiv(int64_t a, int64_t b) {
  if (b <= 0) expr_fault("cdiv divisor must be positive");
  return a / b + (a % b > 0 ? 1 : 0);
}
inline int64_t ks_min(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t ks_max(int64_t a, int64_t b) { return a > b ? a : b; }

// Per thread, so concurrent callers each read their own failure.
thread_local std::string g_last_error;

int fail(int status, std::string message) {
  g_last_error = std::move(message);
  return status;
}
int cuda_fail(cudaError_t e, const std::string& call) {
  // The error is ours to report: cleared from the runtime's last error, so that the caller's next
  // check (PyTorch's after its next launch) does not fail on it too. A sticky error stays.
  (void)cudaGetLastError();
  return fail(@MACRO@_ERROR_CUDA, call + ": " + cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
}
int lt_fail(cublasStatus_t s, const std::string& call) {
  return fail(@MACRO@_ERROR_CUBLASLT, call + ": " + cublasLtGetStatusString(s));
}
#define KS_CUDA(call)                                   \
  do {                                                  \
    const cudaError_t ks_e = (call);                    \
    if (ks_e != cudaSuccess) return cuda_fail(ks_e, #call); \
  } while (0)
#define KS_LT(call)                                     \
  do {                                                  \
    const cublasStatus_t ks_s = (call);                 \
    if (ks_s != CUBLAS_STATUS_SUCCESS) return lt_fail(ks_s, #call); \
  } while (0)

// What one CUDA device needs: the cubins loaded, the kernels looked up, a cuBLASLt handle.
// Kept for the life of the process (never unloaded: a static destructor would run after the
// CUDA runtime may have shut down).
struct DeviceState {
  cudaLibrary_t libraries[kCubins] = {};
  std::array<cudaKernel_t, kKernelCount> kernels = {};
  std::array<std::atomic<int>, kKernelCount> smem_opted_in;  // the largest dynamic smem allowed so far
  cublasLtHandle_t lt = nullptr;
  // The heuristic's algorithm per GEMM problem: asking for it costs tens of microseconds of host
  // time, more than a decode-sized GEMM takes on the GPU.
  std::mutex algo_mutex;
  std::map<std::array<int64_t, 10>, cublasLtMatmulAlgo_t> algos;
};

int load(DeviceState& s) {
  for (int i = 0; i < kCubins; ++i)
    KS_CUDA(cudaLibraryLoadData(&s.libraries[i], @LIB@_cubin_data[i], nullptr, nullptr, 0,
                                nullptr, nullptr, 0));
  for (int k = 0; k < kKernelCount; ++k) {
    const cudaError_t e = cudaLibraryGetKernel(&s.kernels[k], s.libraries[kKernels[k].cubin], kKernels[k].name);
    if (e != cudaSuccess) return cuda_fail(e, std::string("cudaLibraryGetKernel(") + kKernels[k].name + ")");
    s.smem_opted_in[k].store(48 * 1024);
  }
  if (kNeedsLt) KS_LT(cublasLtCreate(&s.lt));
  return 0;
}

// The state of the device the calling thread is on, loaded on first use under a mutex; a failed
// load is undone and tried again by the next call.
int device_state(DeviceState** out) {
  int device = 0;
  KS_CUDA(cudaGetDevice(&device));
  static std::mutex mutex;
  static auto* states = new std::map<int, DeviceState*>;  // never freed: see DeviceState
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = states->find(device); it != states->end()) {
    *out = it->second;
    return 0;
  }
  auto s = std::make_unique<DeviceState>();
  if (int status = load(*s)) {
    for (cudaLibrary_t lib : s->libraries)
      if (lib) (void)cudaLibraryUnload(lib);
    if (s->lt) (void)cublasLtDestroy(s->lt);
    return status;
  }
  *out = (*states)[device] = s.release();
  return 0;
}

bool fits_int(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

// SMS, SMEM_MAX and L2_BYTES of the current device, as the search's expressions saw its GPU's.
int read_device_facts(int64_t& sms, int64_t& smem_max, int64_t& l2_bytes) {
  int device = 0, v[3] = {};
  KS_CUDA(cudaGetDevice(&device));
  KS_CUDA(cudaDeviceGetAttribute(&v[0], cudaDevAttrMultiProcessorCount, device));
  KS_CUDA(cudaDeviceGetAttribute(&v[1], cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  KS_CUDA(cudaDeviceGetAttribute(&v[2], cudaDevAttrL2CacheSize, device));
  sms = v[0], smem_max = v[1], l2_bytes = v[2];
  return 0;
}

// A CUtensorMap's 128 bytes, encoded by the driver's cuTensorMapEncodeTiled (reached through the
// runtime: the library links no libcuda), after the checks the evaluator made of the same map
// (evaluator/tensor_map.cpp): a map the driver would refuse, or one reaching past its buffer, is
// a shape error naming the argument. dims, strides (elements; nullptr: packed) and box go
// innermost first; dtype is ksearch's DType (0 bf16, 1 f16, 2 f32, 3 f64, 4 i32).
struct alignas(64) TensorMap { unsigned char bytes[128]; };
[[maybe_unused]] int tensor_map(TensorMap& map, const void* address, int64_t buffer_bytes, int dtype, int64_t elem, int rank,
               const int64_t* dims, const int64_t* strides, const int64_t* box, int swizzle, int l2, bool oob_nan,
               const char* where) {
  auto bad = [&](const std::string& why) { return fail(@MACRO@_ERROR_SHAPE, std::string(where) + ": " + why); };
  uint64_t gdim[5], gstride[4];
  uint32_t gbox[5], estride[5];
  __int128 extent = elem;  // 128 bits: dims times strides overflow 64, and must not wrap
  for (int i = 0; i < rank; ++i) {
    if (dims[i] < 1 || dims[i] > (int64_t(1) << 32) || box[i] < 1 || box[i] > 256) return bad("dims or box out of range");
    gdim[i] = uint64_t(dims[i]), gbox[i] = uint32_t(box[i]), estride[i] = 1;
    if (i == 0) {
      extent = dims[0] * elem;
      continue;
    }
    const int64_t stride = strides ? strides[i - 1] * elem : extent;
    if (stride % 16 || stride >= (int64_t(1) << 40) || stride < extent) return bad("a stride is not a multiple of 16 bytes covering the dims inside it");
    gstride[i - 1] = uint64_t(stride);
    extent += static_cast<__int128>(stride) * (dims[i] - 1);
  }
  if ((box[0] * elem) % 16 || (swizzle && box[0] * elem > swizzle)) return bad("box[0] is not a multiple of 16 bytes within the swizzle span");
  if (reinterpret_cast<uintptr_t>(address) % 16) return bad("the buffer is not 16-byte aligned");
  if (extent > buffer_bytes) return bad("the map reaches past its buffer");
  using Encode = int (*)(void*, int, uint32_t, void*, const uint64_t*, const uint64_t*, const uint32_t*, const uint32_t*,
                         int, int, int, int);
  static const Encode encode = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult q{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess)
      p = nullptr;
    return reinterpret_cast<Encode>(p);
  }();
  if (!encode) return fail(@MACRO@_ERROR_CUDA, std::string(where) + ": the driver has no cuTensorMapEncodeTiled");
  // CUtensorMapDataType: BFLOAT16 9, FLOAT16 6, FLOAT32 7, FLOAT64 8, INT32 3; swizzle and L2
  // promotion count up from none; OOB fill 1 is NaN.
  static const int kType[] = {9, 6, 7, 8, 3};
  const int sw = swizzle == 32 ? 1 : swizzle == 64 ? 2 : swizzle == 128 ? 3 : 0;
  const int pr = l2 == 64 ? 1 : l2 == 128 ? 2 : l2 == 256 ? 3 : 0;
  const int r = encode(map.bytes, kType[dtype], uint32_t(rank), const_cast<void*>(address), gdim, gstride, gbox,
                       estride, 0, sw, pr, oob_nan ? 1 : 0);
  if (r != 0) return fail(@MACRO@_ERROR_SHAPE, std::string(where) + ": cuTensorMapEncodeTiled refused the map (CUresult " + std::to_string(r) + ")");
  return 0;
}

int launch(DeviceState& s, int kernel, const int64_t grid[3], const int64_t block[3], int64_t smem, bool pdl,
           void** args, cudaStream_t stream, const char* where) {
  for (int i = 0; i < 3; ++i)
    if (grid[i] <= 0 || grid[i] > INT32_MAX || block[i] <= 0 || block[i] > 1024)
      return fail(@MACRO@_ERROR_SHAPE, std::string(where) + ": launch dimensions out of range for this shape");
  if (smem < 0 || smem > INT32_MAX) return fail(@MACRO@_ERROR_SHAPE, std::string(where) + ": bad dynamic smem");
  // Above 48 KiB a kernel must opt in to its dynamic shared memory, once per size increase.
  if (smem > s.smem_opted_in[kernel].load()) {
    const cudaError_t e = cudaFuncSetAttribute(reinterpret_cast<const void*>(s.kernels[kernel]),
                                               cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               static_cast<int>(smem));
    if (e != cudaSuccess) return cuda_fail(e, std::string(where) + ": cudaFuncSetAttribute(MaxDynamicSharedMemorySize)");
    s.smem_opted_in[kernel].store(static_cast<int>(smem));
  }
  // pdl: the step may start while the one before drains (it waits with griddepcontrol.wait).
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(unsigned(grid[0]), unsigned(grid[1]), unsigned(grid[2]));
  config.blockDim = dim3(unsigned(block[0]), unsigned(block[1]), unsigned(block[2]));
  config.dynamicSmemBytes = static_cast<size_t>(smem);
  config.stream = stream;
  config.attrs = pdl ? &attr : nullptr;
  config.numAttrs = pdl ? 1 : 0;
  const cudaError_t e = cudaLaunchKernelExC(&config, reinterpret_cast<const void*>(s.kernels[kernel]), args);
  if (e != cudaSuccess) return cuda_fail(e, std::string(where) + ": cudaLaunchKernelExC");
  return 0;
}

// cuBLASLt objects, destroyed on every path out of gemm().
struct LtDesc { cublasLtMatmulDesc_t p = nullptr; ~LtDesc() { if (p) cublasLtMatmulDescDestroy(p); } };
struct LtLayout { cublasLtMatrixLayout_t p = nullptr; ~LtLayout() { if (p) cublasLtMatrixLayoutDestroy(p); } };
struct LtPref { cublasLtMatmulPreference_t p = nullptr; ~LtPref() { if (p) cublasLtMatmulPreferenceDestroy(p); } };

int make_layout(LtLayout& l, cudaDataType_t type, int64_t rows, int64_t cols, int64_t batch, int64_t stride) {
  KS_LT(cublasLtMatrixLayoutCreate(&l.p, type, uint64_t(rows), uint64_t(cols), rows));  // column-major, packed
  if (batch > 1) {
    const int32_t count = static_cast<int32_t>(batch);
    KS_LT(cublasLtMatrixLayoutSetAttribute(l.p, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count));
    KS_LT(cublasLtMatrixLayoutSetAttribute(l.p, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
  }
  return 0;
}

// Row-major D[m,n] = A[m,k] @ B[k,n] (trans_a: A stored [k,m]; trans_b: B stored [n,k]), fp32
// accumulation, the heuristic's first algorithm: as evaluator/lt_gemm.cpp. Row-major D = A @ B
// is column-major D^T = B^T @ A^T, so cuBLASLt's A is the plan's B and its B the plan's A.
int gemm(DeviceState& s, const void* a, cudaDataType_t ta, const void* b, cudaDataType_t tb, void* d,
         cudaDataType_t td, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b, int64_t batch,
         void* workspace, size_t workspace_bytes, cudaStream_t stream, const char* where) {
  if (m <= 0 || n <= 0 || k <= 0 || batch <= 0)
    return fail(@MACRO@_ERROR_SHAPE, std::string(where) + ": gemm sizes must be positive");
  const cublasOperation_t op_a = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  LtLayout la, lb, ld;
  if (int st = make_layout(la, tb, trans_b ? k : n, trans_b ? n : k, batch, k * n)) return st;
  if (int st = make_layout(lb, ta, trans_a ? m : k, trans_a ? k : m, batch, m * k)) return st;
  if (int st = make_layout(ld, td, n, m, batch, m * n)) return st;
  LtDesc desc;
  KS_LT(cublasLtMatmulDescCreate(&desc.p, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  KS_LT(cublasLtMatmulDescSetAttribute(desc.p, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof op_a));
  KS_LT(cublasLtMatmulDescSetAttribute(desc.p, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof op_b));
  const std::array<int64_t, 10> key = {m, n, k, trans_a, trans_b, batch, int64_t(ta), int64_t(tb), int64_t(td),
                                        int64_t(workspace_bytes)};
  cublasLtMatmulAlgo_t algo;
  bool cached = false;
  {
    std::lock_guard<std::mutex> lock(s.algo_mutex);
    auto it = s.algos.find(key);
    if (it != s.algos.end()) {
      algo = it->second;
      cached = true;
    }
  }
  if (!cached) {
    LtPref pref;
    KS_LT(cublasLtMatmulPreferenceCreate(&pref.p));
    KS_LT(cublasLtMatmulPreferenceSetAttribute(pref.p, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                               &workspace_bytes, sizeof workspace_bytes));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    KS_LT(cublasLtMatmulAlgoGetHeuristic(s.lt, desc.p, la.p, lb.p, ld.p, ld.p, pref.p, 1, &result, &found));
    if (found == 0) return fail(@MACRO@_ERROR_CUBLASLT, std::string(where) + ": cublasLtMatmulAlgoGetHeuristic found no algorithm");
    algo = result.algo;
    std::lock_guard<std::mutex> lock(s.algo_mutex);
    s.algos[key] = algo;
  }
  const float alpha = 1.0f, beta = 0.0f;
  KS_LT(cublasLtMatmul(s.lt, desc.p, &alpha, b, la.p, a, lb.p, &beta, d, ld.p, d, ld.p, &algo,
                       workspace, workspace_bytes, stream));
  return 0;
}
)RUNTIME";

constexpr const char* kTuner = R"TUNER(
// ---- Tuning on first use: @LIB@_tune(), KSEARCH_TUNE, KSEARCH_TUNE_CACHE (see the header).
// Uses what the dispatcher defines above: Sizes, Buffers, Constants, the plan_* switches,
// measured_plan and choose_plan, and the tables kPlanCount, kPlanLabel, kLibraryId, kBuffer*.

void tune_warn(const std::string& message) { std::fprintf(stderr, "@LIB@: %s\n", message.c_str()); }

// KSEARCH_TUNE's value: true (1, on, true, yes), false (unset, empty, 0, off, false, no), or
// nullopt for anything else (off, with a warning).
std::optional<bool> tune_flag(const std::string& v) {
  if (v.empty() || v == "0" || v == "off" || v == "false" || v == "no") return false;
  if (v == "1" || v == "on" || v == "true" || v == "yes") return true;
  return std::nullopt;
}

struct TuneEnv {
  bool on = false;    // KSEARCH_TUNE: the call tunes an unmeasured shape on its first use
  std::string cache;  // KSEARCH_TUNE_CACHE: the file tuned shapes are read from and appended to
};

const TuneEnv& tune_env() {  // read once per process
  static const TuneEnv env = [] {
    TuneEnv e;
    const char* flag = std::getenv("KSEARCH_TUNE");
    const std::optional<bool> on = tune_flag(flag ? flag : "");
    if (!on) tune_warn(std::string("KSEARCH_TUNE=") + flag + " is neither 1 nor 0: tuning on first use stays off");
    e.on = on.value_or(false);
    if (const char* cache = std::getenv("KSEARCH_TUNE_CACHE")) e.cache = cache;
    return e;
  }();
  return env;
}

using SizeArray = std::array<int64_t, kSizeCount>;

struct TuneEntry {
  int plan = -1;                   // the fastest plan; -1: tuning on first use failed (the dispatcher's serves)
  double us = 0, baseline_us = 0;  // medians; baseline_us 0 when the baseline was not timed
  bool from_cache = false;         // read from KSEARCH_TUNE_CACHE
};

struct TuneTable {
  std::mutex mutex;  // guards the members below it
  std::map<std::pair<int, SizeArray>, TuneEntry> entries;  // (CUDA device, sizes) -> plan
  std::map<int, std::string> gpu;                          // device -> its name, once its cache lines are read
  bool cache_warned = false;                               // one warning per process about the file
  std::atomic<bool> used{false};                           // an entry was ever added
  std::mutex tuning;                                       // one tuning at a time in the process
};

TuneTable& tune_table() {
  static auto* table = new TuneTable;  // never freed: see DeviceState
  return *table;
}

bool tuning_in_use() {
  const TuneEnv& env = tune_env();
  return env.on || !env.cache.empty() || tune_table().used.load();
}

// The cache file's lines: "ksearch-tune-1 TAB library TAB library id TAB GPU TAB sizes (comma-separated)
// TAB plan index TAB plan label TAB median us TAB baseline's median us".
constexpr const char* kTuneMagic = "ksearch-tune-1";

std::string tune_field(std::string s) {  // a name as a line holds it: no tab, no line break
  for (char& ch : s)
    if (ch == '\t' || ch == '\n' || ch == '\r') ch = ' ';
  return s;
}

std::string tune_line(const std::string& gpu, const SizeArray& sizes, const TuneEntry& e) {
  std::string text = std::string(kTuneMagic) + "\t@LIB@\t" + kLibraryId + "\t" + tune_field(gpu) + "\t";
  for (int j = 0; j < kSizeCount; ++j) text += (j ? "," : "") + std::to_string(sizes[size_t(j)]);
  char times[64];
  std::snprintf(times, sizeof times, "\t%.3f\t%.3f\n", e.us, e.baseline_us);
  return text + "\t" + std::to_string(e.plan) + "\t" + kPlanLabel[e.plan] + times;
}

bool parse_count(const std::string& t, int64_t& v) {  // a decimal integer >= 0 that fits
  if (t.empty() || t.size() > 18 || t.find_first_not_of("0123456789") != std::string::npos) return false;
  v = std::strtoll(t.c_str(), nullptr, 10);
  return true;
}

bool parse_us(const std::string& t, double& v) {  // a finite number >= 0
  if (t.empty() || t.find_first_not_of("0123456789.eE+-") != std::string::npos) return false;
  char* end = nullptr;
  v = std::strtod(t.c_str(), &end);
  return end && *end == '\0' && std::isfinite(v) && v >= 0;
}

enum class LineKind { ours, foreign, malformed };

// One line of the cache file (no line break): ours (this library and GPU: sizes and entry filled),
// foreign (another library's or GPU's: ignored) or malformed (why says how).
LineKind parse_tune_line(const std::string& line, const std::string& gpu, SizeArray& sizes, TuneEntry& e,
                         std::string& why) {
  std::vector<std::string> f(1);
  for (char ch : line) {
    if (ch == '\t')
      f.emplace_back();
    else
      f.back() += ch;
  }
  if (f.size() != 9 || f[0] != kTuneMagic) {
    why = std::string("not a ") + kTuneMagic + " line of 9 tab-separated fields";
    return LineKind::malformed;
  }
  if (f[1] != "@LIB@" || f[2] != kLibraryId || f[3] != tune_field(gpu)) return LineKind::foreign;
  std::vector<std::string> parts(1);
  for (char ch : f[4]) {
    if (ch == ',')
      parts.emplace_back();
    else
      parts.back() += ch;
  }
  if (parts.size() != size_t(kSizeCount)) {
    why = "sizes '" + f[4] + "' are not " + std::to_string(kSizeCount) + " numbers";
    return LineKind::malformed;
  }
  for (int j = 0; j < kSizeCount; ++j)
    if (!parse_count(parts[size_t(j)], sizes[size_t(j)]) || sizes[size_t(j)] < 1) {
      why = "sizes '" + f[4] + "' are not positive integers";
      return LineKind::malformed;
    }
  int64_t plan = -1;
  if (!parse_count(f[5], plan) || plan >= kPlanCount) {
    why = "plan '" + f[5] + "' is not a plan of this library (0 to " + std::to_string(kPlanCount - 1) + ")";
    return LineKind::malformed;
  }
  if (f[6] != kPlanLabel[plan]) {
    why = "plan " + f[5] + " is " + kPlanLabel[plan] + ", not '" + f[6] + "'";
    return LineKind::malformed;
  }
  if (!parse_us(f[7], e.us) || e.us <= 0 || !parse_us(f[8], e.baseline_us)) {
    why = "times '" + f[7] + "', '" + f[8] + "' are not microseconds";
    return LineKind::malformed;
  }
  e.plan = int(plan);
  e.from_cache = true;
  return LineKind::ours;
}

// Reads the file's lines for this library on this GPU into the table for the device (a later line
// of a shape wins). A malformed line is ignored, an unreadable file too; either warns once per
// process. Called with the table's mutex held.
void read_tune_cache(TuneTable& t, const std::string& path, int device, const std::string& gpu) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    if (errno != ENOENT && !t.cache_warned) {
      t.cache_warned = true;
      tune_warn("KSEARCH_TUNE_CACHE=" + path + " cannot be read (" + std::strerror(errno) + "): ignored");
    }
    return;
  }
  std::string text;
  char buf[65536];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
  const bool read_error = std::ferror(f) != 0;
  std::fclose(f);
  int bad = 0;
  std::string first;
  size_t line_no = 0;
  for (size_t at = 0; at < text.size() && !read_error;) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(at, end - at);
    at = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    SizeArray sizes{};
    TuneEntry e;
    std::string why;
    switch (parse_tune_line(line, gpu, sizes, e, why)) {
      case LineKind::ours: t.entries[{device, sizes}] = e; break;
      case LineKind::foreign: break;
      case LineKind::malformed:
        if (bad++ == 0) first = "line " + std::to_string(line_no) + ": " + why;
        break;
    }
  }
  if ((bad || read_error) && !t.cache_warned) {
    t.cache_warned = true;
    tune_warn("KSEARCH_TUNE_CACHE=" + path + (read_error ? std::string(": a read failed; ignored")
                                                     : ": " + std::to_string(bad) + " malformed line" +
                                                           (bad > 1 ? "s" : "") + " ignored (" + first + ")"));
  }
}

void append_tune_line(const std::string& path, const std::string& line) {
  FILE* f = std::fopen(path.c_str(), "ab");  // O_APPEND: whole lines from several processes
  bool ok = f && std::fwrite(line.data(), 1, line.size(), f) == line.size();
  int error = ok ? 0 : errno;
  if (f && std::fclose(f) != 0 && ok) ok = false, error = errno;
  TuneTable& t = tune_table();
  std::lock_guard<std::mutex> lock(t.mutex);
  if (!ok && !t.cache_warned) {
    t.cache_warned = true;
    tune_warn("KSEARCH_TUNE_CACHE=" + path + " cannot be written (" + std::strerror(error) + "): tuned shapes stay in memory");
  }
}

// The device's cache lines, read on its first use (its GPU's name first).
int ensure_cache_read(TuneTable& t, int device) {
  {
    std::lock_guard<std::mutex> lock(t.mutex);
    if (t.gpu.count(device)) return 0;
  }
  cudaDeviceProp prop{};
  KS_CUDA(cudaGetDeviceProperties(&prop, device));
  std::lock_guard<std::mutex> lock(t.mutex);
  if (t.gpu.emplace(device, prop.name).second && !tune_env().cache.empty())
    read_tune_cache(t, tune_env().cache, device, prop.name);
  return 0;
}

std::optional<TuneEntry> find_tuned(TuneTable& t, int device, const Sizes& s) {
  std::lock_guard<std::mutex> lock(t.mutex);
  auto it = t.entries.find({device, size_array(s)});
  if (it == t.entries.end()) return std::nullopt;
  return it->second;
}

// The plan a call runs for a shape: the measured shape's own; else the shape's tuned plan on this
// device, when it applies (a cache line never names a plan that does not); else choose_plan's.
struct Selection {
  enum How { measured, tuned, untuned, tune_failed };
  int plan = -1;
  How how = untuned;
  TuneEntry entry;
  int device = 0;
};

// The choice for a device whose cache lines were read (table: whether to look at the tuned table).
void select_for(const Sizes& s, int device, bool table, Selection& out) {
  out = Selection{};
  out.device = device;
  out.plan = measured_plan(s);
  if (out.plan >= 0) {
    out.how = Selection::measured;
    return;
  }
  if (table) {
    if (std::optional<TuneEntry> e = find_tuned(tune_table(), device, s)) {
      if (e->plan >= 0 && e->plan < kPlanCount && plan_applies(e->plan, s)) {
        out.plan = e->plan;
        out.how = Selection::tuned;
        out.entry = *e;
        return;
      }
      if (e->plan < 0) out.how = Selection::tune_failed;
    }
  }
  out.plan = choose_plan(s);
}

int select_plan(const Sizes& s, Selection& out) {
  const bool table = tuning_in_use();
  int device = 0;
  if (table) {
    KS_CUDA(cudaGetDevice(&device));
    if (int st = ensure_cache_read(tune_table(), device)) return st;
  }
  select_for(s, device, table, out);
  return 0;
}

// The workspace a shape needs: a measured shape's plan's; for any other shape the most that a plan
// applying to it needs (one whose expressions fault there does not apply), since tuning may choose
// any of them; -1 when none applies.
int64_t workspace_for(const Sizes& s) {
  int64_t off[kWorkspaceSlots];
  const int own = measured_plan(s);
  if (own >= 0) return plan_workspace(own, s, off);
  int64_t bytes = -1;
  for (int i = 0; i < kPlanCount; ++i) {
    try {
      if (plan_applies(i, s)) bytes = std::max(bytes, plan_workspace(i, s, off));
    } catch (const ExprFault&) {
    }
  }
  return bytes;
}

// Fills a device buffer with normals of the given mean and spread as its dtype, on the device
// (ks_fill_normal of the timing cubin: no period, no host work).
int fill_normal(cudaKernel_t fill, void* p, int64_t bytes, int dtype, float mean, float stddev, uint64_t seed,
                int sms, cudaStream_t stream) {
  static constexpr int64_t kElem[] = {2, 2, 4, 8, 4};  // ksearch's DType: bf16, f16, f32, f64, i32
  unsigned long long n = static_cast<unsigned long long>(bytes / kElem[dtype]);
  unsigned long long s = seed;
  void* args[] = {&p, &n, &dtype, &mean, &stddev, &s};
  KS_CUDA(cudaLaunchKernel(reinterpret_cast<const void*>(fill), dim3(unsigned(std::max(4 * sms, 1))), dim3(256), args, 0, stream));
  return 0;
}

// What a tuning allocates and creates, released on every path out of it (errors ignored there:
// the tuning's outcome is decided by then).
struct TuneScratch {
  cudaStream_t stream = nullptr;
  cudaLibrary_t timing_library = nullptr;
  std::vector<void*> memory;
  std::vector<cudaGraph_t> graphs;
  std::vector<cudaGraphExec_t> execs;
  std::vector<cudaEvent_t> events;
  TuneScratch() = default;
  TuneScratch(const TuneScratch&) = delete;
  TuneScratch& operator=(const TuneScratch&) = delete;
  ~TuneScratch() {
    if (stream) (void)cudaStreamSynchronize(stream);
    for (cudaGraphExec_t x : execs) (void)cudaGraphExecDestroy(x);
    for (cudaGraph_t g : graphs) (void)cudaGraphDestroy(g);
    for (cudaEvent_t e : events)
      if (e) (void)cudaEventDestroy(e);
    for (void* p : memory) (void)cudaFree(p);
    if (timing_library) (void)cudaLibraryUnload(timing_library);
    if (stream) (void)cudaStreamDestroy(stream);
    (void)cudaGetLastError();  // nothing of the tuner's is left for the caller's cudaGetLastError
  }
  int alloc(int64_t bytes, void** p, const std::string& what) {
    const cudaError_t e = cudaMalloc(p, size_t(std::max<int64_t>(bytes, 1)));
    if (e != cudaSuccess) return cuda_fail(e, "cudaMalloc(" + std::to_string(bytes) + " bytes for " + what + ")");
    memory.push_back(*p);
    return 0;
  }
};

// A plan run on the tuner's buffers (a thrown fault is its failure, so a capture always ends).
int run_for_tuning(int plan, DeviceState& dev, const Buffers& b, const Sizes& s, const Constants& c, void* ws,
                   cudaStream_t stream) {
  try {
    return plan_run(plan, dev, b, s, c, static_cast<char*>(ws), stream);
  } catch (const std::exception& e) {
    return fail(@MACRO@_ERROR_SHAPE, e.what());
  }
}

// Times every plan that applies to s on buffers of its own, the way ksearch times, and fills out
// with the fastest. The caller holds the table's tuning mutex.
int tune_shape(const Sizes& s, const Constants& c, cudaStream_t caller, TuneEntry& out) {
  DeviceState* dev = nullptr;
  if (int st = device_state(&dev)) return st;
  if (@LIB@_timing_cubin_size == 0)
    return fail(@MACRO@_ERROR_CUDA, "@LIB@_tune: this export has no timing kernels (ks_l2_flush, ks_fill_normal) to time with");
  // The candidates: every plan that applies here, with a workspace size (one whose expressions
  // fault on this shape does not apply).
  std::vector<int> plans;
  int64_t ws_bytes = 0;
  for (int i = 0; i < kPlanCount; ++i) {
    try {
      int64_t off[kWorkspaceSlots];
      if (!plan_applies(i, s)) continue;
      const int64_t need = plan_workspace(i, s, off);
      if (need < 0) continue;
      plans.push_back(i);
      ws_bytes = std::max(ws_bytes, need);
    } catch (const ExprFault&) {
    }
  }
  if (plans.empty()) return fail(@MACRO@_ERROR_SHAPE, "@LIB@_tune: no plan applies to " + shape_text(s));
  KS_CUDA(cudaStreamSynchronize(caller));  // the caller's queued work first: timings never overlap it

  TuneScratch t;
  KS_CUDA(cudaStreamCreateWithFlags(&t.stream, cudaStreamNonBlocking));
  cudaKernel_t flush_kernel = nullptr, fill_kernel = nullptr;
  KS_CUDA(cudaLibraryLoadData(&t.timing_library, @LIB@_timing_cubin, nullptr, nullptr, 0, nullptr, nullptr, 0));
  KS_CUDA(cudaLibraryGetKernel(&flush_kernel, t.timing_library, "ks_l2_flush"));
  KS_CUDA(cudaLibraryGetKernel(&fill_kernel, t.timing_library, "ks_fill_normal"));
  // Buffers of its own (the caller's are never read nor written), inputs drawn as the task draws
  // them (as ksearch times on them).
  std::mt19937_64 rng(std::random_device{}());
  void* p[kBufferCount] = {};
  for (int i = 0; i < kBufferCount; ++i) {
    const int64_t bytes = buffer_bytes(i, s);
    if (int st = t.alloc(bytes, &p[i], std::string("the tuner's ") + kBufferName[i])) return st;
    if (kBufferIsInput[i]) {
      if (int st = fill_normal(fill_kernel, p[i], bytes, kBufferDtype[i], kBufferMean[i], kBufferStddev[i], rng(),
                               int(s.SMS), t.stream))
        return st;
    } else {
      KS_CUDA(cudaMemsetAsync(p[i], 0, size_t(bytes), t.stream));
    }
  }
  void* ws = nullptr;
  if (ws_bytes > 0)
    if (int st = t.alloc(ws_bytes, &ws, "the tuner's workspace")) return st;
  const Buffers b = buffers_from(p);

  // ksearch's L2 flush: before each replay, a read of twice the L2's size (evaluator/timer.h).
  const int64_t flush_bytes = std::max<int64_t>(2 * s.L2_BYTES, int64_t(8) << 20) / 16 * 16;
  void* flush_buffer = nullptr;
  void* sink = nullptr;
  if (int st = t.alloc(flush_bytes, &flush_buffer, "the L2 flush")) return st;
  if (int st = t.alloc(4, &sink, "the L2 flush")) return st;
  KS_CUDA(cudaMemsetAsync(flush_buffer, 0x5A, size_t(flush_bytes), t.stream));
  unsigned long long flush_words = static_cast<unsigned long long>(flush_bytes / 16);
  int never = 0;
  void* flush_args[] = {&flush_buffer, &flush_words, &sink, &never};
  const dim3 flush_grid(unsigned(std::max<int64_t>(4 * s.SMS, 1))), flush_block(512);

  // Each plan run once (a failure skips it; a fault in the stream ends the tuning), then captured.
  const std::string saved_error = g_last_error;
  std::vector<int> timed;
  int first_status = 0;
  std::string skipped;
  auto skip = [&](int plan, int status, const std::string& why) {
    if (!first_status) first_status = status;
    skipped += std::string(skipped.empty() ? "" : "; ") + kPlanLabel[plan] + ": " + why;
    (void)cudaGetLastError();
  };
  for (int plan : plans) {
    if (int st = run_for_tuning(plan, *dev, b, s, c, ws, t.stream)) {
      skip(plan, st, g_last_error);
      continue;
    }
    const cudaError_t ran = cudaStreamSynchronize(t.stream);
    if (ran != cudaSuccess)
      return cuda_fail(ran, std::string("@LIB@_tune: cudaStreamSynchronize after a run of ") + kPlanLabel[plan]);
    KS_CUDA(cudaStreamBeginCapture(t.stream, cudaStreamCaptureModeThreadLocal));
    const int st = run_for_tuning(plan, *dev, b, s, c, ws, t.stream);
    const std::string why = st ? g_last_error : std::string();
    cudaGraph_t graph = nullptr;
    const cudaError_t ended = cudaStreamEndCapture(t.stream, &graph);
    if (graph) t.graphs.push_back(graph);
    if (st || ended != cudaSuccess) {
      skip(plan, st ? st : @MACRO@_ERROR_CUDA, st ? why : std::string("cudaStreamEndCapture: ") + cudaGetErrorName(ended));
      continue;
    }
    cudaGraphExec_t exec = nullptr;
    const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
    if (made != cudaSuccess) {
      skip(plan, @MACRO@_ERROR_CUDA, std::string("cudaGraphInstantiate: ") + cudaGetErrorName(made));
      continue;
    }
    t.execs.push_back(exec);
    timed.push_back(plan);
  }
  g_last_error = saved_error;
  if (timed.empty())
    return fail(first_status ? first_status : @MACRO@_ERROR_CUDA,
                "@LIB@_tune: no plan ran on " + shape_text(s) + ": " + skipped);

  // Replays: the flush, then the graph between two events; warm-up rounds first, for at least
  // kWarmupSeconds (the evaluator's TimerOptions::warmup_seconds: times are of a GPU under
  // sustained load, whose clocks are lower than in the first ~0.1 s after a pause); then rounds in
  // which every plan replays once, in random order, in batches read after one synchronize; until
  // at least kMinRounds and kMinSeconds.
  constexpr int kWarmups = 3, kBatch = 8, kMinRounds = 24, kMaxRounds = 1000;
  constexpr double kMinSeconds = 0.1, kWarmupSeconds = @WARMUP_SECONDS@;
  const int n = int(timed.size());
  t.events.assign(size_t(2 * kBatch * n), nullptr);
  for (cudaEvent_t& e : t.events) KS_CUDA(cudaEventCreate(&e));
  auto replay = [&](int k, cudaEvent_t start, cudaEvent_t stop) -> int {
    KS_CUDA(cudaLaunchKernel(reinterpret_cast<const void*>(flush_kernel), flush_grid, flush_block, flush_args, 0, t.stream));
    if (start) KS_CUDA(cudaEventRecord(start, t.stream));
    KS_CUDA(cudaGraphLaunch(t.execs[size_t(k)], t.stream));
    if (stop) KS_CUDA(cudaEventRecord(stop, t.stream));
    return 0;
  };
  auto since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  const auto w0 = std::chrono::steady_clock::now();
  for (int w = 0; w < kWarmups || since(w0) < kWarmupSeconds; ++w) {
    for (int k = 0; k < n; ++k)
      if (int st = replay(k, nullptr, nullptr)) return st;
    KS_CUDA(cudaStreamSynchronize(t.stream));  // so the wall time is the GPU's
  }
  std::mt19937 order(std::random_device{}());
  std::vector<int> perm(static_cast<size_t>(n));
  for (int k = 0; k < n; ++k) perm[size_t(k)] = k;
  std::vector<std::vector<double>> us(static_cast<size_t>(n));
  const auto t0 = std::chrono::steady_clock::now();
  for (int rounds = 0; rounds < kMaxRounds;) {
    for (int r = 0; r < kBatch; ++r) {
      std::shuffle(perm.begin(), perm.end(), order);
      for (int k : perm) {
        const size_t e = size_t(2 * (r * n + k));
        if (int st = replay(k, t.events[e], t.events[e + 1])) return st;
      }
    }
    KS_CUDA(cudaStreamSynchronize(t.stream));
    for (int r = 0; r < kBatch; ++r)
      for (int k = 0; k < n; ++k) {
        const size_t e = size_t(2 * (r * n + k));
        float ms = 0;
        KS_CUDA(cudaEventElapsedTime(&ms, t.events[e], t.events[e + 1]));
        us[size_t(k)].push_back(double(ms) * 1e3);
      }
    rounds += kBatch;
    if (rounds >= kMinRounds && since(t0) >= kMinSeconds) break;
  }
  // The winner: the best speedup over the baseline as ksearch measures one (the median over rounds
  // of baseline / plan, both of one round), then the lower median; without the baseline, the
  // lowest median.
  auto median_of = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[size_t(0.5 * double(v.size() - 1) + 0.5)];  // as evaluator/timer.cpp
  };
  int baseline = -1;
  for (int k = 0; k < n; ++k)
    if (timed[size_t(k)] == 0) baseline = k;
  out = TuneEntry{};
  double best_speedup = 0;
  for (int k = 0; k < n; ++k) {
    const std::vector<double>& v = us[size_t(k)];
    const double median = median_of(v);
    double speedup = 0;
    if (baseline >= 0) {
      std::vector<double> ratios(v.size());
      for (size_t r = 0; r < v.size(); ++r) ratios[r] = us[size_t(baseline)][r] / std::max(v[r], 1e-3);
      speedup = median_of(ratios);
    }
    if (k == baseline) out.baseline_us = median;
    const bool better = out.plan < 0 || speedup > best_speedup || (speedup == best_speedup && median < out.us);
    if (better) out.plan = timed[size_t(k)], out.us = median, best_speedup = speedup;
  }
  return 0;
}

// Tunes a shape and records its plan (in memory, and a line in the cache file when one is set).
// first_use: a shape another thread tuned meanwhile is not tuned again.
int tune_and_record(const Sizes& s, const Constants& c, int device, cudaStream_t caller, bool first_use) {
  TuneTable& t = tune_table();
  std::lock_guard<std::mutex> one_at_a_time(t.tuning);
  if (first_use && find_tuned(t, device, s)) return 0;
  TuneEntry e;
  if (int st = tune_shape(s, c, caller, e)) return st;
  std::string gpu;
  {
    std::lock_guard<std::mutex> lock(t.mutex);
    t.entries[{device, size_array(s)}] = e;
    t.used.store(true);
    gpu = t.gpu[device];
  }
  if (!tune_env().cache.empty()) append_tune_line(tune_env().cache, tune_line(gpu, size_array(s), e));
  return 0;
}

// KSEARCH_TUNE=1, a call on a shape neither measured nor tuned: tunes it now, unless the stream is
// capturing a CUDA graph (the dispatcher's plan then, and tuning on a later call). A tuning that
// fails warns and leaves the dispatcher's plan for the shape; the call goes on either way.
int tune_on_first_use(const Sizes& s, const Constants& c, cudaStream_t stream, Selection& sel) {
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream, &capture) != cudaSuccess) {
    (void)cudaGetLastError();  // e.g. the legacy stream while another thread captures: no tuning
    return 0;
  }
  if (capture != cudaStreamCaptureStatusNone) return 0;
  const std::string saved_error = g_last_error;
  if (tune_and_record(s, c, sel.device, stream, true) != 0) {
    tune_warn("tuning " + shape_text(s) + " failed, so the dispatcher's plan serves it: " + g_last_error);
    g_last_error = saved_error;
    TuneTable& t = tune_table();
    std::lock_guard<std::mutex> lock(t.mutex);
    t.entries.emplace(std::make_pair(sel.device, size_array(s)), TuneEntry{});  // plan -1: not again
    t.used.store(true);
  }
  return select_plan(s, sel);
}

// For @LIB@_plan_info().
std::string selection_text(const Selection& sel) {
  char times[96] = "";
  switch (sel.how) {
    case Selection::measured: return std::string("measured: ") + kPlanLabel[sel.plan];
    case Selection::tuned:
      std::snprintf(times, sizeof times, "tuned (%.2f us, baseline %.2f us%s): ", sel.entry.us, sel.entry.baseline_us,
                    sel.entry.from_cache ? ", from KSEARCH_TUNE_CACHE" : "");
      return times + std::string(kPlanLabel[sel.plan]);
    case Selection::tune_failed: return std::string("dispatched (tuning failed): ") + kPlanLabel[sel.plan];
    case Selection::untuned: break;
  }
  return std::string("dispatched: ") + kPlanLabel[sel.plan];
}
)TUNER";

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

}  // namespace

std::string runtime_source(const std::string& lib, const std::string& macro) {
  std::string s = kRuntime;
  replace_all(s, "@LIB@", lib);
  replace_all(s, "@MACRO@", macro);
  return s;
}

std::string tuner_source(const std::string& lib, const std::string& macro) {
  std::string s = kTuner;
  replace_all(s, "@LIB@", lib);
  replace_all(s, "@MACRO@", macro);
  replace_all(s, "@WARMUP_SECONDS@", warmup_seconds_text());
  return s;
}

}  // namespace ks::exporter
