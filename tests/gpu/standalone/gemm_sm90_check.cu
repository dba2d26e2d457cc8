// Standalone GPU check of seeds/gemm/wgmma_mainloop.cu (ks/gemm_sm90.cuh, ks/tma.cuh), outside the
// project's build and of ksearch: encodes the plan's two tensor maps on the host as the plan says,
// launches as the plan does (grid min(SMs, tiles), 384 threads, SMEM), and compares Y with a naive
// fp32 reference kernel on 8 shapes (ragged M, N and K among them); prints time and TFLOP/s.
// One variant per binary, from the repository root:
//   nvcc -O2 -std=c++17 -gencode arch=compute_90a,code=sm_90a -I seeds/include -I . \
//     -DBM=128 -DBN=256 -DSTAGES=4 -DGROUP=8 -DREG_A=0 -DCLUSTER=1 -o /tmp/gemm_check tests/gpu/standalone/gemm_sm90_check.cu
// Exit status 0: every shape within tolerance; 1: a mismatch; 2: a hang (20 s); 3: a CUDA error.
#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <cmath>
#include <chrono>
#include <unistd.h>
#include "seeds/gemm/wgmma_mainloop.cu"

__global__ void ref_gemm(const __nv_bfloat16* X, const __nv_bfloat16* W, float* R, int M, int N, int K) {
  int n = blockIdx.x * blockDim.x + threadIdx.x, m = blockIdx.y;
  if (n >= N) return;
  float acc = 0.f;
  for (int k = 0; k < K; ++k) acc += __bfloat162float(X[(size_t)m * K + k]) * __bfloat162float(W[(size_t)n * K + k]);
  R[(size_t)m * N + n] = acc;
}

#define CK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { printf("CUDA error %s at %s:%d\n", cudaGetErrorString(e), __FILE__, __LINE__); exit(3); } } while (0)

static PFN_cuTensorMapEncodeTiled_v12000 encode;

static ks::TensorMap make_map(const void* base, int inner, int outer, int box_inner, int box_outer, bool promo256) {
  CUtensorMap m;
  cuuint64_t dims[2] = {(cuuint64_t)inner, (cuuint64_t)outer};
  cuuint64_t strides[1] = {(cuuint64_t)inner * 2};
  cuuint32_t box[2] = {(cuuint32_t)box_inner, (cuuint32_t)box_outer};
  cuuint32_t es[2] = {1, 1};
  CUresult r = encode(&m, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<void*>(base), dims, strides, box, es,
                      CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                      promo256 ? CU_TENSOR_MAP_L2_PROMOTION_L2_256B : CU_TENSOR_MAP_L2_PROMOTION_NONE,
                      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) { printf("encode failed %d\n", (int)r); exit(3); }
  ks::TensorMap t;
  static_assert(sizeof(t) == sizeof(m), "128 bytes");
  memcpy(&t, &m, sizeof(m));
  return t;
}

static bool sync_or_hang(double seconds) {
  auto t0 = std::chrono::steady_clock::now();
  while (cudaStreamQuery(0) == cudaErrorNotReady) {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > seconds) return false;
  }
  return true;
}

