// The fp32 GPU reference plan against the CPU fp64 reference, element by element, on small
// shapes with random and hard inputs, at the task's default constants and at others (eps=1e-5:
// both references must take the value given, and on the hard inputs' tiny rows it shows).
#include <cmath>

#include "base/paths.h"
#include "evaluator/checker.h"
#include "evaluator/cuda_handles.h"
#include "evaluator/device.h"
#include "evaluator/plan_instance.h"
#include "gpu/gpu_test.h"

namespace ks {
namespace {

TEST(GpuReference, MatchesCpuFp64OnSmallShapes) {
  KS_REQUIRE_GPU();
  const DeviceInfo dev = open_device(0);
  Compiler compiler(Compiler::default_options());
  for (const Task* task : all_tasks()) {
    Candidate ref = load_candidate((project_root() / task->reference_plan()).string());
    validate_plan(ref.plan, *task);
    Variant v = default_variant(ref.plan.params);
    CompileResult cr = compiler.compile(compile_request(ref, v, dev.arch));
    ASSERT_TRUE(cr.ok) << cr.log;
    LoadedPlan lp = LoadedPlan::load(ref, v, cr);
    LtHandle lt = make_lt_handle();
    DeviceMemory ws(32 << 20);
    Stream stream = make_stream();
    std::vector<Shape> shapes;
    for (auto& s : task->search_shapes()) shapes.push_back(gpu_test::shrunk(s));
    const Constants defaults = resolve_constants(*task, {});
    std::vector<std::pair<Constants, Shape>> cases;  // each shape at the defaults, then varied
    for (const Shape& shape : shapes)
      for (const Constants& c : {defaults, varied_constants(*task, defaults)}) cases.emplace_back(c, shape);
    for (const auto& [constants, shape] : cases) {
      std::vector<InputSet> sets;
      sets.push_back(InputSet::make(*task, shape, 11, InputKind::random));
      sets.push_back(InputSet::make(*task, shape, 12, InputKind::hard));
      PlanInstance inst(lp, *task, shape, constants, sets, DType::f32, {lt.get(), ws.get(), ws.size()},
                        device_facts(dev));
      for (size_t i = 0; i < sets.size(); ++i) {
        inst.poison_outputs();
        inst.scramble_workspace();
        inst.enqueue(i, stream.get());
        KS_CUDA(cudaStreamSynchronize(stream.get()));
        HostBuffers got = inst.download_outputs(), want;
        task->cpu_reference(shape, constants, sets[i].host, want);
        for (auto& [name, w] : want) {
          const HostBuffer& g = got.at(name);
          double err = 0, norm = 0;
          for (size_t e = 0; e < w.count(); ++e) {
            ASSERT_TRUE(std::isfinite(g.get(e))) << name << "[" << e << "] on " << task->format_shape(shape);
            err += (g.get(e) - w.get(e)) * (g.get(e) - w.get(e));
            norm += w.get(e) * w.get(e);
          }
          EXPECT_LT(std::sqrt(err / norm), 1e-5) << task->name() << " " << task->format_shape(shape)
                                                 << " " << format_constants(constants) << " set " << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace ks
