#include "evaluator/engine.h"

#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <map>
#include <random>

#include "base/paths.h"
#include "base/random.h"
#include "evaluator/checker.h"
#include "evaluator/cuda_handles.h"
#include "evaluator/fill.h"
#include "evaluator/input_set.h"
#include "evaluator/plan_instance.h"
#include "evaluator/replay_verifier.h"
#include "evaluator/skeleton.h"
#include "evaluator/step_profile.h"

namespace ks {
namespace {

constexpr size_t kLtWorkspaceBytes = 32 << 20;
constexpr size_t kMaxPreparedPlans = 512;  // loaded modules kept for reuse across shapes
// Shape fixtures kept, most recently used first: a search moves between a task's shapes, and
// rebuilding one (inputs, references, the CPU fp64 samples, the baseline check) takes about a
// second, several for a model's large weights. Bounded by count and by a quarter of the device's
// memory. The count holds a model's bucket grid (13 values of M for llama-3-8b): with 8, a search
// going round its 13 shapes (generation 0 does) rebuilt a fixture for every batch.
constexpr size_t kMaxFixtures = 16;
// A replay on inputs the candidate has not seen may take this much longer than its timed replays
// (p90) before the timed ones count as remembered, not computed: generous, since it is one sample.
constexpr double kFreshSlowdown = 2.0, kFreshSlackUs = 5.0;

// A candidate compiled for one variant and, if that worked, loaded into the device.
struct Prepared {
  CompileResult compiled;
  std::optional<LoadedPlan> loaded;
  std::string load_error;
};

// The reference and the baseline of a task, loaded once.
struct TaskPlans {
  std::unique_ptr<Candidate> reference, baseline;
  Prepared reference_prep, baseline_prep;
};

// Everything one shape needs before any candidate runs on it: input sets, their references, and
// the baseline, checked.
struct ShapeFixture {
  std::string key;
  size_t bytes = 0;  // device memory it holds, about
  Constants constants;  // what the references computed with, and every candidate gets
  std::vector<InputSet> sets;
  std::unique_ptr<PlanInstance> reference, baseline;
};

// Where an evaluation's time goes, printed to stderr per evaluation when KSEARCH_PROFILE is set
// (the worker's stderr is its supervisor's): for tuning ksearch itself, not candidates.
class PhaseClock {
 public:
  PhaseClock() : on_(std::getenv("KSEARCH_PROFILE") != nullptr), last_(std::chrono::steady_clock::now()) {}
  void mark(const char* phase) {
    if (!on_) return;
    const auto now = std::chrono::steady_clock::now();
    line_ += std::string(line_.empty() ? "" : " ") + phase + " " +
             std::to_string(std::chrono::duration<double, std::milli>(now - last_).count()).substr(0, 6) + " ms";
    last_ = now;
  }
  void print(const std::string& what) const {
    if (on_) std::fprintf(stderr, "[profile] %s: %s\n", what.c_str(), line_.c_str());
  }

 private:
  bool on_;
  std::chrono::steady_clock::time_point last_;
  std::string line_;
};

}  // namespace

struct EvalEngine::Impl {
  const Compiler& compiler;
  DeviceInfo dev;
  Stream stream;
  LtHandle lt_handle;
  DeviceMemory lt_workspace;
  LtContext lt;
  std::unique_ptr<L2Flusher> flusher;
  std::unique_ptr<DeviceFingerprint> fingerprint;  // proves inputs unchanged without downloads,
                                                   // where they cannot be mapped read-only
  std::unique_ptr<VerifyKernel> verify_kernel;
  // Initial contents and the timer's order, from a source no kernel can observe.
  InitialContents contents{std::random_device{}() ^ (uint64_t{std::random_device{}()} << 32)};
  std::optional<Ceilings> ceil;
  std::map<std::string, TaskPlans> task_plans;
  std::map<std::string, std::unique_ptr<Candidate>> candidates;  // by origin and source
  std::map<std::string, Prepared> prepared;                        // by candidate and variant
  std::list<std::unique_ptr<ShapeFixture>> fixtures;  // most recently used first

