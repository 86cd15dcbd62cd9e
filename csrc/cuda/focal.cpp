// CUDA implementation of the focal-loss ops: the shared glue fills the params,
// the launchers in kernels/focal.cu run on the current stream.
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "cuda/launch.h"
#include "glue/focal.h"

namespace lossext {
namespace cuda {
namespace {

// An out-of-range class index cannot be reported without a device sync: the
// kernels never dereference it and mark the row nan instead (loss and gradient).
at::Tensor sigmoid_focal_fwd_cuda_op(const at::Tensor& input, const at::Tensor& target,
                                     const c10::optional<at::Tensor>& weight, double alpha, double gamma,
                                     int64_t ignore_index, double label_smoothing, bool reduce_rows) {
  c10::cuda::CUDAGuard guard(input.device());
  auto call = glue::sigmoid_focal_call(input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows);
  glue::sigmoid_focal_alloc_loss(call);
  launch_checked(sigmoid_focal_fwd_cuda, call.params, "sigmoid_focal_fwd");
  return call.loss;
}

at::Tensor sigmoid_focal_bwd_cuda_op(const at::Tensor& grad_loss, const at::Tensor& input, const at::Tensor& target,
                                     const c10::optional<at::Tensor>& weight, double alpha, double gamma,
                                     int64_t ignore_index, double label_smoothing, bool reduce_rows) {
  c10::cuda::CUDAGuard guard(input.device());
  auto call = glue::sigmoid_focal_call(input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows);
  glue::sigmoid_focal_fill_backward(call, grad_loss);
  launch_checked(sigmoid_focal_bwd_cuda, call.params, "sigmoid_focal_bwd");
  return call.grad_logits;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> softmax_focal_fwd_cuda_op(const at::Tensor& input,
                                                                         const at::Tensor& target,
                                                                         const c10::optional<at::Tensor>& alpha,
                                                                         const c10::optional<at::Tensor>& weight,
                                                                         double gamma, int64_t ignore_index) {
  c10::cuda::CUDAGuard guard(input.device());
  auto call = glue::softmax_focal_call(input, target, alpha, weight, gamma, ignore_index);
  glue::softmax_focal_alloc_forward(call);
  launch_checked(softmax_focal_fwd_cuda, call.params, "softmax_focal_fwd");
  return {call.loss, call.lse, call.row_weight};
}

at::Tensor softmax_focal_bwd_cuda_op(const at::Tensor& grad_loss, const at::Tensor& input, const at::Tensor& target,
                                     const c10::optional<at::Tensor>& alpha, const c10::optional<at::Tensor>& weight,
                                     const at::Tensor& lse, double gamma, int64_t ignore_index) {
  c10::cuda::CUDAGuard guard(input.device());
  auto call = glue::softmax_focal_call(input, target, alpha, weight, gamma, ignore_index);
  glue::softmax_focal_fill_backward(call, grad_loss, lse);
  launch_checked(softmax_focal_bwd_cuda, call.params, "softmax_focal_bwd");
  return call.grad_logits;
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CUDA, m) {
  m.impl("sigmoid_focal_fwd", &sigmoid_focal_fwd_cuda_op);
  m.impl("sigmoid_focal_bwd", &sigmoid_focal_bwd_cuda_op);
  m.impl("softmax_focal_fwd", &softmax_focal_fwd_cuda_op);
  m.impl("softmax_focal_bwd", &softmax_focal_bwd_cuda_op);
}

}  // namespace cuda
}  // namespace lossext
