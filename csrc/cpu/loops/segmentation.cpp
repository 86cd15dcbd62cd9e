// Definitions for segmentation.h. Runtime options become template
// arguments inside each entry point so that every loop is free of invariant
// branches and inlined into (vectorized for) the clone's ISA.
#include "cpu/loops/vectorize.h"

#include "cpu/loops/segmentation.h"

#include <cmath>
#include <cstring>

#include "kernels/common.h"  // log_positive: a logf that vectorizes

namespace lossext {
namespace cpu {
namespace {

template <typename T>
LOSSEXT_ALWAYS_INLINE int64_t prepare_index(const int64_t* y, int64_t n, int64_t classes, bool has_ignore,
                                            int64_t ignore_index, int32_t* cls, T* valid) {
  int64_t bad = 0;
#pragma omp simd reduction(+ : bad)
  for (int64_t j = 0; j < n; ++j) {
    const int64_t v = y[j];
    const bool ignored = has_ignore && v == ignore_index;
    const bool in_range = v >= 0 && v < classes;
    bad += (!ignored && !in_range) ? 1 : 0;
    const bool use = !ignored && in_range;
    cls[j] = use ? static_cast<int32_t>(v) : -1;
    valid[j] = use ? T(1) : T(0);
  }
  if (bad == 0) return -1;
  for (int64_t j = 0; j < n; ++j) {
    const bool ignored = has_ignore && y[j] == ignore_index;
    if (!ignored && (y[j] < 0 || y[j] >= classes)) return j;
  }
  return -1;
}

// Softmax of the tile into work (unnormalized exp), with the per-pixel max m,
// sum of exp s and (for the cross-entropy) sum of logits sx.
template <typename T, bool CE>
LOSSEXT_ALWAYS_INLINE void tile_exp(const T* x, int64_t ldx, int64_t classes, int64_t n, T* work, T* m, T* s, T* sx) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    m[j] = x[j];
    s[j] = T(0);
    if (CE) sx[j] = T(0);
  }
  for (int64_t c = 1; c < classes; ++c) {
    const T* row = x + c * ldx;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) m[j] = row[j] > m[j] ? row[j] : m[j];
  }
  for (int64_t c = 0; c < classes; ++c) {
    const T* row = x + c * ldx;
    T* w = work + c * n;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      const T e = fast_exp(row[j] - m[j]);
      w[j] = e;
      s[j] += e;
      if (CE) sx[j] += row[j];
    }
  }
}

template <typename T, bool SOFTMAX, bool SQUARED, bool CE>
LOSSEXT_ALWAYS_INLINE void index_tile_stats(const T* x, int64_t ldx, int64_t classes, int64_t n, const int32_t* cls,
                                            const T* valid, T smoothing, T* work, double* acc) {
  T m[kSegTile], s[kSegTile], sx[kSegTile], r[kSegTile];
  if (SOFTMAX) {
    tile_exp<T, CE>(x, ldx, classes, n, work, m, s, sx);
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) r[j] = valid[j] / s[j];
  }
  for (int64_t c = 0; c < classes; ++c) {
    const T* src = SOFTMAX ? work + c * n : x + c * ldx;
    T tp = 0, sp = 0;
    const int32_t cc = static_cast<int32_t>(c);
#pragma omp simd reduction(+ : tp, sp)
    for (int64_t j = 0; j < n; ++j) {
      const T p = src[j] * (SOFTMAX ? r[j] : valid[j]);
      sp += SQUARED ? p * p : p;
      tp += cls[j] == cc ? p : T(0);
    }
    acc[kSegTP * classes + c] += tp;
    acc[kSegSP * classes + c] += sp;
  }
  T count = 0;
  for (int64_t j = 0; j < n; ++j) {
    if (cls[j] >= 0) acc[kSegST * classes + cls[j]] += 1.0;
    count += valid[j];
  }
  acc[kSegStats * classes + kSegValid] += count;
  if (CE) {
    // The target logit is a gather; the rest (log included) vectorizes.
    T x_y[kSegTile];
    for (int64_t j = 0; j < n; ++j) x_y[j] = cls[j] >= 0 ? x[cls[j] * ldx + j] : T(0);
    T ce = 0;
    const T C = static_cast<T>(classes);
#pragma omp simd reduction(+ : ce)
    for (int64_t j = 0; j < n; ++j) {
      const T v = seg_ce_pixel(m[j] + log_positive(s[j]), x_y[j], sx[j], smoothing, C);
      ce += valid[j] != T(0) ? v : T(0);
    }
    acc[kSegStats * classes + kSegCE] += ce;
  }
}

