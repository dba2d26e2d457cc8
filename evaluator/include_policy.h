#pragma once
// Which headers a candidate may include, checked on its source before it is compiled: only
// headers that exist under the allowed include directories (seeds/include and the CUDA include
// directory), named without an absolute path, a ".." or a macro. `#include "/proc/self/environ"`
// put the search's environment, API key included, into a compile log; this closes that class.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ks {

// The first include the policy refuses, as one line ("ksearch: #include "/etc/passwd" refused:
// absolute path (...)"); nullopt when every include is allowed.
//
// The scan needs no context, so that no lexer difference (a raw string, a comment, a splice that
// this reading and the compiler's take differently) can hide a directive from it: after line
// splices are removed, every '#', "%:" and "??=" anywhere, in comments and strings too, followed
// by blanks or /* */ comments and then include, include_next, import or embed is checked. Text
// that only looks like a directive is checked too, which errs on the side of refusing.
std::optional<std::string> include_refusal(std::string_view source,
                                           const std::vector<std::filesystem::path>& allowed_dirs);

}  // namespace ks
