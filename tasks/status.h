#pragma once
// The verdict on one candidate variant on one shape: what the evaluator finds and the archive
// keeps (evaluations and audits), one name per outcome.
#include <optional>
#include <ostream>
#include <string_view>

namespace ks {

enum class Status {
  ok,
  not_applicable,
  compile_error,
  launch_error,
  wrong,
  crash,
  timeout,
  guard_violation,
  input_modified,
  implausible,  // faster than the roofline floor allows, or than it is on inputs it has not seen
};

constexpr std::string_view status_name(Status s) {
  switch (s) {
    case Status::ok: return "ok";
    case Status::not_applicable: return "not_applicable";
    case Status::compile_error: return "compile_error";
    case Status::launch_error: return "launch_error";
    case Status::wrong: return "wrong";
    case Status::crash: return "crash";
    case Status::timeout: return "timeout";
    case Status::guard_violation: return "guard_violation";
    case Status::input_modified: return "input_modified";
    case Status::implausible: return "implausible";
  }
  return "?";
}

constexpr std::optional<Status> parse_status(std::string_view name) {
  for (Status s : {Status::ok, Status::not_applicable, Status::compile_error, Status::launch_error,
                   Status::wrong, Status::crash, Status::timeout, Status::guard_violation,
                   Status::input_modified, Status::implausible})
    if (status_name(s) == name) return s;
  return std::nullopt;
}

inline std::ostream& operator<<(std::ostream& o, Status s) { return o << status_name(s); }

}  // namespace ks
