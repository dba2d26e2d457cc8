// The device helpers in seeds/include/ks/, each run for real: a small kernel built on the helper
// is JIT-compiled as candidates are, run, and its result compared with the host's. Integer-valued
// bf16 data keeps every fp32 sum exact, so most comparisons are exact.
#include <cmath>
#include <cstring>
#include <random>

#include "gpu/gpu_test.h"
#include "gpu/jit_module.h"

namespace ks {
namespace {

using namespace gpu_test;

// --- vec.cuh, reduce.cuh -------------------------------------------------------------------

constexpr const char* kVecReduce = R"(
#include <ks/reduce.cuh>
#include <ks/vec.cuh>
extern "C" __global__ void roundtrip(const __nv_bfloat16* in, float* unpacked, __nv_bfloat16* repacked,
                                     const float* wide, __nv_bfloat16* narrowed) {
  const int i = threadIdx.x;
  float v[8];
  ks::unpack8(ks::load8_stream(in + 8 * i), v);
  for (int j = 0; j < 8; ++j) unpacked[8 * i + j] = v[j];
  ks::store8(repacked + 8 * i, ks::pack8(v));
  float w[8];
  for (int j = 0; j < 8; ++j) w[j] = wide[8 * i + j];
  ks::store8_stream(narrowed + 8 * i, ks::pack8(w));
}
extern "C" __global__ void scale_sumsq(const __nv_bfloat16* x, const __nv_bfloat16* g, __nv_bfloat16* y,
                                       float* sumsq) {
  float ss = 0.0f;
  ks::store8(y + 8 * threadIdx.x, ks::mul8_sumsq(ks::load8(x + 8 * threadIdx.x), ks::load8(g + 8 * threadIdx.x), ss));
  sumsq[threadIdx.x] = ss;
}
extern "C" __global__ void sums(const float* x, float* warp_out, float* block_out) {
  __shared__ float scratch[32];
  const float v = x[threadIdx.x];
  warp_out[threadIdx.x] = ks::warp_sum(v);
  const float b = ks::block_sum(v, scratch);
  const float b2 = ks::block_sum(2.0f * v, scratch);  // the same scratch again
  block_out[2 * threadIdx.x] = b;
  block_out[2 * threadIdx.x + 1] = b2;
}
)";

TEST(GpuHelpers, VecLoadsStoresAndRoundsToNearestEven) {
  KS_REQUIRE_GPU();
  JitModule mod(kVecReduce);
  const int n = 64 * 8;
  std::vector<uint16_t> in = small_ints(n, 100, 1);
  // Halfway cases: 1 + 2^-8 rounds down to 1 (even), 1 + 3 * 2^-8 up to 1 + 2^-6; plus randoms.
  std::vector<float> wide(n);
  std::mt19937_64 rng(2);
  std::normal_distribution<float> nd(0, 10);
  for (auto& w : wide) w = nd(rng);
  wide[0] = 1.0f + std::ldexp(1.0f, -8);
  wide[1] = 1.0f + 3 * std::ldexp(1.0f, -8);
  DeviceMemory d_in = to_device(in), d_wide = to_device(wide);
  DeviceMemory d_unpacked(n * 4), d_repacked(n * 2), d_narrowed(n * 2);
  void *a = d_in.get(), *b = d_unpacked.get(), *c = d_repacked.get(), *d = d_wide.get(), *e = d_narrowed.get();
  mod.run("roundtrip", 1, 64, {&a, &b, &c, &d, &e});
  auto unpacked = from_device<float>(d_unpacked);
  auto repacked = from_device<uint16_t>(d_repacked), narrowed = from_device<uint16_t>(d_narrowed);
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(unpacked[i], bf16_to_float(in[i])) << i;
    ASSERT_EQ(repacked[i], in[i]) << i;
    ASSERT_EQ(narrowed[i], float_to_bf16(wide[i])) << i << ": " << wide[i];
  }
  EXPECT_EQ(bf16_to_float(narrowed[0]), 1.0f);
  EXPECT_EQ(bf16_to_float(narrowed[1]), 1.0f + std::ldexp(1.0f, -6));
}