template <typename T, bool SOFTMAX, bool SQUARED, bool CE>
LOSSEXT_ALWAYS_INLINE void index_tile_grad(const T* x, int64_t ldx, int64_t classes, int64_t n, const int32_t* cls,
                                           const T* valid, const T* A, const T* B, T g_ce, T smoothing, T* work, T* out,
                                           int64_t ldo) {
  // dot_j = sum_c p_c g_c with g_c = A_c [c == y] + B_c (2 p_c or 1) is
  // r (A_y e_y) + r sum_c B_c e_c (or 2 r^2 sum_c B_c e_c^2), r = 1 / sum_c e_c,
  // so it is accumulated while the exponentials are made: no extra pass.
  T m[kSegTile], s[kSegTile], ae[kSegTile], be[kSegTile], r[kSegTile], dot[kSegTile];
  if (SOFTMAX) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      m[j] = x[j];
      s[j] = ae[j] = be[j] = T(0);
    }
    for (int64_t c = 1; c < classes; ++c) {
      const T* row = x + c * ldx;
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) m[j] = row[j] > m[j] ? row[j] : m[j];
    }
    for (int64_t c = 0; c < classes; ++c) {
      const T* row = x + c * ldx;
      T* w = work + c * n;
      const T a = A[c], b = B[c];
      const int32_t cc = static_cast<int32_t>(c);
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) {
        const T e = fast_exp(row[j] - m[j]);
        w[j] = e;
        s[j] += e;
        ae[j] += cls[j] == cc ? a * e : T(0);
        be[j] += SQUARED ? b * e * e : b * e;
      }
    }
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      r[j] = T(1) / s[j];
      dot[j] = r[j] * ae[j] + (SQUARED ? T(2) * r[j] * r[j] * be[j] : r[j] * be[j]);
    }
  }
  const T C = static_cast<T>(classes);
  for (int64_t c = 0; c < classes; ++c) {
    const T a = A[c], b = B[c];
    const int32_t cc = static_cast<int32_t>(c);
    T* o = out + c * ldo;
    if (SOFTMAX) {
      const T* w = work + c * n;
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) {
        const T p = w[j] * r[j];
        const bool is_t = cls[j] == cc;
        T v = p * (seg_dp(a, b, is_t ? T(1) : T(0), p, SQUARED) - dot[j]);
        if (CE) v += g_ce * seg_ce_grad(p, is_t, smoothing, C);
        o[j] = valid[j] * v;
      }
    } else {
      const T* row = x + c * ldx;
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) {
        o[j] = valid[j] * seg_dp(a, b, cls[j] == cc ? T(1) : T(0), row[j], SQUARED);
      }
    }
  }
}

template <typename T, bool SIGMOID, bool SQUARED, bool IGNORE>
LOSSEXT_ALWAYS_INLINE void dense_row_stats(const T* x, const T* t, int64_t n, T ignore, double* sums) {
  T tp = 0, sp = 0, st = 0, count = 0;
#pragma omp simd reduction(+ : tp, sp, st, count)
  for (int64_t j = 0; j < n; ++j) {
    const T v = IGNORE ? (t[j] != ignore ? T(1) : T(0)) : T(1);
    const T p = (SIGMOID ? seg_sigmoid(x[j]) : x[j]) * v;
    const T tt = t[j] * v;
    tp += p * tt;
    sp += SQUARED ? p * p : p;
    st += SQUARED ? tt * tt : tt;
    count += v;
  }
  sums[0] += tp;
  sums[1] += sp;
  sums[2] += st;
  sums[3] += count;
}

template <typename T, bool SIGMOID, bool SQUARED, bool IGNORE>
LOSSEXT_ALWAYS_INLINE void dense_row_grad(const T* x, const T* t, int64_t n, T ignore, T A, T B, T* out) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    const T v = IGNORE ? (t[j] != ignore ? T(1) : T(0)) : T(1);
    const T p = SIGMOID ? seg_sigmoid(x[j]) : x[j];
    const T d = v * seg_dp(A, B, t[j], p, SQUARED);
    out[j] = SIGMOID ? d * p * (T(1) - p) : d;
  }
}

}  // namespace

