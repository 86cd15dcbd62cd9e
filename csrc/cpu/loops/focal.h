// Sigmoid focal loss over blocks of contiguous rows on the CPU, free of torch
// headers (the float overloads are compiled per x86 ISA level, see
// cpu/loops/vectorize.h). Each loop applies the per-element formulas of
// kernels/focal.h and nothing else.
#pragma once

#include <cstdint>

#include "kernels/focal.h"

namespace lossext {
namespace cpu {

// `rows` x `classes` logits in the accumulate type, contiguous, with either
// dense targets `t` (the same shape) or class indices `y` (one a row: c makes
// class c positive, -1 every class negative, ignore_index nothing, any other
// value is a bad row). `w`: per-class weights, or null.
template <typename T>
struct SigmoidFocalRows {
  const T* x = nullptr;
  const T* t = nullptr;
  const int64_t* y = nullptr;
  int64_t ignore_index = -100;
  const T* w = nullptr;
  int64_t rows = 0;
  int64_t classes = 0;
  SigmoidFocalConfig<T> cfg{};
  GammaKind kind = GammaKind::Two;
};

// Forward. reduce: loss[r] = sum_c L_rc, else loss[r * classes + c] = L_rc.
// Ignored rows give 0, bad rows nan. Returns the first bad row, or -1.
int64_t sigmoid_focal_rows_loss(const SigmoidFocalRows<float>& a, bool reduce, float* loss);
int64_t sigmoid_focal_rows_loss(const SigmoidFocalRows<double>& a, bool reduce, double* loss);

// Backward: out[r, c] = g_rc dL_rc/dx_rc with g_rc = g_elem[r, c] when g_elem
// is non-null, else g_row[r] when g_row is, else g_scalar. Ignored rows give
// 0, bad rows nan.
void sigmoid_focal_rows_grad(const SigmoidFocalRows<float>& a, const float* g_elem, const float* g_row, float g_scalar,
                             float* out);
void sigmoid_focal_rows_grad(const SigmoidFocalRows<double>& a, const double* g_elem, const double* g_row,
                             double g_scalar, double* out);

// Forward that also writes the gradient: loss as sigmoid_focal_rows_loss and
// grad[r * classes + c] = dL_rc/dx_rc (no upstream factor; ignored rows 0,
// bad rows nan), from one evaluation of the element math. Returns the first
// bad row, or -1.
int64_t sigmoid_focal_rows_loss_grad(const SigmoidFocalRows<float>& a, bool reduce, float* loss, float* grad);
int64_t sigmoid_focal_rows_loss_grad(const SigmoidFocalRows<double>& a, bool reduce, double* loss, double* grad);

// Backward from that saved gradient: out[r, c] = g_rc d[r, c], g_rc chosen as
// in sigmoid_focal_rows_grad.
void sigmoid_focal_rows_scale(const float* d, int64_t rows, int64_t classes, const float* g_elem, const float* g_row,
                              float g_scalar, float* out);
void sigmoid_focal_rows_scale(const double* d, int64_t rows, int64_t classes, const double* g_elem, const double* g_row,
                              double g_scalar, double* out);

}  // namespace cpu
}  // namespace lossext