int main(int argc, char** argv) {
  cudaDriverEntryPointQueryResult q;
  CK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", (void**)&encode, 12000, cudaEnableDefault, &q));
  int sms; CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  const int smem = STAGES * (BM + BN) * 64 * 2 + 1024;
  CK(cudaFuncSetAttribute(gemm, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  if (CLUSTER > 1) {  // 2-block clusters must fit a GPC: fewer than SMS / 2 at once means a tail wave
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(sms / CLUSTER * CLUSTER); cfg.blockDim = dim3(384); cfg.dynamicSmemBytes = smem;
    int clusters = 0;
    CK(cudaOccupancyMaxActiveClusters(&clusters, (void*)gemm, &cfg));
    printf("max active %d-block clusters: %d (grid uses %d)\n", CLUSTER, clusters, sms / CLUSTER);
  }
  struct Shape { int M, K, N; };
  std::vector<Shape> shapes = {{130, 72, 136}, {777, 3072, 1000}, {64, 4096, 4096}, {2048, 4096, 6144},
                               {128, 14336, 4096}, {512, 4096, 28672}, {256, 14336, 6144}, {2048, 14336, 28672}};
  bool all_ok = true;
  for (auto s : shapes) {
    const int M = s.M, K = s.K, N = s.N;
    std::vector<__nv_bfloat16> hx((size_t)M * K), hw((size_t)N * K);
    unsigned st = 12345u + M + K + N;
    auto rnd = [&] { st = st * 1664525u + 1013904223u; return ((st >> 8) & 0xffff) / 32768.0f - 1.0f; };
    for (auto& v : hx) v = __float2bfloat16(rnd());
    for (auto& v : hw) v = __float2bfloat16(rnd());
    __nv_bfloat16 *X, *W, *Y; float* R;
    CK(cudaMalloc(&X, hx.size() * 2)); CK(cudaMalloc(&W, hw.size() * 2));
    CK(cudaMalloc(&Y, (size_t)M * N * 2)); CK(cudaMalloc(&R, (size_t)M * N * 4));
    CK(cudaMemcpy(X, hx.data(), hx.size() * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(W, hw.data(), hw.size() * 2, cudaMemcpyHostToDevice));
    CK(cudaMemset(Y, 0xff, (size_t)M * N * 2));  // NaN pattern: unwritten outputs show
    ref_gemm<<<dim3((N + 127) / 128, M), 128>>>(X, W, R, M, N, K);
    ks::TensorMap am = make_map(X, K, M, 64, BM, false), bm = make_map(W, K, N, 64, BN / CLUSTER, true);
    // the plan's grid: CLUSTER * min(SMS / CLUSTER, cdiv(cdiv(M, BM), CLUSTER) * cdiv(N, BN))
    const int units = ((M + BM - 1) / BM + CLUSTER - 1) / CLUSTER * ((N + BN - 1) / BN);
    const int grid = CLUSTER * (units < sms / CLUSTER ? units : sms / CLUSTER);
    gemm<<<grid, 384, smem>>>(am, bm, Y, M, N, K);
    CK(cudaGetLastError());
    if (!sync_or_hang(20.0)) { printf("M=%d K=%d N=%d: HANG\n", M, K, N); fflush(stdout); _exit(2); }
    CK(cudaDeviceSynchronize());
    std::vector<__nv_bfloat16> hy((size_t)M * N); std::vector<float> hr((size_t)M * N);
    CK(cudaMemcpy(hy.data(), Y, hy.size() * 2, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(hr.data(), R, hr.size() * 4, cudaMemcpyDeviceToHost));
    double max_err = 0, ref_rms = 0; size_t bad = 0, first_bad = (size_t)-1;
    for (size_t i = 0; i < hy.size(); ++i) ref_rms += (double)hr[i] * hr[i];
    ref_rms = std::sqrt(ref_rms / hy.size());
    for (size_t i = 0; i < hy.size(); ++i) {
      double y = __bfloat162float(hy[i]), e = std::fabs(y - hr[i]);
      if (!(e <= 0.01 * std::fabs(hr[i]) + 1e-3 * ref_rms + 1e-6)) { if (!bad) first_bad = i; ++bad; }
      if (!(e <= max_err)) max_err = e;  // NaN -> max_err NaN
    }
    // timing
    cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
    const int iters = 10;
    cudaEventRecord(e0);
    for (int i = 0; i < iters; ++i) gemm<<<grid, 384, smem>>>(am, bm, Y, M, N, K);
    cudaEventRecord(e1);
    if (!sync_or_hang(60.0)) { printf("M=%d K=%d N=%d: HANG in timing\n", M, K, N); fflush(stdout); _exit(2); }
    float ms; cudaEventElapsedTime(&ms, e0, e1); ms /= iters;
    printf("M=%5d K=%5d N=%5d grid=%d: %s bad=%zu", M, K, N, grid, bad ? "FAIL" : "ok", bad);
    if (bad) printf(" (first at m=%zu n=%zu: y=%g ref=%g)", first_bad / N, first_bad % N,
                    (double)__bfloat162float(hy[first_bad]), (double)hr[first_bad]);
    printf(" max_err=%.3g ref_rms=%.3g  %.1f us %.0f TFLOP/s\n", max_err, ref_rms, ms * 1e3,
           2.0 * M * N * K / (ms * 1e-3) / 1e12);
    fflush(stdout);
    all_ok &= bad == 0;
    cudaFree(X); cudaFree(W); cudaFree(Y); cudaFree(R);
  }
  return all_ok ? 0 : 1;
}
