// Distribution focal loss (Li et al., "Generalized Focal Loss", the DFL of
// mmdet and ultralytics): the math of one row, shared by CPU and CUDA.
//
// A row holds logits over `bins` integer positions 0 .. bins - 1 and a real
// label y between them. With l = floor(y) and r = l + 1,
//   loss = wl * (lse - x[l]) + wr * (lse - x[r]),  wl = r - y, wr = y - l,
// the two cross-entropies of mmdet's distribution_focal_loss. A label exactly
// on the last bin (y = bins - 1) takes the last interval (l = bins - 2,
// wl = 0): the limit of the formula, where mmdet's own code would index a
// bin past the end.
// Gradient w.r.t. the logits: (wl + wr) * softmax(x) - wl e_l - wr e_r.
#pragma once

#include "kernels/common.h"

namespace lossext {

template <typename T>
struct DflSplit {
  int64_t left;  // l; the right bin is l + 1
  T wl, wr;
};

// Finite and inside [0, bins - 1]; nan fails both comparisons.
template <typename T>
LOSSEXT_HD bool dfl_label_valid(T label, int64_t bins) {
  return label >= T(0) && label <= T(bins - 1);
}

// For a valid label and bins >= 2. The truncation is floor (label >= 0).
template <typename T>
LOSSEXT_HD DflSplit<T> dfl_split(T label, int64_t bins) {
  int64_t left = static_cast<int64_t>(label);
  if (left > bins - 2) left = bins - 2;
  return {left, static_cast<T>(left + 1) - label, label - static_cast<T>(left)};
}

// The loss of a row from its log-sum-exp and the two logits at l and r.
template <typename T>
LOSSEXT_HD T dfl_row_loss(const DflSplit<T>& s, T lse, T x_left, T x_right) {
  return s.wl * (lse - x_left) + s.wr * (lse - x_right);
}

// d loss / d x[c] for the logit x of bin c, before the upstream gradient.
template <typename T>
LOSSEXT_HD T dfl_grad(const DflSplit<T>& s, int64_t c, T x, T lse) {
  T d = (s.wl + s.wr) * fast_exp(x - lse);
  if (c == s.left) d -= s.wl;
  if (c == s.left + 1) d -= s.wr;
  return d;
}

}  // namespace lossext
