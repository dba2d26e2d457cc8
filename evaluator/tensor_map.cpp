#include "evaluator/tensor_map.h"

#include <cstring>
#include <cuda.h>  // the CUtensorMap types only: the function comes through the runtime

#include "evaluator/cuda_check.h"

namespace ks {
namespace {

constexpr uint64_t kMaxDim = uint64_t{1} << 32;
constexpr uint64_t kMaxStride = uint64_t{1} << 40;

std::optional<CUtensorMapDataType> tma_type(DType t) {
  switch (t) {
    case DType::bf16: return CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
    case DType::f16: return CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
    case DType::f32: return CU_TENSOR_MAP_DATA_TYPE_FLOAT32;
    case DType::f64: return CU_TENSOR_MAP_DATA_TYPE_FLOAT64;
    case DType::i32: return CU_TENSOR_MAP_DATA_TYPE_INT32;
  }
  return std::nullopt;
}

}  // namespace

TensorMapArgs resolve_tensor_map(const TensorMapSpec& spec, const BoundBuffer& buffer, const Env& env,
                                 const std::string& where) {
  auto fail = [&](const std::string& problem) -> void { throw PlanError(where + ": " + problem); };
  TensorMapArgs a;
  a.dtype = spec.dtype.value_or(buffer.dtype);
  a.address = buffer.ptr;
  a.swizzle = spec.swizzle;
  a.l2_promotion = spec.l2_promotion;
  a.oob_nan = spec.oob_nan;
  const size_t rank = spec.dims.size();
  if (rank < 1 || rank > 5 || spec.box.size() != rank || (!spec.strides.empty() && spec.strides.size() != rank - 1))
    fail("a map has 1 to 5 dims, one box entry per dim and, given strides, one per dim after the first");
  const uint64_t elem = dtype_size(a.dtype);
  auto value = [&](const Expr& e, const std::string& field, size_t i, uint64_t lo, uint64_t hi) {
    const int64_t v = e.eval(env);
    if (v < static_cast<int64_t>(lo) || static_cast<uint64_t>(v) > hi)
      fail(field + "[" + std::to_string(i) + "] = " + e.text() + " = " + std::to_string(v) + " is outside " +
           std::to_string(lo) + ".." + std::to_string(hi));
    return static_cast<uint64_t>(v);
  };
  // Bytes from the first element to past the last, so far: in 128 bits, since dims up to 2^32
  // times strides up to 2^40 overflow 64, and a wrapped extent would let a map read past its buffer.
  unsigned __int128 extent = elem;
  for (size_t i = 0; i < rank; ++i) {
    a.dims.push_back(value(spec.dims[i], "dims", i, 1, kMaxDim));
    a.box.push_back(static_cast<uint32_t>(value(spec.box[i], "box", i, 1, 256)));
    if (i == 0) {
      extent = a.dims[0] * elem;
      continue;
    }
    const uint64_t stride = spec.strides.empty() ? extent : value(spec.strides[i - 1], "strides", i - 1, 1, kMaxStride) * elem;
    if (stride % 16 || stride >= kMaxStride)
      fail("the stride of dims[" + std::to_string(i) + "] is " + std::to_string(stride) +
           " bytes; it must be a multiple of 16 below 2^40");
    if (stride < extent)
      fail("the stride of dims[" + std::to_string(i) + "] (" + std::to_string(stride) +
           " bytes) is less than the " + std::to_string(static_cast<uint64_t>(extent)) + " bytes the dims inside it span");
    a.stride_bytes.push_back(stride);
    extent += static_cast<unsigned __int128>(stride) * (a.dims[i] - 1);
  }
  const uint64_t row = a.box[0] * elem;
  if (row % 16) fail("box[0] is " + std::to_string(row) + " bytes; TMA copies rows of a multiple of 16 bytes");
  if (a.swizzle && row > static_cast<uint64_t>(a.swizzle))
    fail("box[0] is " + std::to_string(row) + " bytes, more than the " + std::to_string(a.swizzle) +
         "-byte swizzle span");
  if (reinterpret_cast<uintptr_t>(a.address) % 16) fail("the buffer's address is not 16-byte aligned");
  if (a.oob_nan && a.dtype == DType::i32) fail("oob_fill nan needs a floating-point element type");
  if (extent > buffer.bytes)
    fail("the map spans " + (extent >> 64 ? std::string("more than 2^64") : std::to_string(static_cast<uint64_t>(extent))) +
         " bytes of '" + spec.buffer + "', which has " + std::to_string(buffer.bytes));
  return a;
}

EncodedTensorMap encode_tensor_map(const TensorMapArgs& a, const std::string& where) {
  using EncodeFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
  static const EncodeFn encode = reinterpret_cast<EncodeFn>(driver_entry_point("cuTensorMapEncodeTiled", 12000));
  if (!encode) throw Error("the CUDA driver has no cuTensorMapEncodeTiled (tensor maps need CUDA 12 and sm_90)");
  const std::vector<cuuint32_t> element_strides(a.dims.size(), 1);
  const CUtensorMapSwizzle swizzle = a.swizzle == 32    ? CU_TENSOR_MAP_SWIZZLE_32B
                                     : a.swizzle == 64  ? CU_TENSOR_MAP_SWIZZLE_64B
                                     : a.swizzle == 128 ? CU_TENSOR_MAP_SWIZZLE_128B
                                                        : CU_TENSOR_MAP_SWIZZLE_NONE;
  const CUtensorMapL2promotion l2 = a.l2_promotion == 64    ? CU_TENSOR_MAP_L2_PROMOTION_L2_64B
                                    : a.l2_promotion == 128 ? CU_TENSOR_MAP_L2_PROMOTION_L2_128B
                                    : a.l2_promotion == 256 ? CU_TENSOR_MAP_L2_PROMOTION_L2_256B
                                                            : CU_TENSOR_MAP_L2_PROMOTION_NONE;
  const std::vector<cuuint64_t> dims(a.dims.begin(), a.dims.end()), strides(a.stride_bytes.begin(), a.stride_bytes.end());
  const std::vector<cuuint32_t> box(a.box.begin(), a.box.end());
  CUtensorMap map;
  const CUresult r = encode(&map, *tma_type(a.dtype), static_cast<cuuint32_t>(a.dims.size()), a.address,
                            dims.data(), strides.data(), box.data(), element_strides.data(),
                            CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle, l2,
                            a.oob_nan ? CU_TENSOR_MAP_FLOAT_OOB_FILL_NAN_REQUEST_ZERO_FMA : CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    throw PlanError(where + ": cuTensorMapEncodeTiled refused the map (CUresult " + std::to_string(static_cast<int>(r)) + ")");
  static_assert(sizeof(CUtensorMap) == 128);
  EncodedTensorMap out;
  std::memcpy(out.bytes.data(), &map, sizeof map);
  return out;
}

}  // namespace ks
