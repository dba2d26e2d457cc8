// The Hopper GEMM mainloop (ks/gemm_sm90.cuh, through seeds/gemm/wgmma_mainloop.cu) in each of its
// forms and with each hook, checked element by element against the gemm task's reference on
// ragged shapes: M, N and K not multiples of the tile (K = 1000 and 2056 end mid-slice, read as
// TMA zeros), and split-K with K ranges of unequal length. GpuSeeds samples the seed's space;
// this names every form, so none is left to the sample.
#include "evaluator/supervisor.h"
#include "gpu/gpu_test.h"
#include "base/paths.h"

namespace ks {
namespace {

TEST(GpuMainloop, EveryFormAndHookMatchesTheReferenceOnRaggedShapes) {
  KS_REQUIRE_GPU();
  Compiler compiler(Compiler::default_options());
  WorkerSupervisor runner(SupervisorOptions{{KSEARCH_BINARY, "worker", "--device", "0"}});
  EvalSettings settings;
  settings.seed = 77;
  settings.time = false;
  Candidate c = load_candidate((project_root() / "seeds" / "gemm" / "wgmma_mainloop.cu").string());
  const Task& task = task_of(c);
  // Few enough tiles that every split form applies (tiles * 2 <= the SM count).
  const std::vector<Shape> shapes = {task.parse_shape("M=200,K=1000,N=1000"), task.parse_shape("M=77,K=2056,N=520"),
                                     task.parse_shape("M=250,K=520,N=1000")};
  const char* forms[] = {
      "BM=128,BN=256,HOOKS=0",          "BM=128,BN=256,HOOKS=1",         "BM=128,BN=256,HOOKS=2",
      "BM=128,BN=128,SPLIT=2,HOOKS=0",  "BM=128,BN=128,SPLIT=2,HOOKS=2", "BM=128,BN=64,SPLIT=2,STAGES=6",
      "BM=64,BN=128,SPLIT=2,HOOKS=0",   "BM=64,BN=128,SPLIT=2,HOOKS=2",  "BM=64,BN=256,HOOKS=1",
      "BM=64,BN=256,SPLIT=2,STAGES=3",  "BM=64,BN=64,SPLIT=2,STAGES=6",  "BM=64,BN=64,HOOKS=2",
      "BM=128,BN=256,CLUSTER=2",        "BM=128,BN=128,CLUSTER=2,HOOKS=2",
      // TMA-store epilogue: the tile through swizzled shared memory, clipped at the ragged edges.
      "BM=128,BN=256,STAGES=3,TMA_STORE=1", "BM=128,BN=128,SPLIT=2,STAGES=3,HOOKS=2,TMA_STORE=1",
      "BM=64,BN=128,TMA_STORE=1",           "BM=128,BN=64,CLUSTER=2,STAGES=6,TMA_STORE=1",
      // Consumers on alternate K slices of one 64-row tile, summed through shared memory; with
      // an odd slice count per tile (K = 520: 9) the parity of each tile's first slice alternates.
      "BM=64,BN=64,STAGES=12,CONSUMER_K=1", "BM=64,BN=128,STAGES=3,HOOKS=1,CONSUMER_K=1",
      "BM=64,BN=64,CLUSTER=2,STAGES=8,CONSUMER_K=1", "BM=64,BN=128,STAGES=6,TMA_STORE=1,CONSUMER_K=1",
  };
  std::vector<Variant> variants;
  for (const char* f : forms) variants.push_back(parse_variant(f, c.plan.params));
  auto rows = evaluate_candidate(runner, compiler, c, variants, shapes, settings);
  ASSERT_EQ(rows.size(), variants.size() * shapes.size());
  for (auto& r : rows)
    EXPECT_EQ(r.status, Status::ok) << format_variant(r.variant) << " on " << task.format_shape(r.shape) << ": "
                                    << status_name(r.status) << ": " << r.error;
}

}  // namespace
}  // namespace ks
