#include "agent/search/driver.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/random.h"
#include "db/recorded_constants.h"
#include "evaluator/json_text.h"
#include "evaluator/row_json.h"

namespace ks {
namespace {

using Clock = std::chrono::steady_clock;

// Candidates of one shape that one GPU evaluates in a row.
struct Batch {
  std::string shape;
  std::vector<size_t> members;
  // Parallel to members: the operator that proposed each, and the speedup it had to beat on the
  // shape to pay off (its parents' best there; with no parent, the shape's best).
  std::vector<std::string> ops;
  std::vector<double> to_beat;

  void add(size_t member, const std::string& op, double beat) {
    members.push_back(member);
    ops.push_back(op);
    to_beat.push_back(beat);
  }
};

// n points of the space: all of it when it has no more, else the default and n - 1 others drawn
// at random.
std::vector<Variant> sample_variants(const std::vector<Param>& params, int n, Rng& rng) {
  double size = 1;
  for (const Param& p : params) size *= static_cast<double>(p.values.size());
  if (size <= n) return enumerate_variants(params);
  std::vector<Variant> out = {default_variant(params)};
  std::set<std::string> seen = {format_variant(out[0])};
  for (int tries = 0; static_cast<int>(out.size()) < n && tries < 100 * n; ++tries) {
    Variant v;
    for (const Param& p : params)
      v.emplace_back(p.name, p.values[std::uniform_int_distribution<size_t>(0, p.values.size() - 1)(rng)]);
    if (seen.insert(format_variant(v)).second) out.push_back(std::move(v));
  }
  return out;
}

EvaluationRecord to_record(const EvalResult& row, int64_t candidate_id, int64_t run_id,
                           const std::string& device, const std::string& shape,
                           const EvalSettings& settings, double seconds) {
  EvaluationRecord e;
  e.candidate_id = candidate_id;
  e.run_id = run_id;
  e.device = device;
  e.shape = shape;
  e.status = row.status;
  e.error = row.error;
  e.nondeterministic = row.nondeterministic;
  if (row.timing) {
    e.median_us = row.timing->candidate.median_us;
    e.p10_us = row.timing->candidate.p10_us;
    e.p90_us = row.timing->candidate.p90_us;
    e.baseline_us = row.timing->baseline.median_us;
    e.speedup = row.timing->speedup;
  }
  if (row.floor_us > 0) e.floor_us = row.floor_us;
  if (row.status == Status::ok || row.status == Status::wrong) {
    e.max_scaled_error = row.max_scaled;
    e.rel_l2_error = row.rel_l2;
  }
  if (!row.resources.empty()) {
    int64_t regs = 0, smem = 0, spills = 0;
    for (const KernelResources& k : row.resources) {
      regs = std::max<int64_t>(regs, k.registers);
      smem = std::max<int64_t>(smem, k.static_smem_bytes);
      spills += k.spill_store_bytes + k.spill_load_bytes;
    }
    e.registers = regs;
    e.smem_bytes = smem;
    e.spill_bytes = spills;
    e.resources = json_text(to_json(row.resources));  // as the worker protocol writes it
  }
  if (!row.steps.empty()) e.steps = to_json(row.steps).dump();
  e.seed = static_cast<int64_t>(settings.seed);
  e.constants = constants_json(settings.constants);
  e.seconds = seconds;
  e.created_at = unix_now();
  return e;
}

}  // namespace

struct SearchDriver::Impl {
  Archive& archive;
  RunRecord& run;
  std::vector<DeviceEvaluator*> devices;
  SearchOptions opt;
  std::vector<WeightedOperator> ops;
  const Task& task;
  std::string device_name;

  Population pop;
  Rng rng;
  // What the search knows of one search shape.
  struct ShapeState {
    std::string text;                       // "M=16,K=4096,N=6144": the key everywhere
    Shape shape;
    std::optional<double> floor_us, baseline_us;
    bool exhausted = false;                 // no operator found anything new here
  };
  std::vector<ShapeState> shapes;           // in the task's order
  std::map<std::string, size_t> shape_index;
  std::deque<Batch> seed_batches;          // generation 0, not yet handed out
  OperatorWeights weights;                 // of the parameter operators
  std::unique_ptr<LlmProposals> llm;       // with an LLM endpoint
  std::deque<LlmChild> llm_ready;          // the LLM's children, to evaluate first

  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;  // batches handed out and not finished
  int running = 0;    // evaluations under way
  std::atomic<bool> budget_hit{false}, failed{false};
  const std::atomic<bool>* stop = nullptr;
  std::exception_ptr failure;
  std::function<void(const SearchProgress&)> on_progress;

