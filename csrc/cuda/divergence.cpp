// CUDA implementation of the KL / JS divergence ops: the shared glue fills the
// params, the launchers in kernels/divergence.cu run on the current stream.
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "cuda/launch.h"
#include "glue/divergence.h"

namespace lossext {
namespace cuda {
namespace {

using glue::DivergenceCall;

at::Tensor kl_div_fwd_cuda_op(const at::Tensor& input, const at::Tensor& target, bool log_target) {
  c10::cuda::CUDAGuard guard(input.device());
  DivergenceCall call = glue::divergence_forward_call(input, target, log_target, 0.5);
  launch_checked(kl_div_fwd_cuda, call.params, "kl_div_fwd");
  return call.partials;
}

at::Tensor kl_div_bwd_cuda_op(const at::Tensor& grad_partials, const at::Tensor& input, const at::Tensor& target,
                              bool log_target) {
  c10::cuda::CUDAGuard guard(input.device());
  DivergenceCall call = glue::divergence_backward_call(grad_partials, input, target, log_target, 0.5);
  launch_checked(kl_div_bwd_cuda, call.params, "kl_div_bwd");
  return call.grad_input;
}

at::Tensor js_div_fwd_cuda_op(const at::Tensor& input, const at::Tensor& target, double beta, bool log_target) {
  c10::cuda::CUDAGuard guard(input.device());
  DivergenceCall call = glue::divergence_forward_call(input, target, log_target, beta);
  launch_checked(js_div_fwd_cuda, call.params, "js_div_fwd");
  return call.partials;
}

at::Tensor js_div_bwd_cuda_op(const at::Tensor& grad_partials, const at::Tensor& input, const at::Tensor& target,
                              double beta, bool log_target) {
  c10::cuda::CUDAGuard guard(input.device());
  DivergenceCall call = glue::divergence_backward_call(grad_partials, input, target, log_target, beta);
  launch_checked(js_div_bwd_cuda, call.params, "js_div_bwd");
  return call.grad_input;
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CUDA, m) {
  m.impl("kl_div_fwd", &kl_div_fwd_cuda_op);
  m.impl("kl_div_bwd", &kl_div_bwd_cuda_op);
  m.impl("js_div_fwd", &js_div_fwd_cuda_op);
  m.impl("js_div_bwd", &js_div_bwd_cuda_op);
}

}  // namespace cuda
}  // namespace lossext
