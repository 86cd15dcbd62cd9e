// CUDA implementation of the sigmoid cross-entropy ops.
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "cuda/launch.h"
#include "glue/bce.h"

namespace lossext {
namespace cuda {
namespace {

at::Tensor bce_fwd_cuda_op(const at::Tensor& input, const at::Tensor& target, const c10::optional<at::Tensor>& label,
                           const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& pos_weight,
                           int64_t kind, double alpha, double exponent, bool iou_weighted, bool reduce_rows) {
  c10::cuda::CUDAGuard guard(input.device());
  glue::BceCall call =
      glue::bce_call(input, target, label, weight, pos_weight, kind, alpha, exponent, iou_weighted, reduce_rows);
  glue::alloc_bce_loss(call);
  launch_checked(bce_fwd_cuda, call.params, "bce_fwd");
  return call.loss;
}

std::tuple<at::Tensor, at::Tensor> bce_bwd_cuda_op(const at::Tensor& grad_loss, const at::Tensor& input,
                                                   const at::Tensor& target, const c10::optional<at::Tensor>& label,
                                                   const c10::optional<at::Tensor>& weight,
                                                   const c10::optional<at::Tensor>& pos_weight, int64_t kind,
                                                   double alpha, double exponent, bool iou_weighted, bool reduce_rows,
                                                   bool target_grad) {
  c10::cuda::CUDAGuard guard(input.device());
  glue::BceCall call =
      glue::bce_call(input, target, label, weight, pos_weight, kind, alpha, exponent, iou_weighted, reduce_rows);
  glue::fill_bce_backward(call, grad_loss, target_grad);
  launch_checked(bce_bwd_cuda, call.params, "bce_bwd");
  return {call.grad_input, call.grad_target};
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CUDA, m) {
  m.impl("bce_fwd", &bce_fwd_cuda_op);
  m.impl("bce_bwd", &bce_bwd_cuda_op);
}

}  // namespace cuda
}  // namespace lossext
