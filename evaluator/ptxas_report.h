#pragma once
// Reads the per-kernel resource report that ptxas writes into NVRTC's log under
// --ptxas-options=-v.
#include <string_view>
#include <vector>

#include "evaluator/nvrtc_compiler.h"

namespace ks {

// One entry per kernel ("Compiling entry function"), in the order ptxas reports them. Non-inlined
// __device__ functions get a "Function properties" block of their own but are not kernels: their
// figures are not reported. Lines that are not part of the report are skipped.
std::vector<KernelResources> parse_ptxas_report(std::string_view log);

}  // namespace ks
