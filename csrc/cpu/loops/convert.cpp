// Definitions for convert.h.
#include "cpu/loops/vectorize.h"

#include "cpu/loops/convert.h"

#include <cstring>

namespace lossext {
namespace cpu {
namespace {

LOSSEXT_ALWAYS_INLINE uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

LOSSEXT_ALWAYS_INLINE float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

// IEEE half -> float: rebias the exponent; subnormals are renormalised by a
// float subtraction (exact), infinities and NaNs get the full exponent.
LOSSEXT_ALWAYS_INLINE float half_to_float(uint16_t h) {
  const uint32_t em = (uint32_t(h) & 0x7fffu) << 13;
  const uint32_t e = em & 0x0f800000u;
  const uint32_t normal = em + (112u << 23);
  const uint32_t special = em + (224u << 23);
  const uint32_t subnormal = bits_of(float_of(em + (113u << 23)) - float_of(113u << 23));
  const uint32_t r = e == 0x0f800000u ? special : (e == 0 ? subnormal : normal);
  return float_of(r | ((uint32_t(h) & 0x8000u) << 16));
}

// float -> IEEE half, round to nearest even (overflow to inf, NaN to a quiet NaN).
LOSSEXT_ALWAYS_INLINE uint16_t float_to_half(float x) {
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

LOSSEXT_ALWAYS_INLINE float bf16_to_float(uint16_t b) { return float_of(uint32_t(b) << 16); }

LOSSEXT_ALWAYS_INLINE uint16_t float_to_bf16(float x) {
  const uint32_t u = bits_of(x);
  const uint32_t rounded = (u + ((u >> 16) & 1u) + 0x7fffu) >> 16;
  return static_cast<uint16_t>(x != x ? 0x7fc0u : rounded);
}

}  // namespace

LOSSEXT_CPU_CLONES void widen_16bit(const uint16_t* src, int64_t ld, int64_t rows, int64_t n, bool bf16, float* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    const uint16_t* s = src + r * ld;
    float* d = dst + r * n;
    if (bf16) {
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) d[j] = bf16_to_float(s[j]);
    } else {
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) d[j] = half_to_float(s[j]);
    }
  }
}

LOSSEXT_CPU_CLONES void narrow_16bit(const float* src, int64_t rows, int64_t n, bool bf16, uint16_t* dst, int64_t ld) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = src + r * n;
    uint16_t* d = dst + r * ld;
    if (bf16) {
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) d[j] = float_to_bf16(s[j]);
    } else {
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) d[j] = float_to_half(s[j]);
    }
  }
}

}  // namespace cpu
}  // namespace lossext