  Impl(int device, const Compiler& c) : compiler(c), dev(open_device(device)) {
    stream = make_stream();
    lt_handle = make_lt_handle();
    lt_workspace = DeviceMemory(kLtWorkspaceBytes);
    lt = {lt_handle.get(), lt_workspace.get(), kLtWorkspaceBytes};
    flusher = std::make_unique<L2Flusher>(compiler, dev.arch, dev.sms, dev.l2_bytes);
    if (!read_only_inputs_supported())
      fingerprint = std::make_unique<DeviceFingerprint>(compiler, dev.arch, dev.sms);
    verify_kernel = std::make_unique<VerifyKernel>(compiler, dev.arch, dev.sms);
  }

  Prepared prepare(const Candidate& c, const Variant& v) {
    Prepared p{compiler.compile(compile_request(c, v, dev.arch)), std::nullopt, ""};
    if (!p.compiled.ok) return p;
    try {
      p.loaded = LoadedPlan::load(c, v, p.compiled);
    } catch (const CudaError& e) {
      if (e.sticky()) throw;
      (void)cudaGetLastError();
      p.load_error = e.what();
    } catch (const PlanError& e) {
      p.load_error = e.what();
    }
    return p;
  }

  const TaskPlans& plans_of(const Task& task) {
    auto it = task_plans.find(task.name());
    if (it != task_plans.end()) return it->second;
    TaskPlans tp;
    tp.reference = std::make_unique<Candidate>(load_candidate((project_root() / task.reference_plan()).string()));
    tp.baseline = std::make_unique<Candidate>(load_candidate((project_root() / task.baseline_plan()).string()));
    for (auto* cand : {tp.reference.get(), tp.baseline.get()}) {
      validate_plan(cand->plan, task);
      Prepared p = prepare(*cand, default_variant(cand->plan.params));
      if (!p.loaded)
        throw Error(cand->origin + " does not compile or load: " +
                    (p.load_error.empty() ? p.compiled.log : p.load_error));
      (cand == tp.reference.get() ? tp.reference_prep : tp.baseline_prep) = std::move(p);
    }
    return task_plans.emplace(task.name(), std::move(tp)).first->second;
  }

  const Candidate& candidate_of(const EvalRequest& req, const Task& task) {
    const std::string key = req.origin + '\0' + req.source;
    auto& slot = candidates[key];
    if (!slot) {
      slot = std::make_unique<Candidate>(parse_candidate(req.source, req.origin));
      validate_plan(slot->plan, task);
    }
    return *slot;
  }

  const Prepared& prepared_of(const EvalRequest& req, const Candidate& c) {
    const std::string key = req.origin + '\0' + req.source + '\0' + format_variant(req.variant);
    auto it = prepared.find(key);
    if (it != prepared.end()) return it->second;
    if (prepared.size() >= kMaxPreparedPlans) prepared.clear();
    return prepared.emplace(key, prepare(c, req.variant)).first->second;
  }

  // Runs the reference on set i into set.reference, then checks two sampled rows against the
  // CPU fp64 reference: if they disagree, ksearch itself is wrong and nothing it measures counts.
  void compute_reference(const Task& task, const Shape& shape, const Constants& constants, PlanInstance& ref,
                         InputSet& set, size_t i) {
    ref.scramble_workspace();
    ref.poison_outputs();
    ref.enqueue(i, stream.get());
    KS_CUDA(cudaStreamSynchronize(stream.get()));
    set.reference = ref.download_outputs();
    for (auto& [name, out] : set.reference) {
      const size_t row = static_cast<size_t>(out.dims.back()), rows = out.count() / row;
      for (int j = 0; j < 2; ++j) {
        const size_t r = static_cast<size_t>(uniform_at(stream_seed(set.seed, "sample"), j) * rows);
        const auto want = task.cpu_reference_row(shape, constants, set.host, name, static_cast<int64_t>(r));
        double row_sq = 0;
        for (double w : want) row_sq += w * w;
        const double tol = 1e-3 * std::sqrt(row_sq / row) + 1e-30;
        for (size_t k = 0; k < row; ++k) {
          const double got = out.get(r * row + k);
          if (!(std::abs(got - want[k]) <= tol))
            throw Error("the GPU reference (" + task.reference_plan().string() + ") gives " +
                        std::to_string(got) + " at " + name + " row " + std::to_string(r) +
                        " element " + std::to_string(k) + " on " + task.format_shape(shape) +
                        ", the CPU fp64 reference " + std::to_string(want[k]) +
                        ": a ksearch bug, nothing measured counts");
        }
      }
    }
  }

