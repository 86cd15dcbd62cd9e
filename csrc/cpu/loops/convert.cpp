// Definitions for convert.h.
#include "cpu/loops/vectorize.h"

#include "cpu/loops/convert.h"

#include <cstring>

namespace lossext {
namespace cpu {

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
