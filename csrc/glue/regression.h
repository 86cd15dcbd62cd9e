// Checks and params of the fused smooth L1 / Huber ops, shared by CPU and CUDA.
#pragma once

#include <ATen/ops/empty.h>

#include <algorithm>

#include "glue/common.h"
#include "kernels/regression_launch.h"

namespace lossext {
namespace glue {

struct RegressionCall {
  at::Tensor input, target, loss, grad_loss, grad_input;
  RegressionParams params;
};

// input and target: same shape and floating dtype (the Python side
// broadcasts and promotes, as torch does).
inline RegressionCall regression_call(const at::Tensor& input, const at::Tensor& target, int64_t kind, double param) {
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

inline void alloc_regression_loss(RegressionCall& call) {
  call.loss = at::empty(call.input.sizes(), call.input.options());
  call.params.loss = call.loss.mutable_data_ptr();
}

inline void fill_regression_backward(RegressionCall& call, const at::Tensor& grad_loss) {
  TORCH_CHECK_VALUE(grad_loss.sizes() == call.input.sizes(), "grad_loss must have shape ", call.input.sizes(), ", got ",
                    grad_loss.sizes());
  check_same_device(call.input, "input", grad_loss, "grad_loss");
  bool broadcast = false;
  call.grad_loss = upstream(grad_loss, accumulate_dtype(call.input.scalar_type()), &broadcast);
  call.params.grad_loss = call.grad_loss.const_data_ptr();
  call.params.grad_loss_stride = broadcast ? 0 : 1;
  call.grad_input = at::empty(call.input.sizes(), call.input.options());
  call.params.grad_input = call.grad_input.mutable_data_ptr();
}

}  // namespace glue
}  // namespace lossext