  ShapeFixture& fixture_of(const Task& task, const Shape& shape, const EvalSettings& s) {
    // The references depend on the constants: a fixture serves only requests with the same ones.
    const Constants constants = resolve_constants(task, s.constants);
    std::string key = task.name() + ":" + task.format_shape(shape) + ":" + std::to_string(s.seed) + ":" +
                      std::to_string(s.input_sets);
    for (auto& [name, value] : constants) {
      char exact[40];
      std::snprintf(exact, sizeof exact, "%a", value);  // every bit of the value
      key += ":" + name + "=" + exact;
    }
    for (auto it = fixtures.begin(); it != fixtures.end(); ++it)
      if ((*it)->key == key) {
        fixtures.splice(fixtures.begin(), fixtures, it);
        return *fixtures.front();
      }
    // Inputs per set, the f32 reference's and the baseline's outputs and workspace: about.
    size_t in_bytes = 0, out_bytes = 0;
    for (auto& b : task.buffers()) {
      const size_t n = static_cast<size_t>(task.elements_of(b, shape));  // checked: no overflow
      (b.role == Role::in ? in_bytes : out_bytes) += n * 4;
    }
    const size_t bytes = static_cast<size_t>(s.input_sets) * (in_bytes + out_bytes) + 2 * out_bytes;
    size_t held = bytes;
    for (auto& f : fixtures) held += f->bytes;
    // Free the least recently used first, so a new shape never needs two shapes' memory.
    while (!fixtures.empty() && (fixtures.size() >= kMaxFixtures || held > dev.global_mem / 4)) {
      held -= fixtures.back()->bytes;
      fixtures.pop_back();
    }
    auto fx = std::make_unique<ShapeFixture>();
    fx->key = key;
    fx->bytes = bytes;
    fx->constants = constants;
    const uint64_t base = mix64(s.seed ^ stream_seed(0, task.format_shape(shape)));
    for (int i = 0; i < s.input_sets; ++i)
      fx->sets.push_back(InputSet::make(task, shape, base + static_cast<uint64_t>(i),
                                        i % 2 == 1 ? InputKind::hard : InputKind::random,
                                        fingerprint.get()));
    const TaskPlans& tp = plans_of(task);
    fx->reference = std::make_unique<PlanInstance>(*tp.reference_prep.loaded, task, shape, constants, fx->sets,
                                                   DType::f32, lt, device_facts(dev));
    for (size_t i = 0; i < fx->sets.size(); ++i)
      compute_reference(task, shape, constants, *fx->reference, fx->sets[i], i);
    fx->baseline = std::make_unique<PlanInstance>(*tp.baseline_prep.loaded, task, shape, constants, fx->sets,
                                                  std::nullopt, lt, device_facts(dev));
    if (CheckOutcome b = check_all(task, *fx->baseline, fx->sets, nullptr, nullptr); b.status != Status::ok)
      throw Error("the baseline " + tp.baseline->origin + " fails on " + task.format_shape(shape) +
                  ": " + std::string(status_name(b.status)) + ": " + b.error);
    // Each evaluation refills one set with fresh inputs after timing: generate them ahead.
    for (InputSet& set : fx->sets) set.prefetch(task, shape);
    fixtures.push_front(std::move(fx));
    return *fixtures.front();
  }

  // Checks on every set (the first failure decides); set 0 runs twice and its two outputs are
  // compared bit for bit. Each passing set's outputs are kept for the timer's verification.
  CheckOutcome check_all(const Task& task, PlanInstance& inst, std::vector<InputSet>& sets,
                         bool* nondeterministic, ReplayVerifier* verifier) {
    CheckOutcome worst;
    for (size_t i = 0; i < sets.size(); ++i) {
      CheckOutcome o = check_run(inst, sets[i], i, task, stream.get(), contents);
      if (o.status != Status::ok) return o;
      worst.max_scaled = std::max(worst.max_scaled, o.max_scaled);
      worst.rel_l2 = std::max(worst.rel_l2, o.rel_l2);
      if (verifier) verifier->keep(i, stream.get());
      if (i == 0 && nondeterministic) {
        HostBuffers first = inst.download_outputs();
        CheckOutcome again = check_run(inst, sets[0], 0, task, stream.get(), contents);
        if (again.status != Status::ok) return again;
        HostBuffers second = inst.download_outputs();
        for (auto& [name, b] : first) *nondeterministic |= b.bytes != second.at(name).bytes;
      }
    }
    return worst;
  }