  SearchProgress progress;
  Clock::time_point session_start;
  double base_seconds = 0;
  struct Improvement {
    double seconds;
    std::string shape;
    double speedup;
  };
  std::vector<Improvement> improvements;

  Impl(Archive& a, RunRecord& r, std::vector<DeviceEvaluator*> d, SearchOptions o,
       std::vector<WeightedOperator> w)
      : archive(a), run(r), devices(std::move(d)), opt(std::move(o)), ops(std::move(w)),
        task(*find_task(r.task)), device_name(r.device) {
    // Every row records them whole: the defaults written out too.
    opt.eval.constants = resolve_constants(task, opt.eval.constants);
    for (const Shape& s : opt.shapes) {
      shape_index[task.format_shape(s)] = shapes.size();
      shapes.push_back({task.format_shape(s), s, std::nullopt, std::nullopt, false});
    }
    if (!devices.empty()) pop.device = device_facts(devices.front()->device());  // one GPU model
    base_seconds = run.active_seconds;
    progress.run_id = run.id;
    progress.evals = archive.run_evaluations(run.id);
    // Resuming draws differently from where the stop left off, yet repeatably.
    rng.seed(mix64(run.seed ^ static_cast<uint64_t>(progress.evals) * 0x9E3779B97F4A7C15ull));
    for (auto& w : ops) weights.add(w.op->name(), w.weight);
    add_seeds();
    load_archive();
    queue_unevaluated_llm_children();
    plan_generation_zero();
    if (opt.llm) {
      llm = opt.llm(archive, run.id, [this] {
        std::lock_guard lock(mu);
        cv.notify_all();
      });
      progress.llm = true;
      progress.llm_tokens = llm->tokens();
    }
  }

  void add_seeds() {
    for (auto& s : opt.seeds) pop.add_source(s);
  }

  // Every candidate of the task in the archive, with its results on this GPU model.
  void load_archive() {
    std::map<int64_t, size_t> source_at, member_at;
    for (const SourceRecord& s : archive.sources(task.name())) {
      try {
        auto c = std::make_shared<const Candidate>(parse_candidate(s.text, s.name + " (archive source " + std::to_string(s.id) + ")"));
        task_of(*c);
        source_at[s.id] = pop.add_source(std::move(c), s.id);
      } catch (const Error&) {
        // A source this ksearch no longer accepts (its plan rules changed): left out.
      }
    }
    for (const CandidateRecord& c : archive.candidates(task.name())) {
      auto src = source_at.find(c.source_id);
      if (src == source_at.end()) continue;
      Member m;
      m.id = c.id;
      m.key = c.key;
      m.source = src->second;
      try {
        m.variant = parse_variant(c.params, pop.sources()[src->second].candidate->plan.params);
      } catch (const Error&) {
        continue;
      }
      m.origin = c.origin;
      m.label = c.label;
      m.parents = c.parents;
      m.generation = c.generation;
      member_at[c.id] = pop.add_member(std::move(m));
      progress.generation = std::max(progress.generation, c.generation);
    }
    for (const EvaluationRecord& e : archive.evaluations(task.name(), device_name)) {
      auto m = member_at.find(e.candidate_id);
      if (m == member_at.end()) continue;
      const Status status = e.status;
      pop.members()[m->second].results[e.shape] = e;
      if (ShapeState* st = state_of(e.shape)) {
        if (e.floor_us) st->floor_us = e.floor_us;
        if (e.baseline_us) st->baseline_us = e.baseline_us;
      }
      if (status == Status::ok && e.speedup && *e.speedup > progress.best[e.shape]) {
        progress.best[e.shape] = *e.speedup;
        improvements.push_back({0, e.shape, *e.speedup});  // known at the start
      }
    }
  }

