// CUDA implementation of the box IoU ops: the shared glue fills the params,
// the launchers in kernels/box.cu run on the current stream.
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "cuda/launch.h"
#include "glue/box.h"

namespace lossext {
namespace cuda {
namespace {

at::Tensor box_pairwise_cuda_op(const at::Tensor& boxes1, const at::Tensor& boxes2, int64_t kind, int64_t fmt,
                                double eps) {
  c10::cuda::CUDAGuard guard(boxes1.device());
  glue::BoxPairwiseCall call = glue::pairwise_call(boxes1, boxes2, kind, fmt, eps);
  launch_checked(box_pairwise_cuda, call.params, "box_pairwise");
  return call.out;
}

at::Tensor box_loss_fwd_cuda_op(const at::Tensor& boxes1, const at::Tensor& boxes2, int64_t mode, int64_t fmt,
                                double eps) {
  c10::cuda::CUDAGuard guard(boxes1.device());
  glue::BoxLossCall call = glue::loss_call(boxes1, boxes2, mode, fmt, eps);
  glue::alloc_loss(call);
  launch_checked(box_loss_fwd_cuda, call.params, "box_loss_fwd");
  return call.loss;
}

std::tuple<at::Tensor, at::Tensor> box_loss_bwd_cuda_op(const at::Tensor& grad_loss, const at::Tensor& boxes1,
                                                        const at::Tensor& boxes2, int64_t mode, int64_t fmt,
                                                        double eps) {
  c10::cuda::CUDAGuard guard(boxes1.device());
  glue::BoxLossCall call = glue::loss_call(boxes1, boxes2, mode, fmt, eps);
  glue::fill_loss_backward(call, grad_loss);
  launch_checked(box_loss_bwd_cuda, call.params, "box_loss_bwd");
  return {call.grad1, call.grad2};
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CUDA, m) {
  m.impl("box_pairwise", &box_pairwise_cuda_op);
  m.impl("box_loss_fwd", &box_loss_fwd_cuda_op);
  m.impl("box_loss_bwd", &box_loss_bwd_cuda_op);
}

}  // namespace cuda
}  // namespace lossext