TEST(GpuHelpers, Mul8SumsqRoundsOnceAndSumsSquaresInFp32) {
  KS_REQUIRE_GPU();
  JitModule mod(kVecReduce);
  const int n = 32 * 8;
  std::vector<uint16_t> x(n), g(n);
  std::mt19937_64 rng(10);
  std::normal_distribution<float> nd(0, 3);
  for (int i = 0; i < n; ++i) x[i] = float_to_bf16(nd(rng)), g[i] = float_to_bf16(1 + nd(rng) / 8);
  DeviceMemory dx = to_device(x), dg = to_device(g), dy(n * 2), dss(32 * 4);
  void *a = dx.get(), *b = dg.get(), *c = dy.get(), *d = dss.get();
  mod.run("scale_sumsq", 1, 32, {&a, &b, &c, &d});
  auto y = from_device<uint16_t>(dy);
  auto ss = from_device<float>(dss);
  for (int t = 0; t < 32; ++t) {
    float want = 0;
    for (int e = 0; e < 8; ++e) {
      const int i = 8 * t + e;
      const float xf = bf16_to_float(x[i]);
      want = std::fma(xf, xf, want);
      // The fp32 product of two bf16 is exact, so one rounding of it is the bf16 product.
      ASSERT_EQ(y[i], float_to_bf16(xf * bf16_to_float(g[i]))) << i;
    }
    ASSERT_EQ(ss[t], want) << t;
  }
}

TEST(GpuHelpers, WarpAndBlockSumsReachEveryThread) {
  KS_REQUIRE_GPU();
  JitModule mod(kVecReduce);
  for (int threads : {32, 96, 1024}) {
    std::vector<float> x(threads);
    for (int i = 0; i < threads; ++i) x[i] = static_cast<float>((i * 7) % 13 - 6);
    DeviceMemory d_x = to_device(x), d_w(threads * 4), d_b(threads * 8);
    void *a = d_x.get(), *b = d_w.get(), *c = d_b.get();
    mod.run("sums", 1, threads, {&a, &b, &c});
    auto w = from_device<float>(d_w), blk = from_device<float>(d_b);
    float total = 0;
    for (float v : x) total += v;
    for (int i = 0; i < threads; ++i) {
      float warp_total = 0;
      for (int j = i / 32 * 32; j < i / 32 * 32 + 32; ++j) warp_total += x[j];
      ASSERT_EQ(w[i], warp_total) << threads << " threads, thread " << i;
      ASSERT_EQ(blk[2 * i], total) << threads << " threads, thread " << i;
      ASSERT_EQ(blk[2 * i + 1], 2 * total) << threads << " threads, thread " << i;
    }
  }
}

// --- cp_async.cuh ---------------------------------------------------------------------------

constexpr const char* kCpAsync = R"(
#include <ks/cp_async.cuh>
// Three commit groups in flight; each is read after waiting until only the later ones remain.
extern "C" __global__ void staged_copy(const uint4* in, uint4* out, int valid) {
  __shared__ uint4 s[3][256];
  const int t = threadIdx.x;
  for (int g = 0; g < 3; ++g) {
    const int i = g * 256 + t;
    ks::cp_async16_zfill(&s[g][t], i < valid ? in + i : in, i < valid);
    ks::cp_async_commit();
  }
  ks::cp_async_wait<2>();
  __syncthreads();
  out[t] = s[0][(t + 1) % 256];  // another thread's copy: needs the barrier
  ks::cp_async_wait<1>();
  __syncthreads();
  out[256 + t] = s[1][(t + 1) % 256];
  ks::cp_async_wait<0>();
  __syncthreads();
  out[512 + t] = s[2][(t + 1) % 256];
}
)";

TEST(GpuHelpers, CpAsyncGroupsLandInOrderAndZeroFillPastTheEdge) {
  KS_REQUIRE_GPU();
  JitModule mod(kCpAsync);
  const int chunks = 768, valid = 700;
  std::vector<uint32_t> in(chunks * 4);
  std::mt19937 rng(3);
  for (auto& v : in) v = rng() | 1u;  // never zero
  DeviceMemory d_in = to_device(in), d_out(chunks * 16);
  KS_CUDA(cudaMemset(d_out.get(), 0xAB, d_out.size()));
  void *a = d_in.get(), *b = d_out.get();
  int v = valid;
  mod.run("staged_copy", 1, 256, {&a, &b, &v});
  auto out = from_device<uint32_t>(d_out);
  for (int i = 0; i < chunks; ++i) {
    const int src = i / 256 * 256 + (i % 256 + 1) % 256;
    for (int w = 0; w < 4; ++w)
      ASSERT_EQ(out[4 * i + w], src < valid ? in[4 * src + w] : 0u) << "chunk " << i;
  }
}

