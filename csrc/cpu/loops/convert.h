// float16 / bfloat16 (as raw 16-bit patterns) <-> float in loops that
// vectorize: c10's scalar conversions do not, and float16 hardware conversion
// (F16C) is not something a baseline x86-64 build may assume. Same results as
// c10::Half and c10::BFloat16: exact widening, round-to-nearest-even
// narrowing, NaN kept NaN. Torch-free (convert.cpp).
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/static_switch.h"

// Always inlined, so that a loop of an ISA clone converts in that ISA.
#define LOSSEXT_CONVERT_INLINE inline __attribute__((always_inline))

namespace lossext {
namespace cpu {

LOSSEXT_CONVERT_INLINE uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

LOSSEXT_CONVERT_INLINE float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

// IEEE half -> float: rebias the exponent; subnormals are renormalised by a
// float subtraction (exact), infinities and NaNs get the full exponent.
LOSSEXT_CONVERT_INLINE float half_to_float(uint16_t h) {
  const uint32_t em = (uint32_t(h) & 0x7fffu) << 13;
  const uint32_t e = em & 0x0f800000u;
  const uint32_t normal = em + (112u << 23);
  const uint32_t special = em + (224u << 23);
  const uint32_t subnormal = bits_of(float_of(em + (113u << 23)) - float_of(113u << 23));
  const uint32_t r = e == 0x0f800000u ? special : (e == 0 ? subnormal : normal);
  return float_of(r | ((uint32_t(h) & 0x8000u) << 16));
}

// float -> IEEE half, round to nearest even (overflow to inf, NaN to a quiet NaN).
LOSSEXT_CONVERT_INLINE uint16_t float_to_half(float x) {
  uint32_t f = bits_of(x);
  const uint32_t sign = f & 0x80000000u;
  f ^= sign;
  const uint32_t big = f > (255u << 23) ? 0x7e00u : 0x7c00u;
  const uint32_t denorm_magic = ((127u - 15u) + (23u - 10u) + 1u) << 23;
  const uint32_t small = bits_of(float_of(f) + float_of(denorm_magic)) - denorm_magic;
  const uint32_t odd = (f >> 13) & 1u;
  const uint32_t normal = (f + (uint32_t(15 - 127) << 23) + 0xfffu + odd) >> 13;
  const uint32_t o = f >= ((127u + 16u) << 23) ? big : (f < (113u << 23) ? small : normal);
  return static_cast<uint16_t>(o | (sign >> 16));
}

LOSSEXT_CONVERT_INLINE float bf16_to_float(uint16_t b) { return float_of(uint32_t(b) << 16); }

LOSSEXT_CONVERT_INLINE uint16_t float_to_bf16(float x) {
  const uint32_t u = bits_of(x);
  const uint32_t rounded = (u + ((u >> 16) & 1u) + 0x7fffu) >> 16;
  return static_cast<uint16_t>(x != x ? 0x7fc0u : rounded);
}

// The 16-bit element types of the CPU entry points: storage only, every
// computation happens in float after the conversion.
struct Half {
  uint16_t bits;
  Half() = default;
  explicit Half(float x) : bits(float_to_half(x)) {}
  operator float() const { return half_to_float(bits); }
};
struct BFloat16 {
  uint16_t bits;
  BFloat16() = default;
  explicit BFloat16(float x) : bits(float_to_bf16(x)) {}
  operator float() const { return bf16_to_float(bits); }
};
static_assert(sizeof(Half) == 2 && sizeof(BFloat16) == 2, "16-bit storage types");

// The C++ element type of each DType in the CPU entry points, for dtype_switch.
using LoopTypes = DTypeMap<float, double, Half, BFloat16>;

// widen: `rows` rows of n values, `ld` apart, into dst (rows * n, dense).
void widen_16bit(const uint16_t* src, int64_t ld, int64_t rows, int64_t n, bool bf16, float* dst);
// narrow: rows * n dense values into dst, row r at dst + r * ld.
void narrow_16bit(const float* src, int64_t rows, int64_t n, bool bf16, uint16_t* dst, int64_t ld);

}  // namespace cpu
}  // namespace lossext
