#include "evaluator/evaluate.h"

#include <cmath>

#include "evaluator/checker.h"
#include "evaluator/cuda_handles.h"
#include "evaluator/input_set.h"
#include "evaluator/plan_instance.h"
#include "tasks/paths.h"
#include "tasks/random.h"

namespace ks {
namespace {

constexpr size_t kLtWorkspaceBytes = 32 << 20;

// A candidate compiled for one variant and, if that worked, loaded into the device.
struct Prepared {
  CompileResult compiled;
  std::optional<LoadedPlan> loaded;
  std::string load_error;
};

std::string first_lines(const std::string& log, int n) {
  std::string r;
  size_t pos = 0;
  for (int i = 0; i < n && pos < log.size(); ++i) {
    size_t e = log.find('\n', pos);
    if (e == std::string::npos) e = log.size();
    if (!r.empty()) r += " | ";
    r += log.substr(pos, e - pos);
    pos = e + 1;
  }
  return r;
}

}  // namespace

void check_shape(const Task& task, const Shape& shape) {
  for (auto& sym : task.size_symbols())
    if (!shape.count(sym)) throw Error(task.name() + ": shape has no size " + sym);
  Env env(shape.begin(), shape.end());
  for (auto& c : task.constraints())
    if (Expr::parse(c, task.name() + " constraint").eval(env) == 0)
      throw Error(task.name() + ": shape " + task.format_shape(shape) + " breaks the constraint " + c);
}

struct Evaluator::Impl {
  const Task& task;
  const Compiler& compiler;
  EvalOptions opts;
  DeviceInfo dev;
  Stream stream;
  LtHandle lt_handle;
  DeviceMemory lt_workspace;
  LtContext lt;
  std::unique_ptr<L2Flusher> flusher;
  Ceilings ceil;
  Candidate reference, baseline;
  Prepared reference_prep, baseline_prep;

  Impl(const Task& t, int device, const Compiler& c, EvalOptions o)
      : task(t), compiler(c), opts(o), dev(open_device(device)) {
    stream = make_stream();
    lt_handle = make_lt_handle();
    lt_workspace = DeviceMemory(kLtWorkspaceBytes);
    lt = {lt_handle.get(), lt_workspace.get(), kLtWorkspaceBytes};
    flusher = std::make_unique<L2Flusher>(dev.l2_bytes);
    ceil = measure_ceilings(lt, stream.get());
    reference = load_candidate((project_root() / task.reference_plan()).string());
    baseline = load_candidate((project_root() / task.baseline_plan()).string());
    for (auto* cand : {&reference, &baseline}) {
      validate_plan(cand->plan, task);
      Prepared p = std::move(prepare(*cand, {default_variant(cand->plan.params)}).front());
      if (!p.loaded)
        throw Error(cand->origin + " does not compile or load: " +
                    (p.load_error.empty() ? p.compiled.log : p.load_error));
      (cand == &reference ? reference_prep : baseline_prep) = std::move(p);
    }
  }

  std::vector<Prepared> prepare(const Candidate& c, const std::vector<Variant>& variants) {
    std::vector<CompileRequest> reqs;
    for (auto& v : variants) reqs.push_back({c.source, c.origin, v, dev.arch});
    std::vector<Prepared> out;
    auto results = compiler.compile_all(reqs);
    for (size_t i = 0; i < variants.size(); ++i) {
      Prepared p{std::move(results[i]), std::nullopt, ""};
      if (p.compiled.ok) {
        try {
          p.loaded = LoadedPlan::load(c, variants[i], p.compiled);
        } catch (const CudaError& e) {
          if (e.sticky()) throw;
          (void)cudaGetLastError();
          p.load_error = e.what();
        } catch (const PlanError& e) {
          p.load_error = e.what();
        }
      }
      out.push_back(std::move(p));
    }
    return out;
  }

  std::vector<InputSet> make_sets(const Shape& shape) {
    std::vector<InputSet> sets;
    const uint64_t base = mix64(opts.seed ^ stream_seed(0, task.format_shape(shape)));
    for (int i = 0; i < opts.input_sets; ++i)
      sets.push_back(InputSet::make(task, shape, base + static_cast<uint64_t>(i),
                                    i % 2 == 1 ? InputKind::hard : InputKind::random));
    return sets;
  }

  // The GPU reference on every set, each checked on sampled elements against the CPU fp64
  // reference: if they disagree, ksearch itself is wrong and nothing it measures counts.
  void compute_reference(const Shape& shape, std::vector<InputSet>& sets) {
    PlanInstance ref(*reference_prep.loaded, task, shape, sets, DType::f32, lt,
                     dev.smem_per_block_optin);
    for (size_t i = 0; i < sets.size(); ++i) {
      ref.scramble_workspace();
      ref.poison_outputs();
      ref.enqueue(i, stream.get());
      KS_CUDA(cudaStreamSynchronize(stream.get()));
      sets[i].reference = ref.download_outputs();
      for (auto& [name, out] : sets[i].reference) {
        const size_t row = static_cast<size_t>(out.dims.back());
        for (int j = 0; j < 8; ++j) {
          size_t idx = static_cast<size_t>(uniform_at(stream_seed(sets[i].seed, "sample"), j) * out.count());
          double row_sq = 0;
          for (size_t k = idx - idx % row; k < idx - idx % row + row; ++k) row_sq += out.get(k) * out.get(k);
          double want = task.cpu_reference_at(shape, sets[i].host, name, static_cast<int64_t>(idx));
          double got = out.get(idx);
          if (!(std::abs(got - want) <= 1e-3 * std::sqrt(row_sq / row) + 1e-30))
            throw Error("the GPU reference (" + task.reference_plan().string() + ") gives " +
                        std::to_string(got) + " at " + name + "[" + std::to_string(idx) +
                        "] on " + task.format_shape(shape) + ", the CPU fp64 reference " +
                        std::to_string(want) + ": a ksearch bug, nothing measured counts");
        }
      }
    }
  }

