#pragma once
// A plan's tensor map (plan.h TensorMapSpec) made into the 128-byte CUtensorMap a kernel takes:
// its expressions evaluated and every limit of cuTensorMapEncodeTiled checked first (resolve,
// CPU only, so CI tests it), then encoded by the driver (encode; reached through the runtime,
// ksearch never links libcuda). A map that breaks a limit is the plan's mistake: a PlanError
// naming the argument, which the evaluation reports as a launch_error.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "evaluator/lt_gemm.h"
#include "evaluator/plan.h"

namespace ks {

// cuTensorMapEncodeTiled's arguments, checked.
struct TensorMapArgs {
  DType dtype = DType::bf16;
  void* address = nullptr;
  std::vector<uint64_t> dims;           // elements, innermost first
  std::vector<uint64_t> stride_bytes;   // of dims[1..]
  std::vector<uint32_t> box;            // elements
  int swizzle = 0, l2_promotion = 0;    // bytes, 0 for none
  bool oob_nan = false;
};

// Evaluates `spec` on env over `buffer` (its dtype replaced by the spec's for a workspace entry)
// and checks: rank 1-5; dims 1..2^32; strides multiples of 16 bytes below 2^40, each at least
// the extent of the dims inside it; box 1..256 per dim, its inner row a multiple of 16 bytes and,
// swizzled, within the swizzle span; the address 16-byte aligned; the whole map inside the
// buffer. `where` names the argument ("plan.steps[1].args[0] (a_map)").
TensorMapArgs resolve_tensor_map(const TensorMapSpec& spec, const BoundBuffer& buffer, const Env& env,
                                 const std::string& where);

// The encoded CUtensorMap, 64-byte aligned as the driver wants it. Throws PlanError naming
// `where` when the driver refuses the map, Error when the driver has no cuTensorMapEncodeTiled.
struct alignas(64) EncodedTensorMap {
  std::array<std::byte, 128> bytes;
};
EncodedTensorMap encode_tensor_map(const TensorMapArgs& args, const std::string& where);

}  // namespace ks
