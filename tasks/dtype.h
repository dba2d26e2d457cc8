#pragma once
// Element types of task buffers, and bf16/f16 <-> float conversions on the host.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ks {

enum class DType { bf16, f16, f32, f64, i32 };

size_t dtype_size(DType t);
std::string_view dtype_name(DType t);
std::optional<DType> parse_dtype(std::string_view name);

// Round-to-nearest-even, NaN kept a NaN: the same rounding as __float2bfloat16_rn.
uint16_t float_to_bf16(float f);
float bf16_to_float(uint16_t b);
uint16_t float_to_f16(float f);
float f16_to_float(uint16_t h);

}  // namespace ks