// --- swizzle.cuh, mma.cuh ---------------------------------------------------------------------

// One warp: A[16][64], W[16][64] (rows of K) and V = W^T [64][16] staged in shared memory, A and W
// swizzled; C = A W^T computed from ldmatrix_x4 B fragments, from ldmatrix_x2 ones, and from
// ldmatrix_x4_trans fragments of V.
constexpr const char* kMma = R"(
#include <cuda_bf16.h>
#include <ks/mma.cuh>
#include <ks/swizzle.cuh>
extern "C" __global__ void mma_tile(const __nv_bfloat16* A, const __nv_bfloat16* W, const __nv_bfloat16* V,
                                   float* C) {  // C: 3 x [16][16]
  __shared__ __align__(1024) unsigned char sa[16 * 128], sw[16 * 128];
  __shared__ __align__(16) __nv_bfloat16 sv[64][16];
  const int lane = threadIdx.x;
  for (int i = lane; i < 16 * 8; i += 32) {
    const int r = i / 8, c = i % 8;
    *(uint4*)(sa + ks::swizzle128(r, c)) = *(const uint4*)(A + r * 64 + c * 8);
    *(uint4*)(sw + ks::swizzle128(r, c)) = *(const uint4*)(W + r * 64 + c * 8);
  }
  for (int i = lane; i < 64 * 16; i += 32) sv[i / 16][i % 16] = V[i];
  __syncwarp();
  float d[3][2][4] = {};
  for (int k0 = 0; k0 < 64; k0 += 16) {
    unsigned a[4], b4[4], b2[2][2], bt[4];
    ks::ldmatrix_x4(a, sa + ks::swizzle128(lane % 16, (k0 + lane / 16 * 8) / 8));
    ks::ldmatrix_x4(b4, sw + ks::swizzle128(lane % 8 + lane / 16 * 8, (k0 + lane / 8 % 2 * 8) / 8));
    for (int j = 0; j < 2; ++j)
      ks::ldmatrix_x2(b2[j], sw + ks::swizzle128(8 * j + lane % 8, (k0 + lane / 8 % 2 * 8) / 8));
    ks::ldmatrix_x4_trans(bt, &sv[k0 + lane % 8 + lane / 8 % 2 * 8][lane / 16 * 8]);
    for (int j = 0; j < 2; ++j) {
      const unsigned bx4[2] = {b4[2 * j], b4[2 * j + 1]}, btr[2] = {bt[2 * j], bt[2 * j + 1]};
      ks::mma_bf16_16816(d[0][j], a, bx4);
      ks::mma_bf16_16816(d[1][j], a, b2[j]);
      ks::mma_bf16_16816(d[2][j], a, btr);
    }
  }
  const int g = lane / 4, t = lane % 4;
  for (int v = 0; v < 3; ++v)
    for (int j = 0; j < 2; ++j)
      for (int e = 0; e < 4; ++e) C[v * 256 + (g + 8 * (e / 2)) * 16 + 8 * j + 2 * t + e % 2] = d[v][j][e];
}
)";

TEST(GpuHelpers, LdmatrixAndMmaSyncComputeATile) {
  KS_REQUIRE_GPU();
  JitModule mod(kMma);
  std::vector<uint16_t> A = small_ints(16 * 64, 8, 4), W = small_ints(16 * 64, 8, 5), V(64 * 16);
  for (int n = 0; n < 16; ++n)
    for (int k = 0; k < 64; ++k) V[k * 16 + n] = W[n * 64 + k];
  DeviceMemory dA = to_device(A), dW = to_device(W), dV = to_device(V), dC(3 * 256 * 4);
  void *a = dA.get(), *w = dW.get(), *v = dV.get(), *c = dC.get();
  mod.run("mma_tile", 1, 32, {&a, &w, &v, &c});
  auto C = from_device<float>(dC);
  const char* how[] = {"ldmatrix_x4", "ldmatrix_x2", "ldmatrix_x4_trans"};
  for (int m = 0; m < 16; ++m)
    for (int n = 0; n < 16; ++n) {
      float want = 0;
      for (int k = 0; k < 64; ++k) want += bf16_to_float(A[m * 64 + k]) * bf16_to_float(W[n * 64 + k]);
      for (int way = 0; way < 3; ++way)
        ASSERT_EQ(C[way * 256 + m * 16 + n], want) << how[way] << " B fragments, C[" << m << "][" << n << "]";
    }
}

