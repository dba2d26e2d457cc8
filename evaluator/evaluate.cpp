#include "evaluator/evaluate.h"

#include <cstdio>

#include "evaluator/cuda_check.h"

namespace ks {

void check_shape(const Task& task, const Shape& shape) {
  for (auto& sym : task.size_symbols())
    if (!shape.count(sym)) throw Error(task.name() + ": shape has no size " + sym);
  task.check_fits(shape);  // sizes kernels can take, buffers whose byte counts fit int64
  Env env(shape.begin(), shape.end());
  for (auto& c : task.constraints())
    if (Expr::parse(c, task.name() + " constraint").eval(env) == 0)
      throw Error(task.name() + ": shape " + task.format_shape(shape) + " breaks the constraint " + c);
}

EvalResult InProcessRunner::run(const EvalRequest& req) {
  if (!lost_.empty())
    throw Error("the CUDA context was lost by an earlier crash (" + lost_ +
                "): the remaining evaluations were not run; evaluate through the worker (the "
                "default) to carry on past crashes");
  try {
    return engine_.run(req);
  } catch (const CudaError& e) {
    if (!e.sticky()) throw;
    lost_ = e.what();
    EvalResult row;
    row.shape = req.shape;
    row.variant = req.variant;
    row.status = Status::crash;
    row.error = e.what();
    return row;
  }
}

EvalResult evaluate_variant(RowRunner& runner, const Task& task, const Candidate& c, const Variant& v,
                         const CompileResult& compiled, const Shape& shape, const EvalSettings& settings) {
  EvalResult row;
  if (!plan_applies(c.plan, shape, v, device_facts(runner.device()))) {
    row.status = Status::not_applicable;
  } else if (!compiled.ok) {
    row.status = Status::compile_error;
    row.error = log_head(compiled.log);
  } else {
    row = runner.run({task.name(), c.origin, c.source, v, shape, settings});
  }
  row.shape = shape;
  row.variant = v;
  row.floor_us = runner.ceilings().floor_us(task.flops(shape), task.min_bytes(shape));
  if (row.status == Status::ok && row.timing &&
      row.timing->candidate.median_us < (1 - kFloorNoiseMargin) * row.floor_us) {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "median %.2f us is below the roofline floor %.2f us (less the %.0f%% noise margin): "
                  "physically impossible, so an exploit or a broken floor, and not a result",
                  row.timing->candidate.median_us, row.floor_us, 100 * kFloorNoiseMargin);
    row.status = Status::implausible;
    row.error = buf;
  }
  return row;
}

std::vector<EvalResult> evaluate_candidate(RowRunner& runner, const Compiler& compiler,
                                        const Candidate& c, const std::vector<Variant>& variants,
                                        const std::vector<Shape>& shapes, const EvalSettings& settings,
                                        const std::function<void(const EvalResult&)>& on_row) {
  const Task* task = &task_of(c);
  for (auto& s : shapes) check_shape(*task, s);

  // Compile every variant here, on all cores: the runner then loads from the disk cache.
  std::vector<CompileRequest> reqs;
  for (auto& v : variants) reqs.push_back(compile_request(c, v, runner.device().arch));
  const std::vector<CompileResult> compiled = compiler.compile_all(reqs);

  std::vector<EvalResult> rows;
  for (auto& shape : shapes) {
    for (size_t v = 0; v < variants.size(); ++v) {
      rows.push_back(evaluate_variant(runner, *task, c, variants[v], compiled[v], shape, settings));
      if (on_row) on_row(rows.back());
    }
  }
  return rows;
}

}  // namespace ks
