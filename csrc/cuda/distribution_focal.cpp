// CUDA implementation of the fused distribution focal loss. Labels are not
// checked on the host (that would be a device sync): a label outside the bins
// gives its row a nan loss and gradient instead.
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "cuda/launch.h"
#include "glue/distribution_focal.h"

namespace lossext {
namespace cuda {
namespace {

std::tuple<at::Tensor, at::Tensor> distribution_focal_fwd_cuda_op(const at::Tensor& pred, const at::Tensor& label) {
  c10::cuda::CUDAGuard guard(pred.device());
  glue::DistributionFocalCall call = glue::distribution_focal_call(pred, label);
  glue::alloc_distribution_focal_forward(call);
  if (call.params.rows > 0) launch_checked(distribution_focal_fwd_cuda, call.params, "distribution_focal_fwd");
  return {call.loss, call.lse};
}

at::Tensor distribution_focal_bwd_cuda_op(const at::Tensor& grad_loss, const at::Tensor& pred, const at::Tensor& label,
                                          const at::Tensor& lse) {
  c10::cuda::CUDAGuard guard(pred.device());
  glue::DistributionFocalCall call = glue::distribution_focal_call(pred, label);
  glue::fill_distribution_focal_backward(call, grad_loss, lse);
  if (call.params.rows > 0) launch_checked(distribution_focal_bwd_cuda, call.params, "distribution_focal_bwd");
  return call.grad_pred;
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CUDA, m) {
  m.impl("distribution_focal_fwd", &distribution_focal_fwd_cuda_op);
  m.impl("distribution_focal_bwd", &distribution_focal_bwd_cuda_op);
}

}  // namespace cuda
}  // namespace lossext