  ShapeState* state_of(const std::string& text) {  // null for a shape that is not searched
    auto it = shape_index.find(text);
    return it == shape_index.end() ? nullptr : &shapes[it->second];
  }

  // The seeds' sampled variants on every shape, skipping what is known, in rounds: round k holds
  // each seed's k-th variant (its default first) on every shape in turn, so a short run (a model's
  // bucket grid has 13 shapes) measures every shape's seeds before it samples any shape further.
  void plan_generation_zero() {
    Rng seed_rng(mix64(run.seed ^ 0x5EEDull));  // the same sample on every resumption
    std::vector<std::vector<size_t>> rounds;     // rounds[k]: each seed's k-th variant
    for (auto& s : opt.seeds) {
      const size_t si = *pop.find_source(source_hash(s->source));
      size_t k = 0;
      for (Variant& v : sample_variants(s->plan.params, opt.seed_variants, seed_rng)) {
        Member m;
        m.key = candidate_key(pop.sources()[si].hash, v);
        m.source = si;
        m.variant = std::move(v);
        m.origin = "seed";
        m.label = s->origin;
        if (rounds.size() <= k) rounds.emplace_back();
        rounds[k++].push_back(pop.add_member(std::move(m)));
      }
    }
    const size_t per_batch = static_cast<size_t>(std::max(opt.batch, 1));
    for (const std::vector<size_t>& round : rounds)
      for (const ShapeState& st : shapes) {
        Batch b{st.text, {}, {}, {}};
        for (size_t m : round) {
          if (pop.known(m, st.text)) continue;
          b.members.push_back(m);
          if (b.members.size() == per_batch) {
            seed_batches.push_back(b);
            b.members.clear();
          }
        }
        if (!b.members.empty()) seed_batches.push_back(b);
      }
  }

  bool stopping() const { return stop->load() || budget_hit.load() || failed.load(); }

  // A shape to work on: weighted by how far its best time is from the roofline floor. The LLM
  // may work on shapes the parameter operators have exhausted.
  std::optional<std::string> pick_shape(bool include_exhausted = false) {
    std::vector<std::string> open;
    std::vector<double> gaps;
    for (const ShapeState& st : shapes) {
      if (!include_exhausted && st.exhausted) continue;
      const std::string& s = st.text;
      double gap = 1;  // nothing measured yet
      if (st.floor_us && *st.floor_us > 0) {
        if (auto best = pop.best_on(s); best && pop.members()[*best].results.at(s).median_us)
          gap = *pop.members()[*best].results.at(s).median_us / *st.floor_us - 1;
        else if (st.baseline_us)
          gap = *st.baseline_us / *st.floor_us - 1;
      }
      open.push_back(s);
      gaps.push_back(std::max(gap, 0.05));
    }
    if (open.empty()) return std::nullopt;
    return open[std::discrete_distribution<size_t>(gaps.begin(), gaps.end())(rng)];
  }

  // The speedup a child must beat on the shape to pay off.
  double to_beat(const std::vector<size_t>& parents, const std::string& shape) {
    if (parents.empty()) return progress.best.count(shape) ? progress.best[shape] : 0;
    double best = 0;
    for (size_t p : parents) best = std::max(best, pop.speedup_on(p, shape));
    return best;
  }

  // Fills the batch up to opt.batch new evaluations on its shape, from the operators drawn by
  // their adapted weights.
  void fill(Batch& b) {
    const int want = opt.batch - static_cast<int>(b.members.size());
    for (int tries = 0; static_cast<int>(b.members.size()) < opt.batch && tries < 25 * want; ++tries) {
      const std::string name = *weights.draw(rng);
      const Operator& op = *std::find_if(ops.begin(), ops.end(), [&](auto& w) { return w.op->name() == name; })->op;
      std::optional<Proposal> p = op.propose(pop, b.shape, rng);
      if (!p) continue;
      const std::string key = candidate_key(pop.sources()[p->source].hash, p->variant);
      if (std::optional<size_t> idx = pop.find(key); idx && pop.known(*idx, b.shape)) continue;
      const size_t idx = pop.add_child(p->source, std::move(p->variant), name,
                                       pop.sources()[p->source].candidate->origin, p->parents);
      pop.members()[idx].pending.insert(b.shape);
      b.add(idx, name, to_beat(p->parents, b.shape));
      ++progress.by_operator[name];
    }
  }

