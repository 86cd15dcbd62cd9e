// Overlap losses for segmentation (Dice, Jaccard, Tversky, and the
// cross-entropy half of Dice+CE): the per-pixel pieces shared by the CPU and
// CUDA kernels.
//
// Every overlap score is a function of three sums per (sample, class):
//   TP = sum p t,   SP = sum p (or p^2 with squared_pred),   ST = sum t (or t^2)
// over the pixels that are not ignored. The kernels compute only those sums
// (and, for Dice+CE, the cross-entropy sum and the count of valid pixels);
// the score, the empty-class rule, class weights and the reductions are a few
// torch ops on (N, C) tensors in Python, whose autograd hands back
//   A = dL/dTP,  B = dL/dSP   per (sample, class)   (ST does not depend on x).
// The backward kernel turns them into the gradient of the logits in one pass:
//   g_c   = dL/dp_c = A_c t_c + B_c (2 p_c if squared_pred else 1)
//   softmax: dL/dx_c = p_c (g_c - sum_k p_k g_k)
//   sigmoid: dL/dx_c = g_c p_c (1 - p_c)
//   identity (from_logits=False): dL/dx_c = g_c
// and, for Dice+CE with upstream G per sample and label smoothing s,
//   + G (p_c - (1 - s) [c == y] - s / C).
// Ignored pixels contribute nothing to the sums and get a zero gradient.
#pragma once

#include "kernels/common.h"
#include "kernels/static_switch.h"

namespace lossext {

// How probabilities are made from the input (the op's `activation` argument).
enum class SegActivation : int { Identity = 0, Sigmoid = 1, Softmax = 2 };
// The activations each target kind takes (the glue checks): softmax with index
// targets, sigmoid with dense ones; any other value runs as Identity.
template <bool INDEX_TARGET>
constexpr auto seg_activations() {
  if constexpr (INDEX_TARGET) {
    return ValueList<SegActivation::Softmax, SegActivation::Identity>{};
  } else {
    return ValueList<SegActivation::Sigmoid, SegActivation::Identity>{};
  }
}

// Statistics per (sample, class) in the order the ops return them.
enum SegStat : int { kSegTP = 0, kSegSP = 1, kSegST = 2, kSegStats = 3 };
// Per-sample extras: cross-entropy sum over valid pixels, valid-pixel count.
enum SegExtra : int { kSegCE = 0, kSegValid = 1, kSegExtras = 2 };

// sigmoid(x) = 1 / (1 + exp(-x)); exp overflows to inf for x < -88, which
// gives exactly 0, and underflows to 0 for large x, which gives exactly 1.
template <typename acc_t>
LOSSEXT_HD acc_t seg_sigmoid(acc_t x) {
  return acc_t(1) / (acc_t(1) + fast_exp(-x));
}

// dL/dp of one pixel and class from the score coefficients.
template <typename acc_t>
LOSSEXT_HD acc_t seg_dp(acc_t A, acc_t B, acc_t t, acc_t p, bool squared) {
  return A * t + B * (squared ? acc_t(2) * p : acc_t(1));
}

// Per-pixel softmax cross-entropy with label smoothing s over C classes:
//   lse - (1 - s) x_y - (s / C) sum_c x_c
template <typename acc_t>
LOSSEXT_HD acc_t seg_ce_pixel(acc_t lse, acc_t x_y, acc_t sum_x, acc_t smoothing, acc_t classes) {
  return lse - (acc_t(1) - smoothing) * x_y - smoothing / classes * sum_x;
}

// d(cross-entropy)/dx_c of one pixel: p_c - (1 - s) [c == y] - s / C.
template <typename acc_t>
LOSSEXT_HD acc_t seg_ce_grad(acc_t p, bool is_target, acc_t smoothing, acc_t classes) {
  return p - (is_target ? acc_t(1) - smoothing : acc_t(0)) - smoothing / classes;
}

}  // namespace lossext
