// Contiguous-row loops of the focal losses on the CPU, free of torch headers
// (float overloads are compiled per x86 ISA level, see row_kernels.cpp). Each
// loop applies the per-element formulas of kernels/focal.h and nothing else.
#pragma once

#include <cstdint>

#include "kernels/focal.h"

namespace lossext {
namespace cpu {

// One row of sigmoid focal loss. Targets: `t` (dense, n values) when non-null,
// else the class index `y` (y = -1: background, every class negative). `w` is
// null for unit class weights. Writes the n element losses to `out` and
// returns their sum.
float sigmoid_focal_row_loss(const float* x, const float* t, int64_t y, const float* w, int64_t n,
                             const SigmoidFocalConfig<float>& cfg, GammaKind k, float* out);
double sigmoid_focal_row_loss(const double* x, const double* t, int64_t y, const double* w, int64_t n,
                              const SigmoidFocalConfig<double>& cfg, GammaKind k, double* out);

// out_c = g_c dL_c/dx_c, with g_c = g[c] when g is non-null, else g_row.
void sigmoid_focal_row_grad(const float* x, const float* t, int64_t y, const float* w, int64_t n,
                            const SigmoidFocalConfig<float>& cfg, GammaKind k, const float* g, float g_row,
                            float* out);
void sigmoid_focal_row_grad(const double* x, const double* t, int64_t y, const double* w, int64_t n,
                            const SigmoidFocalConfig<double>& cfg, GammaKind k, const double* g, double g_row,
                            double* out);

}  // namespace cpu
}  // namespace lossext
