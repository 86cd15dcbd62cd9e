// Contiguous-chunk loops of the KL and JS divergences for the CPU kernels.
// Float versions are compiled per ISA (target_clones) so that they vectorize
// on every x86-64; double versions are plain loops over libm. They apply the
// formulas of kernels/divergence.h and add nothing of their own.
#pragma once

#include <cstdint>

namespace lossext {
namespace cpu {

// sum_i term(x_i, t_i)
float kl_div_sum(const float* x, const float* t, int64_t n, bool log_target);
double kl_div_sum(const double* x, const double* t, int64_t n, bool log_target);
float js_div_sum(const float* x, const float* t, int64_t n, float beta, bool log_target);
double js_div_sum(const double* x, const double* t, int64_t n, double beta, bool log_target);

// out_i = g * d term / d x_i
void kl_div_grad(const float* t, float g, float* out, int64_t n, bool log_target);
void kl_div_grad(const double* t, double g, double* out, int64_t n, bool log_target);
void js_div_grad(const float* x, const float* t, float g, float* out, int64_t n, float beta, bool log_target);
void js_div_grad(const double* x, const double* t, double g, double* out, int64_t n, double beta, bool log_target);

}  // namespace cpu
}  // namespace lossext
