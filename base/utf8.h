#pragma once
// Text from outside (an LLM's reply or error body, a candidate's printf, NVRTC's log quoting a
// candidate's bytes) need not be UTF-8, and JSON (stdout, the archive, the worker's pipe) must
// be. Text is made valid where it enters ksearch, so nothing downstream has to care.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ks {

// s with every byte that does not begin a well-formed UTF-8 sequence (a stray continuation, a
// sequence cut short, an overlong form, a surrogate, a code point past U+10FFFF) replaced by
// U+FFFD; valid text is returned unchanged.
std::string valid_utf8(std::string_view s);

// The offset of the first byte that is not well-formed UTF-8; nullopt when s is valid.
std::optional<size_t> first_invalid_utf8(std::string_view s);

// The longest prefix of valid UTF-8 text s of at most max_bytes that cuts no character in two.
std::string_view utf8_prefix(std::string_view s, size_t max_bytes);

}  // namespace ks
