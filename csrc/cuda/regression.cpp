// CUDA implementation of the fused smooth L1 / Huber ops.
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "cuda/launch.h"
#include "glue/regression.h"

namespace lossext {
namespace cuda {
namespace {

at::Tensor regression_fwd_cuda_op(const at::Tensor& input, const at::Tensor& target, int64_t kind, double param) {
  c10::cuda::CUDAGuard guard(input.device());
  glue::RegressionCall call = glue::regression_call(input, target, kind, param);
  glue::alloc_regression_loss(call);
  launch_checked(regression_fwd_cuda, call.params, "regression_fwd");
  return call.loss;
}

at::Tensor regression_bwd_cuda_op(const at::Tensor& grad_loss, const at::Tensor& input, const at::Tensor& target,
                                  int64_t kind, double param) {
  c10::cuda::CUDAGuard guard(input.device());
  glue::RegressionCall call = glue::regression_call(input, target, kind, param);
  glue::fill_regression_backward(call, grad_loss);
  launch_checked(regression_bwd_cuda, call.params, "regression_bwd");
  return call.grad_input;
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CUDA, m) {
  m.impl("regression_fwd", &regression_fwd_cuda_op);
  m.impl("regression_bwd", &regression_bwd_cuda_op);
}

}  // namespace cuda
}  // namespace lossext
