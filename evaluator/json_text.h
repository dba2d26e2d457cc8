#pragma once
// JSON as ksearch writes it (stdout, the archive, the worker's pipe, an LLM request). Text is made
// valid UTF-8 where it enters ksearch (base/utf8.h); this is the backstop for any that did not
// (a user's argument echoed into an error, say): an invalid byte is written as U+FFFD, never
// thrown on, so no command ends because of text.
#include <nlohmann/json.hpp>
#include <string>

namespace ks {

inline std::string json_text(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ks
