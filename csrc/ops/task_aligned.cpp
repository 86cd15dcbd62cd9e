// The torch op of the task-aligned assignment (kernels/task_aligned.h):
// schema, argument checks, allocation of the outputs and the scratch, params,
// one implementation for both devices.
#include <ATen/ops/empty.h>
#include <ATen/ops/full.h>
#include <ATen/ops/zeros.h>

#include <cmath>
#include <tuple>

#include "kernels/task_aligned.h"
#include "ops/common.h"

namespace lossext {
namespace ops {
namespace {

struct TaskAlignedCall {
  at::Tensor scores, pred_boxes, anchors, labels, gt_boxes, valid;  // as the kernels read them
  at::Tensor positives, assigned, anchor_metric, anchor_overlap, box_max;
  at::Tensor target_labels, target_boxes, target_scores, fg_mask, target_gt_idx;
  at::ScalarType box_dtype = at::kFloat;  // gt_bboxes' dtype, the one of target_bboxes
  TaskAlignedParams params;
};

void check_floating_input(const at::Tensor& x, const char* name) {
  TORCH_CHECK_TYPE(at::isFloatingType(x.scalar_type()), name, " must be a floating tensor, got ", x.scalar_type());
}

void check_finite_at_least(double v, double low, const char* name) {
  TORCH_CHECK_VALUE(std::isfinite(v) && v >= low, name, " must be a finite number >= ", low, ", got ", v);
}

// pd_scores (B, A, C) probabilities; pd_bboxes (B, A, 4) xyxy; anc_points
// (A, 2); gt_labels (B, G) integer or float class (truncated); gt_bboxes
// (B, G, 4) xyxy; mask_gt (B, G), nonzero for a real box. Checks shapes,
// dtypes, devices and options, allocates the outputs and the scratch, and
// fills the params. G == 0 gives the outputs ultralytics gives (label C,
// zeros elsewhere) and params with no work.
TaskAlignedCall task_aligned_call(const at::Tensor& pd_scores, const at::Tensor& pd_bboxes,
                                  const at::Tensor& anc_points, const at::Tensor& gt_labels,
                                  const at::Tensor& gt_bboxes, const at::Tensor& mask_gt, int64_t topk, double alpha,
                                  double beta, double eps, int64_t overlap, double min_box_side) {
  TORCH_CHECK_VALUE(pd_scores.dim() == 3, "pd_scores must have shape (B, A, C), got ", pd_scores.sizes());
  const int64_t B = pd_scores.size(0), A = pd_scores.size(1), C = pd_scores.size(2);
  TORCH_CHECK_VALUE(C >= 1, "pd_scores must have at least one class, got shape ", pd_scores.sizes());
  const DType dtype = to_dtype(pd_scores.scalar_type(), "pd_scores");
  TORCH_CHECK_VALUE(pd_bboxes.dim() == 3 && pd_bboxes.size(0) == B && pd_bboxes.size(1) == A && pd_bboxes.size(2) == 4,
                    "pd_bboxes must have shape (B, A, 4) = (", B, ", ", A, ", 4), got ", pd_bboxes.sizes());
  TORCH_CHECK_VALUE(anc_points.dim() == 2 && anc_points.size(0) == A && anc_points.size(1) == 2,
                    "anc_points must have shape (A, 2) = (", A, ", 2), got ", anc_points.sizes());
  TORCH_CHECK_VALUE(gt_bboxes.dim() == 3 && gt_bboxes.size(0) == B && gt_bboxes.size(2) == 4,
                    "gt_bboxes must have shape (B, G, 4) with B = ", B, ", got ", gt_bboxes.sizes());
  const int64_t G = gt_bboxes.size(1);
  TORCH_CHECK_VALUE(gt_labels.dim() == 2 && gt_labels.size(0) == B && gt_labels.size(1) == G,
                    "gt_labels must have shape (B, G) = (", B, ", ", G, "), got ", gt_labels.sizes());
  TORCH_CHECK_VALUE(mask_gt.dim() == 2 && mask_gt.size(0) == B && mask_gt.size(1) == G,
                    "mask_gt must have shape (B, G) = (", B, ", ", G, "), got ", mask_gt.sizes());
  check_floating_input(pd_bboxes, "pd_bboxes");
  check_floating_input(anc_points, "anc_points");
  check_floating_input(gt_bboxes, "gt_bboxes");
  TORCH_CHECK_TYPE(!gt_labels.is_complex() && gt_labels.scalar_type() != at::kBool,
                   "gt_labels must be an integer or floating tensor, got ", gt_labels.scalar_type());
  check_same_device(pd_scores, "pd_scores", pd_bboxes, "pd_bboxes");
  check_same_device(pd_scores, "pd_scores", anc_points, "anc_points");
  check_same_device(pd_scores, "pd_scores", gt_labels, "gt_labels");
  check_same_device(pd_scores, "pd_scores", gt_bboxes, "gt_bboxes");
  check_same_device(pd_scores, "pd_scores", mask_gt, "mask_gt");
  TORCH_CHECK_VALUE(topk >= 1 && topk <= kTalMaxTopk, "topk must be in [1, ", kTalMaxTopk, "], got ", topk);
  TORCH_CHECK_VALUE(topk <= A, "topk must be at most the number of anchors A = ", A, ", got ", topk);
  check_finite_at_least(alpha, 0.0, "alpha");
  check_finite_at_least(beta, 0.0, "beta");
  check_finite_at_least(eps, 0.0, "eps");
  check_finite_at_least(min_box_side, 0.0, "min_box_side");
  TORCH_CHECK_VALUE(overlap == int64_t(OverlapKind::CIoU) || overlap == int64_t(OverlapKind::IoU),
                    "overlap must be 0 (CIoU) or 1 (IoU), got ", overlap);

  TaskAlignedCall call;
  call.box_dtype = gt_bboxes.scalar_type();
  const auto opts = pd_scores.options();
  call.labels = gt_labels.to(at::kLong).contiguous();  // float labels truncated, as ultralytics' .long()
  call.valid = mask_gt.ne(0).to(at::kByte).contiguous();
  if (pd_scores.is_cpu() && G > 0) {
    const bool bad = call.labels.lt(0).logical_or(call.labels.ge(C)).logical_and(call.valid).any().item<bool>();
    TORCH_CHECK_INDEX(!bad, "gt_labels of a box with mask_gt set must be in [0, C) = [0, ", C, ")");
  }
  TaskAlignedParams& p = call.params;
  p.batch = B;
  p.num_anchors = A;
  p.classes = C;
  p.boxes = G;
  if (G == 0 || B == 0 || A == 0) {  // nothing to assign: every anchor is background
    call.target_labels = at::full({B, A}, C, opts.dtype(at::kLong));
    call.target_boxes = at::zeros({B, A, 4}, opts.dtype(at::kFloat));
    call.target_scores = at::zeros({B, A, C}, opts);
    call.fg_mask = at::zeros({B, A}, opts.dtype(at::kBool));
    call.target_gt_idx = at::zeros({B, A}, opts.dtype(at::kLong));
    return call;
  }
  call.target_labels = at::empty({B, A}, opts.dtype(at::kLong));
  call.target_boxes = at::empty({B, A, 4}, opts.dtype(at::kFloat));
  call.target_scores = at::empty({B, A, C}, opts);
  call.fg_mask = at::empty({B, A}, opts.dtype(at::kBool));
  call.target_gt_idx = at::empty({B, A}, opts.dtype(at::kLong));

  call.scores = pd_scores.contiguous();
  call.pred_boxes = pd_bboxes.to(at::kFloat).contiguous();
  call.anchors = anc_points.to(at::kFloat).contiguous();
  call.gt_boxes = gt_bboxes.to(at::kFloat).contiguous();
  call.positives = at::empty({B, G, topk}, opts.dtype(at::kInt));
  call.assigned = at::empty({B, A}, opts.dtype(at::kInt));
  call.anchor_metric = at::empty({B, A}, opts.dtype(at::kFloat));
  call.anchor_overlap = at::empty({B, A}, opts.dtype(at::kFloat));
  call.box_max = at::empty({B, G, 2}, opts.dtype(at::kFloat));
  p.scores = call.scores.const_data_ptr();
  p.dtype = dtype;
  p.pred_boxes = call.pred_boxes.const_data_ptr<float>();
  p.anchors = call.anchors.const_data_ptr<float>();
  p.labels = call.labels.const_data_ptr<int64_t>();
  p.gt_boxes = call.gt_boxes.const_data_ptr<float>();
  p.valid = call.valid.const_data_ptr<uint8_t>();
  p.topk = topk;
  p.alpha = static_cast<float>(alpha);
  p.beta = static_cast<float>(beta);
  p.eps = static_cast<float>(eps);
  p.min_side = static_cast<float>(min_box_side);
  p.overlap = static_cast<OverlapKind>(overlap);
  p.positives = call.positives.mutable_data_ptr<int32_t>();
  p.assigned = call.assigned.mutable_data_ptr<int32_t>();
  p.anchor_metric = call.anchor_metric.mutable_data_ptr<float>();
  p.anchor_overlap = call.anchor_overlap.mutable_data_ptr<float>();
  p.box_max = call.box_max.mutable_data_ptr<float>();
  p.target_labels = call.target_labels.mutable_data_ptr<int64_t>();
  p.target_boxes = call.target_boxes.mutable_data_ptr<float>();
  p.target_scores = call.target_scores.mutable_data_ptr();
  p.fg_mask = call.fg_mask.mutable_data_ptr<bool>();
  p.target_gt_idx = call.target_gt_idx.mutable_data_ptr<int64_t>();
  return call;
}

using Outputs = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

Outputs task_aligned_assign(const at::Tensor& pd_scores, const at::Tensor& pd_bboxes, const at::Tensor& anc_points,
                            const at::Tensor& gt_labels, const at::Tensor& gt_bboxes, const at::Tensor& mask_gt,
                            int64_t topk, double alpha, double beta, double eps, int64_t overlap, double min_box_side) {
  TaskAlignedCall call = task_aligned_call(pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt, topk, alpha,
                                           beta, eps, overlap, min_box_side);
  const TaskAlignedParams& p = call.params;
  if (p.boxes > 0 && p.batch > 0 && p.num_anchors > 0) run_kernel(pd_scores, LOSSEXT_ENTRY(task_aligned_assign), p);
  // target_bboxes in gt_bboxes' dtype (a copy only when that is not float32).
  return {call.target_labels, call.target_boxes.to(call.box_dtype), call.target_scores, call.fg_mask,
          call.target_gt_idx};
}

void register_task_aligned(torch::Library& m) { m.impl("task_aligned_assign", &task_aligned_assign); }

}  // namespace

// Task-aligned assignment (ultralytics' TaskAlignedAssigner): pd_scores (B, A, C)
// probabilities, pd_bboxes (B, A, 4) and gt_bboxes (B, G, 4) xyxy, anc_points
// (A, 2), gt_labels and mask_gt (B, G); overlap 0 CIoU, 1 IoU. No gradient.
// target_labels, fg_mask, target_gt_idx (B, A); target_bboxes (B, A, 4) in
// gt_bboxes' dtype; target_scores (B, A, C) in pd_scores' dtype.
TORCH_LIBRARY_FRAGMENT(lossext, m) {
  m.def(
      "task_aligned_assign(Tensor pd_scores, Tensor pd_bboxes, Tensor anc_points, Tensor gt_labels, "
      "Tensor gt_bboxes, Tensor mask_gt, int topk, float alpha, float beta, float eps, int overlap, "
      "float min_box_side) -> (Tensor target_labels, Tensor target_bboxes, Tensor target_scores, "
      "Tensor fg_mask, Tensor target_gt_idx)",
      kPt2);
}

LOSSEXT_IMPL_CPU_AND_CUDA(register_task_aligned)

}  // namespace ops
}  // namespace lossext
