// Softmax cross-entropy: the loss of one row and the gradient of one element.
//
// Conventions follow torch.nn.functional.cross_entropy exactly:
//   index target y, class weights w (all 1 when absent), smoothing e, C classes:
//     loss = (1-e) w_y (lse - x_y) + (e/C) sum_c w_c (lse - x_c)  + z lse^2
//   probability target t:   t' = (1-e) t + e/C
//     loss = sum_c t'_c w_c (lse - x_c)                           + z lse^2
// where lse = log sum_c exp(x_c) and z is the optional z-loss (PaLM, Liger).
//
// Gradients, with p_c = exp(x_c - lse) and g the upstream gradient of the row:
//   index:  g [ A p_c - (1-e) w_y [c == y] - (e/C) w_c ],  A = (1-e) w_y + (e/C) sum_c w_c + 2 z lse
//   prob:   g [ A p_c - t'_c w_c ],                         A = sum_c t'_c w_c + 2 z lse
// i.e. softmax(x) pushes every class down and the target term pulls the target up.
#pragma once

#include "cpu/parallel.h"
#include "kernels/common.h"
#include "kernels/layout.h"

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace lossext {

// Everything the loss of an index-target row needs besides the log-sum-exp.
template <typename acc_t>
struct CrossEntropyIndexRow {
  acc_t target_logit;     // x_y
  acc_t target_weight;    // w_y
  acc_t weight_sum;       // sum_c w_c (C without weights)
  acc_t weighted_logits;  // sum_c w_c x_c (only read when smoothing > 0)
};

template <typename acc_t>
LOSSEXT_HD acc_t cross_entropy_index_loss(acc_t lse, const CrossEntropyIndexRow<acc_t>& row, acc_t smoothing,
                                          int64_t classes, acc_t z_loss) {
  acc_t loss = (acc_t(1) - smoothing) * row.target_weight * (lse - row.target_logit);
  // Skipped, not multiplied by zero: sum_c w_c x_c is inf for rows holding -inf
  // logits, and 0 * inf would turn a finite loss into nan.
  if (smoothing > acc_t(0)) {
    loss += smoothing * (row.weight_sum * lse - row.weighted_logits) / acc_t(classes);
  }
  if (z_loss != acc_t(0)) loss += z_loss * lse * lse;
  return loss;
}

// Per-row constants of the index-target gradient: grad_c = a p_c - b [c==y] - d w_c.
template <typename acc_t>
struct CrossEntropyIndexGrad {
  acc_t a;  // coefficient of p_c
  acc_t b;  // subtracted at the target class
  acc_t d;  // coefficient of w_c (label smoothing)
};

template <typename acc_t>
LOSSEXT_HD CrossEntropyIndexGrad<acc_t> cross_entropy_index_grad_coeffs(acc_t grad_row, acc_t lse, acc_t target_weight,
                                                                        acc_t weight_sum, acc_t smoothing,
                                                                        int64_t classes, acc_t z_loss) {
  const acc_t keep = acc_t(1) - smoothing;
  const acc_t spread = smoothing / acc_t(classes);
  CrossEntropyIndexGrad<acc_t> k;
  k.a = grad_row * (keep * target_weight + spread * weight_sum + acc_t(2) * z_loss * lse);
  k.b = grad_row * keep * target_weight;
  k.d = grad_row * spread;
  return k;
}

template <typename acc_t>
LOSSEXT_HD acc_t cross_entropy_index_grad(const CrossEntropyIndexGrad<acc_t>& k, acc_t prob, bool is_target,
                                          acc_t class_weight) {
  return k.a * prob - (is_target ? k.b : acc_t(0)) - k.d * class_weight;
}

// The smoothed probability target t'_c times its class weight.
template <typename acc_t>
LOSSEXT_HD acc_t cross_entropy_prob_target(acc_t target, acc_t class_weight, acc_t smoothing, int64_t classes) {
  return ((acc_t(1) - smoothing) * target + smoothing / acc_t(classes)) * class_weight;
}

// loss = lse * sum_c t'_c w_c - sum_c t'_c w_c x_c + z lse^2
template <typename acc_t>
LOSSEXT_HD acc_t cross_entropy_prob_loss(acc_t lse, acc_t target_mass, acc_t target_dot_logits, acc_t z_loss) {
  acc_t loss = lse * target_mass - target_dot_logits;
  if (z_loss != acc_t(0)) loss += z_loss * lse * lse;
  return loss;
}

// Coefficient of p_c in the soft-target gradient; the element is a p_c - g t'_c w_c.
template <typename acc_t>
LOSSEXT_HD acc_t cross_entropy_prob_grad_coeff(acc_t grad_row, acc_t lse, acc_t target_mass, acc_t z_loss) {
  return grad_row * (target_mass + acc_t(2) * z_loss * lse);
}

template <typename acc_t>
LOSSEXT_HD acc_t cross_entropy_prob_grad(acc_t a, acc_t grad_row, acc_t prob, acc_t weighted_target) {
  return a * prob - grad_row * weighted_target;
}

// ---- The contract between the torch op and the kernels of both devices.

// Raw pointers, sizes, strides and a dtype: the op fills it once, the CUDA
// launchers and the CPU entry points read the same struct. Statistics,
// weights and per-row outputs are in the accumulate type (float, or double
// for float64 logits).
struct CrossEntropyParams {
  // Inputs. `logits` is walked through `layout`.
  const void* logits = nullptr;
  DType dtype = DType::Float32;
  RowLayout layout;

  const int64_t* target_index = nullptr;  // [rows], index targets
  const void* target_probs = nullptr;     // probability targets, same dtype as logits
  RowLayout target_layout;                // walk of target_probs

  const void* weight = nullptr;      // [C] accumulate type, or null for all ones
  const void* weight_sum = nullptr;  // scalar accumulate type, sum of weight (device-side: no sync)
  IgnoreIndex ignore_index;          // index targets: a row of this class counts for nothing
  double label_smoothing = 0.0;
  double z_loss = 0.0;

  // Forward outputs, [rows] each, accumulate type.
  void* loss = nullptr;
  void* lse_out = nullptr;
  void* row_weight = nullptr;       // index: w_y, 0 when ignored, nan when out of range
  void* target_mass_out = nullptr;  // prob: sum_c t'_c w_c (backward needs it before its pass)

  // Backward inputs: what the forward wrote to lse_out and target_mass_out.
  const void* lse = nullptr;
  const void* target_mass = nullptr;
  // grad_loss[row * grad_loss_stride] (stride 0 for a broadcast scalar).
  const void* grad_loss = nullptr;
  int64_t grad_loss_stride = 1;
  void* grad_logits = nullptr;  // dense (N, C, D) in the logits dtype
};

// The entry points: one CUDA launcher and one CPU driver per pass, same params.
// An out-of-range class index (not ignore_index) makes its row nan on both
// devices; the CPU entries also report the first one (CpuStatus), which the
// op raises as an IndexError (CUDA cannot without a host sync).
#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
cudaError_t cross_entropy_index_fwd_cuda(const CrossEntropyParams& p, cudaStream_t stream);
cudaError_t cross_entropy_index_bwd_cuda(const CrossEntropyParams& p, cudaStream_t stream);
cudaError_t cross_entropy_prob_fwd_cuda(const CrossEntropyParams& p, cudaStream_t stream);
cudaError_t cross_entropy_prob_bwd_cuda(const CrossEntropyParams& p, cudaStream_t stream);
#endif
CpuStatus cross_entropy_index_fwd_cpu(const CrossEntropyParams& p, ParallelFor parallel_for);
CpuStatus cross_entropy_index_bwd_cpu(const CrossEntropyParams& p, ParallelFor parallel_for);
CpuStatus cross_entropy_prob_fwd_cpu(const CrossEntropyParams& p, ParallelFor parallel_for);
CpuStatus cross_entropy_prob_bwd_cpu(const CrossEntropyParams& p, ParallelFor parallel_for);

}  // namespace lossext