// --- wgmma.cuh --------------------------------------------------------------------------------

// One warpgroup: A[64][64] and B[N][64] (rows of K) swizzled in shared memory; C = A B^T from four
// k16 steps of wgmma, with A by descriptor (ss) and from registers (rs).
constexpr const char* kWgmma = R"(
#include <cuda_bf16.h>
#include <ks/mma.cuh>
#include <ks/swizzle.cuh>
#include <ks/wgmma.cuh>
#define CAT3(a, b, c) a##b##c
#define XCAT3(a, b, c) CAT3(a, b, c)
#define WGMMA_SS XCAT3(ks::wgmma_ss_m64n, TILE_N, k16)
#define WGMMA_RS XCAT3(ks::wgmma_rs_m64n, TILE_N, k16)
#define N TILE_N
extern "C" __global__ void __launch_bounds__(128) wgmma_tile(const __nv_bfloat16* A, const __nv_bfloat16* B,
                                                             float* C) {  // C: 2 x [64][N]
  extern __shared__ __align__(1024) unsigned char smem[];
  unsigned char* sa = smem;             // 8 KiB
  unsigned char* sb = smem + 64 * 128;  // N * 128 bytes
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  for (int i = tid; i < 64 * 8; i += 128)
    *(uint4*)(sa + ks::swizzle128(i / 8, i % 8)) = *(const uint4*)(A + i * 8);
  for (int i = tid; i < N * 8; i += 128)
    *(uint4*)(sb + ks::swizzle128(i / 8, i % 8)) = *(const uint4*)(B + i * 8);
  ks::fence_proxy_async();
  __syncthreads();
  float d_ss[N / 2], d_rs[N / 2];
  for (int i = 0; i < N / 2; ++i) d_ss[i] = d_rs[i] = -1.0f;  // overwritten: scale_d = 0 first
  unsigned a[4][4];
  for (int kk = 0; kk < 4; ++kk)
    ks::ldmatrix_x4(a[kk], sa + ks::swizzle128(16 * warp + lane % 16, 2 * kk + lane / 16));
  ks::wgmma_fence();
  const unsigned long long da = ks::wgmma_desc_sw128(sa), db = ks::wgmma_desc_sw128(sb);
  for (int kk = 0; kk < 4; ++kk) WGMMA_SS(d_ss, da + 2 * kk, db + 2 * kk, kk > 0);
  for (int kk = 0; kk < 4; ++kk) WGMMA_RS(d_rs, a[kk], db + 2 * kk, kk > 0);
  ks::wgmma_commit();
  ks::wgmma_wait<0>();
  const int g = lane / 4, t = lane % 4;
  for (int j = 0; j < N / 8; ++j)
    for (int e = 0; e < 4; ++e) {
      const int row = 16 * warp + g + 8 * (e / 2), col = 8 * j + 2 * t + e % 2;
      C[row * N + col] = d_ss[4 * j + e];
      C[64 * N + row * N + col] = d_rs[4 * j + e];
    }
}
)";

TEST(GpuHelpers, WgmmaFromSharedAndFromRegistersComputesATile) {
  KS_REQUIRE_GPU();
  if (open_device(0).arch != "sm_90a") GTEST_SKIP() << "wgmma needs sm_90a; this GPU is " << open_device(0).arch;
  for (int N : {64, 128, 256}) {
    JitModule mod(kWgmma, {{"TILE_N", N}});
    std::vector<uint16_t> A = small_ints(64 * 64, 8, 6), B = small_ints(N * 64, 8, 7);
    DeviceMemory dA = to_device(A), dB = to_device(B), dC(2 * 64 * N * 4);
    void *a = dA.get(), *b = dB.get(), *c = dC.get();
    mod.run("wgmma_tile", 1, 128, {&a, &b, &c}, 64 * 128 + N * 128);
    auto C = from_device<float>(dC);
    for (int m = 0; m < 64; ++m)
      for (int n = 0; n < N; ++n) {
        float want = 0;
        for (int k = 0; k < 64; ++k) want += bf16_to_float(A[m * 64 + k]) * bf16_to_float(B[n * 64 + k]);
        ASSERT_EQ(C[m * N + n], want) << "wgmma_ss n" << N << " C[" << m << "][" << n << "]";
        ASSERT_EQ(C[64 * N + m * N + n], want) << "wgmma_rs n" << N << " C[" << m << "][" << n << "]";
      }
  }
}

