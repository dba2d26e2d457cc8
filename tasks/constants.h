#pragma once
// A task's constants (rmsnorm_linear's eps): floats every kernel, the GPU reference plan and the
// CPU reference take at run time. Each task declares them with a default; a run, an eval, an
// audit or a bench may give other values (`--const eps=1e-5`), and the one map resolved here from
// the defaults and those values is what reaches the plans' args, the references and the archive.
#include <map>
#include <string>
#include <vector>

namespace ks {

class Task;

struct Constant {
  std::string name;     // reaches kernels as a float argument
  double value;         // the default
  std::string meaning;  // one line, for the exported header and the prompts
  // Must be greater than 0 as the float kernels get (eps: the zero rows of the hard inputs
  // divide by it).
  bool positive = false;
};

// Values by name, e.g. {eps: 1e-5}.
using Constants = std::map<std::string, double>;

// NAME=VALUE texts (the --const options) as a map; throws ks::Error, one line, for a text that is
// not NAME=VALUE, a value that is not a finite number, or a name given twice. The messages name
// the constant first ("eps=x: 'x' is not a number"): a caller prefixes where it came from.
Constants parse_constants(const std::vector<std::string>& texts);

// Why `value` cannot be constant c ("" when it can): not finite as a float, or not positive where
// c must be.
std::string constant_value_problem(const Constant& c, double value);

// The task's constants: its defaults, replaced by `given` where it names them. Throws ks::Error,
// one line, for a name the task has no constant of (a task without constants takes none) or a
// value constant_value_problem refuses. A map resolved once resolves to itself.
Constants resolve_constants(const Task& task, const Constants& given);

// resolve_constants for each of several tasks (a bench or an audit of every task): a given name
// applies to the tasks that have that constant and must belong to at least one of them.
std::map<const Task*, Constants> resolve_constants(const std::vector<const Task*>& tasks, const Constants& given);

// The audit's second check of a shape: every constant moved by a factor of 10 (up, or down where
// up would leave its range), so a kernel that ignores its constant argument and computes with a
// value of its own (the default, say) fails one of the two.
Constants varied_constants(const Task& task, const Constants& resolved);

// "eps=1e-05" ("eps=1e-05, beta=2" for several); "" for none.
std::string format_constants(const Constants& c);

}  // namespace ks
