// The size of one workspace entry, checked before it is allocated: a plan is hostile, and
// "M * 4611686018427387904" must be a launch_error naming the entry, not a 2^62-byte allocation
// attempt (or a negative size cast to a huge size_t).
#include <cstdint>
#include <string>

#include "evaluator/plan.h"

namespace ks {

size_t workspace_bytes(const std::string& name, const Expr& bytes, const Env& env, size_t limit) {
  const std::string where = "plan.workspace." + name;
  const int64_t n = bytes.eval(env);
  if (n < 0)
    throw PlanError(where + ": " + std::to_string(n) + " bytes, a negative size");
  if (static_cast<uint64_t>(n) > limit)
    throw PlanError(where + ": " + std::to_string(n) + " bytes, more than the " +
                    std::to_string(limit) + " bytes of device memory free");
  return static_cast<size_t>(n);
}

}  // namespace ks