// One warpgroup: A[64][MN_K] (rows of K) from registers, and B as Bt[MN_K][MN_N] (rows of N, as
// V is in P @ V: MN-major) in the layout a TMA box {64, MN_K} with 128B swizzle writes, one such
// 64-column block per 64 n, the blocks MN_LBO bytes apart; whatever lies between them reads as
// NaN. C = A Bt from MN_K / 16 steps of the register-A wgmma with kTransB and
// wgmma_desc_sw128_mn (advanced by 128 per 16 rows of K).
constexpr const char* kWgmmaMn = R"(
#include <cuda_bf16.h>
#include <ks/mma.cuh>
#include <ks/swizzle.cuh>
#include <ks/wgmma.cuh>
#define CAT3(a, b, c) a##b##c
#define XCAT3(a, b, c) CAT3(a, b, c)
#define WGMMA_RS_T XCAT3(ks::wgmma_rs_m64n, MN_N, k16)<true>
extern "C" __global__ void __launch_bounds__(128) wgmma_mn_tile(const __nv_bfloat16* A, const __nv_bfloat16* Bt,
                                                                float* C) {  // C: [64][MN_N]
  extern __shared__ __align__(1024) unsigned char smem[];
  unsigned char* sa = smem;                 // MN_K / 64 boxes of 64 rows x 128 bytes
  unsigned char* sb = smem + 64 * MN_K * 2;  // MN_N / 64 blocks of MN_K rows x 128 bytes, MN_LBO apart
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  for (int i = tid; i < MN_N / 64 * MN_LBO / 16; i += 128) ((uint4*)sb)[i] = make_uint4(~0u, ~0u, ~0u, ~0u);
  __syncthreads();  // the NaN fill first, then the tiles over it
  for (int i = tid; i < 64 * MN_K / 8; i += 128) {  // A's 16-byte chunk c of row r
    const int r = i / (MN_K / 8), c = i % (MN_K / 8);
    *(uint4*)(sa + c / 8 * 8192 + ks::swizzle128(r, c % 8)) = *(const uint4*)(A + i * 8);
  }
  for (int i = tid; i < MN_K * MN_N / 8; i += 128) {  // Bt's chunk c of row k: n = 8c .. 8c + 7
    const int k = i / (MN_N / 8), c = i % (MN_N / 8);
    *(uint4*)(sb + c / 8 * MN_LBO + ks::swizzle128(k, c % 8)) = *(const uint4*)(Bt + i * 8);
  }
  ks::fence_proxy_async();
  __syncthreads();
  float d[MN_N / 2];
  for (int i = 0; i < MN_N / 2; ++i) d[i] = -1.0f;  // overwritten: scale_d = 0 first
  unsigned a[MN_K / 16][4];
  for (int kk = 0; kk < MN_K / 16; ++kk)
    ks::ldmatrix_x4(a[kk], sa + kk / 4 * 8192 + ks::swizzle128(16 * warp + lane % 16, 2 * (kk % 4) + lane / 16));
  ks::wgmma_fence();
  const unsigned long long db = ks::wgmma_desc_sw128_mn(sb, MN_LBO);
  for (int kk = 0; kk < MN_K / 16; ++kk) WGMMA_RS_T(d, a[kk], db + 128 * kk, kk > 0);
  ks::wgmma_commit();
  ks::wgmma_wait<0>();
  const int g = lane / 4, t = lane % 4;
  for (int j = 0; j < MN_N / 8; ++j)
    for (int e = 0; e < 4; ++e) C[(16 * warp + g + 8 * (e / 2)) * MN_N + 8 * j + 2 * t + e % 2] = d[4 * j + e];
}
)";