  // The LLM's replies so far become children; more calls start.
  void tend_llm() {
    if (!llm) return;
    for (const LlmChild& c : llm->take_children(pop)) adopt(c);
    check_token_budget();
    progress.notices = llm->take_notices();
    if (!progress.notices.empty() && on_progress) on_progress(progress);  // now: no evaluation may follow
    progress.notices.clear();
    std::map<std::string, double> floor_us, baseline_us;
    for (const ShapeState& st : shapes) {
      if (st.floor_us) floor_us[st.text] = *st.floor_us;
      if (st.baseline_us) baseline_us[st.text] = *st.baseline_us;
    }
    llm->set_shape_times(floor_us, baseline_us);
    if (!stopping()) llm->start_calls(pop, [this] { return pick_shape(true); }, rng);
  }

  // The LLM's children waiting on one shape, the rest of the batch filled by the other operators.
  std::optional<Batch> llm_batch() {
    if (llm_ready.empty()) return std::nullopt;
    Batch b{llm_ready.front().shape, {}, {}, {}};
    for (auto it = llm_ready.begin(); it != llm_ready.end() && static_cast<int>(b.members.size()) < opt.batch;) {
      if (it->shape != b.shape) {
        ++it;
        continue;
      }
      pop.members()[it->member].pending.insert(b.shape);
      b.add(it->member, it->op, to_beat(it->parents, b.shape));
      ++progress.by_operator[it->op];
      it = llm_ready.erase(it);
    }
    fill(b);
    return b;
  }

  std::optional<Batch> next_batch() {
    tend_llm();
    if (stopping()) return std::nullopt;
    if (std::optional<Batch> b = llm_batch()) return b;
    while (!seed_batches.empty()) {
      Batch b{seed_batches.front().shape, {}, {}, {}};
      for (size_t m : seed_batches.front().members)
        if (!pop.known(m, b.shape)) {
          pop.members()[m].pending.insert(b.shape);
          b.add(m, "seed", 0);
        }
      seed_batches.pop_front();
      if (!b.members.empty()) return b;
    }
    while (auto shape = pick_shape()) {
      Batch b{*shape, {}, {}, {}};
      fill(b);
      if (!b.members.empty()) return b;
      state_of(*shape)->exhausted = true;
    }
    return std::nullopt;
  }

  // An LLM reply may still bring a child.
  bool llm_waiting() const { return llm && llm->waiting(); }

  // The token budget ends the run like the others, once the children of the calls it paid for
  // are evaluated.
  void check_token_budget() {
    if (llm && llm->spent() && !llm->waiting()) budget_hit = true;
  }

  // A batch, or nothing when none is left and no other GPU's results could make new ones.
  std::optional<Batch> next_batch_or_wait(std::unique_lock<std::mutex>& lock) {
    for (;;) {
      std::optional<Batch> b = next_batch();
      if (b || stopping() || (in_flight == 0 && !llm_waiting())) return b;
      if (llm && llm->replies_ready()) continue;  // answered as they were asked (a replay): no wake will come
      cv.wait(lock);
    }
  }

  // Whether one more evaluation may start (mu held): the evaluation budget counts those under
  // way on other GPUs, so a run never ends past it. When only those under way fill it, this waits
  // for them: one may turn out not applicable (not counted), and the run would end short of its
  // budget (with --devices, a Ctrl-C'd run resumed with --max-evals 24 stopped at 23).
  bool claim(std::unique_lock<std::mutex>& lock) {
    for (;;) {
      if (stopping()) return false;
      if (!opt.max_evals || progress.evals + running < *opt.max_evals) break;
      if (running == 0) {
        budget_hit = true;
        return false;
      }
      cv.wait(lock);  // an evaluation under way ends (device_loop notifies)
    }
    ++running;
    return true;
  }

  void release(const Batch& b) {  // mu held
    for (size_t m : b.members) pop.members()[m].pending.erase(b.shape);
    --in_flight;
    cv.notify_all();
  }

  double seconds_now() const {
    return base_seconds + std::chrono::duration<double>(Clock::now() - session_start).count();
  }

