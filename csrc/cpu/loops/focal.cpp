// Definitions for focal.h. Every variant (gamma kind, dense or index
// target, weighted or not) is its own loop so that the vectorizer sees no
// loop-invariant branch; the runtime choices are made once per block of rows.
#include "cpu/loops/vectorize.h"

#include "cpu/loops/focal.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace lossext {
namespace cpu {
namespace {

// Index targets: the loops treat every class as a negative (folding the
// hard-target arms of sigmoid_focal_element) and the positive class y, if
// any, is done on its own.
template <bool DENSE>
constexpr FocalTarget kBulk = DENSE ? FocalTarget::Soft : FocalTarget::Negative;

template <typename T, bool DENSE>
LOSSEXT_ALWAYS_INLINE T target_at(const T* t, int64_t c) {
  if constexpr (DENSE) {
    return t[c];
  } else {
    return T(0);
  }
}

template <bool LOSS, GammaKind K, typename T>
LOSSEXT_ALWAYS_INLINE T positive(T x, T w, const SigmoidFocalConfig<T>& cfg) {
  return sigmoid_focal_element<LOSS, K, FocalTarget::Positive>(x, T(1), w, cfg);
}

template <GammaKind K, bool DENSE, bool WEIGHTED, typename T>
LOSSEXT_ALWAYS_INLINE void row_loss(const T* x, const T* t, int64_t y, const T* w, int64_t n,
                                    const SigmoidFocalConfig<T>& cfg, T* out) {
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) {
    out[c] = sigmoid_focal_element<true, K, kBulk<DENSE>>(x[c], target_at<T, DENSE>(t, c), WEIGHTED ? w[c] : T(1), cfg);
  }
  if (!DENSE && y >= 0) out[y] = positive<true, K>(x[y], WEIGHTED ? w[y] : T(1), cfg);
}

// sum_c v[c] over 16 fixed lanes and a fixed tree, not the vector width, so
// that the AVX-512, AVX2 and baseline clones add in the same order and return
// the same bits. The element losses go through a row buffer in L1 first: a
// reduction inside the element loop keeps gcc from vectorizing that loop well.
constexpr int kLanes = 16;

template <typename T>
LOSSEXT_ALWAYS_INLINE T lane_sum(const T* v, int64_t n) {
  T lanes[kLanes] = {};
  int64_t c0 = 0;
  for (; c0 + kLanes <= n; c0 += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] += v[c0 + l];
  }
  for (int l = 0; c0 + l < n; ++l) lanes[l] += v[c0 + l];
  for (int l = 0; l < 8; ++l) lanes[l] += lanes[l + 8];
  for (int l = 0; l < 4; ++l) lanes[l] += lanes[l + 4];
  for (int l = 0; l < 2; ++l) lanes[l] += lanes[l + 2];
  return lanes[0] + lanes[1];
}

template <GammaKind K, bool DENSE, bool WEIGHTED, bool PER_ELEMENT, typename T>
LOSSEXT_ALWAYS_INLINE void row_grad(const T* x, const T* t, int64_t y, const T* w, int64_t n,
                                    const SigmoidFocalConfig<T>& cfg, const T* g, T g_row, T* out) {
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) {
    const T d =
        sigmoid_focal_element<false, K, kBulk<DENSE>>(x[c], target_at<T, DENSE>(t, c), WEIGHTED ? w[c] : T(1), cfg);
    out[c] = (PER_ELEMENT ? g[c] : g_row) * d;
  }
  if (!DENSE && y >= 0) {
    out[y] = (PER_ELEMENT ? g[y] : g_row) * positive<false, K>(x[y], WEIGHTED ? w[y] : T(1), cfg);
  }
}

// Loss and gradient of a row from one evaluation of the element math.
template <GammaKind K, bool DENSE, bool WEIGHTED, typename T>
LOSSEXT_ALWAYS_INLINE void row_loss_grad(const T* x, const T* t, int64_t y, const T* w, int64_t n,
                                         const SigmoidFocalConfig<T>& cfg, T* out, T* d) {
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) {
    const FocalValueGrad<T> v =
        sigmoid_focal_value_grad<K, kBulk<DENSE>>(x[c], target_at<T, DENSE>(t, c), WEIGHTED ? w[c] : T(1), cfg);
    out[c] = v.loss;
    d[c] = v.grad;
  }
  if (!DENSE && y >= 0) {
    const FocalValueGrad<T> v =
        sigmoid_focal_value_grad<K, FocalTarget::Positive>(x[y], T(1), WEIGHTED ? w[y] : T(1), cfg);
    out[y] = v.loss;
    d[y] = v.grad;
  }
}

// Whether a row with class index y is skipped, and what fills it then (0 when
// ignored, nan for a bad index).
template <typename T>
LOSSEXT_ALWAYS_INLINE bool skip_row(const SigmoidFocalRows<T>& a, int64_t y, T* fill) {
  const bool ignored = y == a.ignore_index;
  *fill = ignored ? T(0) : T(NAN);
  return ignored || y < -1 || y >= a.classes;
}

