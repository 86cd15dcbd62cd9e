// Definitions for divergence.h; free of torch headers so it compiles
// in seconds. `log_target` is hoisted out of the loops so that each loop body
// is branch-free and vectorizes.
#include "cpu/loops/vectorize.h"

#include "cpu/loops/divergence.h"

#include "kernels/divergence.h"

namespace lossext {
namespace cpu {
namespace {

template <typename T, bool LOG_TARGET>
LOSSEXT_ALWAYS_INLINE T kl_sum_impl(const T* x, const T* t, int64_t n) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += kl_div_term(x[i], t[i], LOG_TARGET);
  return s;
}

template <typename T, bool LOG_TARGET>
LOSSEXT_ALWAYS_INLINE T js_sum_impl(const T* x, const T* t, int64_t n, T beta) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += js_div_term(x[i], t[i], beta, LOG_TARGET);
  return s;
}

template <typename T, bool LOG_TARGET>
LOSSEXT_ALWAYS_INLINE void kl_grad_impl(const T* t, T g, T* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = kl_div_grad_input(t[i], g, LOG_TARGET);
}

template <typename T, bool LOG_TARGET>
LOSSEXT_ALWAYS_INLINE void js_grad_impl(const T* x, const T* t, T g, T* out, int64_t n, T beta) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = js_div_grad_input(x[i], t[i], beta, LOG_TARGET, g);
}

template <typename T>
LOSSEXT_ALWAYS_INLINE T kl_sum(const T* x, const T* t, int64_t n, bool log_target) {
  return log_target ? kl_sum_impl<T, true>(x, t, n) : kl_sum_impl<T, false>(x, t, n);
}
template <typename T>
LOSSEXT_ALWAYS_INLINE T js_sum(const T* x, const T* t, int64_t n, T beta, bool log_target) {
  return log_target ? js_sum_impl<T, true>(x, t, n, beta) : js_sum_impl<T, false>(x, t, n, beta);
}
template <typename T>
LOSSEXT_ALWAYS_INLINE void kl_grad(const T* t, T g, T* out, int64_t n, bool log_target) {
  log_target ? kl_grad_impl<T, true>(t, g, out, n) : kl_grad_impl<T, false>(t, g, out, n);
}
template <typename T>
LOSSEXT_ALWAYS_INLINE void js_grad(const T* x, const T* t, T g, T* out, int64_t n, T beta, bool log_target) {
  log_target ? js_grad_impl<T, true>(x, t, g, out, n, beta) : js_grad_impl<T, false>(x, t, g, out, n, beta);
}

}  // namespace

LOSSEXT_CPU_CLONES float kl_div_sum(const float* x, const float* t, int64_t n, bool log_target) {
  return kl_sum(x, t, n, log_target);
}
double kl_div_sum(const double* x, const double* t, int64_t n, bool log_target) { return kl_sum(x, t, n, log_target); }

LOSSEXT_CPU_CLONES float js_div_sum(const float* x, const float* t, int64_t n, float beta, bool log_target) {
  return js_sum(x, t, n, beta, log_target);
}
double js_div_sum(const double* x, const double* t, int64_t n, double beta, bool log_target) {
  return js_sum(x, t, n, beta, log_target);
}

LOSSEXT_CPU_CLONES void kl_div_grad(const float* t, float g, float* out, int64_t n, bool log_target) {
  kl_grad(t, g, out, n, log_target);
}
void kl_div_grad(const double* t, double g, double* out, int64_t n, bool log_target) {
  kl_grad(t, g, out, n, log_target);
}

LOSSEXT_CPU_CLONES void js_div_grad(const float* x, const float* t, float g, float* out, int64_t n, float beta,
                                    bool log_target) {
  js_grad(x, t, g, out, n, beta, log_target);
}
void js_div_grad(const double* x, const double* t, double g, double* out, int64_t n, double beta, bool log_target) {
  js_grad(x, t, g, out, n, beta, log_target);
}

}  // namespace cpu
}  // namespace lossext
