// Checks and params of the fused DETR matching cost, shared by CPU and CUDA.
#pragma once

#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include "glue/common.h"
#include "kernels/detr_matching_launch.h"

namespace lossext {
namespace glue {

struct DetrMatchingCall {
  at::Tensor logits, boxes, labels, target_boxes, valid, cost;
  DetrMatchingParams params;
};

inline void check_boxes(const at::Tensor& b, const char* name, int64_t batch, int64_t n, const char* n_name) {
  TORCH_CHECK_VALUE(b.dim() == 3 && b.size(0) == batch && b.size(1) == n && b.size(2) == 4, name,
                    " must have shape (B, ", n_name, ", 4) = (", batch, ", ", n, ", 4), got ", b.sizes());
  TORCH_CHECK_TYPE(at::isFloatingType(b.scalar_type()), name, " must be a floating tensor, got ", b.scalar_type());
}

// logits (B, Q, C), boxes (B, Q, 4), target_labels (B, G) int64,
// target_boxes (B, G, 4), valid (B, G) bool. Allocates the (B, Q, G) cost.
inline DetrMatchingCall detr_matching_call(const at::Tensor& logits, const at::Tensor& boxes,
                                           const at::Tensor& target_labels, const at::Tensor& target_boxes,
                                           const at::Tensor& valid, int64_t class_cost, double alpha, double gamma,
                                           double w_class, double w_bbox, double w_giou) {
  TORCH_CHECK_VALUE(logits.dim() == 3, "logits must be 3-D (B, Q, C), got shape ", logits.sizes());
  const DType dtype = to_dtype(logits.scalar_type(), "logits");
  const int64_t batch = logits.size(0), queries = logits.size(1), classes = logits.size(2);
  TORCH_CHECK_VALUE(classes >= 1, "logits must have at least one class (dim 2)");
  check_same_device(logits, "logits", boxes, "boxes");
  check_same_device(logits, "logits", target_labels, "target_labels");
  check_same_device(logits, "logits", target_boxes, "target_boxes");
  check_same_device(logits, "logits", valid, "target_mask");
  check_boxes(boxes, "boxes", batch, queries, "Q");
  TORCH_CHECK_VALUE(target_labels.dim() == 2 && target_labels.size(0) == batch,
                    "target_labels must have shape (B, G) with B = ", batch, ", got ", target_labels.sizes());
  TORCH_CHECK_TYPE(target_labels.scalar_type() == at::kLong, "target_labels must be int64, got ",
                   target_labels.scalar_type());
  const int64_t targets = target_labels.size(1);
  check_boxes(target_boxes, "target_boxes", batch, targets, "G");
  TORCH_CHECK_VALUE(valid.sizes() == target_labels.sizes(), "target_mask must have shape ", target_labels.sizes(),
                    ", got ", valid.sizes());
  TORCH_CHECK_TYPE(valid.scalar_type() == at::kBool, "target_mask must be bool, got ", valid.scalar_type());
  TORCH_CHECK_VALUE(class_cost == int64_t(MatchClassCost::Focal) || class_cost == int64_t(MatchClassCost::Softmax),
                    "class_cost must be 0 (focal) or 1 (softmax), got ", class_cost);
  TORCH_CHECK_VALUE(std::isfinite(alpha) && std::isfinite(gamma) && gamma >= 0.0,
                    "alpha must be finite and gamma finite and >= 0, got alpha = ", alpha, ", gamma = ", gamma);
  TORCH_CHECK_VALUE(std::isfinite(w_class) && std::isfinite(w_bbox) && std::isfinite(w_giou),
                    "the cost weights must be finite, got w_class = ", w_class, ", w_bbox = ", w_bbox,
                    ", w_giou = ", w_giou);
  const at::ScalarType acc = accumulate_dtype(logits.scalar_type());
  DetrMatchingCall call;
  call.logits = logits.contiguous();
  call.boxes = boxes.to(acc).contiguous();
  call.labels = target_labels.contiguous();
  call.target_boxes = target_boxes.to(acc).contiguous();
  call.valid = valid.contiguous();
  call.cost = at::empty({batch, queries, targets}, logits.options().dtype(acc));
  DetrMatchingParams& p = call.params;
  p.logits = call.logits.const_data_ptr();
  p.dtype = dtype;
  p.boxes = call.boxes.const_data_ptr();
  p.labels = call.labels.const_data_ptr<int64_t>();
  p.target_boxes = call.target_boxes.const_data_ptr();
  p.valid = call.valid.const_data_ptr<bool>();
  p.batch = batch;
  p.queries = queries;
  p.classes = classes;
  p.targets = targets;
  p.class_cost = MatchClassCost(class_cost);
  p.alpha = alpha;
  p.gamma = gamma;
  p.w_class = w_class;
  p.w_bbox = w_bbox;
  p.w_giou = w_giou;
  p.cost = call.cost.mutable_data_ptr();
  return call;
}

}  // namespace glue
}  // namespace lossext
