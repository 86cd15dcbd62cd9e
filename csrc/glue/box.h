// Checks, conversions and params for the box IoU ops, shared by the CPU and
// CUDA implementations so both reject the same inputs with the same messages.
#pragma once

#include <ATen/ops/empty.h>

#include <algorithm>
#include <vector>

#include "glue/common.h"
#include "kernels/box_launch.h"

namespace lossext {
namespace glue {

inline BoxFmt box_fmt(int64_t fmt) {
  TORCH_CHECK_VALUE(fmt >= 0 && fmt <= 2, "fmt must be 0 (xyxy), 1 (xywh) or 2 (cxcywh), got ", fmt);
  return static_cast<BoxFmt>(fmt);
}

inline void check_boxes(const at::Tensor& boxes, const char* name, int64_t min_dim) {
  TORCH_CHECK_VALUE(boxes.dim() >= min_dim && boxes.size(-1) == 4, name, " must have shape ",
                    min_dim == 1 ? "[..., 4]" : "[..., N, 4]", ", got ", boxes.sizes());
}

struct BoxPairwiseCall {
  at::Tensor boxes1, boxes2, out;
  BoxPairwiseParams params;
};

// Integer and half boxes are computed in float32, float64 stays float64, as
// torchvision's box_iou family returns them.
inline BoxPairwiseCall pairwise_call(const at::Tensor& boxes1, const at::Tensor& boxes2, int64_t kind, int64_t fmt,
                                     double eps) {
  check_boxes(boxes1, "boxes1", 2);
  check_boxes(boxes2, "boxes2", 2);
  check_same_device(boxes1, "boxes1", boxes2, "boxes2");
  TORCH_CHECK_VALUE(kind >= 0 && kind <= 3, "kind must be 0 (iou), 1 (giou), 2 (diou) or 3 (ciou), got ", kind);
  TORCH_CHECK_VALUE(boxes1.dim() == boxes2.dim() &&
                        boxes1.sizes().slice(0, boxes1.dim() - 2) == boxes2.sizes().slice(0, boxes2.dim() - 2),
                    "boxes1 and boxes2 must have the same batch dimensions, got ", boxes1.sizes(), " and ",
                    boxes2.sizes());
  TORCH_CHECK_TYPE(boxes1.scalar_type() != at::kBool && boxes2.scalar_type() != at::kBool &&
                       !at::isComplexType(boxes1.scalar_type()) && !at::isComplexType(boxes2.scalar_type()),
                   "boxes must be real numbers, got ", boxes1.scalar_type(), " and ", boxes2.scalar_type());
  const bool dbl = boxes1.scalar_type() == at::kDouble || boxes2.scalar_type() == at::kDouble;
  const at::ScalarType t = dbl ? at::kDouble : at::kFloat;
  BoxPairwiseCall call;
  call.boxes1 = boxes1.to(t).contiguous();
  call.boxes2 = boxes2.to(t).contiguous();
  std::vector<int64_t> shape(boxes1.sizes().begin(), boxes1.sizes().end() - 1);
  const int64_t m = boxes2.size(-2);
  shape.push_back(m);
  call.out = at::empty(shape, call.boxes1.options());
  BoxPairwiseParams& p = call.params;
  p.boxes1 = call.boxes1.const_data_ptr();
  p.boxes2 = call.boxes2.const_data_ptr();
  p.out = call.out.mutable_data_ptr();
  p.dtype = to_dtype(t, "boxes1");
  p.n = boxes1.size(-2);
  p.m = m;
  p.batch = 1;
  for (int64_t d = 0; d < boxes1.dim() - 2; ++d) p.batch *= boxes1.size(d);
  p.kind = static_cast<BoxPairKind>(kind);
  p.fmt = box_fmt(fmt);
  p.eps = eps;
  return call;
}

struct BoxLossCall {
  at::Tensor boxes1, boxes2, loss, grad_loss, grad1, grad2;
  BoxLossParams params;
};

inline BoxLossCall loss_call(const at::Tensor& boxes1, const at::Tensor& boxes2, int64_t mode, int64_t fmt,
                             double eps) {
  check_boxes(boxes1, "boxes1", 1);
  check_boxes(boxes2, "boxes2", 1);
  check_same_device(boxes1, "boxes1", boxes2, "boxes2");
  TORCH_CHECK_VALUE(boxes1.sizes() == boxes2.sizes(), "boxes1 and boxes2 must have the same shape, got ",
                    boxes1.sizes(), " and ", boxes2.sizes());
  TORCH_CHECK_TYPE(boxes1.scalar_type() == boxes2.scalar_type(), "boxes1 and boxes2 must have the same dtype, got ",
                   boxes1.scalar_type(), " and ", boxes2.scalar_type());
  TORCH_CHECK_VALUE(mode >= 0 && mode <= 5,
                    "mode must be 0 (iou), 1 (giou), 2 (diou), 3 (ciou), 4 (eiou) or 5 (siou), got ", mode);
  BoxLossCall call;
  call.boxes1 = boxes1.contiguous();
  call.boxes2 = boxes2.contiguous();
  BoxLossParams& p = call.params;
  p.dtype = to_dtype(boxes1.scalar_type(), "boxes1");
  p.boxes1 = call.boxes1.const_data_ptr();
  p.boxes2 = call.boxes2.const_data_ptr();
  p.pairs = boxes1.numel() / 4;
  p.mode = static_cast<BoxLossMode>(mode);
  p.fmt = box_fmt(fmt);
  p.eps = eps;
  return call;
}

inline std::vector<int64_t> pair_shape(const at::Tensor& boxes) {
  return std::vector<int64_t>(boxes.sizes().begin(), boxes.sizes().end() - 1);
}

inline void alloc_loss(BoxLossCall& call) {
  const auto opts = call.boxes1.options().dtype(accumulate_dtype(call.boxes1.scalar_type()));
  call.loss = at::empty(pair_shape(call.boxes1), opts);
  call.params.loss = call.loss.mutable_data_ptr();
}

inline void fill_loss_backward(BoxLossCall& call, const at::Tensor& grad_loss) {
  const auto shape = pair_shape(call.boxes1);
  TORCH_CHECK_VALUE(grad_loss.sizes() == at::IntArrayRef(shape), "grad_loss must have shape ", shape, ", got ",
                    grad_loss.sizes());
  check_same_device(call.boxes1, "boxes1", grad_loss, "grad_loss");
  // A 'mean' or 'sum' gradient arrives as one value expanded over the pairs.
  bool broadcast = false;
  call.grad_loss = upstream(grad_loss, accumulate_dtype(call.boxes1.scalar_type()), &broadcast);
  call.params.grad_loss = call.grad_loss.const_data_ptr();
  call.params.grad_loss_stride = broadcast ? 0 : 1;
  const auto opts = call.boxes1.options().memory_format(at::MemoryFormat::Contiguous);
  call.grad1 = at::empty(call.boxes1.sizes(), opts);
  call.grad2 = at::empty(call.boxes1.sizes(), opts);
  call.params.grad1 = call.grad1.mutable_data_ptr();
  call.params.grad2 = call.grad2.mutable_data_ptr();
}

}  // namespace glue
}  // namespace lossext
