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
  cudaKernel_t kernels[kKernelCount] = {};
  std::atomic<int> smem_opted_in[kKernelCount];  // the largest dynamic smem allowed so far
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

}  // namespace ks::exporter
