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

#include "cpu/loops/parallel.h"
#include "kernels/common.h"
#include "kernels/layout.h"

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

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

// ---- The contract between the torch op and the kernels of both devices.

// pred: (rows, bins) dense logits of `dtype`; label: (rows,) dense, in the
// accumulate type (float, double for float64 pred). bins >= 2.
// Forward writes loss and lse, (rows,) each in the accumulate type. A label
// outside [0, bins - 1] (or nan) is never used as an index: its row's loss is
// nan (the CPU entry reports it, the op raises).
// Backward reads the forward's lse as saved_lse and writes
// grad_pred = grad_loss[row * grad_loss_stride] * d loss[row] / d pred,
// (rows, bins) of `dtype`; a row with an invalid label gets nan.
struct DistributionFocalParams {
  const void* pred = nullptr;
  DType dtype = DType::Float32;
  const void* label = nullptr;
  int64_t rows = 0;
  int64_t bins = 0;
  void* loss = nullptr;
  void* lse = nullptr;
  const void* saved_lse = nullptr;
  const void* grad_loss = nullptr;
  int64_t grad_loss_stride = 1;
  void* grad_pred = nullptr;
};

// Rows of at most this many bins get a thread each on CUDA, longer ones a warp.
constexpr int64_t kDflThreadRowBins = 32;

// The entry points: one CUDA launcher and one CPU driver per pass, same params.
// The CPU forward reports the first row with an invalid label (bad_index_at).
#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
cudaError_t distribution_focal_fwd_cuda(const DistributionFocalParams& p, cudaStream_t stream);
cudaError_t distribution_focal_bwd_cuda(const DistributionFocalParams& p, cudaStream_t stream);
#endif
CpuStatus distribution_focal_fwd_cpu(const DistributionFocalParams& p, ParallelFor parallel_for);
CpuStatus distribution_focal_bwd_cpu(const DistributionFocalParams& p, ParallelFor parallel_for);

}  // namespace lossext
