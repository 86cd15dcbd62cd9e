// The torch ops of the fused distribution focal loss
// (kernels/distribution_focal.h): schemas, argument checks, allocation and
// params, one implementation for both devices. On the CPU a label outside the
// bins raises a ValueError; on CUDA (no host sync) its row is nan instead.
#include <ATen/ops/empty.h>

#include <tuple>

#include "kernels/distribution_focal.h"
#include "ops/common.h"

namespace lossext {
namespace ops {
namespace {

struct DistributionFocalCall {
  at::Tensor pred, label, loss, lse, saved_lse, grad_loss, grad_pred;
  DistributionFocalParams params;
};

// pred: (N, bins) logits, bins >= 2; label: (N,) floating, read in the
// accumulate type (a copy of N values at most).
DistributionFocalCall distribution_focal_call(const at::Tensor& pred, const at::Tensor& label) {
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

std::tuple<at::Tensor, at::Tensor> distribution_focal_fwd(const at::Tensor& pred, const at::Tensor& label) {
  DistributionFocalCall call = distribution_focal_call(pred, label);
  DistributionFocalParams& p = call.params;
  const auto acc = pred.options().dtype(accumulate_dtype(pred.scalar_type()));
  call.loss = at::empty({p.rows}, acc);
  call.lse = at::empty({p.rows}, acc);
  p.loss = call.loss.mutable_data_ptr();
  p.lse = call.lse.mutable_data_ptr();
  if (p.rows > 0) {
    const CpuStatus status = run_kernel(pred, LOSSEXT_ENTRY(distribution_focal_fwd), p);
    const int64_t row = status.bad_index_at;
    TORCH_CHECK_VALUE(row < 0, "label must lie in [0, bins - 1] = [0, ", p.bins - 1, "], got ",
                      row < 0 ? 0.0 : call.label[row].item<double>(), " at position ", row);
  }
  return {call.loss, call.lse};
}

at::Tensor distribution_focal_bwd(const at::Tensor& grad_loss, const at::Tensor& pred, const at::Tensor& label,
                                  const at::Tensor& lse) {
  DistributionFocalCall call = distribution_focal_call(pred, label);
  DistributionFocalParams& p = call.params;
  const at::ScalarType acc = accumulate_dtype(pred.scalar_type());
  check_same_device(pred, "pred", grad_loss, "grad_loss");
  check_same_device(pred, "pred", lse, "lse");
  TORCH_CHECK_VALUE(grad_loss.dim() == 1 && grad_loss.size(0) == p.rows, "grad_loss must have shape (", p.rows,
                    ",), got ", grad_loss.sizes());
  TORCH_CHECK_VALUE(lse.dim() == 1 && lse.size(0) == p.rows, "lse must have shape (", p.rows, ",), got ", lse.sizes());
  bool broadcast = false;
  call.grad_loss = upstream(grad_loss, acc, &broadcast);
  call.saved_lse = lse.to(acc).contiguous();
  p.grad_loss = call.grad_loss.const_data_ptr();
  p.grad_loss_stride = broadcast ? 0 : 1;
  p.saved_lse = call.saved_lse.const_data_ptr();
  call.grad_pred = at::empty(call.pred.sizes(), call.pred.options());
  p.grad_pred = call.grad_pred.mutable_data_ptr();
  if (p.rows > 0) run_kernel(pred, LOSSEXT_ENTRY(distribution_focal_bwd), p);
  return call.grad_pred;
}

void register_distribution_focal(torch::Library& m) {
  m.impl("distribution_focal_fwd", &distribution_focal_fwd);
  m.impl("distribution_focal_bwd", &distribution_focal_bwd);
}

}  // namespace

// Distribution focal loss: pred (N, bins) logits, label (N,) real positions
// in [0, bins - 1]. Per-row loss and log-sum-exp in float32 (float64 for
// float64 pred); the label gets no gradient.
TORCH_LIBRARY_FRAGMENT(lossext, m) {
  m.def("distribution_focal_fwd(Tensor pred, Tensor label) -> (Tensor loss, Tensor lse)", kPt2);
  m.def("distribution_focal_bwd(Tensor grad_loss, Tensor pred, Tensor label, Tensor lse) -> Tensor", kPt2);
}

LOSSEXT_IMPL_CPU_AND_CUDA(register_distribution_focal)

}  // namespace ops
}  // namespace lossext