TEST(GpuHelpers, WgmmaWithAnMnMajorBComputesATile) {
  KS_REQUIRE_GPU();
  if (open_device(0).arch != "sm_90a") GTEST_SKIP() << "wgmma needs sm_90a; this GPU is " << open_device(0).arch;
  // N = 64 and 128 (one and two column blocks), K = 64 and 128 (the +2048-byte step across 1024-byte
  // atoms), blocks packed (LBO = K rows x 128 bytes: softmax_matmul/wgmma_flash.cu's V boxes) and
  // 8 KiB apart with NaN between (so a wrong LBO cannot pass).
  struct Case {
    int n, k, lbo;
  };
  for (const Case cs : {Case{64, 64, 8192}, Case{128, 64, 8192}, Case{128, 64, 16384}, Case{128, 128, 16384}}) {
    JitModule mod(kWgmmaMn, {{"MN_N", cs.n}, {"MN_K", cs.k}, {"MN_LBO", cs.lbo}});
    std::vector<uint16_t> A = small_ints(64 * cs.k, 8, 11), Bt = small_ints(cs.k * cs.n, 8, 12);
    DeviceMemory dA = to_device(A), dB = to_device(Bt), dC(64 * cs.n * 4);
    void *a = dA.get(), *b = dB.get(), *c = dC.get();
    mod.run("wgmma_mn_tile", 1, 128, {&a, &b, &c}, 64 * cs.k * 2 + cs.n / 64 * cs.lbo);
    auto C = from_device<float>(dC);
    for (int m = 0; m < 64; ++m)
      for (int n = 0; n < cs.n; ++n) {
        float want = 0;
        for (int k = 0; k < cs.k; ++k) want += bf16_to_float(A[m * cs.k + k]) * bf16_to_float(Bt[k * cs.n + n]);
        ASSERT_EQ(C[m * cs.n + n], want) << "n" << cs.n << " k" << cs.k << " LBO " << cs.lbo << ": C[" << m << "]["
                                         << n << "]";
      }
  }
}

// --- tile_loader.cuh, mbarrier.cuh ---------------------------------------------------------------

// A producer warp group streams 32 x 64 tiles of a 50 x 200 matrix (row stride 208) through a
// ring of 2 slots with SwizzledTileLoader; a full/empty mbarrier pair per slot hands them to a
// consumer warp group, which copies each tile out unswizzled. Past the rows and columns: zeros.
constexpr const char* kLoaderRing = R"(
#include <cuda_bf16.h>
#include <ks/mbarrier.cuh>
#include <ks/swizzle.cuh>
#include <ks/tile_loader.cuh>
extern "C" __global__ void ring(const __nv_bfloat16* m, int rows, int cols, int ld, int row0, int tiles,
                                __nv_bfloat16* out) {  // out: [tiles][32][64]
  __shared__ __align__(1024) unsigned char slot[2][32 * 128];
  __shared__ unsigned long long full[2], empty[2];
  const int tid = threadIdx.x;
  if (tid == 0)
    for (int s = 0; s < 2; ++s) ks::mbarrier_init(&full[s], 64), ks::mbarrier_init(&empty[s], 64);
  __syncthreads();
  if (tid >= 64) {  // producer
    const int p = tid - 64;
    const ks::SwizzledTileLoader<32, 64> loader(m, rows, cols, ld, row0, p);
    for (int t = 0; t < tiles; ++t) {
      if (t >= 2) ks::mbarrier_wait(&empty[t % 2], (t / 2 - 1) & 1);
      loader.load(slot[t % 2], t * 64);
      ks::cp_async_commit();
      ks::cp_async_wait<0>();
      ks::mbarrier_arrive(&full[t % 2]);
    }
  } else {  // consumer
    for (int t = 0; t < tiles; ++t) {
      ks::mbarrier_wait(&full[t % 2], (t / 2) & 1);
      for (int i = tid; i < 32 * 8; i += 64)
        *(uint4*)(out + ((size_t)t * 32 + i / 8) * 64 + i % 8 * 8) =
            *(const uint4*)(slot[t % 2] + ks::swizzle128(i / 8, i % 8));
      ks::mbarrier_arrive(&empty[t % 2]);
    }
  }
}
)";

