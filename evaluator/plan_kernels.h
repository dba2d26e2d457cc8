#pragma once
// Whether a compiled candidate holds every kernel its plan launches. Checked where every compile
// result is made (Compiler::compile), so that `ksearch compile`, an evaluation, a search, bench
// and export all call a plan that names a kernel the source lacks a compile_error, before any GPU
// is involved (the runtime's kernel lookup would refuse it only at launch).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "evaluator/nvrtc_compiler.h"

namespace ks {

// One line naming the first kernel step whose function is not among `compiled` (ptxas's entry
// functions of the cubin); nullopt when every one is there, or when source is not a candidate
// (no plan comment: the compiler also builds ksearch's own kernels).
std::optional<std::string> missing_plan_kernel(std::string_view source, const std::vector<KernelResources>& compiled);

}  // namespace ks
