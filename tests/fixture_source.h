#pragma once
// The bad-kernel fixtures (tests/fixtures/README.md) share their correct kernel, written once in
// tests/fixtures/base.cuh, and each keeps only its flaw. A fixture built on it has the one line
//   #include "base.cuh"
// after its plan comment. Candidates may include only <ks/...> and CUDA's headers, so NVRTC never
// sees that line: every test that reads a fixture loads it here, which puts base.cuh's text in
// its place. A fixture without the line is read as it is.
#include <filesystem>
#include <string>
#include <string_view>

#include "evaluator/plan.h"

namespace ks {

// text with its line `#include "base.cuh"` replaced by base (a newline added where base has none
// at its end). Throws Error, naming origin, for a second such line, one inside the plan comment,
// or any other #include line naming base.cuh (another spelling, <base.cuh>, a path, a trailing
// comment), in text or in base.
std::string compose_fixture(std::string_view text, std::string_view base, std::string_view origin);

// Reads path and the base.cuh beside it, composes them, and parses the result as load_candidate
// does (the candidate's origin is path).
Candidate load_fixture(const std::filesystem::path& path);

}  // namespace ks
