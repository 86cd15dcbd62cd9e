// CPU implementation of the task-aligned assignment: the four passes of
// cpu/loops/task_aligned.h one after the other, each split over its work
// units with at::parallel_for (every result is per unit, so the split does
// not change it).
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "cpu/loops/task_aligned.h"
#include "cpu/memory.h"
#include "glue/task_aligned.h"

namespace lossext {
namespace cpu {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> task_aligned_assign_cpu(
    const at::Tensor& pd_scores, const at::Tensor& pd_bboxes, const at::Tensor& anc_points, const at::Tensor& gt_labels,
    const at::Tensor& gt_bboxes, const at::Tensor& mask_gt, int64_t topk, double alpha, double beta, double eps,
    int64_t overlap, double min_box_side) {
  glue::TaskAlignedCall call = glue::task_aligned_call(pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt,
                                                       topk, alpha, beta, eps, overlap, min_box_side);
  const TaskAlignedParams& p = call.params;
  if (p.boxes == 0 || p.batch == 0 || p.num_anchors == 0) return glue::task_aligned_outputs(call);
  const int64_t boxes = p.batch * p.boxes, anchors = p.batch * p.num_anchors;
  // The (B, A, C) scores are the one large output: fault it in huge pages.
  advise_huge_pages(call.target_scores.mutable_data_ptr(), size_t(call.target_scores.nbytes()));
  // A box scans every anchor; an anchor scans every box (and a row of C scores).
  at::parallel_for(0, boxes, 1, [&](int64_t first, int64_t last) { tal_select_boxes(p, first, last); });
  at::parallel_for(0, anchors, 256, [&](int64_t first, int64_t last) { tal_resolve_anchors(p, first, last); });
  at::parallel_for(0, p.batch, 1, [&](int64_t first, int64_t last) { tal_box_maxima(p, first, last); });
  at::parallel_for(0, anchors, 256, [&](int64_t first, int64_t last) { tal_write_targets(p, first, last); });
  return glue::task_aligned_outputs(call);
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CPU, m) { m.impl("task_aligned_assign", &task_aligned_assign_cpu); }

}  // namespace cpu
}  // namespace lossext
