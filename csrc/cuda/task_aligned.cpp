// CUDA implementation of the task-aligned assignment.
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "cuda/launch.h"
#include "glue/task_aligned.h"

namespace lossext {
namespace cuda {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> task_aligned_assign_cuda_op(
    const at::Tensor& pd_scores, const at::Tensor& pd_bboxes, const at::Tensor& anc_points, const at::Tensor& gt_labels,
    const at::Tensor& gt_bboxes, const at::Tensor& mask_gt, int64_t topk, double alpha, double beta, double eps,
    int64_t overlap, double min_box_side) {
  c10::cuda::CUDAGuard guard(pd_scores.device());
  glue::TaskAlignedCall call = glue::task_aligned_call(pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt,
                                                       topk, alpha, beta, eps, overlap, min_box_side);
  if (call.params.boxes > 0 && call.params.batch > 0 && call.params.num_anchors > 0)
    launch_checked(task_aligned_assign_cuda, call.params, "task_aligned_assign");
  return glue::task_aligned_outputs(call);
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CUDA, m) { m.impl("task_aligned_assign", &task_aligned_assign_cuda_op); }

}  // namespace cuda
}  // namespace lossext
