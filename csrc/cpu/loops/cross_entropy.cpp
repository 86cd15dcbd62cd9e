// Definitions for cross_entropy.h. Free of torch headers on purpose: this file
// compiles in seconds and holds all of the CPU inner loops.
#include "cpu/loops/vectorize.h"

#include "cpu/loops/cross_entropy.h"

namespace lossext {
namespace cpu {
namespace {

template <typename T>
LOSSEXT_ALWAYS_INLINE T max_impl(const T* x, int64_t n) {
  T m = neg_infinity<T>();
#pragma omp simd reduction(max : m)
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

template <typename T>
LOSSEXT_ALWAYS_INLINE T sum_exp_impl(const T* x, int64_t n, T shift) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += fast_exp(x[i] - shift);
  return s;
}

template <typename T>
LOSSEXT_ALWAYS_INLINE T dot_impl(const T* x, const T* w, int64_t n) {
  T s = 0;
  if (w == nullptr) {
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += x[i];
  } else {
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += w[i] * x[i];
  }
  return s;
}

template <typename T>
LOSSEXT_ALWAYS_INLINE void index_grad_impl(const T* x, T* out, int64_t n, T lse, const CrossEntropyIndexGrad<T>& k,
                                           const T* w) {
  if (w == nullptr) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = cross_entropy_index_grad(k, fast_exp(x[i] - lse), false, T(1));
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = cross_entropy_index_grad(k, fast_exp(x[i] - lse), false, w[i]);
  }
}

template <typename T>
LOSSEXT_ALWAYS_INLINE void prob_stats_impl(const T* x, const T* t, const T* w, int64_t n, T smoothing, int64_t classes,
                                           T* mass_out, T* dot_out) {
  T mass = 0, dot = 0;
#pragma omp simd reduction(+ : mass, dot)
  for (int64_t i = 0; i < n; ++i) {
    const T tw = cross_entropy_prob_target(t[i], w ? w[i] : T(1), smoothing, classes);
    mass += tw;
    dot += tw * x[i];
  }
  *mass_out = mass;
  *dot_out = dot;
}

template <typename T>
LOSSEXT_ALWAYS_INLINE void prob_grad_impl(const T* x, const T* t, const T* w, T* out, int64_t n, T lse, T a, T grad_row,
                                          T smoothing, int64_t classes) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const T tw = cross_entropy_prob_target(t[i], w ? w[i] : T(1), smoothing, classes);
    out[i] = cross_entropy_prob_grad(a, grad_row, fast_exp(x[i] - lse), tw);
  }
}

}  // namespace

LOSSEXT_CPU_CLONES float row_max(const float* x, int64_t n) { return max_impl(x, n); }
double row_max(const double* x, int64_t n) { return max_impl(x, n); }

LOSSEXT_CPU_CLONES float row_sum_exp(const float* x, int64_t n, float shift) { return sum_exp_impl(x, n, shift); }
double row_sum_exp(const double* x, int64_t n, double shift) { return sum_exp_impl(x, n, shift); }

LOSSEXT_CPU_CLONES float row_dot(const float* x, const float* w, int64_t n) { return dot_impl(x, w, n); }
double row_dot(const double* x, const double* w, int64_t n) { return dot_impl(x, w, n); }

LOSSEXT_CPU_CLONES void cross_entropy_index_grad_row(const float* x, float* out, int64_t n, float lse,
                                                     const CrossEntropyIndexGrad<float>& k, const float* w) {
  index_grad_impl(x, out, n, lse, k, w);
}
void cross_entropy_index_grad_row(const double* x, double* out, int64_t n, double lse,
                                  const CrossEntropyIndexGrad<double>& k, const double* w) {
  index_grad_impl(x, out, n, lse, k, w);
}

LOSSEXT_CPU_CLONES void cross_entropy_prob_stats_row(const float* x, const float* t, const float* w, int64_t n,
                                                     float smoothing, int64_t classes, float* mass, float* dot) {
  prob_stats_impl(x, t, w, n, smoothing, classes, mass, dot);
}
void cross_entropy_prob_stats_row(const double* x, const double* t, const double* w, int64_t n, double smoothing,
                                  int64_t classes, double* mass, double* dot) {
  prob_stats_impl(x, t, w, n, smoothing, classes, mass, dot);
}

LOSSEXT_CPU_CLONES void cross_entropy_prob_grad_row(const float* x, const float* t, const float* w, float* out,
                                                    int64_t n, float lse, float a, float grad_row, float smoothing,
                                                    int64_t classes) {
  prob_grad_impl(x, t, w, out, n, lse, a, grad_row, smoothing, classes);
}
void cross_entropy_prob_grad_row(const double* x, const double* t, const double* w, double* out, int64_t n, double lse,
                                 double a, double grad_row, double smoothing, int64_t classes) {
  prob_grad_impl(x, t, w, out, n, lse, a, grad_row, smoothing, classes);
}

}  // namespace cpu
}  // namespace lossext
