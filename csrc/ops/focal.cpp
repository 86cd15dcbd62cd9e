// The torch ops of the focal losses (kernels/focal.h): schemas, argument
// checks, allocation and params, one implementation for both devices (the
// forward-with-gradient pair is CPU only).
#include <ATen/ops/empty.h>

#include <tuple>
#include <vector>

#include "kernels/focal.h"
#include "ops/common.h"

namespace lossext {
namespace ops {
namespace {

void check_focal_scalars(double alpha, double gamma, double label_smoothing) {
  TORCH_CHECK_VALUE(alpha < 0.0 || alpha <= 1.0, "alpha must be in [0, 1] (or negative to disable it), got ", alpha);
  TORCH_CHECK_VALUE(gamma >= 0.0, "gamma must be >= 0, got ", gamma);
  TORCH_CHECK_VALUE(label_smoothing >= 0.0 && label_smoothing <= 1.0, "label_smoothing must be in [0, 1], got ",
                    label_smoothing);
}

// ---- sigmoid focal: (rows, classes) logits, dense or index targets ----------

// Owns every tensor the params point into, so they outlive the kernel.
struct SigmoidFocalCall {
  at::Tensor logits, target, weight, loss, dloss_dinput, grad_loss, grad_logits;
  SigmoidFocalParams params;
};

SigmoidFocalCall sigmoid_focal_call(const at::Tensor& logits, const at::Tensor& target,
                                    const c10::optional<at::Tensor>& weight, double alpha, double gamma,
                                    const c10::optional<int64_t>& ignore_index, double label_smoothing,
                                    bool reduce_rows) {
  TORCH_CHECK_VALUE(logits.dim() == 2, "input must be 2-D (rows, classes) at the op level, got ", logits.sizes());
  check_focal_scalars(alpha, gamma, label_smoothing);
  check_same_device(logits, "input", target, "target");
  SigmoidFocalCall call;
  SigmoidFocalParams& p = call.params;
  call.logits = logits.contiguous();
  p.logits = call.logits.const_data_ptr();
  p.dtype = to_dtype(logits.scalar_type(), "input");
  p.rows = logits.size(0);
  p.classes = logits.size(1);
  if (target.scalar_type() == at::kLong) {
    TORCH_CHECK_VALUE(target.dim() == 1 && target.size(0) == p.rows, "class-index target must have shape (", p.rows,
                      ",) for input of shape ", logits.sizes(), ", got ", target.sizes());
    call.target = target.contiguous();
    p.target_index = call.target.const_data_ptr<int64_t>();
  } else {
    TORCH_CHECK_TYPE(at::isFloatingType(target.scalar_type()),
                     "target must be int64 class indices or a floating tensor, got ", target.scalar_type());
    TORCH_CHECK_VALUE(target.sizes() == logits.sizes(), "dense target must have the shape of input ", logits.sizes(),
                      ", got ", target.sizes());
    call.target = target.to(logits.scalar_type()).contiguous();
    p.target_dense = call.target.const_data_ptr();
  }
  call.weight = class_weight(weight, call.logits, p.classes);
  if (call.weight.defined()) p.weight = call.weight.const_data_ptr();
  p.ignore_index = ignore_index_of(ignore_index);
  p.alpha = alpha;
  p.gamma = gamma;
  p.gamma_kind = gamma_kind(gamma);
  p.label_smoothing = label_smoothing;
  p.reduce_rows = reduce_rows;
  return call;
}

void sigmoid_focal_alloc_loss(SigmoidFocalCall& call) {
  const auto opts = call.logits.options().dtype(accumulate_dtype(call.logits.scalar_type()));
  call.loss = call.params.reduce_rows ? at::empty({call.params.rows}, opts)
                                      : at::empty({call.params.rows, call.params.classes}, opts);
  call.params.loss = call.loss.mutable_data_ptr();
}

// The upstream gradient of the loss and the logits-shaped gradient.
void sigmoid_focal_fill_backward(SigmoidFocalCall& call, const at::Tensor& grad_loss) {
  SigmoidFocalParams& p = call.params;
  check_same_device(call.logits, "input", grad_loss, "grad_loss");
  const std::vector<int64_t> shape =
      p.reduce_rows ? std::vector<int64_t>{p.rows} : std::vector<int64_t>{p.rows, p.classes};
  TORCH_CHECK_VALUE(grad_loss.sizes() == at::IntArrayRef(shape), "grad_loss must have shape ", at::IntArrayRef(shape),
                    ", got ", grad_loss.sizes());
  bool broadcast = false;
  call.grad_loss = upstream(grad_loss, accumulate_dtype(call.logits.scalar_type()), &broadcast);
  p.grad_loss = call.grad_loss.const_data_ptr();
  p.grad_loss_stride = broadcast ? 0 : 1;
  call.grad_logits = at::empty({p.rows, p.classes}, call.logits.options());
  p.grad_logits = call.grad_logits.mutable_data_ptr();
}

// Index targets: c positive, -1 background, so the valid range starts at -1.
void raise_if_bad(const CpuStatus& status, const SigmoidFocalCall& call) {
  if (call.params.target_index) {
    raise_if_bad_index(status, call.target, -1, call.params.classes, call.params.ignore_index);
  }
}

// An out-of-range class index cannot be reported on CUDA without a device
// sync: the kernels never dereference it and mark the row nan instead (loss
// and gradient); the CPU raises an IndexError.
at::Tensor sigmoid_focal_fwd(const at::Tensor& input, const at::Tensor& target, const c10::optional<at::Tensor>& weight,
                             double alpha, double gamma, c10::optional<int64_t> ignore_index, double label_smoothing,
                             bool reduce_rows) {
  auto call = sigmoid_focal_call(input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows);
  sigmoid_focal_alloc_loss(call);
  raise_if_bad(run_kernel(input, LOSSEXT_ENTRY(sigmoid_focal_fwd), call.params), call);
  return call.loss;
}

at::Tensor sigmoid_focal_bwd(const at::Tensor& grad_loss, const at::Tensor& input, const at::Tensor& target,
                             const c10::optional<at::Tensor>& weight, double alpha, double gamma,
                             c10::optional<int64_t> ignore_index, double label_smoothing, bool reduce_rows) {
  auto call = sigmoid_focal_call(input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows);
  sigmoid_focal_fill_backward(call, grad_loss);
  raise_if_bad(run_kernel(input, LOSSEXT_ENTRY(sigmoid_focal_bwd), call.params), call);
  return call.grad_logits;
}

// CPU only: the forward that also returns dL/dx (a logits-shaped tensor in
// the logits' dtype, kept by autograd until the backward).
std::tuple<at::Tensor, at::Tensor> sigmoid_focal_fwd_with_grad(const at::Tensor& input, const at::Tensor& target,
                                                               const c10::optional<at::Tensor>& weight, double alpha,
                                                               double gamma, c10::optional<int64_t> ignore_index,
                                                               double label_smoothing, bool reduce_rows) {
  auto call = sigmoid_focal_call(input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows);
  sigmoid_focal_alloc_loss(call);
  call.dloss_dinput = at::empty({call.params.rows, call.params.classes}, call.logits.options());
  call.params.dloss_dinput_out = call.dloss_dinput.mutable_data_ptr();
  raise_if_bad(sigmoid_focal_fwd_with_grad_cpu(call.params, &at_parallel_for), call);
  return {call.loss, call.dloss_dinput};
}

// CPU only: the backward from that saved dL/dx (its shape, dtype and device
// stand for the logits') and the upstream gradient as the backward takes it.
at::Tensor sigmoid_focal_bwd_saved(const at::Tensor& grad_loss, const at::Tensor& dloss_dinput, bool reduce_rows) {
  TORCH_CHECK_VALUE(dloss_dinput.dim() == 2, "dloss_dinput must be 2-D (rows, classes), got ", dloss_dinput.sizes());
  SigmoidFocalCall call;
  SigmoidFocalParams& p = call.params;
  call.logits = dloss_dinput.contiguous();
  p.dtype = to_dtype(dloss_dinput.scalar_type(), "dloss_dinput");
  p.dloss_dinput = call.logits.const_data_ptr();
  p.rows = dloss_dinput.size(0);
  p.classes = dloss_dinput.size(1);
  p.reduce_rows = reduce_rows;
  sigmoid_focal_fill_backward(call, grad_loss);
  sigmoid_focal_bwd_saved_cpu(p, &at_parallel_for);
  return call.grad_logits;
}

// ---- softmax focal: (N, C, d...) logits, index targets -------------------------

struct SoftmaxFocalCall {
  at::Tensor logits, target, alpha, weight, loss, lse, row_weight, grad_loss, grad_logits;
  SoftmaxFocalParams params;
};

SoftmaxFocalCall softmax_focal_call(const at::Tensor& logits, const at::Tensor& target,
                                    const c10::optional<at::Tensor>& alpha, const c10::optional<at::Tensor>& weight,
                                    double gamma, const c10::optional<int64_t>& ignore_index) {
  TORCH_CHECK_VALUE(logits.dim() >= 2, "input must have shape (N, C) or (N, C, d1, ..., dk), got ", logits.sizes());
  TORCH_CHECK_VALUE(gamma >= 0.0, "gamma must be >= 0, got ", gamma);
  check_same_device(logits, "input", target, "target");
  TORCH_CHECK_TYPE(target.scalar_type() == at::kLong, "target must be int64 class indices, got ", target.scalar_type());
  const std::vector<int64_t> shape = row_shape(logits);
  TORCH_CHECK_VALUE(target.sizes() == at::IntArrayRef(shape), "target must have shape ", at::IntArrayRef(shape),
                    " for input of shape ", logits.sizes(), ", got ", target.sizes());
  SoftmaxFocalCall call;
  SoftmaxFocalParams& p = call.params;
  call.logits = walkable(logits);
  p.logits = call.logits.const_data_ptr();
  p.dtype = to_dtype(logits.scalar_type(), "input");
  p.layout = class_rows(call.logits);
  call.target = target.contiguous();
  p.target_index = call.target.const_data_ptr<int64_t>();
  p.ignore_index = ignore_index_of(ignore_index);
  const int64_t classes = logits.size(1);
  if (alpha.has_value() && alpha->defined()) {
    TORCH_CHECK_VALUE(alpha->dim() == 1 && alpha->size(0) == classes,
                      "alpha must be a float or a 1-D tensor of "
                      "length C = ",
                      classes, ", got shape ", alpha->sizes());
    check_same_device(logits, "input", *alpha, "alpha");
    call.alpha = alpha->to(accumulate_dtype(logits.scalar_type())).contiguous();
    p.alpha = call.alpha.const_data_ptr();
  }
  call.weight = class_weight(weight, call.logits, classes);
  if (call.weight.defined()) p.weight = call.weight.const_data_ptr();
  p.gamma = gamma;
  p.gamma_kind = gamma_kind(gamma);
  return call;
}

void raise_if_bad(const CpuStatus& status, const SoftmaxFocalCall& call) {
  raise_if_bad_index(status, call.target, 0, call.params.layout.classes, call.params.ignore_index);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> softmax_focal_fwd(const at::Tensor& input, const at::Tensor& target,
                                                                 const c10::optional<at::Tensor>& alpha,
                                                                 const c10::optional<at::Tensor>& weight, double gamma,
                                                                 c10::optional<int64_t> ignore_index) {
  auto call = softmax_focal_call(input, target, alpha, weight, gamma, ignore_index);
  const auto opts = call.logits.options().dtype(accumulate_dtype(call.logits.scalar_type()));
  const auto shape = row_shape(call.logits);
  call.loss = at::empty(shape, opts);
  call.lse = at::empty(shape, opts);
  call.row_weight = at::empty(shape, opts);
  call.params.loss = call.loss.mutable_data_ptr();
  call.params.lse_out = call.lse.mutable_data_ptr();
  call.params.row_weight = call.row_weight.mutable_data_ptr();
  raise_if_bad(run_kernel(input, LOSSEXT_ENTRY(softmax_focal_fwd), call.params), call);
  return {call.loss, call.lse, call.row_weight};
}

at::Tensor softmax_focal_bwd(const at::Tensor& grad_loss, const at::Tensor& input, const at::Tensor& target,
                             const c10::optional<at::Tensor>& alpha, const c10::optional<at::Tensor>& weight,
                             const at::Tensor& lse, double gamma, c10::optional<int64_t> ignore_index) {
  auto call = softmax_focal_call(input, target, alpha, weight, gamma, ignore_index);
  const auto acc = accumulate_dtype(call.logits.scalar_type());
  const std::vector<int64_t> shape = row_shape(call.logits);
  TORCH_CHECK_VALUE(lse.sizes() == at::IntArrayRef(shape), "lse must have shape ", at::IntArrayRef(shape), ", got ",
                    lse.sizes());
  TORCH_CHECK_VALUE(grad_loss.sizes() == at::IntArrayRef(shape), "grad_loss must have shape ", at::IntArrayRef(shape),
                    ", got ", grad_loss.sizes());
  check_same_device(call.logits, "input", grad_loss, "grad_loss");
  check_same_device(call.logits, "input", lse, "lse");
  SoftmaxFocalParams& p = call.params;
  call.lse = lse.to(acc).contiguous();
  p.lse = call.lse.const_data_ptr();
  bool broadcast = false;
  call.grad_loss = upstream(grad_loss, acc, &broadcast);
  p.grad_loss = call.grad_loss.const_data_ptr();
  p.grad_loss_stride = broadcast ? 0 : 1;
  call.grad_logits = at::empty(call.logits.sizes(), call.logits.options().memory_format(at::MemoryFormat::Contiguous));
  p.grad_logits = call.grad_logits.mutable_data_ptr();
  raise_if_bad(run_kernel(input, LOSSEXT_ENTRY(softmax_focal_bwd), p), call);
  return call.grad_logits;
}

void register_focal(torch::Library& m) {
  m.impl("sigmoid_focal_fwd", &sigmoid_focal_fwd);
  m.impl("sigmoid_focal_bwd", &sigmoid_focal_bwd);
  m.impl("softmax_focal_fwd", &softmax_focal_fwd);
  m.impl("softmax_focal_bwd", &softmax_focal_bwd);
}

}  // namespace

// Focal losses. sigmoid_focal_*: 2-D (rows, classes) logits (the Python side
// flattens the leading dims); target int64 class indices [rows] (c positive,
// -1 background, ignore_index skipped; None: nothing skipped) or dense floats
// of the input's shape; loss in float32 (float64 for float64), [rows] when
// reduce_rows else [rows, classes]. softmax_focal_*: (N, C, d...) logits,
// index targets, per-row loss, log-sum-exp and target weight w_y (0 when
// ignored).
TORCH_LIBRARY_FRAGMENT(lossext, m) {
  m.def(
      "sigmoid_focal_fwd(Tensor input, Tensor target, Tensor? weight, float alpha, float gamma, "
      "int? ignore_index, float label_smoothing, bool reduce_rows) -> Tensor",
      kPt2);
  m.def(
      "sigmoid_focal_bwd(Tensor grad_loss, Tensor input, Tensor target, Tensor? weight, float alpha, "
      "float gamma, int? ignore_index, float label_smoothing, bool reduce_rows) -> Tensor",
      kPt2);
  m.def(
      "softmax_focal_fwd(Tensor input, Tensor target, Tensor? alpha, Tensor? weight, float gamma, "
      "int? ignore_index) -> (Tensor loss, Tensor lse, Tensor row_weight)",
      kPt2);
  m.def(
      "softmax_focal_bwd(Tensor grad_loss, Tensor input, Tensor target, Tensor? alpha, Tensor? weight, "
      "Tensor lse, float gamma, int? ignore_index) -> Tensor",
      kPt2);
  // Sigmoid focal forward that also returns dloss_dinput = dL/dx of every
  // element (rows, classes) in the input's dtype, without the upstream factor
  // (CPU: the element math, not memory traffic, bounds the kernel there, so
  // it is evaluated once for forward and backward); the backward is then
  // sigmoid_focal_bwd_saved: grad_loss (per row when reduce_rows, else per
  // element) times dloss_dinput, in the accumulate type, rounded once.
  m.def(
      "sigmoid_focal_fwd_with_grad(Tensor input, Tensor target, Tensor? weight, float alpha, float gamma, "
      "int? ignore_index, float label_smoothing, bool reduce_rows) -> (Tensor loss, Tensor dloss_dinput)",
      kPt2);
  m.def("sigmoid_focal_bwd_saved(Tensor grad_loss, Tensor dloss_dinput, bool reduce_rows) -> Tensor", kPt2);
}

LOSSEXT_IMPL_CPU_AND_CUDA(register_focal)

TORCH_LIBRARY_IMPL(lossext, CPU, m) {
  m.impl("sigmoid_focal_fwd_with_grad", &sigmoid_focal_fwd_with_grad);
  m.impl("sigmoid_focal_bwd_saved", &sigmoid_focal_bwd_saved);
}

}  // namespace ops
}  // namespace lossext
