// The torch ops of the box IoU family (kernels/box.h): schemas, argument
// checks, allocation and params, one implementation for both devices.
#include <ATen/ops/empty.h>

#include <tuple>
#include <vector>

#include "kernels/box.h"
#include "ops/common.h"

namespace lossext {
namespace ops {
namespace {

BoxFmt box_fmt(int64_t fmt) {
  TORCH_CHECK_VALUE(fmt >= 0 && fmt <= 2, "fmt must be 0 (xyxy), 1 (xywh) or 2 (cxcywh), got ", fmt);
  return static_cast<BoxFmt>(fmt);
}

void check_boxes(const at::Tensor& boxes, const char* name, int64_t min_dim) {
  TORCH_CHECK_VALUE(boxes.dim() >= min_dim && boxes.size(-1) == 4, name, " must have shape ",
                    min_dim == 1 ? "[..., 4]" : "[..., N, 4]", ", got ", boxes.sizes());
}

// Integer and half boxes are computed in float32, float64 stays float64, as
// torchvision's box_iou family returns them.
at::Tensor box_pairwise(const at::Tensor& boxes1, const at::Tensor& boxes2, int64_t kind, int64_t fmt, double eps) {
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
  const at::Tensor b1 = boxes1.to(t).contiguous(), b2 = boxes2.to(t).contiguous();
  std::vector<int64_t> shape(boxes1.sizes().begin(), boxes1.sizes().end() - 1);
  const int64_t m = boxes2.size(-2);
  shape.push_back(m);
  at::Tensor out = at::empty(shape, b1.options());
  BoxPairwiseParams p;
  p.boxes1 = b1.const_data_ptr();
  p.boxes2 = b2.const_data_ptr();
  p.out = out.mutable_data_ptr();
  p.dtype = to_dtype(t, "boxes1");
  p.n = boxes1.size(-2);
  p.m = m;
  p.batch = 1;
  for (int64_t d = 0; d < boxes1.dim() - 2; ++d) p.batch *= boxes1.size(d);
  p.kind = static_cast<BoxPairKind>(kind);
  p.fmt = box_fmt(fmt);
  p.eps = eps;
  run_kernel(boxes1, LOSSEXT_ENTRY(box_pairwise), p);
  return out;
}

struct BoxLossCall {
  at::Tensor boxes1, boxes2;
  std::vector<int64_t> pair_shape;  // the boxes' shape without the last dim
  BoxLossParams params;
};

BoxLossCall box_loss_call(const at::Tensor& boxes1, const at::Tensor& boxes2, int64_t mode, int64_t fmt, double eps) {
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
  call.pair_shape.assign(boxes1.sizes().begin(), boxes1.sizes().end() - 1);
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

at::Tensor box_loss_fwd(const at::Tensor& boxes1, const at::Tensor& boxes2, int64_t mode, int64_t fmt, double eps) {
  BoxLossCall call = box_loss_call(boxes1, boxes2, mode, fmt, eps);
  at::Tensor loss =
      at::empty(call.pair_shape, call.boxes1.options().dtype(accumulate_dtype(call.boxes1.scalar_type())));
  call.params.loss = loss.mutable_data_ptr();
  run_kernel(boxes1, LOSSEXT_ENTRY(box_loss_fwd), call.params);
  return loss;
}

std::tuple<at::Tensor, at::Tensor> box_loss_bwd(const at::Tensor& grad_loss, const at::Tensor& boxes1,
                                                const at::Tensor& boxes2, int64_t mode, int64_t fmt, double eps) {
  BoxLossCall call = box_loss_call(boxes1, boxes2, mode, fmt, eps);
  BoxLossParams& p = call.params;
  TORCH_CHECK_VALUE(grad_loss.sizes() == at::IntArrayRef(call.pair_shape), "grad_loss must have shape ",
                    call.pair_shape, ", got ", grad_loss.sizes());
  check_same_device(boxes1, "boxes1", grad_loss, "grad_loss");
  // A 'mean' or 'sum' gradient arrives as one value expanded over the pairs.
  bool broadcast = false;
  const at::Tensor g = upstream(grad_loss, accumulate_dtype(boxes1.scalar_type()), &broadcast);
  p.grad_loss = g.const_data_ptr();
  p.grad_loss_stride = broadcast ? 0 : 1;
  const auto opts = call.boxes1.options().memory_format(at::MemoryFormat::Contiguous);
  at::Tensor grad1 = at::empty(call.boxes1.sizes(), opts), grad2 = at::empty(call.boxes1.sizes(), opts);
  p.grad1 = grad1.mutable_data_ptr();
  p.grad2 = grad2.mutable_data_ptr();
  run_kernel(boxes1, LOSSEXT_ENTRY(box_loss_bwd), p);
  return {grad1, grad2};
}

void register_box(torch::Library& m) {
  m.impl("box_pairwise", &box_pairwise);
  m.impl("box_loss_fwd", &box_loss_fwd);
  m.impl("box_loss_bwd", &box_loss_bwd);
}

}  // namespace

// Box IoU family. Integer codes: fmt 0 xyxy, 1 xywh, 2 cxcywh; pairwise kind
// 0 iou, 1 giou, 2 diou, 3 ciou; loss mode 0 iou, 1 giou, 2 diou, 3 ciou,
// 4 eiou, 5 siou. box_pairwise: [..., N, 4] x [..., M, 4] -> [..., N, M]
// (float64 for float64 input, else float32). box_loss_fwd: aligned [..., 4]
// pairs -> [...] loss in the accumulate type; box_loss_bwd gives the
// gradients of both boxes in the boxes' dtype.
TORCH_LIBRARY_FRAGMENT(lossext, m) {
  m.def("box_pairwise(Tensor boxes1, Tensor boxes2, int kind, int fmt, float eps) -> Tensor", kPt2);
  m.def("box_loss_fwd(Tensor boxes1, Tensor boxes2, int mode, int fmt, float eps) -> Tensor", kPt2);
  m.def(
      "box_loss_bwd(Tensor grad_loss, Tensor boxes1, Tensor boxes2, int mode, int fmt, float eps) "
      "-> (Tensor grad_boxes1, Tensor grad_boxes2)",
      kPt2);
}

LOSSEXT_IMPL_CPU_AND_CUDA(register_box)

}  // namespace ops
}  // namespace lossext
