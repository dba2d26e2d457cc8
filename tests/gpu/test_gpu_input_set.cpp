// An input set refilled after timing (evaluator/input_set.h) keeps its kind: a hard set gets new
// hard contents, the same bytes InputSet::make gives for the next seed, on the host and on the
// device, whether generated ahead (prefetch) or on demand. Refilled as random, a shape's one hard
// set was gone after a few evaluations and a kernel that ignores eps passed (GpuConstants).
#include <cstring>

#include "evaluator/cuda_handles.h"
#include "evaluator/input_set.h"
#include "gpu/gpu_test.h"

namespace ks {
namespace {

void expect_same_contents(const InputSet& got, const InputSet& want, const std::string& what) {
  for (auto& [name, hb] : want.host) {
    ASSERT_EQ(got.host.at(name).bytes, hb.bytes) << what << ": host " << name;
    const auto& buf = *got.device.at(name);
    const std::vector<std::byte> dev = download(buf.data(), buf.bytes());
    ASSERT_EQ(dev.size(), hb.bytes.size()) << what << ": device " << name;
    EXPECT_EQ(std::memcmp(dev.data(), hb.bytes.data(), dev.size()), 0) << what << ": device " << name;
  }
}

TEST(GpuInputSet, ARefilledSetKeepsItsKindAndDrawsTheNextSeed) {
  KS_REQUIRE_GPU();
  for (const Task* task : all_tasks()) {
    const Shape shape = gpu_test::shrunk(task->search_shapes().front());
    for (InputKind kind : {InputKind::hard, InputKind::random})
      for (bool ahead : {false, true}) {
        const std::string what = task->name() + (kind == InputKind::hard ? " hard" : " random") +
                                 (ahead ? ", prefetched" : ", on demand");
        InputSet set = InputSet::make(*task, shape, 21, kind);
        if (ahead) set.prefetch(*task, shape);
        for (int round = 0; round < 2; ++round) {
          const uint64_t before = set.seed;
          set.refill(*task, shape);
          EXPECT_NE(set.seed, before) << what;
          EXPECT_EQ(set.kind, kind) << what;
          expect_same_contents(set, InputSet::make(*task, shape, set.seed, kind), what);
        }
      }
  }
}

}  // namespace
}  // namespace ks
