// The torch ops of the fused smooth L1 / Huber losses (kernels/regression.h):
// schemas, argument checks, allocation and params, one implementation for
// both devices.
#include <ATen/ops/empty.h>

#include "kernels/regression.h"
#include "ops/common.h"

namespace lossext {
namespace ops {
namespace {

struct RegressionCall {
  at::Tensor input, target;
  RegressionParams params;
};

// input and target: same shape and floating dtype (the Python side
// broadcasts and promotes, as torch does).
RegressionCall regression_call(const at::Tensor& input, const at::Tensor& target, int64_t kind, double param) {
  check_same_device(input, "input", target, "target");
  TORCH_CHECK_VALUE(input.sizes() == target.sizes(), "target must have the shape of input ", input.sizes(), ", got ",
                    target.sizes());
  TORCH_CHECK_TYPE(input.scalar_type() == target.scalar_type(), "target must have the dtype of input ",
                   input.scalar_type(), ", got ", target.scalar_type());
  TORCH_CHECK_VALUE(kind == 0 || kind == 1, "kind must be 0 (smooth_l1) or 1 (huber), got ", kind);
  TORCH_CHECK_VALUE(kind == 0 ? param >= 0.0 : param > 0.0, kind == 0 ? "beta must be >= 0" : "delta must be > 0",
                    ", got ", param);
  RegressionCall call;
  call.input = input.contiguous();
  call.target = target.contiguous();
  RegressionParams& p = call.params;
  p.input = call.input.const_data_ptr();
  p.target = call.target.const_data_ptr();
  p.dtype = to_dtype(input.scalar_type(), "input");
  p.numel = input.numel();
  p.kind = static_cast<RegressionKind>(kind);
  p.param = param;
  return call;
}

at::Tensor regression_fwd(const at::Tensor& input, const at::Tensor& target, int64_t kind, double param) {
  RegressionCall call = regression_call(input, target, kind, param);
  at::Tensor loss = at::empty(call.input.sizes(), call.input.options());
  call.params.loss = loss.mutable_data_ptr();
  run_kernel(input, LOSSEXT_ENTRY(regression_fwd), call.params);
  return loss;
}

at::Tensor regression_bwd(const at::Tensor& grad_loss, const at::Tensor& input, const at::Tensor& target, int64_t kind,
                          double param) {
  RegressionCall call = regression_call(input, target, kind, param);
  RegressionParams& p = call.params;
  TORCH_CHECK_VALUE(grad_loss.sizes() == call.input.sizes(), "grad_loss must have shape ", call.input.sizes(), ", got ",
                    grad_loss.sizes());
  check_same_device(input, "input", grad_loss, "grad_loss");
  bool broadcast = false;
  const at::Tensor g = upstream(grad_loss, accumulate_dtype(input.scalar_type()), &broadcast);
  p.grad_loss = g.const_data_ptr();
  p.grad_loss_stride = broadcast ? 0 : 1;
  at::Tensor grad_input = at::empty(call.input.sizes(), call.input.options());
  p.grad_input = grad_input.mutable_data_ptr();
  run_kernel(input, LOSSEXT_ENTRY(regression_bwd), p);
  return grad_input;
}

void register_regression(torch::Library& m) {
  m.impl("regression_fwd", &regression_fwd);
  m.impl("regression_bwd", &regression_bwd);
}

}  // namespace

// Smooth L1 (kind 0, param beta) and Huber (kind 1, param delta) of
// same-shape, same-dtype input and target: per-element loss in input's
// dtype; the backward gives d/d input (the target's gradient is its negative).
TORCH_LIBRARY_FRAGMENT(lossext, m) {
  m.def("regression_fwd(Tensor input, Tensor target, int kind, float param) -> Tensor", kPt2);
  m.def("regression_bwd(Tensor grad_loss, Tensor input, Tensor target, int kind, float param) -> Tensor", kPt2);
}

LOSSEXT_IMPL_CPU_AND_CUDA(register_regression)

}  // namespace ops
}  // namespace lossext