template <GammaKind K, bool DENSE, bool WEIGHTED, typename T>
LOSSEXT_ALWAYS_INLINE int64_t loss_rows(const SigmoidFocalRows<T>& a, bool reduce, T* loss) {
  const SigmoidFocalConfig<T> cfg = a.cfg;  // a local copy: `loss` cannot alias it
  const int64_t C = a.classes;
  int64_t bad = -1;
  std::vector<T> row(reduce ? C : 0);
  for (int64_t r = 0; r < a.rows; ++r) {
    T* out = reduce ? loss + r : loss + r * C;
    int64_t y = -1;
    if constexpr (!DENSE) {
      y = a.y[r];
      T fill;
      if (skip_row(a, y, &fill)) {
        // Ignored rows read no logits; a bad index is never dereferenced.
        if (fill != T(0) && bad < 0) bad = r;
        std::fill(out, out + (reduce ? 1 : C), fill);
        continue;
      }
    }
    const T* x = a.x + r * C;
    const T* t = DENSE ? a.t + r * C : nullptr;
    if (reduce) {
      row_loss<K, DENSE, WEIGHTED>(x, t, y, a.w, C, cfg, row.data());
      *out = lane_sum(row.data(), C);
    } else {
      row_loss<K, DENSE, WEIGHTED>(x, t, y, a.w, C, cfg, out);
    }
  }
  return bad;
}

template <GammaKind K, bool DENSE, bool WEIGHTED, bool PER_ELEMENT, typename T>
LOSSEXT_ALWAYS_INLINE void grad_rows(const SigmoidFocalRows<T>& a, const T* g_elem, const T* g_row, T g_scalar,
                                     T* grad) {
  const SigmoidFocalConfig<T> cfg = a.cfg;
  const int64_t C = a.classes;
  for (int64_t r = 0; r < a.rows; ++r) {
    T* out = grad + r * C;
    int64_t y = -1;
    if constexpr (!DENSE) {
      y = a.y[r];
      T fill;
      if (skip_row(a, y, &fill)) {
        std::fill(out, out + C, fill);
        continue;
      }
    }
    const T g = g_row ? g_row[r] : g_scalar;
    row_grad<K, DENSE, WEIGHTED, PER_ELEMENT>(a.x + r * C, DENSE ? a.t + r * C : nullptr, y, a.w, C, cfg,
                                              PER_ELEMENT ? g_elem + r * C : nullptr, g, out);
  }
}

template <GammaKind K, bool DENSE, bool WEIGHTED, typename T>
LOSSEXT_ALWAYS_INLINE int64_t loss_grad_rows(const SigmoidFocalRows<T>& a, bool reduce, T* loss, T* grad) {
  const SigmoidFocalConfig<T> cfg = a.cfg;
  const int64_t C = a.classes;
  int64_t bad = -1;
  std::vector<T> row(reduce ? C : 0);
  for (int64_t r = 0; r < a.rows; ++r) {
    T* out = reduce ? loss + r : loss + r * C;
    T* d = grad + r * C;
    int64_t y = -1;
    if constexpr (!DENSE) {
      y = a.y[r];
      T fill;
      if (skip_row(a, y, &fill)) {
        if (fill != T(0) && bad < 0) bad = r;
        std::fill(out, out + (reduce ? 1 : C), fill);
        std::fill(d, d + C, fill);
        continue;
      }
    }
    const T* x = a.x + r * C;
    const T* t = DENSE ? a.t + r * C : nullptr;
    if (reduce) {
      row_loss_grad<K, DENSE, WEIGHTED>(x, t, y, a.w, C, cfg, row.data(), d);
      *out = lane_sum(row.data(), C);
    } else {
      row_loss_grad<K, DENSE, WEIGHTED>(x, t, y, a.w, C, cfg, out, d);
    }
  }
  return bad;
}

// out[r, c] = g_rc d[r, c], g_rc as in sigmoid_focal_rows_grad.
template <bool PER_ELEMENT, typename T>
LOSSEXT_ALWAYS_INLINE void scale_rows(const T* d, int64_t rows, int64_t C, const T* g_elem, const T* g_row, T g_scalar,
                                      T* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const T g = g_row ? g_row[r] : g_scalar;
    const T* dr = d + r * C;
    const T* ge = PER_ELEMENT ? g_elem + r * C : nullptr;
    T* o = out + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) o[c] = (PER_ELEMENT ? ge[c] : g) * dr[c];
  }
}

