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
