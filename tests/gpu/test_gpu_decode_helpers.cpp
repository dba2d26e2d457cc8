// The decode helpers in seeds/include/ks/ run for real: mma_gemv.cuh (W rows on mma.sync's
// 16-row side, loads straight into fragments, split-K partials through shared memory) against
// the host's exact integer product, and cluster.cuh (ranks, the cluster barrier, reads of another
// block's shared memory) and bulk_copy.cuh (TMA bulk copies through a ring of mbarrier slots).
#include "gpu/gpu_test.h"
#include "gpu/jit_module.h"

namespace ks {
namespace {

using namespace gpu_test;

// Two warps split K; three 16-row W tiles; XT tiles of 8 X rows; DEPTH chunks in flight.
constexpr const char* kGemv = R"(
#include <ks/mma_gemv.cuh>
#define LD (8 * XT + 1)
extern "C" __global__ void gemv(const __nv_bfloat16* W, const __nv_bfloat16* X, float* Y, int N, int M, int K) {
  __shared__ float part[2][48 * LD];
  const int s = threadIdx.x / 32;
  const int first[3] = {0, 16, 32};
  const ks::GemvRows<3> w(W, first, N, K);
  const int chunks = (K + 31) / 32, half = (chunks + 1) / 2;
  float d[3][XT][4] = {};
  ks::mma_gemv_accumulate<3, XT, DEPTH>(d, w, X, M, K, s * half, min(chunks, (s + 1) * half));
  ks::mma_gemv_store<3, XT, LD>(part[s], d);
  __syncthreads();
  for (int o = threadIdx.x; o < N * M; o += 64) {
    const int n = o / M, m = o % M;
    Y[o] = part[0][n * LD + m] + part[1][n * LD + m];
  }
}
)";

TEST(GpuDecodeHelpers, MmaGemvMatchesTheExactProductAtRaggedEdges) {
  KS_REQUIRE_GPU();
  // N = 40: the third tile is half outside; K = 88: the last 32-wide chunk is partial.
  const int N = 40, K = 88;
  for (auto [xt, depth, M] : {std::tuple{1, 2, 5}, std::tuple{2, 1, 11}, std::tuple{2, 4, 16}}) {
    SCOPED_TRACE("XT=" + std::to_string(xt) + " DEPTH=" + std::to_string(depth) + " M=" + std::to_string(M));
    JitModule mod(kGemv, {{"XT", xt}, {"DEPTH", depth}});
    const auto w = small_ints(N * K, 3, 1), x = small_ints(M * K, 3, 2);
    DeviceMemory dw = to_device(w), dx = to_device(x), dy(N * M * 4);
    void *a = dw.get(), *b = dx.get(), *c = dy.get();
    int n = N, m = M, k = K;
    mod.run("gemv", 1, 64, {&a, &b, &c, &n, &m, &k});
    const auto y = from_device<float>(dy);
    for (int i = 0; i < N; ++i)
      for (int j = 0; j < M; ++j) {
        float want = 0;
        for (int kk = 0; kk < K; ++kk) want += bf16_to_float(w[i * K + kk]) * bf16_to_float(x[j * K + kk]);
        ASSERT_EQ(y[i * M + j], want) << "n=" << i << " m=" << j;
      }
  }
}

constexpr const char* kCluster = R"(
#include <ks/cluster.cuh>
extern "C" __global__ void __cluster_dims__(4, 1, 1) ring(float* out, unsigned* ranks) {
  __shared__ float v[32];
  const unsigned r = ks::cluster_rank();
  v[threadIdx.x] = 100.0f * blockIdx.x + threadIdx.x;
  ks::cluster_sync();
  out[blockIdx.x * 32 + threadIdx.x] = ks::load_cluster_f32(&v[threadIdx.x], (r + 1) % 4);
  if (threadIdx.x == 0) ranks[blockIdx.x] = r;
  ks::cluster_sync();
}
)";

TEST(GpuDecodeHelpers, ClusterBlocksReadEachOthersSharedMemory) {
  KS_REQUIRE_GPU();
  JitModule mod(kCluster);
  DeviceMemory out(8 * 32 * 4), ranks(8 * 4);
  void *a = out.get(), *b = ranks.get();
  mod.run("ring", 8, 32, {&a, &b});
  const auto v = from_device<float>(out);
  const auto r = from_device<unsigned>(ranks);
  for (int blk = 0; blk < 8; ++blk) {
    EXPECT_EQ(r[blk], unsigned(blk % 4)) << blk;
    const int next = blk - blk % 4 + (blk % 4 + 1) % 4;
    for (int t = 0; t < 32; ++t) EXPECT_EQ(v[blk * 32 + t], 100.0f * next + t) << blk << " " << t;
  }
}

// Four rounds through two slots: round p brings rows 4p .. 4p + 3 of src (144 bytes each, into
// 160-byte padded rows; odd rows with the evict-first policy) and the block copies them out.
constexpr const char* kBulk = R"(
#include <ks/bulk_copy.cuh>
extern "C" __global__ void bulk(const unsigned char* src, unsigned char* out) {
  __shared__ __align__(128) unsigned char buf[2][4 * 160];
  __shared__ unsigned long long full[2];
  if (threadIdx.x == 0) {
    ks::mbarrier_init(&full[0], 1);
    ks::mbarrier_init(&full[1], 1);
    ks::fence_mbarrier_init();
  }
  __syncthreads();
  const unsigned long long policy = ks::l2_evict_first_policy();
  for (int p = 0; p < 4; ++p) {
    const int slot = p % 2;
    if (threadIdx.x == 0) {
      ks::mbarrier_arrive_expect_tx(&full[slot], 4 * 144);
      for (int r = 0; r < 4; ++r) {
        if (r % 2) ks::bulk_copy_stream(buf[slot] + r * 160, src + (4 * p + r) * 144, 144, &full[slot], policy);
        else ks::bulk_copy(buf[slot] + r * 160, src + (4 * p + r) * 144, 144, &full[slot]);
      }
    }
    ks::mbarrier_wait(&full[slot], (p / 2) & 1);
    for (int i = threadIdx.x; i < 4 * 144; i += blockDim.x) out[4 * p * 144 + i] = buf[slot][i / 144 * 160 + i % 144];
    __syncthreads();  // the slot is read before it is refilled
  }
}
)";

TEST(GpuDecodeHelpers, BulkCopiesLandWholeRowsThroughAnMbarrierRing) {
  KS_REQUIRE_GPU();
  JitModule mod(kBulk);
  if (mod.device().arch.rfind("sm_90", 0) != 0) GTEST_SKIP() << "bulk copies need sm_90";
  std::vector<unsigned char> src(16 * 144);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<unsigned char>(i * 7 + 3);
  DeviceMemory dsrc = to_device(src), dout(src.size());
  void *a = dsrc.get(), *b = dout.get();
  mod.run("bulk", 1, 64, {&a, &b});
  EXPECT_EQ(from_device<unsigned char>(dout), src);
}

}  // namespace
}  // namespace ks
