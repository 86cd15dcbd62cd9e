// What the row-wise CPU entry points share: rows of their element types
// (float, double, cpu::Half, cpu::BFloat16) as contiguous accumulate-type
// values and back (the row loops take contiguous float or double rows only),
// and the rows of a parallel task.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "cpu/convert.h"
#include "cpu/parallel.h"
#include "kernels/common.h"

namespace lossext {
namespace cpu {

template <typename T>
constexpr bool is_16bit_storage = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

// n values starting at x (stride s) as contiguous accumulate-type values: x
// itself when it already is, else a converted copy in `buf` (a vectorized
// conversion when contiguous).
template <typename T>
const acc_type<T>* acc_row(const T* x, int64_t n, int64_t s, std::vector<acc_type<T>>& buf) {
  if constexpr (std::is_same_v<T, acc_type<T>>) {
    if (s == 1) return x;
  }
  buf.resize(n);
  if constexpr (is_16bit_storage<T>) {
    if (s == 1) {
      widen_16bit(reinterpret_cast<const uint16_t*>(x), n, 1, n, std::is_same_v<T, BFloat16>, buf.data());
      return buf.data();
    }
  }
  for (int64_t c = 0; c < n; ++c) buf[c] = static_cast<acc_type<T>>(x[c * s]);
  return buf.data();
}

// The inverse of acc_row: n accumulate-type values stored at dst (stride s).
template <typename T>
void store_acc_row(const acc_type<T>* src, int64_t n, T* dst, int64_t s) {
  if constexpr (is_16bit_storage<T>) {
    if (s == 1) {
      narrow_16bit(src, 1, n, std::is_same_v<T, BFloat16>, reinterpret_cast<uint16_t*>(dst), n);
      return;
    }
  }
  for (int64_t i = 0; i < n; ++i) dst[i * s] = static_cast<T>(src[i]);
}

// Rows per parallel task: about `elements` values each, so that scheduling is noise.
inline int64_t grain_rows(int64_t classes, int64_t elements) {
  return std::max<int64_t>(1, elements / std::max<int64_t>(classes, 1));
}

}  // namespace cpu
}  // namespace lossext
