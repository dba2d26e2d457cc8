#pragma once
// The outcome of one candidate variant on one shape, as the archive will record it.
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
  }
  return "?";
}

}  // namespace ks
