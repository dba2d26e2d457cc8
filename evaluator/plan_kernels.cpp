#include "evaluator/plan_kernels.h"

#include <algorithm>
#include <variant>

#include "evaluator/plan.h"

namespace ks {

std::optional<std::string> missing_plan_kernel(std::string_view source, const std::vector<KernelResources>& compiled) {
  Plan plan;
  try {
    plan = parse_candidate(source, "candidate").plan;
  } catch (const PlanError&) {
    return std::nullopt;  // not a candidate, or one whose plan its parser refuses elsewhere
  }
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const auto* k = std::get_if<KernelStep>(&plan.steps[i].op);
    if (!k || std::any_of(compiled.begin(), compiled.end(), [&](auto& c) { return c.kernel == k->kernel; }))
      continue;
    std::string have;
    for (auto& c : compiled) have += (have.empty() ? "" : ", ") + c.kernel;
    return "plan.steps[" + std::to_string(i) + "].kernel: '" + k->kernel +
           "' is not an extern \"C\" __global__ function of the source (it defines " +
           (have.empty() ? std::string("none") : have) + ")";
  }
  return std::nullopt;
}

}  // namespace ks
