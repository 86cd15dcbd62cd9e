// The torch op of the fused DETR matching cost (kernels/detr_matching.h):
// schema, argument checks, allocation and params, one implementation for both
// devices. On the CPU a real target whose label is outside [0, C) raises an
// IndexError; on CUDA (no host sync) its column is nan instead.
#include <ATen/ops/empty.h>

#include <cmath>

#include "kernels/detr_matching.h"
#include "ops/common.h"

namespace lossext {
namespace ops {
namespace {

void check_boxes(const at::Tensor& b, const char* name, int64_t batch, int64_t n, const char* n_name) {
  TORCH_CHECK_VALUE(b.dim() == 3 && b.size(0) == batch && b.size(1) == n && b.size(2) == 4, name,
                    " must have shape (B, ", n_name, ", 4) = (", batch, ", ", n, ", 4), got ", b.sizes());
  TORCH_CHECK_TYPE(at::isFloatingType(b.scalar_type()), name, " must be a floating tensor, got ", b.scalar_type());
}

// logits (B, Q, C), boxes (B, Q, 4), target_labels (B, G) int64,
// target_boxes (B, G, 4), target_mask (B, G) bool; the (B, Q, G) cost.
at::Tensor detr_matching_cost(const at::Tensor& logits, const at::Tensor& boxes, const at::Tensor& target_labels,
                              const at::Tensor& target_boxes, const at::Tensor& target_mask, int64_t class_cost,
                              double alpha, double gamma, double w_class, double w_bbox, double w_giou) {
  TORCH_CHECK_VALUE(logits.dim() == 3, "logits must be 3-D (B, Q, C), got shape ", logits.sizes());
  const DType dtype = to_dtype(logits.scalar_type(), "logits");
  const int64_t batch = logits.size(0), queries = logits.size(1), classes = logits.size(2);
  TORCH_CHECK_VALUE(classes >= 1, "logits must have at least one class (dim 2)");
  check_same_device(logits, "logits", boxes, "boxes");
  check_same_device(logits, "logits", target_labels, "target_labels");
  check_same_device(logits, "logits", target_boxes, "target_boxes");
  check_same_device(logits, "logits", target_mask, "target_mask");
  check_boxes(boxes, "boxes", batch, queries, "Q");
  TORCH_CHECK_VALUE(target_labels.dim() == 2 && target_labels.size(0) == batch,
                    "target_labels must have shape (B, G) with B = ", batch, ", got ", target_labels.sizes());
  TORCH_CHECK_TYPE(target_labels.scalar_type() == at::kLong, "target_labels must be int64, got ",
                   target_labels.scalar_type());
  const int64_t targets = target_labels.size(1);
  check_boxes(target_boxes, "target_boxes", batch, targets, "G");
  TORCH_CHECK_VALUE(target_mask.sizes() == target_labels.sizes(), "target_mask must have shape ", target_labels.sizes(),
                    ", got ", target_mask.sizes());
  TORCH_CHECK_TYPE(target_mask.scalar_type() == at::kBool, "target_mask must be bool, got ", target_mask.scalar_type());
  TORCH_CHECK_VALUE(class_cost == int64_t(MatchClassCost::Focal) || class_cost == int64_t(MatchClassCost::Softmax),
                    "class_cost must be 0 (focal) or 1 (softmax), got ", class_cost);
  TORCH_CHECK_VALUE(std::isfinite(alpha) && std::isfinite(gamma) && gamma >= 0.0,
                    "alpha must be finite and gamma finite and >= 0, got alpha = ", alpha, ", gamma = ", gamma);
  TORCH_CHECK_VALUE(std::isfinite(w_class) && std::isfinite(w_bbox) && std::isfinite(w_giou),
                    "the cost weights must be finite, got w_class = ", w_class, ", w_bbox = ", w_bbox,
                    ", w_giou = ", w_giou);
  const at::ScalarType acc = accumulate_dtype(logits.scalar_type());
  const at::Tensor x = logits.contiguous(), qb = boxes.to(acc).contiguous();
  const at::Tensor labels = target_labels.contiguous(), tb = target_boxes.to(acc).contiguous();
  const at::Tensor valid = target_mask.contiguous();
  at::Tensor cost = at::empty({batch, queries, targets}, logits.options().dtype(acc));
  DetrMatchingParams p;
  p.logits = x.const_data_ptr();
  p.dtype = dtype;
  p.boxes = qb.const_data_ptr();
  p.labels = labels.const_data_ptr<int64_t>();
  p.target_boxes = tb.const_data_ptr();
  p.valid = valid.const_data_ptr<bool>();
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
  p.cost = cost.mutable_data_ptr();
  const CpuStatus status = run_kernel(logits, LOSSEXT_ENTRY(detr_matching_cost), p);
  const int64_t at = status.bad_index_at, g = std::max<int64_t>(targets, 1);
  TORCH_CHECK_INDEX(at < 0, "target_labels contains ", at < 0 ? 0 : p.labels[at], " (image ", at / g, ", target ",
                    at % g, "), outside [0, ", classes, ")");
  return cost;
}

void register_detr_matching(torch::Library& m) { m.impl("detr_matching_cost", &detr_matching_cost); }

}  // namespace

// DETR / Deformable DETR matching cost: logits (B, Q, C), boxes (B, Q, 4)
// cxcywh, target_labels (B, G) int64, target_boxes (B, G, 4) cxcywh,
// target_mask (B, G) bool (padding false); class_cost 0 focal, 1 softmax.
// Returns the (B, Q, G) cost in float32 (float64 for float64 logits), 0 in
// padded columns. No gradient.
TORCH_LIBRARY_FRAGMENT(lossext, m) {
  m.def(
      "detr_matching_cost(Tensor logits, Tensor boxes, Tensor target_labels, Tensor target_boxes, "
      "Tensor target_mask, int class_cost, float alpha, float gamma, float w_class, float w_bbox, float w_giou) "
      "-> Tensor",
      kPt2);
}

LOSSEXT_IMPL_CPU_AND_CUDA(register_detr_matching)

}  // namespace ops
}  // namespace lossext