  // The member in the archive (its source too), once: at its first result, or as it arrives for
  // an LLM child, so that no paid-for reply is lost when a budget ends before it is evaluated.
  void store(size_t idx) {  // mu held
    Member& m = pop.members()[idx];
    if (m.id) return;
    const Source& src = pop.sources()[m.source];
    SourceRecord sr{0, src.hash, task.name(), src.candidate->plan.name, src.candidate->source,
                    src.candidate->source.find("#include <ks/") != std::string::npos};
    CandidateRecord cr;
    cr.key = m.key;
    cr.task = task.name();
    cr.params = format_variant(m.variant);
    cr.origin = m.origin;
    cr.parents = m.parents;
    cr.generation = m.generation;
    cr.label = m.label;
    cr.run_id = run.id;
    cr.created_at = unix_now();
    m.id = archive.add_candidate(sr, cr);
  }

  // An LLM child as it arrives: stored and linked to its call, then queued on the shape its call
  // was made for first and on every other search shape it is not known on (its plan's `applies`
  // decides where it runs, not the shape that prompted it).
  void adopt(const LlmChild& c) {  // mu held
    store(c.member);
    if (c.call_id) archive.set_llm_call_candidate(c.call_id, pop.members()[c.member].id);
    llm_ready.push_back(c);
    for (const ShapeState& st : shapes)
      if (st.text != c.shape && !pop.known(c.member, st.text))
        llm_ready.push_back({c.member, st.text, c.op, c.parents, c.call_id});
  }

  static bool from_llm(const Member& m) { return m.origin.rfind("llm_", 0) == 0; }

  // LLM candidates in the archive not yet evaluated on a search shape (a budget ended first):
  // evaluated before anything else.
  void queue_unevaluated_llm_children() {
    for (size_t i = 0; i < pop.members().size(); ++i) {
      const Member& m = pop.members()[i];
      if (!from_llm(m)) continue;
      for (const ShapeState& st : shapes)
        if (!pop.known(i, st.text)) llm_ready.push_back({i, st.text, m.origin, {}, 0});
    }
  }

  // LLM candidates by outcome: pending (a search shape still to evaluate), ok (on some shape),
  // not_applicable (on every shape), else the status of its first failure.
  std::map<std::string, int64_t> llm_outcomes() const {  // mu held
    std::set<size_t> waiting;
    for (const LlmChild& c : llm_ready) waiting.insert(c.member);
    std::map<std::string, int64_t> out;
    for (size_t i = 0; i < pop.members().size(); ++i) {
      const Member& m = pop.members()[i];
      if (!from_llm(m)) continue;
      std::string outcome = "not_applicable";
      for (auto& [shape, r] : m.results) {
        if (r.status == Status::ok) {
          outcome = "ok";
          break;
        }
        if (r.status != Status::not_applicable && outcome == "not_applicable") outcome = status_name(r.status);
      }
      if (outcome != "ok" && (waiting.count(i) || !m.pending.empty())) outcome = "pending";
      ++out[outcome];
    }
    return out;
  }

  // One result, in three steps: kept, learned from, reported.
  void record(const Batch& b, size_t i, const EvalResult& row, double seconds, int device) {  // mu held
    const EvaluationRecord& r = keep(b.members[i], b.shape, row, seconds);
    learn(b, i, row.status, r);
    report(b.members[i], b.shape, row, device);
  }

  // To the archive (the member first, if new), the population and the shape's times.
  const EvaluationRecord& keep(size_t idx, const std::string& shape, const EvalResult& row, double seconds) {
    Member& m = pop.members()[idx];
    store(idx);
    const EvaluationRecord rec = to_record(row, m.id, run.id, device_name, shape, opt.eval, seconds);
    archive.add_evaluation(rec);
    m.pending.erase(shape);
    ShapeState& st = *state_of(shape);
    if (row.timing) st.baseline_us = row.timing->baseline.median_us;
    if (row.floor_us > 0) st.floor_us = row.floor_us;
    return m.results[shape] = rec;
  }

