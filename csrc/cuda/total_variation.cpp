// CUDA implementation of the fused total variation.
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "cuda/launch.h"
#include "glue/total_variation.h"

namespace lossext {
namespace cuda {
namespace {

at::Tensor total_variation_fwd_cuda_op(const at::Tensor& img, bool isotropic, bool mean, double beta, double eps) {
  c10::cuda::CUDAGuard guard(img.device());
  glue::TotalVariationCall call = glue::total_variation_call(img, isotropic, mean, beta, eps);
  glue::alloc_total_variation_loss(call);
  TotalVariationParams& p = call.params;
  if (p.planes == 0) return call.loss;
  p.chunks = (p.height * p.width + kTvChunkPixels - 1) / kTvChunkPixels;
  at::Tensor partial = at::empty({2 * p.planes * p.chunks}, call.loss.options());
  p.partial = partial.mutable_data_ptr();
  launch_checked(total_variation_fwd_cuda, p, "total_variation_fwd");
  return call.loss;
}

at::Tensor total_variation_bwd_cuda_op(const at::Tensor& grad_loss, const at::Tensor& img, bool isotropic, bool mean,
                                       double beta, double eps) {
  c10::cuda::CUDAGuard guard(img.device());
  glue::TotalVariationCall call = glue::total_variation_call(img, isotropic, mean, beta, eps);
  glue::fill_total_variation_backward(call, grad_loss);
  if (call.params.planes == 0) return call.grad_input;
  launch_checked(total_variation_bwd_cuda, call.params, "total_variation_bwd");
  return call.grad_input;
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CUDA, m) {
  m.impl("total_variation_fwd", &total_variation_fwd_cuda_op);
  m.impl("total_variation_bwd", &total_variation_bwd_cuda_op);
}

}  // namespace cuda
}  // namespace lossext
