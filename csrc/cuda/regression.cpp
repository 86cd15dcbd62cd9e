// CUDA implementation of the fused smooth L1 / Huber ops.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "glue/regression.h"

namespace lossext {
namespace cuda {
namespace {

void check_regression_launch(cudaError_t err, const char* op) {
  TORCH_CHECK(err == cudaSuccess, op, ": CUDA launch failed: ", cudaGetErrorString(err));
}

at::Tensor regression_fwd_cuda_op(const at::Tensor& input, const at::Tensor& target, int64_t kind, double param) {
  c10::cuda::CUDAGuard guard(input.device());
  glue::RegressionCall call = glue::regression_call(input, target, kind, param);
  glue::alloc_regression_loss(call);
  check_regression_launch(regression_fwd_cuda(call.params, c10::cuda::getCurrentCUDAStream()), "regression_fwd");
  return call.loss;
}

at::Tensor regression_bwd_cuda_op(const at::Tensor& grad_loss, const at::Tensor& input, const at::Tensor& target,
                                  int64_t kind, double param) {
  c10::cuda::CUDAGuard guard(input.device());
  glue::RegressionCall call = glue::regression_call(input, target, kind, param);
  glue::fill_regression_backward(call, grad_loss);
  check_regression_launch(regression_bwd_cuda(call.params, c10::cuda::getCurrentCUDAStream()), "regression_bwd");
  return call.grad_input;
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CUDA, m) {
  m.impl("regression_fwd", &regression_fwd_cuda_op);
  m.impl("regression_bwd", &regression_bwd_cuda_op);
}

}  // namespace cuda
}  // namespace lossext
