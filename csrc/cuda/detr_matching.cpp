// CUDA implementation of the fused DETR matching cost. Labels are not checked
// on the host (that would be a device sync): a valid target whose label is
// outside [0, C) gets a nan column instead.
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "cuda/launch.h"
#include "glue/detr_matching.h"

namespace lossext {
namespace cuda {
namespace {

at::Tensor detr_matching_cost_cuda_op(const at::Tensor& logits, const at::Tensor& boxes,
                                      const at::Tensor& target_labels, const at::Tensor& target_boxes,
                                      const at::Tensor& target_mask, int64_t class_cost, double alpha, double gamma,
                                      double w_class, double w_bbox, double w_giou) {
  c10::cuda::CUDAGuard guard(logits.device());
  glue::DetrMatchingCall call = glue::detr_matching_call(logits, boxes, target_labels, target_boxes, target_mask,
                                                         class_cost, alpha, gamma, w_class, w_bbox, w_giou);
  const DetrMatchingParams& p = call.params;
  if (p.batch * p.queries * p.targets > 0) launch_checked(detr_matching_cost_cuda, p, "detr_matching_cost");
  return call.cost;
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CUDA, m) { m.impl("detr_matching_cost", &detr_matching_cost_cuda_op); }

}  // namespace cuda
}  // namespace lossext