  // Before each replay: outputs and workspace get new initial contents.
  TimedSide side(PlanInstance& inst) {
    return {[&inst, this](size_t set) { return inst.graph(set, stream.get()); },
            [&inst, this](cudaStream_t s) {
              inst.poison_outputs(contents.output(), s);
              inst.scramble_workspace(contents.workspace(), s);
            }};
  }

  // A candidate that caches results across calls (by buffer address, say) passes the checks;
  // after timing, the last set gets new contents at the same addresses and the captured graph
  // is replayed once more, timed and checked. A replay on unseen inputs far slower than the timed
  // ones means the timed ones were remembered (by contents, say), not computed: implausible.
  CheckOutcome check_fresh_inputs(const Task& task, const Shape& shape, ShapeFixture& fx,
                                  PlanInstance& inst, size_t set, const PairTiming& timing) {
    fx.sets[set].refill(task, shape);
    compute_reference(task, shape, fx.constants, *fx.reference, fx.sets[set], set);
    const double fresh_us = time_one(side(inst), set, *flusher, stream.get());
    CheckOutcome o = verify_outputs(inst, fx.sets[set], task);
    const double limit = kFreshSlowdown * timing.candidate.p90_us + kFreshSlackUs;
    if (o.status == Status::ok && fresh_us > limit) {
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "a replay on inputs it had not seen took %.1f us, its timed replays %.1f us "
                    "(median; limit %.1f us): the timed results were remembered, not computed",
                    fresh_us, timing.candidate.median_us, limit);
      return {Status::implausible, buf};
    }
    return o;
  }