  // Checks on every set; the first failure decides.
  CheckOutcome check_all(PlanInstance& inst, std::vector<InputSet>& sets) {
    CheckOutcome worst;
    for (size_t i = 0; i < sets.size(); ++i) {
      CheckOutcome o = check_run(inst, sets[i], i, task, stream.get());
      if (o.status != Status::ok) return o;
      worst.max_scaled = std::max(worst.max_scaled, o.max_scaled);
      worst.rel_l2 = std::max(worst.rel_l2, o.rel_l2);
    }
    return worst;
  }

  TimedSide side(PlanInstance& inst) {
    return {[&inst, this](size_t set) { return inst.graph(set, stream.get()); },
            [&inst](cudaStream_t s) { inst.poison_outputs(s); }};
  }

  void evaluate_one(EvalRow& row, const Candidate& c, const Prepared& p, PlanInstance& base,
                    std::vector<InputSet>& sets) {
    const Env env = make_env(row.shape, row.variant);
    if (c.plan.applies && c.plan.applies->eval(env) == 0) {
      row.status = Status::not_applicable;
      return;
    }
    if (!p.compiled.ok) {
      row.status = Status::compile_error;
      row.error = first_lines(p.compiled.log, 3);
      return;
    }
    if (!p.loaded) {
      row.status = Status::launch_error;
      row.error = p.load_error;
      return;
    }
    row.resources = p.loaded->resources;
    std::unique_ptr<PlanInstance> inst;
    try {
      inst = std::make_unique<PlanInstance>(*p.loaded, task, row.shape, sets, std::nullopt, lt,
                                            dev.smem_per_block_optin);
    } catch (const CudaError& e) {
      if (e.sticky()) throw;
      (void)cudaGetLastError();
      row.status = Status::launch_error;
      row.error = e.what();
      return;
    } catch (const Error& e) {  // PlanError, ExprError: the plan asks for something impossible
      row.status = Status::launch_error;
      row.error = e.what();
      return;
    }
    CheckOutcome o = check_all(*inst, sets);
    row.status = o.status;
    row.error = o.error;
    row.max_scaled = o.max_scaled;
    row.rel_l2 = o.rel_l2;
    if (o.status != Status::ok || !opts.time) return;
    try {
      row.timing = time_pair(side(*inst), side(base), sets.size(), *flusher, stream.get(), opts.timer);
    } catch (const CudaError& e) {
      if (e.sticky()) throw;
      (void)cudaGetLastError();
      row.status = Status::launch_error;
      row.error = std::string("while timing: ") + e.what();
      return;
    }
    // A candidate that caches results across calls passes the checks but not this one.
    CheckOutcome last = verify_outputs(*inst, sets[row.timing->last_set], task);
    if (last.status != Status::ok) {
      row.status = last.status;
      row.error = "after the last timed replay: " + last.error;
    }
  }
};

Evaluator::Evaluator(const Task& task, int device, const Compiler& compiler, EvalOptions opts)
    : impl_(std::make_unique<Impl>(task, device, compiler, opts)) {}
Evaluator::~Evaluator() = default;

const DeviceInfo& Evaluator::device() const { return impl_->dev; }
const Ceilings& Evaluator::ceilings() const { return impl_->ceil; }

std::vector<EvalRow> Evaluator::evaluate(const Candidate& c, const std::vector<Variant>& variants,
                                         const std::vector<Shape>& shapes,
                                         const std::function<void(const EvalRow&)>& on_row) {
  Impl& I = *impl_;
  validate_plan(c.plan, I.task);
  for (auto& s : shapes) check_shape(I.task, s);
  std::vector<Prepared> prepared = I.prepare(c, variants);
  std::vector<EvalRow> rows;
  for (auto& shape : shapes) {
    std::vector<InputSet> sets = I.make_sets(shape);
    I.compute_reference(shape, sets);
    PlanInstance base(*I.baseline_prep.loaded, I.task, shape, sets, std::nullopt, I.lt,
                      I.dev.smem_per_block_optin);
    if (CheckOutcome b = I.check_all(base, sets); b.status != Status::ok)
      throw Error("the baseline " + I.baseline.origin + " fails on " + I.task.format_shape(shape) +
                  ": " + std::string(status_name(b.status)) + ": " + b.error);
    for (size_t v = 0; v < variants.size(); ++v) {
      EvalRow row;
      row.shape = shape;
      row.variant = variants[v];
      row.floor_us = I.ceil.floor_us(I.task.flops(shape), I.task.min_bytes(shape));
      try {
        I.evaluate_one(row, c, prepared[v], base, sets);
      } catch (const CudaError& e) {
        if (!e.sticky()) throw;
        row.status = Status::crash;
        row.error = e.what();
        rows.push_back(row);
        if (on_row) on_row(row);
        throw Error(std::string("the CUDA context is lost (") + e.what() +
                    "): the remaining evaluations were not run");
      }
      rows.push_back(row);
      if (on_row) on_row(row);
    }
  }
  return rows;
}

}  // namespace ks
