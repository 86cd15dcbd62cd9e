// Checks and params of the fused distribution focal loss, shared by CPU and CUDA.
#pragma once

#include <ATen/ops/empty.h>

#include "glue/common.h"
#include "kernels/distribution_focal_launch.h"

namespace lossext {
namespace glue {

struct DistributionFocalCall {
  at::Tensor pred, label, loss, lse, saved_lse, grad_loss, grad_pred;
  DistributionFocalParams params;
};

// pred: (N, bins) logits, bins >= 2; label: (N,) floating, read in the
// accumulate type (a copy of N values at most).
inline DistributionFocalCall distribution_focal_call(const at::Tensor& pred, const at::Tensor& label) {
  TORCH_CHECK_VALUE(pred.dim() == 2, "pred must be 2-D (N, bins), got shape ", pred.sizes());
  const DType dtype = to_dtype(pred.scalar_type(), "pred");
  TORCH_CHECK_VALUE(pred.size(1) >= 2, "pred must have at least 2 bins (dim 1), got ", pred.size(1));
  check_same_device(pred, "pred", label, "label");
  TORCH_CHECK_VALUE(label.dim() == 1 && label.size(0) == pred.size(0), "label must have shape (N,) = (", pred.size(0),
                    ",), got ", label.sizes());
  TORCH_CHECK_TYPE(at::isFloatingType(label.scalar_type()), "label must be a floating tensor, got ",
                   label.scalar_type());
  DistributionFocalCall call;
  call.pred = pred.contiguous();
  call.label = label.to(accumulate_dtype(pred.scalar_type())).contiguous();
  DistributionFocalParams& p = call.params;
  p.pred = call.pred.const_data_ptr();
  p.dtype = dtype;
  p.label = call.label.const_data_ptr();
  p.rows = pred.size(0);
  p.bins = pred.size(1);
  return call;
}

inline void alloc_distribution_focal_forward(DistributionFocalCall& call) {
  const auto acc = call.pred.options().dtype(accumulate_dtype(call.pred.scalar_type()));
  call.loss = at::empty({call.params.rows}, acc);
  call.lse = at::empty({call.params.rows}, acc);
  call.params.loss = call.loss.mutable_data_ptr();
  call.params.lse = call.lse.mutable_data_ptr();
}

inline void fill_distribution_focal_backward(DistributionFocalCall& call, const at::Tensor& grad_loss,
                                             const at::Tensor& lse) {
  const int64_t rows = call.params.rows;
  const at::ScalarType acc = accumulate_dtype(call.pred.scalar_type());
  check_same_device(call.pred, "pred", grad_loss, "grad_loss");
  check_same_device(call.pred, "pred", lse, "lse");
  TORCH_CHECK_VALUE(grad_loss.dim() == 1 && grad_loss.size(0) == rows, "grad_loss must have shape (", rows, ",), got ",
                    grad_loss.sizes());
  TORCH_CHECK_VALUE(lse.dim() == 1 && lse.size(0) == rows, "lse must have shape (", rows, ",), got ", lse.sizes());
  bool broadcast = false;
  call.grad_loss = upstream(grad_loss, acc, &broadcast);
  call.saved_lse = lse.to(acc).contiguous();
  DistributionFocalParams& p = call.params;
  p.grad_loss = call.grad_loss.const_data_ptr();
  p.grad_loss_stride = broadcast ? 0 : 1;
  p.saved_lse = call.saved_lse.const_data_ptr();
  call.grad_pred = at::empty(call.pred.sizes(), call.pred.options());
  p.grad_pred = call.grad_pred.mutable_data_ptr();
}

}  // namespace glue
}  // namespace lossext