// The runtime choices become template arguments here, in the body of each
// cloned entry point, so that every loop is inlined into (and vectorized for)
// the clone's ISA; the switch's body is an always-inline lambda for the same
// reason (an outlined one would be compiled for the baseline only).
#define LOSSEXT_FOCAL_VARIANTS(CALL) \
  static_switch(kGammaKinds, a.kind, [&](auto kind) LOSSEXT_INLINE_LAMBDA { CALL(decltype(kind)::value); })

#define LOSSEXT_FOCAL_LOSS(K)                         \
  if (a.t && a.w)                                     \
    bad = loss_rows<K, true, true>(a, reduce, loss);  \
  else if (a.t)                                       \
    bad = loss_rows<K, true, false>(a, reduce, loss); \
  else if (a.w)                                       \
    bad = loss_rows<K, false, true>(a, reduce, loss); \
  else                                                \
    bad = loss_rows<K, false, false>(a, reduce, loss);

#define LOSSEXT_FOCAL_GRAD_G(K, D, W)                          \
  if (g_elem)                                                  \
    grad_rows<K, D, W, true>(a, g_elem, g_row, g_scalar, out); \
  else                                                         \
    grad_rows<K, D, W, false>(a, g_elem, g_row, g_scalar, out);

#define LOSSEXT_FOCAL_GRAD(K)             \
  if (a.t && a.w) {                       \
    LOSSEXT_FOCAL_GRAD_G(K, true, true)   \
  } else if (a.t) {                       \
    LOSSEXT_FOCAL_GRAD_G(K, true, false)  \
  } else if (a.w) {                       \
    LOSSEXT_FOCAL_GRAD_G(K, false, true)  \
  } else {                                \
    LOSSEXT_FOCAL_GRAD_G(K, false, false) \
  }

#define LOSSEXT_FOCAL_LOSS_GRAD(K)                               \
  if (a.t && a.w)                                                \
    bad = loss_grad_rows<K, true, true>(a, reduce, loss, grad);  \
  else if (a.t)                                                  \
    bad = loss_grad_rows<K, true, false>(a, reduce, loss, grad); \
  else if (a.w)                                                  \
    bad = loss_grad_rows<K, false, true>(a, reduce, loss, grad); \
  else                                                           \
    bad = loss_grad_rows<K, false, false>(a, reduce, loss, grad);

}  // namespace

LOSSEXT_CPU_CLONES int64_t sigmoid_focal_rows_loss(const SigmoidFocalRows<float>& a, bool reduce, float* loss) {
  int64_t bad = -1;
  LOSSEXT_FOCAL_VARIANTS(LOSSEXT_FOCAL_LOSS);
  return bad;
}

int64_t sigmoid_focal_rows_loss(const SigmoidFocalRows<double>& a, bool reduce, double* loss) {
  int64_t bad = -1;
  LOSSEXT_FOCAL_VARIANTS(LOSSEXT_FOCAL_LOSS);
  return bad;
}

LOSSEXT_CPU_CLONES void sigmoid_focal_rows_grad(const SigmoidFocalRows<float>& a, const float* g_elem,
                                                const float* g_row, float g_scalar, float* out) {
  LOSSEXT_FOCAL_VARIANTS(LOSSEXT_FOCAL_GRAD);
}

void sigmoid_focal_rows_grad(const SigmoidFocalRows<double>& a, const double* g_elem, const double* g_row,
                             double g_scalar, double* out) {
  LOSSEXT_FOCAL_VARIANTS(LOSSEXT_FOCAL_GRAD);
}

LOSSEXT_CPU_CLONES int64_t sigmoid_focal_rows_loss_grad(const SigmoidFocalRows<float>& a, bool reduce, float* loss,
                                                        float* grad) {
  int64_t bad = -1;
  LOSSEXT_FOCAL_VARIANTS(LOSSEXT_FOCAL_LOSS_GRAD);
  return bad;
}

int64_t sigmoid_focal_rows_loss_grad(const SigmoidFocalRows<double>& a, bool reduce, double* loss, double* grad) {
  int64_t bad = -1;
  LOSSEXT_FOCAL_VARIANTS(LOSSEXT_FOCAL_LOSS_GRAD);
  return bad;
}

LOSSEXT_CPU_CLONES void sigmoid_focal_rows_scale(const float* d, int64_t rows, int64_t classes, const float* g_elem,
                                                 const float* g_row, float g_scalar, float* out) {
  if (g_elem)
    scale_rows<true>(d, rows, classes, g_elem, g_row, g_scalar, out);
  else
    scale_rows<false>(d, rows, classes, g_elem, g_row, g_scalar, out);
}

void sigmoid_focal_rows_scale(const double* d, int64_t rows, int64_t classes, const double* g_elem, const double* g_row,
                              double g_scalar, double* out) {
  if (g_elem)
    scale_rows<true>(d, rows, classes, g_elem, g_row, g_scalar, out);
  else
    scale_rows<false>(d, rows, classes, g_elem, g_row, g_scalar, out);
}

}  // namespace cpu
}  // namespace lossext
