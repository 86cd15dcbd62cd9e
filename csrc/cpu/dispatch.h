// What the torch-facing CPU op files share: the dtype dispatch, the
// accumulate-type view of a row, and the class-index error raised after a
// parallel loop.
#pragma once

#include <ATen/Dispatch.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "kernels/common.h"

// The floating dtypes every CPU kernel is instantiated for; the body sees scalar_t.
#define LOSSEXT_DISPATCH_FLOATING(TYPE, NAME, ...) \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, TYPE, NAME, __VA_ARGS__)

namespace lossext {
namespace cpu {

// Rows per parallel task: about `elements` values each, so that scheduling is noise.
inline int64_t grain_rows(int64_t classes, int64_t elements) {
  return std::max<int64_t>(1, elements / std::max<int64_t>(classes, 1));
}

// n values starting at x (stride s) as contiguous accumulate-type values: x
// itself when it already is, else a converted copy in `buf`.
template <typename T>
const acc_type<T>* as_acc(const T* x, int64_t n, int64_t s, std::vector<acc_type<T>>& buf) {
  if constexpr (std::is_same_v<T, acc_type<T>>) {
    if (s == 1) return x;
  }
  buf.resize(n);
  for (int64_t c = 0; c < n; ++c) buf[c] = static_cast<acc_type<T>>(x[c * s]);
  return buf.data();
}

// A row whose class index is out of range, found by any thread of a parallel
// loop; raised as an IndexError once the loop is over.
class BadRow {
 public:
  void record(int64_t row) {
    int64_t none = -1;
    row_.compare_exchange_strong(none, row);
  }

  // Valid indices are [lowest, classes) and ignore_index.
  void raise_if_any(const int64_t* target, int64_t lowest, int64_t classes, int64_t ignore_index) const {
    const int64_t row = row_.load();
    TORCH_CHECK_INDEX(row < 0, "target contains class index ", row < 0 ? 0 : target[row], " (at flat position ", row,
                      "), outside [", lowest, ", ", classes, ") and not ignore_index (", ignore_index, ")");
  }

 private:
  std::atomic<int64_t> row_{-1};
};

}  // namespace cpu
}  // namespace lossext
