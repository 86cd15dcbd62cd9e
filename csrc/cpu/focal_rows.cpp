// Definitions for focal_rows.h. Every variant (gamma kind, dense or index
// target, weighted or not) is its own loop so that the vectorizer sees no
// loop-invariant branch.
#include "cpu/vectorize.h"

#include "cpu/focal_rows.h"

#include <type_traits>


namespace lossext {
namespace cpu {
namespace {

// Index targets: the loops treat every class as negative (a constant target,
// which vectorizes) and the positive class y, if any, is redone after.
template <typename T, bool DENSE> LOSSEXT_ALWAYS_INLINE T target_at(const T* t, int64_t c) {
  if constexpr (DENSE) {
    return t[c];
  } else {
    return T(0);
  }
}

template <GammaKind K, bool DENSE, bool WEIGHTED, typename T>
LOSSEXT_ALWAYS_INLINE T loss_impl(const T* x, const T* t, int64_t y, const T* w, int64_t n,
                                  const SigmoidFocalConfig<T>& config, T* out) {
  const SigmoidFocalConfig<T> cfg = config;  // a local copy: `out` cannot alias it
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) {
    out[c] = sigmoid_focal_element<true, K>(x[c], target_at<T, DENSE>(t, c), WEIGHTED ? w[c] : T(1), cfg);
  }
  if (!DENSE && y >= 0) out[y] = sigmoid_focal_element<true, K>(x[y], T(1), WEIGHTED ? w[y] : T(1), cfg);
  // A separate pass over the row (in L1): a reduction inside the loop above
  // keeps gcc from vectorizing it.
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t c = 0; c < n; ++c) s += out[c];
  return s;
}

template <GammaKind K, bool DENSE, bool WEIGHTED, bool PER_ELEMENT, typename T>
LOSSEXT_ALWAYS_INLINE void grad_impl(const T* x, const T* t, int64_t y, const T* w, int64_t n,
                                     const SigmoidFocalConfig<T>& config, const T* g, T g_row, T* out) {
  const SigmoidFocalConfig<T> cfg = config;
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) {
    const T d = sigmoid_focal_element<false, K>(x[c], target_at<T, DENSE>(t, c), WEIGHTED ? w[c] : T(1), cfg);
    out[c] = (PER_ELEMENT ? g[c] : g_row) * d;
  }
  if (!DENSE && y >= 0) {
    out[y] = (PER_ELEMENT ? g[y] : g_row) * sigmoid_focal_element<false, K>(x[y], T(1), WEIGHTED ? w[y] : T(1), cfg);
  }
}

// The runtime choices become template arguments here, in the body of each
// cloned entry point, so that every loop is inlined into (and vectorized for)
// the clone's ISA; a helper lambda would be compiled for the baseline only.
#define LOSSEXT_FOCAL_VARIANTS(CALL)                                      \
  switch (k) {                                                           \
    case GammaKind::Zero: CALL(GammaKind::Zero); break;                  \
    case GammaKind::One: CALL(GammaKind::One); break;                    \
    case GammaKind::Two: CALL(GammaKind::Two); break;                    \
    default: CALL(GammaKind::General); break;                            \
  }

#define LOSSEXT_FOCAL_LOSS(K)                                                                  \
  if (t && w) s = loss_impl<K, true, true>(x, t, y, w, n, cfg, out);                          \
  else if (t) s = loss_impl<K, true, false>(x, t, y, w, n, cfg, out);                         \
  else if (w) s = loss_impl<K, false, true>(x, t, y, w, n, cfg, out);                         \
  else s = loss_impl<K, false, false>(x, t, y, w, n, cfg, out);

#define LOSSEXT_FOCAL_GRAD_G(K, D, W)                                         \
  if (g) grad_impl<K, D, W, true>(x, t, y, w, n, cfg, g, g_row, out);         \
  else grad_impl<K, D, W, false>(x, t, y, w, n, cfg, g, g_row, out);

#define LOSSEXT_FOCAL_GRAD(K)                                  \
  if (t && w) { LOSSEXT_FOCAL_GRAD_G(K, true, true) }          \
  else if (t) { LOSSEXT_FOCAL_GRAD_G(K, true, false) }         \
  else if (w) { LOSSEXT_FOCAL_GRAD_G(K, false, true) }         \
  else { LOSSEXT_FOCAL_GRAD_G(K, false, false) }

}  // namespace

LOSSEXT_CPU_CLONES float sigmoid_focal_row_loss(const float* x, const float* t, int64_t y, const float* w, int64_t n,
                                                const SigmoidFocalConfig<float>& cfg, GammaKind k, float* out) {
  float s = 0;
  LOSSEXT_FOCAL_VARIANTS(LOSSEXT_FOCAL_LOSS)
  return s;
}

double sigmoid_focal_row_loss(const double* x, const double* t, int64_t y, const double* w, int64_t n,
                              const SigmoidFocalConfig<double>& cfg, GammaKind k, double* out) {
  double s = 0;
  LOSSEXT_FOCAL_VARIANTS(LOSSEXT_FOCAL_LOSS)
  return s;
}

LOSSEXT_CPU_CLONES void sigmoid_focal_row_grad(const float* x, const float* t, int64_t y, const float* w, int64_t n,
                                               const SigmoidFocalConfig<float>& cfg, GammaKind k, const float* g,
                                               float g_row, float* out) {
  LOSSEXT_FOCAL_VARIANTS(LOSSEXT_FOCAL_GRAD)
}

void sigmoid_focal_row_grad(const double* x, const double* t, int64_t y, const double* w, int64_t n,
                            const SigmoidFocalConfig<double>& cfg, GammaKind k, const double* g, double g_row,
                            double* out) {
  LOSSEXT_FOCAL_VARIANTS(LOSSEXT_FOCAL_GRAD)
}

}  // namespace cpu
}  // namespace lossext