  // What the result teaches: the operator's weight, the LLM's conversation, the best so far.
  void learn(const Batch& b, size_t i, Status status, const EvaluationRecord& r) {
    const size_t idx = b.members[i];
    const bool applicable = status != Status::not_applicable;
    const bool paid_off = status == Status::ok && r.speedup && *r.speedup > b.to_beat[i];
    if (applicable) weights.record(b.ops[i], paid_off);
    if (llm) llm->on_result(pop, idx, b.shape, paid_off, applicable);
    progress.seconds = seconds_now();
    if (r.speedup && status == Status::ok && *r.speedup > progress.best[b.shape]) {
      progress.best[b.shape] = *r.speedup;
      improvements.push_back({progress.seconds, b.shape, *r.speedup});
      for (ShapeState& st : shapes) st.exhausted = false;  // a new good candidate: migration and mutation have new ground
    }
  }

  // Counts and budgets, the run's record, and the progress callback.
  void report(size_t idx, const std::string& shape, const EvalResult& row, int device) {
    const Member& m = pop.members()[idx];
    progress.session_seconds = progress.seconds - base_seconds;
    if (row.status != Status::not_applicable) {
      ++progress.evals;
      ++progress.evals_this_session;
    }
    ++progress.by_status[std::string(status_name(row.status))];
    progress.generation = std::max(progress.generation, m.generation);
    run.active_seconds = progress.seconds;
    archive.update_run(run);
    if ((opt.max_evals && progress.evals >= *opt.max_evals) ||
        (opt.minutes && progress.seconds >= *opt.minutes * 60))
      budget_hit = true;
    progress.op_shares = weights.shares();
    if (llm) {
      for (auto& share : llm->operator_shares()) progress.op_shares.push_back(share);
      progress.llm_calls = llm->calls();
      progress.llm_tokens = llm->tokens();
      progress.llm_in_flight = llm->in_flight();
      check_token_budget();
    }
    progress.llm_candidates = llm_outcomes();
    progress.last = &m;
    progress.last_row = &row;
    progress.last_shape = shape;
    progress.last_device = device;
    if (on_progress) on_progress(progress);
    progress.last = nullptr;
    progress.last_row = nullptr;
  }

  // One GPU: evaluates a batch while the next ones (batches_ahead) prepare.
  void device_loop(DeviceEvaluator& dev) {
    std::deque<Batch> queue;  // handed out to this GPU, compiling; the front is evaluated next
    std::unique_lock lock(mu);
    try {
      for (;;) {
        while (queue.size() < dev.batches_ahead() + 1) {
          std::optional<Batch> b = queue.empty() ? next_batch_or_wait(lock) : next_batch();
          if (!b) break;
          ++in_flight;
          auto jobs = jobs_of(*b);
          queue.push_back(std::move(*b));
          lock.unlock();
          dev.prepare(jobs);
          lock.lock();
        }
        if (queue.empty()) break;
        const Batch& cur = queue.front();
        auto jobs = jobs_of(cur);
        lock.unlock();
        for (size_t i = 0; i < jobs.size(); ++i) {
          lock.lock();
          if (!claim(lock)) break;
          lock.unlock();
          const auto t0 = Clock::now();
          EvalResult row = dev.evaluate(jobs[i], state_of(cur.shape)->shape, opt.eval);
          const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
          lock.lock();
          --running;
          record(cur, i, row, seconds, dev.device().index);
          cv.notify_all();  // a GPU waiting in claim() for this one
          lock.unlock();
        }
        if (!lock.owns_lock()) lock.lock();
        release(queue.front());
        queue.pop_front();
      }
    } catch (...) {
      if (!lock.owns_lock()) lock.lock();
      if (!failure) failure = std::current_exception();
      failed = true;
    }
    for (const Batch& b : queue) release(b);
    cv.notify_all();
  }

  std::vector<EvalJob> jobs_of(const Batch& b) const {  // mu held
    std::vector<EvalJob> jobs;
    for (size_t m : b.members)
      jobs.push_back({pop.sources()[pop.members()[m].source].candidate, pop.members()[m].variant});
    return jobs;
  }

