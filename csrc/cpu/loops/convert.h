// float16 / bfloat16 (as raw 16-bit patterns) <-> float in loops that
// vectorize: c10's scalar conversions do not, and float16 hardware conversion
// (F16C) is not something a baseline x86-64 build may assume. Same results as
// c10::Half and c10::BFloat16: exact widening, round-to-nearest-even
// narrowing, NaN kept NaN. Torch-free (convert.cpp).
#pragma once

#include <cstdint>

namespace lossext {
namespace cpu {

// widen: `rows` rows of n values, `ld` apart, into dst (rows * n, dense).
void widen_16bit(const uint16_t* src, int64_t ld, int64_t rows, int64_t n, bool bf16, float* dst);
// narrow: rows * n dense values into dst, row r at dst + r * ld.
void narrow_16bit(const float* src, int64_t rows, int64_t n, bool bf16, uint16_t* dst, int64_t ld);

}  // namespace cpu
}  // namespace lossext
