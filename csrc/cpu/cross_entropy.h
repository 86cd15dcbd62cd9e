// Contiguous-row primitives of the cross-entropy CPU entry points
// (cpu/cross_entropy.cpp). A header because the softmax focal entry
// points (cpu/focal.cpp) run the same log-sum-exp and gradient rows.
//
// The float overloads are compiled for AVX-512, AVX2 and baseline x86-64 and
// picked at load time (gcc target_clones), so one wheel runs everywhere and
// still vectorizes; the double overloads are plain loops over libm. They apply
// the per-element formulas of csrc/kernels/*.h and add nothing of their own.
#pragma once

#include <cstdint>

#include "kernels/cross_entropy.h"

namespace lossext {
namespace cpu {

// max_i x_i, ignoring nan (a nan still reaches the loss through the sum).
float row_max(const float* x, int64_t n);
double row_max(const double* x, int64_t n);

// sum_i exp(x_i - shift)
float row_sum_exp(const float* x, int64_t n, float shift);
double row_sum_exp(const double* x, int64_t n, double shift);

// log(sum_i exp(x_i)); an all -inf row gives -inf (and its loss nan, as in torch).
template <typename acc_t>
acc_t log_sum_exp(const acc_t* x, int64_t n) {
  const acc_t m = row_max(x, n);
  if (m == neg_infinity<acc_t>()) return m;
  return m + log_(row_sum_exp(x, n, m));
}

// sum_i w_i x_i, with w = 1 when null.
float row_dot(const float* x, const float* w, int64_t n);
double row_dot(const double* x, const double* w, int64_t n);

// out_c = a p_c - d w_c (index-target gradient off the target class).
void cross_entropy_index_grad_row(const float* x, float* out, int64_t n, float lse,
                                  const CrossEntropyIndexGrad<float>& k, const float* w);
void cross_entropy_index_grad_row(const double* x, double* out, int64_t n, double lse,
                                  const CrossEntropyIndexGrad<double>& k, const double* w);

// mass = sum_c t'_c w_c, dot = sum_c t'_c w_c x_c.
void cross_entropy_prob_stats_row(const float* x, const float* t, const float* w, int64_t n, float smoothing,
                                  int64_t classes, float* mass, float* dot);
void cross_entropy_prob_stats_row(const double* x, const double* t, const double* w, int64_t n, double smoothing,
                                  int64_t classes, double* mass, double* dot);

void cross_entropy_prob_grad_row(const float* x, const float* t, const float* w, float* out, int64_t n, float lse,
                                 float a, float grad_row, float smoothing, int64_t classes);
void cross_entropy_prob_grad_row(const double* x, const double* t, const double* w, double* out, int64_t n, double lse,
                                 double a, double grad_row, double smoothing, int64_t classes);

}  // namespace cpu
}  // namespace lossext
