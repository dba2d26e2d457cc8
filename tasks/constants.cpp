#include "tasks/constants.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "base/error.h"
#include "tasks/task.h"

namespace ks {
namespace {

std::string number_text(double v) {
  std::ostringstream o;
  o << v;  // 1e-05, 0.5: as a user writes it
  return o.str();
}

std::string names_of(const Task& t) {
  std::string s;
  for (auto& c : t.constants()) s += (s.empty() ? "" : ", ") + c.name;
  return s;
}

const Constant* find_constant(const Task& t, const std::string& name, std::vector<Constant>& storage) {
  storage = t.constants();
  for (auto& c : storage)
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace

Constants parse_constants(const std::vector<std::string>& texts) {
  Constants out;
  for (const std::string& text : texts) {
    const size_t eq = text.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error("'" + text + "': give NAME=VALUE, e.g. eps=1e-5");
    const std::string name = text.substr(0, eq), value = text.substr(eq + 1);
    const char* begin = value.c_str();
    char* end = nullptr;
    const double v = std::strtod(begin, &end);
    if (value.empty() || end != begin + value.size())
      throw Error(text + ": '" + value + "' is not a number");
    if (!std::isfinite(v)) throw Error(text + ": '" + value + "' is not a finite number");
    if (!out.emplace(name, v).second) throw Error(name + " is given twice");
  }
  return out;
}

std::string constant_value_problem(const Constant& c, double value) {
  // Kernels take it as a float: a double beyond float's range would reach them as infinity.
  const float as_float = static_cast<float>(value);
  const std::string given = c.name + "=" + number_text(value) + ": ";
  if (!std::isfinite(value) || !std::isfinite(as_float))
    return given + "not a finite float (kernels take " + c.name + " as a float)";
  if (c.positive && !(as_float > 0))
    return given + c.name + " must be positive, as a float (it is " + c.meaning + ")";
  return {};
}

Constants resolve_constants(const Task& task, const Constants& given) {
  Constants out;
  for (auto& c : task.constants()) out[c.name] = c.value;
  std::vector<Constant> storage;
  for (auto& [name, value] : given) {
    const Constant* c = find_constant(task, name, storage);
    if (!c)
      throw Error(task.constants().empty()
                      ? name + ": " + task.name() + " has no constants"
                      : name + ": " + task.name() + " has no constant " + name + " (its constants: " + names_of(task) + ")");
    if (std::string why = constant_value_problem(*c, value); !why.empty()) throw Error(why);
    out[name] = value;
  }
  return out;
}

std::map<const Task*, Constants> resolve_constants(const std::vector<const Task*>& tasks, const Constants& given) {
  std::map<const Task*, Constants> out;
  std::vector<Constant> storage;
  for (auto& [name, value] : given) {
    bool known = false;
    for (const Task* t : tasks) known = known || find_constant(*t, name, storage);
    if (known) continue;
    if (tasks.size() == 1) resolve_constants(*tasks.front(), {{name, value}});  // throws its message
    std::string list;
    for (const Task* t : tasks)
      list += (list.empty() ? "" : "; ") + t->name() + ": " + (t->constants().empty() ? "none" : names_of(*t));
    throw Error(name + ": none of the tasks has a constant " + name + " (" + list + ")");
  }
  for (const Task* t : tasks) {
    Constants mine;
    for (auto& [name, value] : given)
      if (find_constant(*t, name, storage)) mine[name] = value;
    out[t] = resolve_constants(*t, mine);
  }
  return out;
}

Constants varied_constants(const Task& task, const Constants& resolved) {
  // 15 significant digits: 1e-6 * 10 is 1.0000000000000001e-05 in binary; what a user (and the
  // archive) should see is 1e-05, the double nearest the decimal.
  auto decimal = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.15g", v);
    return std::strtod(buf, nullptr);
  };
  Constants out = resolve_constants(task, resolved);
  for (auto& c : task.constants()) {
    double& v = out[c.name];
    v = constant_value_problem(c, v * 10).empty() ? decimal(v * 10) : decimal(v / 10);
  }
  return out;
}

std::string format_constants(const Constants& c) {
  std::string s;
  for (auto& [name, value] : c) s += (s.empty() ? "" : ", ") + name + "=" + number_text(value);
  return s;
}

}  // namespace ks