TEST(GpuHelpers, TileLoaderThroughAnMbarrierRingCopiesTilesAndZeroFillsEdges) {
  KS_REQUIRE_GPU();
  if (open_device(0).arch.rfind("sm_90", 0) != 0) GTEST_SKIP() << "mbarrier try_wait needs sm_90";
  JitModule mod(kLoaderRing);
  const int rows = 50, cols = 200, ld = 208, row0 = 24, tiles = 4;  // rows 24..55: 50.. are past
  std::vector<uint16_t> m = small_ints(rows * ld, 100, 9);
  DeviceMemory dm = to_device(m), dout(tiles * 32 * 64 * 2);
  KS_CUDA(cudaMemset(dout.get(), 0xFF, dout.size()));
  void *a = dm.get(), *o = dout.get();
  int r = rows, c = cols, l = ld, r0 = row0, t = tiles;
  mod.run("ring", 1, 128, {&a, &r, &c, &l, &r0, &t, &o});
  auto out = from_device<uint16_t>(dout);
  for (int tile = 0; tile < tiles; ++tile)
    for (int i = 0; i < 32; ++i)
      for (int j = 0; j < 64; ++j) {
        const int row = row0 + i, col = tile * 64 + j;
        const uint16_t want = row < rows && col < cols ? m[row * ld + col] : 0;
        ASSERT_EQ(out[(tile * 32 + i) * 64 + j], want) << "tile " << tile << " row " << row << " col " << col;
      }
}

// --- online_softmax.cuh -----------------------------------------------------------------------

// Each lane adds 8 scores, accumulating sum of exp(x - max) * v with add()'s rescale factors;
// lanes then merge (their accumulators rescaled by merge()'s factors).
constexpr const char* kSoftmax = R"(
#include <ks/online_softmax.cuh>
extern "C" __global__ void softmax_stats(const float* x, const float* v, float* out) {
  const int lane = threadIdx.x;
  ks::OnlineSoftmax s;
  float acc = 0.0f;
  for (int i = 0; i < 8; ++i) {
    const float xi = x[lane * 8 + i];
    acc = acc * s.add(xi) + (xi == -CUDART_INF_F ? 0.0f : __expf(xi - s.max)) * v[lane * 8 + i];
  }
  for (int offset = 16; offset > 0; offset >>= 1) {
    ks::OnlineSoftmax o;
    o.max = __shfl_xor_sync(0xffffffffu, s.max, offset);
    o.sum = __shfl_xor_sync(0xffffffffu, s.sum, offset);
    const float other = __shfl_xor_sync(0xffffffffu, acc, offset);
    float mine, theirs;
    s.merge(o, &mine, &theirs);
    acc = acc * mine + other * theirs;
  }
  const ks::OnlineSoftmax w = ks::warp_merge(ks::OnlineSoftmax{});  // all empty: stays empty
  out[3 * lane] = s.max;
  out[3 * lane + 1] = s.sum;
  out[3 * lane + 2] = acc / s.sum + (w.sum != 0.0f || w.max != -CUDART_INF_F ? 1e30f : 0.0f);
}
)";

TEST(GpuHelpers, OnlineSoftmaxMatchesTwoPassSoftmax) {
  KS_REQUIRE_GPU();
  JitModule mod(kSoftmax);
  std::vector<float> x(256), v(256);
  std::mt19937 rng(8);
  std::normal_distribution<float> nd(0, 4);
  for (int i = 0; i < 256; ++i) x[i] = nd(rng), v[i] = nd(rng);
  for (int i = 8; i < 16; ++i) x[i] = -INFINITY;  // lane 1: every score masked
  x[100] = 60.0f;                                    // one large score late in a lane's stream
  DeviceMemory dx = to_device(x), dv = to_device(v), dout(32 * 3 * 4);
  void *a = dx.get(), *b = dv.get(), *c = dout.get();
  mod.run("softmax_stats", 1, 32, {&a, &b, &c});
  auto out = from_device<float>(dout);
  double mx = -INFINITY, sum = 0, pv = 0;
  for (float xi : x) mx = std::max<double>(mx, xi);
  for (int i = 0; i < 256; ++i) sum += std::exp(x[i] - mx), pv += std::exp(x[i] - mx) * v[i];
  for (int lane = 0; lane < 32; ++lane) {
    EXPECT_EQ(out[3 * lane], mx) << lane;
    EXPECT_NEAR(out[3 * lane + 1], sum, 1e-5 * sum) << lane;
    EXPECT_NEAR(out[3 * lane + 2], pv / sum, 1e-4 * (1 + std::abs(pv / sum))) << lane;
  }
}

}  // namespace
}  // namespace ks