  std::vector<ShapeSummary> summarize() {
    std::vector<ShapeSummary> out;
    for (const ShapeState& st : shapes) {
      const std::string& s = st.text;
      ShapeSummary sum;
      sum.shape = s;
      sum.floor_us = st.floor_us.value_or(0);
      sum.baseline_us = st.baseline_us;
      for (size_t i = 0; i < pop.members().size(); ++i) {
        const Member& m = pop.members()[i];
        const double sp = pop.speedup_on(i, s);
        if (m.origin == "seed" && sp > 0 &&
            m.variant == default_variant(pop.sources()[m.source].candidate->plan.params) &&
            sp > sum.best_seed_default.value_or(0))
          sum.best_seed_default = sp;
      }
      if (auto best = pop.best_on(s)) {
        sum.best = best;
        sum.best_speedup = pop.speedup_on(*best, s);
        sum.best_us = pop.members()[*best].results.at(s).median_us;
        for (const Improvement& imp : improvements)
          if (imp.shape == s && imp.speedup >= 0.95 * *sum.best_speedup) {
            sum.seconds_to_95 = imp.seconds;
            break;
          }
      }
      out.push_back(sum);
    }
    return out;
  }
};

SearchDriver::SearchDriver(Archive& archive, RunRecord& run, std::vector<DeviceEvaluator*> devices,
                           SearchOptions options, std::vector<WeightedOperator> operators) {
  if (!find_task(run.task)) throw Error("unknown task '" + run.task + "'");
  if (devices.empty()) throw Error("a search needs at least one device");
  if (operators.empty()) throw Error("a search needs at least one operator");
  impl_ = std::make_unique<Impl>(archive, run, std::move(devices), std::move(options), std::move(operators));
}

SearchDriver::~SearchDriver() = default;

const Population& SearchDriver::population() const { return impl_->pop; }

SearchSummary SearchDriver::run(const std::atomic<bool>& stop,
                                const std::function<void(const SearchProgress&)>& on_progress) {
  Impl& I = *impl_;
  I.stop = &stop;
  I.on_progress = on_progress;
  I.session_start = Clock::now();
  I.run.state = "running";
  I.archive.update_run(I.run);
  if (I.opt.max_evals && I.progress.evals >= *I.opt.max_evals) I.budget_hit = true;
  if (I.opt.minutes && I.base_seconds >= *I.opt.minutes * 60) I.budget_hit = true;

  std::vector<std::thread> threads;
  for (DeviceEvaluator* d : I.devices) threads.emplace_back([&I, d] { I.device_loop(*d); });
  for (auto& t : threads) t.join();
  if (I.llm) {
    // Calls still in flight when a budget ends are paid for: their replies are awaited (one
    // attempt's timeout at most; not after Ctrl-C) and stored with those that arrived as the run
    // ended, for --resume to evaluate first.
    std::unique_lock lock(I.mu);
    const double wait_s = I.llm->call_timeout_s();
    const auto give_up = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(wait_s));
    if (I.llm->in_flight() > 0 && !stop.load() && I.on_progress) {
      I.progress.notices = {"waiting up to " + std::to_string(static_cast<int>(wait_s)) + " s for " +
                            std::to_string(I.llm->in_flight()) + " LLM call(s) in flight: their replies are kept"};
      I.on_progress(I.progress);
      I.progress.notices.clear();
    }
    for (;;) {
      for (const LlmChild& c : I.llm->take_children(I.pop)) I.adopt(c);
      if (I.llm->in_flight() == 0 || stop.load() || Clock::now() > give_up) break;
      I.cv.wait_for(lock, std::chrono::milliseconds(100));
    }
  }
  I.llm.reset();  // cancels the calls still in flight; not under the lock, which their threads take

  std::lock_guard lock(I.mu);
  I.progress.seconds = I.seconds_now();
  I.progress.session_seconds = I.progress.seconds - I.base_seconds;
  I.run.active_seconds = I.progress.seconds;
  SearchSummary sum;
  sum.stop_reason = I.failure ? "failed" : I.budget_hit ? "budget" : stop.load() ? "stopped" : "exhausted";
  I.run.state = sum.stop_reason;
  I.archive.update_run(I.run);
  if (I.failure) std::rethrow_exception(I.failure);
  I.progress.llm_candidates = I.llm_outcomes();
  sum.progress = I.progress;
  sum.shapes = I.summarize();
  return sum;
}

}  // namespace ks