  void evaluate(EvalResult& row, const Task& task, const EvalRequest& req, const Prepared& p,
                ShapeFixture& fx, PhaseClock& clock) {
    if (!p.compiled.ok) {
      row.status = Status::compile_error;
      row.error = log_head(p.compiled.log);
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
      inst = std::make_unique<PlanInstance>(*p.loaded, task, row.shape, fx.constants, fx.sets, std::nullopt, lt,
                                            device_facts(dev));
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
    clock.mark("instance");
    ReplayVerifier verifier(*verify_kernel, *inst, fx.sets.size());
    CheckOutcome o = check_all(task, *inst, fx.sets, &row.nondeterministic, &verifier);
    clock.mark("check");
    row.status = o.status;
    row.error = o.error;
    row.max_scaled = o.max_scaled;
    row.rel_l2 = o.rel_l2;
    if (o.status != Status::ok || !req.settings.time) return;
    if (row.nondeterministic) {
      // Two runs may differ within the tolerance, each of them from the reference.
      std::vector<const HostBuffers*> refs;
      for (auto& set : fx.sets) refs.push_back(&set.reference);
      verifier.use_tolerance(refs, 2 * task.tolerance().max_scaled);
    }
    TimedSide candidate = side(*inst);
    candidate.verify = [&verifier](size_t set, cudaStream_t s) { verifier.enqueue(set, s); };
    try {
      row.timing = time_pair(candidate, side(*fx.baseline), fx.sets.size(), *flusher, stream.get(),
                             req.settings.timer, contents.draw());
    } catch (const CudaError& e) {
      if (e.sticky()) throw;
      (void)cudaGetLastError();
      row.status = Status::launch_error;
      row.error = std::string("while timing: ") + e.what();
      return;
    }
    clock.mark("time");
    if (const uint64_t bad = verifier.mismatches()) {
      row.status = Status::wrong;
      row.error = "timed replays gave other outputs than the checks of the same inputs: " +
                  std::to_string(bad) + " elements differ over " + std::to_string(row.timing->replays) +
                  " replays (" + (row.nondeterministic ? "beyond the tolerance" : "bit for bit") + ")";
      return;
    }
    CheckOutcome last = verify_outputs(*inst, fx.sets[row.timing->last_set], task);
    clock.mark("verify_last");
    if (last.status == Status::ok)
      last = check_fresh_inputs(task, row.shape, fx, *inst, row.timing->last_set, *row.timing);
    clock.mark("fresh_inputs");
    if (last.status != Status::ok) {
      row.status = last.status;
      row.error = "after timing: " + last.error;
      return;
    }
    if (inst->bound(0).step_count() > 1) {
      row.steps = time_steps(*inst, side(*inst), fx.sets.size(), *flusher, stream.get());
      clock.mark("steps");
    }
    if (req.settings.skeleton) {
      time_skeleton(row, task, req, *p.loaded, fx);
      clock.mark("skeleton");
    }
  }

  // The plan's launch skeleton (skeleton.h) on the row's shape, timed as the plan was: its own
  // graphs over the same input sets, poisoned and flushed before each replay, interleaved with
  // the baseline, medians. Whatever fails is the row's skeleton_error, never its status; only a
  // sticky error (the context is lost) goes on.
  void time_skeleton(EvalResult& row, const Task& task, const EvalRequest& req, const LoadedPlan& real,
                     ShapeFixture& fx) {
    try {
      const Skeleton skeleton = Skeleton::load(compiler, real, dev.arch);
      PlanInstance inst(skeleton.loaded(), task, row.shape, fx.constants, fx.sets, std::nullopt, lt,
                        device_facts(dev));
      const PairTiming t = time_pair(side(inst), side(*fx.baseline), fx.sets.size(), *flusher, stream.get(),
                                     req.settings.timer, contents.draw());
      row.skeleton_us = t.candidate.median_us;
    } catch (const CudaError& e) {
      if (e.sticky()) throw;
      (void)cudaGetLastError();
      row.skeleton_error = e.what();
    } catch (const Error& e) {  // SkeletonError, PlanError, ExprError
      row.skeleton_error = e.what();
    }
  }
};

EvalEngine::EvalEngine(int device, const Compiler& compiler)
    : impl_(std::make_unique<Impl>(device, compiler)) {}
EvalEngine::~EvalEngine() = default;

const DeviceInfo& EvalEngine::device() const { return impl_->dev; }

const Ceilings& EvalEngine::ceilings() {
  if (!impl_->ceil) impl_->ceil = measure_ceilings(impl_->lt, impl_->stream.get());
  return *impl_->ceil;
}

EvalResult EvalEngine::run(const EvalRequest& req, const std::function<void()>& on_candidate_start) {
  Impl& I = *impl_;
  const Task* task = find_task(req.task);
  if (!task) throw Error("unknown task '" + req.task + "'");
  try {  // a bad constant is the request's fault, on any shape
    resolve_constants(*task, req.settings.constants);
  } catch (const Error& e) {
    throw Error(std::string("the request's constant ") + e.what());
  }
  EvalResult row;
  row.shape = req.shape;
  row.variant = req.variant;
  const Candidate& c = I.candidate_of(req, *task);
  if (!plan_applies(c.plan, req.shape, req.variant, device_facts(I.dev))) {
    row.status = Status::not_applicable;
    return row;
  }
  PhaseClock clock;
  const Prepared& p = I.prepared_of(req, c);
  clock.mark("load");
  ShapeFixture& fx = I.fixture_of(*task, req.shape, req.settings);
  clock.mark("fixture");
  if (on_candidate_start) on_candidate_start();
  // From here on the candidate runs: whatever fails is its row (a sticky CUDA error is rethrown:
  // the process must end). Even a non-sticky error may leave state behind, so the row is a crash
  // and the worker restarts after it.
  try {
    I.evaluate(row, *task, req, p, fx, clock);
  } catch (const std::exception& e) {
    if (auto* cuda = dynamic_cast<const CudaError*>(&e); cuda && cuda->sticky()) throw;
    (void)cudaGetLastError();
    row.status = Status::crash;
    row.error = std::string("while the candidate ran: ") + e.what();
  }
  clock.print(task->format_shape(req.shape) + " " + format_variant(req.variant));
  return row;
}

}  // namespace ks
