// What the torch-facing CPU op files share: the dtype map for dtype_switch, the
// accumulate-type view of a row, and the class-index error raised after a
// parallel loop.
#pragma once

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "cpu/loops/convert.h"
#include "kernels/common.h"
#include "kernels/static_switch.h"

namespace lossext {
namespace cpu {

// The C++ element type of each DType in the torch adapters, for dtype_switch.
using CpuTypes = DTypeMap<float, double, at::Half, at::BFloat16>;

// Rows per parallel task: about `elements` values each, so that scheduling is noise.
inline int64_t grain_rows(int64_t classes, int64_t elements) {
  return std::max<int64_t>(1, elements / std::max<int64_t>(classes, 1));
}

template <typename T>
constexpr bool is_16bit = std::is_same_v<T, at::Half> || std::is_same_v<T, at::BFloat16>;

// n values starting at x (stride s) as contiguous accumulate-type values: x
// itself when it already is, else a converted copy in `buf` (a vectorized
// conversion when contiguous).
template <typename T>
const acc_type<T>* as_acc(const T* x, int64_t n, int64_t s, std::vector<acc_type<T>>& buf) {
  if constexpr (std::is_same_v<T, acc_type<T>>) {
    if (s == 1) return x;
  }
  buf.resize(n);
  if constexpr (is_16bit<T>) {
    if (s == 1) {
      widen_16bit(reinterpret_cast<const uint16_t*>(x), n, 1, n, std::is_same_v<T, at::BFloat16>, buf.data());
      return buf.data();
    }
  }
  for (int64_t c = 0; c < n; ++c) buf[c] = static_cast<acc_type<T>>(x[c * s]);
  return buf.data();
}

// The inverse of as_acc: n accumulate-type values stored at dst (stride s).
template <typename T>
void store_from_acc(const acc_type<T>* src, int64_t n, T* dst, int64_t s) {
  if constexpr (is_16bit<T>) {
    if (s == 1) {
      narrow_16bit(src, 1, n, std::is_same_v<T, at::BFloat16>, reinterpret_cast<uint16_t*>(dst), n);
      return;
    }
  }
  for (int64_t i = 0; i < n; ++i) dst[i * s] = static_cast<T>(src[i]);
}

// A row whose class index is out of range, found by any thread of a parallel
// loop; raised as an IndexError once the loop is over.
class BadRow {
 public:
  void record(int64_t row) {
    int64_t none = -1;
    row_.compare_exchange_strong(none, row);
  }

  // Valid indices are [lowest, classes) and ignore_index (when the op has one).
  void raise_if_any(const int64_t* target, int64_t lowest, int64_t classes, int64_t ignore_index,
                    bool has_ignore = true) const {
    const int64_t row = row_.load();
    TORCH_CHECK_INDEX(row < 0, "target contains class index ", row < 0 ? 0 : target[row], " (at flat position ", row,
                      "), outside [", lowest, ", ", classes, ")",
                      has_ignore ? " and not ignore_index (" + std::to_string(ignore_index) + ")"
                                 : std::string(" (no ignore_index given)"));
  }

 private:
  std::atomic<int64_t> row_{-1};
};

}  // namespace cpu
}  // namespace lossext
