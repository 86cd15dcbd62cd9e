// Definitions for distribution_focal.h. A row is short (16 or 17 bins in the
// detectors that use DFL), so each loop is over one row's bins: the max, the
// sum of exponentials and the gradient row each vectorize.
#include "cpu/loops/vectorize.h"

#include <cmath>

#include "cpu/loops/distribution_focal.h"

namespace lossext {
namespace cpu {
namespace {

template <typename T>
LOSSEXT_ALWAYS_INLINE T row_lse(const T* x, int64_t bins) {
  T m = x[0];
#pragma omp simd reduction(max : m)
  for (int64_t c = 1; c < bins; ++c) m = x[c] > m ? x[c] : m;
  // An all -inf row: lse = -inf, as torch's logsumexp (x - m would be nan).
  if (m == neg_infinity<T>()) return m;
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t c = 0; c < bins; ++c) s += fast_exp(x[c] - m);
  return m + log_(s);
}

template <typename T>
LOSSEXT_ALWAYS_INLINE int64_t fwd_rows(const T* pred, const T* label, int64_t rows, int64_t bins, T* loss, T* lse) {
  int64_t bad = -1;
  for (int64_t i = 0; i < rows; ++i) {
    const T* x = pred + i * bins;
    const T l = row_lse(x, bins);
    lse[i] = l;
    if (!dfl_label_valid(label[i], bins)) {
      loss[i] = T(NAN);
      if (bad < 0) bad = i;
      continue;
    }
    const DflSplit<T> s = dfl_split(label[i], bins);
    loss[i] = dfl_row_loss(s, l, x[s.left], x[s.left + 1]);
  }
  return bad;
}

template <typename T>
LOSSEXT_ALWAYS_INLINE void bwd_rows(const T* pred, const T* label, const T* lse, const T* grad_loss,
                                    int64_t grad_stride, int64_t rows, int64_t bins, T* grad) {
  for (int64_t i = 0; i < rows; ++i) {
    const T* x = pred + i * bins;
    T* out = grad + i * bins;
    if (!dfl_label_valid(label[i], bins)) {
      for (int64_t c = 0; c < bins; ++c) out[c] = T(NAN);
      continue;
    }
    const DflSplit<T> s = dfl_split(label[i], bins);
    const T g = grad_loss[i * grad_stride], l = lse[i], scale = g * (s.wl + s.wr);
#pragma omp simd
    for (int64_t c = 0; c < bins; ++c) out[c] = scale * fast_exp(x[c] - l);
    // dfl_grad's two indicator terms, outside the vectorized loop.
    out[s.left] -= g * s.wl;
    out[s.left + 1] -= g * s.wr;
  }
}

}  // namespace

LOSSEXT_CPU_CLONES int64_t dfl_fwd_rows(const float* pred, const float* label, int64_t rows, int64_t bins, float* loss,
                                        float* lse) {
  return fwd_rows(pred, label, rows, bins, loss, lse);
}
int64_t dfl_fwd_rows(const double* pred, const double* label, int64_t rows, int64_t bins, double* loss, double* lse) {
  return fwd_rows(pred, label, rows, bins, loss, lse);
}

LOSSEXT_CPU_CLONES void dfl_bwd_rows(const float* pred, const float* label, const float* lse, const float* grad_loss,
                                     int64_t grad_stride, int64_t rows, int64_t bins, float* grad) {
  bwd_rows(pred, label, lse, grad_loss, grad_stride, rows, bins, grad);
}
void dfl_bwd_rows(const double* pred, const double* label, const double* lse, const double* grad_loss,
                  int64_t grad_stride, int64_t rows, int64_t bins, double* grad) {
  bwd_rows(pred, label, lse, grad_loss, grad_stride, rows, bins, grad);
}

}  // namespace cpu
}  // namespace lossext
