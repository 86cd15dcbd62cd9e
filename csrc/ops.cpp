// Every lossext op's schema, declared once. Implementations register per
// device in cpu/ and cuda/; fake kernels and autograd are registered from
// Python (lossext/_ops/). Backward ops are ops too, so torch.compile traces
// through them and opcheck can test them.
#include <torch/library.h>

TORCH_LIBRARY(lossext, m) {
  const std::vector<at::Tag> pt2 = {at::Tag::pt2_compliant_tag};

  // KL and generalized JS divergence over log-probabilities (input = log q).
  // Forward returns one partial sum per fixed chunk of 16384 elements of the
  // flattened inputs (accumulate dtype); backward takes the gradient of each
  // partial and returns the gradient of input.
  m.def("kl_div_fwd(Tensor input, Tensor target, bool log_target) -> Tensor", pt2);
  m.def("kl_div_bwd(Tensor grad_partials, Tensor input, Tensor target, bool log_target) -> Tensor", pt2);
  m.def("js_div_fwd(Tensor input, Tensor target, float beta, bool log_target) -> Tensor", pt2);
  m.def("js_div_bwd(Tensor grad_partials, Tensor input, Tensor target, float beta, bool log_target) -> Tensor", pt2);
  // Box IoU family (kernels/box.h). Integer codes: fmt 0 xyxy, 1 xywh,
  // 2 cxcywh; pairwise kind 0 iou, 1 giou, 2 diou, 3 ciou; loss mode 0 iou,
  // 1 giou, 2 diou, 3 ciou, 4 eiou, 5 siou. box_pairwise: [..., N, 4] x
  // [..., M, 4] -> [..., N, M] (float64 for float64 input, else float32).
  // box_loss_fwd: aligned [..., 4] pairs -> [...] loss in the accumulate type;
  // box_loss_bwd gives the gradients of both boxes in the boxes' dtype.
  m.def("box_pairwise(Tensor boxes1, Tensor boxes2, int kind, int fmt, float eps) -> Tensor", pt2);
  m.def("box_loss_fwd(Tensor boxes1, Tensor boxes2, int mode, int fmt, float eps) -> Tensor", pt2);
  m.def(
      "box_loss_bwd(Tensor grad_loss, Tensor boxes1, Tensor boxes2, int mode, int fmt, float eps) "
      "-> (Tensor grad_boxes1, Tensor grad_boxes2)",
      pt2);

  // Smooth L1 (kind 0, param beta) and Huber (kind 1, param delta) of
  // same-shape, same-dtype input and target (kernels/regression.h):
  // per-element loss in input's dtype; the backward gives d/d input (the
  // target's gradient is its negative).
  m.def("regression_fwd(Tensor input, Tensor target, int kind, float param) -> Tensor", pt2);
  m.def("regression_bwd(Tensor grad_loss, Tensor input, Tensor target, int kind, float param) -> Tensor", pt2);

  // Segmentation overlap statistics (kernels/segmentation.h): input (N, C,
  // d...) logits, target int64 class indices (N, d...) or a float mask of the
  // input's shape; activation 0 identity, 1 sigmoid, 2 softmax. stats (N, 3, C)
  // = sum p t, sum p (p^2 when squared), sum t (t^2) over non-ignored pixels;
  // extras (N, 2) = cross-entropy sum (with_ce) and valid-pixel count. The
  // backward reads dL/dstats and dL/dextras and returns dL/dinput.
  m.def(
      "seg_stats_fwd(Tensor input, Tensor target, int activation, int ignore_index, bool has_ignore, "
      "bool squared, bool with_ce, float label_smoothing) -> (Tensor stats, Tensor extras)",
      pt2);
  m.def(
      "seg_stats_bwd(Tensor grad_stats, Tensor grad_extras, Tensor input, Tensor target, int activation, "
      "int ignore_index, bool has_ignore, bool squared, bool with_ce, float label_smoothing) -> Tensor",
      pt2);
}
