// Checking a parsed plan against its task: every name it uses must resolve, and no name may mean
// two things. Parsing cannot do this (it does not know the task); the runner relies on it, so it
// never meets an unknown name half-way through a launch.
#include <cctype>
#include <map>

#include "evaluator/plan.h"
#include "evaluator/text.h"

namespace ks {
namespace {

std::string join(const std::vector<std::string>& items) {
  if (items.empty()) return "none";
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string index_path(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

class PlanValidator {
 public:
  PlanValidator(const Plan& plan, const Task& task)
      : plan_(plan), task_(task), prefix_("plan '" + plan.name + "'") {}

  void run() {
    if (plan_.task != task_.name())
      fail("plan.task", "the plan is for task '" + plan_.task + "' but was given task '" +
                            task_.name() + "'");
    if (plan_.name.empty()) fail("plan.name", "must not be empty");
    // The task's own names; a task that reused one would be a bug of the task, not the plan.
    for (const auto& s : task_.size_symbols()) note(s, Kind::size, sizes_);
    for (const auto& b : task_.buffers()) note(b.name, Kind::buffer, buffers_);
    for (const auto& c : task_.constants()) note(c.name, Kind::constant, constants_);
    for (const char* d : kDeviceFactNames) note(d, Kind::device, device_);

    for (const Param& p : plan_.params) check_param(p);
    for (const auto& [name, e] : plan_.lets) {  // in order: a let sees the lets before it
      const std::string path = "plan.let." + name;
      if (!is_identifier(name)) fail(path, "let names must be C identifiers (they may become -D macros)");
      check_expr(e, path);
      define(name, Kind::let, lets_, path);
    }
    if (plan_.applies) check_expr(*plan_.applies, "plan.applies");
    for (const auto& [name, bytes] : plan_.workspace) {
      std::string path = "plan.workspace." + name;
      if (!is_identifier(name)) fail(path, "workspace names must be C identifiers");
      define(name, Kind::workspace, workspace_, path);
      check_expr(bytes, path);
    }
    for (const auto& [name, map] : plan_.tensor_maps) check_tensor_map(name, map);
    if (plan_.steps.empty()) fail("plan.steps", "the plan has no steps");
    for (size_t i = 0; i < plan_.steps.size(); ++i) {
      std::string path = index_path("plan.steps", i);
      if (auto* k = std::get_if<KernelStep>(&plan_.steps[i].op)) {
        // Step 0's predecessor is not the plan's: whatever ran before it (the timer's L2 flush)
        // must not overlap it.
        if (k->pdl && i == 0) fail(path + ".pdl", "the first step has no step before it to overlap");
        if (k->pdl) check_expr(*k->pdl, path + ".pdl");
        check_kernel(*k, path);
      }
      else
        check_gemm(std::get<GemmStep>(plan_.steps[i].op), path + ".gemm");
    }
  }

 private:
  enum class Kind { size, buffer, constant, device, param, let, workspace, tensor_map };
  const Plan& plan_;
  const Task& task_;
  std::string prefix_;
  std::map<std::string, Kind> kinds_;
  std::vector<std::string> sizes_, buffers_, constants_, device_, params_, lets_, workspace_,
      tensor_maps_;  // for messages

  [[noreturn]] void fail(const std::string& path, const std::string& problem) const {
    throw PlanError(prefix_ + ": " + path + ": " + problem);
  }

  static std::string kind_name(Kind k) {
    switch (k) {
      case Kind::size: return "size symbol";
      case Kind::buffer: return "buffer";
      case Kind::constant: return "constant";
      case Kind::param: return "param";
      case Kind::let: return "let";
      case Kind::workspace: return "workspace entry";
      case Kind::device: return "device fact";
      case Kind::tensor_map: return "tensor map";
    }
    return "name";
  }

  static bool integer(Kind k) {
    return k == Kind::size || k == Kind::device || k == Kind::param || k == Kind::let;
  }

  void note(const std::string& name, Kind kind, std::vector<std::string>& list) {
    kinds_.emplace(name, kind);
    list.push_back(name);
  }

  void define(const std::string& name, Kind kind, std::vector<std::string>& list,
              const std::string& path) {
    auto it = kinds_.find(name);
    if (it != kinds_.end())
      fail(path, "'" + name + "' is already defined as a " + kind_name(it->second) +
                     "; a name may mean only one thing");
    note(name, kind, list);
  }

  std::string expression_names() const {
    return "size symbols: " + join(sizes_) + "; device: " + join(device_) + "; params: " + join(params_) +
           (lets_.empty() ? "" : "; lets: " + join(lets_));
  }

  void check_param(const Param& p) {
    std::string path = "plan.params." + p.name;
    if (!is_identifier(p.name))
      fail(path, "param names must be C identifiers (they become -D macros)");
    if (p.values.empty()) fail(path, "a param needs at least one value");
    for (size_t i = 0; i < p.values.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if (p.values[i] == p.values[j])
          fail(index_path(path, i), "value " + std::to_string(p.values[i]) + " given twice");
    define(p.name, Kind::param, params_, path);
  }

  // Expressions are integer arithmetic over the shape and the variant: nothing else is known
  // when grids and sizes are computed.
  void check_expr(const Expr& e, const std::string& path) const {
    for (const std::string& name : e.names()) {
      auto it = kinds_.find(name);
      if (it == kinds_.end())
        fail(path, "unknown name '" + name + "' in '" + e.text() + "' (" + expression_names() +
                       ")");
      if (!integer(it->second))
        fail(path, "'" + name + "' is a " + kind_name(it->second) + ", but '" + e.text() +
                       "' is an integer expression (" + expression_names() + ")");
    }
  }

  void check_tensor_map(const std::string& name, const TensorMapSpec& m) {
    const std::string path = "plan.tensor_maps." + name;
    auto it = kinds_.find(m.buffer);
    if (it == kinds_.end() || (it->second != Kind::buffer && it->second != Kind::workspace))
      fail(path + ".buffer", "'" + m.buffer + "' is not a buffer (" + join(buffers_) + ") or workspace entry (" +
                                 join(workspace_) + ")");
    if (it->second == Kind::buffer && m.dtype)
      fail(path + ".dtype", "'" + m.buffer + "' is a task buffer, which has its own element type");
    if (it->second == Kind::workspace && !m.dtype)
      fail(path + ".dtype", "missing: a map over the workspace entry '" + m.buffer + "' names its element type");
    for (size_t i = 0; i < m.dims.size(); ++i) check_expr(m.dims[i], index_path(path + ".dims", i));
    for (size_t i = 0; i < m.strides.size(); ++i) check_expr(m.strides[i], index_path(path + ".strides", i));
    for (size_t i = 0; i < m.box.size(); ++i) check_expr(m.box[i], index_path(path + ".box", i));
    if (m.when) check_expr(*m.when, path + ".when");
    define(name, Kind::tensor_map, tensor_maps_, path);
  }

  void check_kernel(const KernelStep& k, const std::string& path) const {
    if (!is_identifier(k.kernel))
      fail(path + ".kernel", "'" + k.kernel + "' is not a C identifier (an extern \"C\" name)");
    check_dims(k.grid, path + ".grid");
    check_dims(k.block, path + ".block");
    if (k.smem) check_expr(*k.smem, path + ".smem");
    for (size_t i = 0; i < k.args.size(); ++i) check_arg(k.args[i], index_path(path + ".args", i));
  }

  void check_dims(const std::vector<Expr>& dims, const std::string& path) const {
    if (dims.empty() || dims.size() > 3)
      fail(path, "expected 1 to 3 expressions, got " + std::to_string(dims.size()));
    for (size_t i = 0; i < dims.size(); ++i) check_expr(dims[i], index_path(path, i));
  }

  void check_arg(const std::string& arg, const std::string& path) const {
    auto it = kinds_.find(arg);
    if (it != kinds_.end() && !integer(it->second)) return;
    const std::string what =
        "an arg is a buffer (" + join(buffers_) + "), a workspace entry (" + join(workspace_) +
        ")" + (tensor_maps_.empty() ? "" : ", a tensor map (" + join(tensor_maps_) + ")") + ", a constant (" +
        join(constants_) + ") or an integer expression (" +
        expression_names() + ")";
    Expr e;
    try {
      e = Expr::parse(arg, path);
    } catch (const ExprError& err) {
      throw PlanError(prefix_ + ": " + err.what() + "; " + what);
    }
    for (const std::string& name : e.names()) {
      auto k = kinds_.find(name);
      if (k == kinds_.end()) fail(path, "unknown name '" + name + "' in '" + arg + "'; " + what);
      if (!integer(k->second))
        fail(path, "'" + name + "' is a " + kind_name(k->second) + " inside the expression '" +
                       arg + "'; " + what);
    }
  }

  void check_gemm(const GemmStep& g, const std::string& path) const {
    using Operand = std::pair<const std::string*, const char*>;
    for (auto [operand, key] : {Operand{&g.a, "a"}, Operand{&g.b, "b"}, Operand{&g.d, "d"}}) {
      auto it = kinds_.find(*operand);
      if (it == kinds_.end() || (it->second != Kind::buffer && it->second != Kind::workspace))
        fail(path + "." + key, "'" + *operand + "' is not a buffer (" + join(buffers_) +
                                   ") or workspace entry (" + join(workspace_) + ")");
    }
    check_expr(g.m, path + ".m");
    check_expr(g.n, path + ".n");
    check_expr(g.k, path + ".k");
    if (g.batch) check_expr(*g.batch, path + ".batch");
  }
};

}  // namespace

void validate_plan(const Plan& plan, const Task& task) { PlanValidator(plan, task).run(); }

const Task& task_of(const Candidate& c) {
  const Task* task = find_task(c.plan.task);
  if (!task)
    throw PlanError(c.origin + ": plan.task: unknown task '" + c.plan.task + "' (see ksearch tasks)");
  validate_plan(c.plan, *task);
  return *task;
}

}  // namespace ks
