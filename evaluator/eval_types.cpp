#include "evaluator/eval_types.h"

#include "base/table.h"

namespace ks {

std::string format_steps(const std::vector<StepTime>& steps) {
  std::string s;
  for (auto& st : steps) s += (s.empty() ? "" : "; ") + st.step + " " + fixed(st.median_us, 1) + " us";
  return s;
}

}  // namespace ks
