#pragma once
// The evolutionary search of one task on one GPU model (one or several GPUs of one host).
//
// Generation 0 is the task's seeds, each one's parameter space sampled, evaluated in rounds over
// the shapes (every seed's default on every shape first). Then each step picks a
// shape, weighted towards the largest gap between its best time and the roofline floor, and asks
// the operators (drawn by weight) for a batch of children there: parents come by tournament
// among the candidates correct on that shape. A candidate is never evaluated twice on one shape
// and GPU model. Every result goes to the archive as it comes; a run stops at its budget, at
// Ctrl-C (after the evaluation in flight), or when no operator finds anything new, and resumes
// from the archive. Each GPU has a thread that evaluates one batch while the next compiles.
// Operators are drawn by weights that adapt to what paid off (operator_weights.h). With an LLM,
// its conversations run beside the GPU work (llm_proposals.h) and their children are evaluated
// first, the rest of their batch filled by the parameter operators, so the GPU never waits on it.
#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/search/device_evaluator.h"
#include "agent/search/llm_proposals.h"
#include "agent/search/operator_weights.h"
#include "agent/search/operators.h"
#include "db/archive.h"

namespace ks {

struct SearchOptions {
  std::vector<Shape> shapes;                            // the task's search shapes
  std::vector<std::shared_ptr<const Candidate>> seeds;  // origin: the seed's file
  std::optional<int64_t> max_evals;                     // evaluations of this run, in all
  std::optional<double> minutes;                        // searching time of this run, in all
  int batch = 4;                                        // children per step
  int seed_variants = 16;                               // variants of each seed in generation 0
  EvalSettings eval;                                    // eval.seed: the inputs' seed
  LlmProposalsFactory llm;                              // LLM proposals, when an endpoint is given
};

// Where a search stands; given to the progress callback after every result (last set), and when
// there are notices for the user (last null).
struct SearchProgress {
  int64_t run_id = 0;
  int64_t evals = 0;               // run on a GPU by this run (not_applicable ones excluded)
  int64_t evals_this_session = 0;  // since this process started
  double seconds = 0;              // searching time of this run, in all
  double session_seconds = 0;
  int generation = 0;              // the highest so far
  std::map<std::string, int64_t> by_status;   // this session's evaluations, by status
  std::map<std::string, int64_t> by_operator;  // children proposed this session
  std::vector<std::pair<std::string, double>> op_shares;  // operators' adapted weights, as shares
  bool llm = false;                                        // LLM proposals are on
  int64_t llm_calls = 0, llm_tokens = 0;                   // this session's calls; the run's tokens
  int llm_in_flight = 0;
  // LLM candidates (of this task in the archive) by outcome: ok, wrong, compile_error, ...,
  // not_applicable (on every search shape), pending (a search shape still to evaluate)
  std::map<std::string, int64_t> llm_candidates;
  std::vector<std::string> notices;  // lines for the user since the last progress (the LLM set aside...)
  std::map<std::string, double> best;          // shape text -> best speedup on this GPU model
  const Member* last = nullptr;                // the member just evaluated
  const EvalResult* last_row = nullptr;
  std::string last_shape;
  int last_device = 0;  // the CUDA device index that evaluated it (several with --devices)
};

struct ShapeSummary {
  std::string shape;
  double floor_us = 0;
  std::optional<double> baseline_us;
  std::optional<double> best_seed_default;  // best speedup of a seed at its default variant
  std::optional<size_t> best;               // member
  std::optional<double> best_speedup, best_us;
  std::optional<double> seconds_to_95;      // searching time until 95% of the final best speedup
};

struct SearchSummary {
  std::string stop_reason;  // budget | stopped | exhausted
  SearchProgress progress;
  std::vector<ShapeSummary> shapes;
};

class SearchDriver {
 public:
  // run: the archive's record of this run (new or resumed); its state and times are kept up to
  // date. The evaluators: one per GPU, all of one GPU model.
  SearchDriver(Archive& archive, RunRecord& run, std::vector<DeviceEvaluator*> devices,
               SearchOptions options, std::vector<WeightedOperator> operators = default_operators());
  ~SearchDriver();

  // Searches until a budget ends, `stop` becomes true (the evaluations in flight finish and are
  // recorded), or nothing new is left to try. Throws ks::Error for a fault of ksearch itself.
  SearchSummary run(const std::atomic<bool>& stop,
                    const std::function<void(const SearchProgress&)>& on_progress = {});

  const Population& population() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ks