// NAME as a compile-time bool in the body; the body is an always-inline
// lambda, so it is compiled for each target_clones entry point's ISA.
#define LOSSEXT_SEG_BOOL(FLAG, NAME, ...)                                 \
  static_switch(kBools, (FLAG), [&](auto NAME##_) LOSSEXT_INLINE_LAMBDA { \
    constexpr bool NAME = decltype(NAME##_)::value;                       \
    __VA_ARGS__;                                                          \
  })

#define LOSSEXT_SEG_INDEX_STATS(T)                                                                                   \
  LOSSEXT_SEG_BOOL(act == SegActivation::Softmax, SM,                                                                \
                   LOSSEXT_SEG_BOOL(squared, SQ,                                                                     \
                                    LOSSEXT_SEG_BOOL(with_ce && SM, CE,                                              \
                                                     index_tile_stats<T, SM, SQ, CE>(x, ldx, classes, n, cls, valid, \
                                                                                     smoothing, work, acc))))

#define LOSSEXT_SEG_INDEX_GRAD(T)                                                                                  \
  LOSSEXT_SEG_BOOL(                                                                                                \
      act == SegActivation::Softmax, SM,                                                                           \
      LOSSEXT_SEG_BOOL(squared, SQ,                                                                                \
                       LOSSEXT_SEG_BOOL(with_ce && SM, CE,                                                         \
                                        index_tile_grad<T, SM, SQ, CE>(x, ldx, classes, n, cls, valid, A, B, g_ce, \
                                                                       smoothing, work, out, ldo))))

#define LOSSEXT_SEG_DENSE(FN, T, ...)                 \
  LOSSEXT_SEG_BOOL(act == SegActivation::Sigmoid, SG, \
                   LOSSEXT_SEG_BOOL(squared, SQ, LOSSEXT_SEG_BOOL(has_ignore, IG, FN<T, SG, SQ, IG>(__VA_ARGS__))))

int64_t seg_prepare_index(const int64_t* y, int64_t n, int64_t classes, bool has_ignore, int64_t ignore_index,
                          int32_t* cls, float* valid) {
  return prepare_index(y, n, classes, has_ignore, ignore_index, cls, valid);
}
int64_t seg_prepare_index(const int64_t* y, int64_t n, int64_t classes, bool has_ignore, int64_t ignore_index,
                          int32_t* cls, double* valid) {
  return prepare_index(y, n, classes, has_ignore, ignore_index, cls, valid);
}

LOSSEXT_CPU_CLONES void seg_index_tile_stats(const float* x, int64_t ldx, int64_t classes, int64_t n,
                                             const int32_t* cls, const float* valid, SegActivation act, bool squared,
                                             bool with_ce, float smoothing, float* work, double* acc) {
  LOSSEXT_SEG_INDEX_STATS(float);
}
void seg_index_tile_stats(const double* x, int64_t ldx, int64_t classes, int64_t n, const int32_t* cls,
                          const double* valid, SegActivation act, bool squared, bool with_ce, double smoothing,
                          double* work, double* acc) {
  LOSSEXT_SEG_INDEX_STATS(double);
}

LOSSEXT_CPU_CLONES void seg_index_tile_grad(const float* x, int64_t ldx, int64_t classes, int64_t n, const int32_t* cls,
                                            const float* valid, SegActivation act, bool squared, const float* A,
                                            const float* B, bool with_ce, float g_ce, float smoothing, float* work,
                                            float* out, int64_t ldo) {
  LOSSEXT_SEG_INDEX_GRAD(float);
}
void seg_index_tile_grad(const double* x, int64_t ldx, int64_t classes, int64_t n, const int32_t* cls,
                         const double* valid, SegActivation act, bool squared, const double* A, const double* B,
                         bool with_ce, double g_ce, double smoothing, double* work, double* out, int64_t ldo) {
  LOSSEXT_SEG_INDEX_GRAD(double);
}

LOSSEXT_CPU_CLONES void seg_dense_row_stats(const float* x, const float* t, int64_t n, SegActivation act, bool squared,
                                            bool has_ignore, float ignore, double* sums) {
  LOSSEXT_SEG_DENSE(dense_row_stats, float, x, t, n, ignore, sums);
}
void seg_dense_row_stats(const double* x, const double* t, int64_t n, SegActivation act, bool squared, bool has_ignore,
                         double ignore, double* sums) {
  LOSSEXT_SEG_DENSE(dense_row_stats, double, x, t, n, ignore, sums);
}

LOSSEXT_CPU_CLONES void seg_dense_row_grad(const float* x, const float* t, int64_t n, SegActivation act, bool squared,
                                           bool has_ignore, float ignore, float A, float B, float* out) {
  LOSSEXT_SEG_DENSE(dense_row_grad, float, x, t, n, ignore, A, B, out);
}
void seg_dense_row_grad(const double* x, const double* t, int64_t n, SegActivation act, bool squared, bool has_ignore,
                        double ignore, double A, double B, double* out) {
  LOSSEXT_SEG_DENSE(dense_row_grad, double, x, t, n, ignore, A, B, out);
}

}  // namespace cpu
}  // namespace lossext
