// Every lossext op's schema, declared once. Implementations register per
// device in cpu/ and cuda/; fake kernels and autograd are registered from
// Python (lossext/_ops/). Backward ops are ops too, so torch.compile traces
// through them and opcheck can test them.
#include <torch/library.h>

TORCH_LIBRARY(lossext, m) {
  const std::vector<at::Tag> pt2 = {at::Tag::pt2_compliant_tag};

  // Softmax cross-entropy. Per-row outputs (input's shape without dim 1) in
  // float32 (float64 for float64 input): loss, log-sum-exp, and the row's
  // target weight (index targets; 0 when ignored) or target mass (probability
  // targets), which the reductions and the backward need.
  m.def(
      "cross_entropy_index_fwd(Tensor input, Tensor target, Tensor? weight, int ignore_index, "
      "float label_smoothing, float z_loss) -> (Tensor loss, Tensor lse, Tensor row_weight)",
      pt2);
  m.def(
      "cross_entropy_index_bwd(Tensor grad_loss, Tensor input, Tensor target, Tensor? weight, Tensor lse, "
      "int ignore_index, float label_smoothing, float z_loss) -> Tensor",
      pt2);
  m.def(
      "cross_entropy_prob_fwd(Tensor input, Tensor target, Tensor? weight, float label_smoothing, "
      "float z_loss) -> (Tensor loss, Tensor lse, Tensor target_mass)",
      pt2);
  m.def(
      "cross_entropy_prob_bwd(Tensor grad_loss, Tensor input, Tensor target, Tensor? weight, Tensor lse, "
      "Tensor target_mass, float label_smoothing, float z_loss) -> Tensor",
      pt2);

  // Focal losses. sigmoid_focal_*: 2-D (rows, classes) logits (the Python side
  // flattens the leading dims); target int64 class indices [rows] (c positive,
  // -1 background, ignore_index skipped) or dense floats of the input's shape;
  // loss in float32 (float64 for float64), [rows] when reduce_rows else
  // [rows, classes]. softmax_focal_*: (N, C, d...) logits, index targets,
  // per-row loss, log-sum-exp and target weight w_y (0 when ignored).
  m.def(
      "sigmoid_focal_fwd(Tensor input, Tensor target, Tensor? weight, float alpha, float gamma, "
      "int ignore_index, float label_smoothing, bool reduce_rows) -> Tensor",
      pt2);
  m.def(
      "sigmoid_focal_bwd(Tensor grad_loss, Tensor input, Tensor target, Tensor? weight, float alpha, "
      "float gamma, int ignore_index, float label_smoothing, bool reduce_rows) -> Tensor",
      pt2);
  m.def(
      "softmax_focal_fwd(Tensor input, Tensor target, Tensor? alpha, Tensor? weight, float gamma, "
      "int ignore_index) -> (Tensor loss, Tensor lse, Tensor row_weight)",
      pt2);
  m.def(
      "softmax_focal_bwd(Tensor grad_loss, Tensor input, Tensor target, Tensor? alpha, Tensor? weight, "
      "Tensor lse, float gamma, int ignore_index) -> Tensor",
      pt2);
  // Sigmoid focal forward that also returns dloss_dinput = dL/dx of every
  // element (rows, classes) in the input's dtype, without the upstream factor
  // (CPU: the element math, not memory traffic, bounds the kernel there, so
  // it is evaluated once for forward and backward); the backward is then
  // sigmoid_focal_bwd_saved: grad_loss (per row when reduce_rows, else per
  // element) times dloss_dinput, in the accumulate type, rounded once.
  m.def(
      "sigmoid_focal_fwd_with_grad(Tensor input, Tensor target, Tensor? weight, float alpha, float gamma, "
      "int ignore_index, float label_smoothing, bool reduce_rows) -> (Tensor loss, Tensor dloss_dinput)",
      pt2);
  m.def("sigmoid_focal_bwd_saved(Tensor grad_loss, Tensor dloss_dinput, bool reduce_rows) -> Tensor", pt2);
}
