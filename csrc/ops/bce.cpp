// The torch ops of the sigmoid cross-entropy family (kernels/bce.h: BCE with
// logits, quality focal, varifocal): schemas, argument checks, allocation and
// params, one implementation for both devices.
#include <ATen/ops/empty.h>

#include "kernels/bce.h"
#include "ops/common.h"

namespace lossext {
namespace ops {
namespace {

struct BceCall {
  at::Tensor input, target, label, weight, pos_weight, loss, grad_loss, grad_input, grad_target;
  BceParams params;
};

// An optional per-element factor broadcast to (rows, cols) in the accumulate
// type, read in place through its two strides.
at::Tensor bce_factor(const c10::optional<at::Tensor>& f, const char* name, const at::Tensor& input, int64_t* rs,
                      int64_t* cs) {
  *rs = *cs = 0;
  if (!f.has_value() || !f->defined()) return at::Tensor();
  check_same_device(input, "input", *f, name);
  TORCH_CHECK_TYPE(at::isFloatingType(f->scalar_type()), name, " must be a floating tensor, got ", f->scalar_type());
  const int64_t rows = input.size(0), cols = input.size(1);
  const auto sizes = f->sizes();
  const bool fits = f->dim() <= 2 && (f->dim() < 1 || sizes.back() == 1 || sizes.back() == cols) &&
                    (f->dim() < 2 || sizes[0] == 1 || sizes[0] == rows);
  TORCH_CHECK_VALUE(fits, name, " of shape ", sizes, " does not broadcast to (", rows, ", ", cols, ")");
  at::Tensor w = f->to(accumulate_dtype(input.scalar_type())).expand({rows, cols});
  *rs = w.stride(0);
  *cs = w.stride(1);
  return w;
}

// input (rows, cols) logits; target: dense (rows, cols), or with label
// (rows,) int64 the score (rows,) of quality focal's label-score form; all
// floating tensors of input's dtype.
BceCall bce_call(const at::Tensor& input, const at::Tensor& target, const c10::optional<at::Tensor>& label,
                 const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& pos_weight, int64_t kind,
                 double alpha, double exponent, bool iou_weighted, bool reduce_rows) {
  TORCH_CHECK_VALUE(input.dim() == 2, "input must have shape (N, C), got ", input.sizes());
  check_same_device(input, "input", target, "target");
  TORCH_CHECK_TYPE(target.scalar_type() == input.scalar_type(), "target must have the dtype of input ",
                   input.scalar_type(), ", got ", target.scalar_type());
  TORCH_CHECK_VALUE(kind >= 0 && kind <= 2, "kind must be 0 (bce), 1 (quality focal) or 2 (varifocal), got ", kind);
  TORCH_CHECK_VALUE(alpha >= 0.0, "alpha must be >= 0, got ", alpha);
  TORCH_CHECK_VALUE(exponent >= 0.0 && std::isfinite(exponent), "exponent must be finite and >= 0, got ", exponent);
  const bool has_label = label.has_value() && label->defined();
  BceCall call;
  BceParams& p = call.params;
  p.dtype = to_dtype(input.scalar_type(), "input");
  p.rows = input.size(0);
  p.cols = input.size(1);
  call.input = input.contiguous();
  call.target = target.contiguous();
  p.x = call.input.const_data_ptr();
  if (has_label) {
    TORCH_CHECK_VALUE(kind == 1, "label is quality focal's (kind 1) only, got kind ", kind);
    check_same_device(input, "input", *label, "label");
    TORCH_CHECK_TYPE(label->scalar_type() == at::kLong, "label must be int64, got ", label->scalar_type());
    TORCH_CHECK_VALUE(label->dim() == 1 && label->size(0) == p.rows, "label must have shape (", p.rows, ",), got ",
                      label->sizes());
    TORCH_CHECK_VALUE(target.dim() == 1 && target.size(0) == p.rows, "target (the score) must have shape (", p.rows,
                      ",) with a label, got ", target.sizes());
    call.label = label->contiguous();
    p.label = call.label.const_data_ptr<int64_t>();
    p.score = call.target.const_data_ptr();
  } else {
    TORCH_CHECK_VALUE(target.sizes() == input.sizes(), "target must have the shape of input ", input.sizes(), ", got ",
                      target.sizes());
    p.t = call.target.const_data_ptr();
  }
  call.weight = bce_factor(weight, "weight", input, &p.weight_rs, &p.weight_cs);
  if (call.weight.defined()) p.weight = call.weight.const_data_ptr();
  if (pos_weight.has_value() && pos_weight->defined()) {
    TORCH_CHECK_VALUE(kind == 0, "pos_weight is BCE's (kind 0) only, got kind ", kind);
    call.pos_weight = bce_factor(pos_weight, "pos_weight", input, &p.pos_weight_rs, &p.pos_weight_cs);
    p.pos_weight = call.pos_weight.const_data_ptr();
  }
  p.kind = static_cast<BceKind>(kind);
  p.alpha = alpha;
  p.exponent = exponent;
  p.iou_weighted = iou_weighted;
  p.reduce_rows = reduce_rows;
  return call;
}

// Forward output: per element in input's dtype, or per-row sums in the
// accumulate type.
void alloc_bce_loss(BceCall& call) {
  const BceParams& p = call.params;
  call.loss = p.reduce_rows
                  ? at::empty({p.rows}, call.input.options().dtype(accumulate_dtype(call.input.scalar_type())))
                  : at::empty({p.rows, p.cols}, call.input.options());
  call.params.loss = call.loss.mutable_data_ptr();
}

// grad_loss has the forward output's shape; it is read through its strides
// (a broadcast 'sum' / 'mean' gradient has stride 0). The target's gradient is
// BCE's with a dense target only.
void fill_bce_backward(BceCall& call, const at::Tensor& grad_loss, bool target_grad) {
  BceParams& p = call.params;
  check_same_device(call.input, "input", grad_loss, "grad_loss");
  if (p.reduce_rows) {
    TORCH_CHECK_VALUE(grad_loss.dim() == 1 && grad_loss.size(0) == p.rows, "grad_loss must have shape (", p.rows,
                      ",), got ", grad_loss.sizes());
  } else {
    TORCH_CHECK_VALUE(grad_loss.dim() == 2 && grad_loss.size(0) == p.rows && grad_loss.size(1) == p.cols,
                      "grad_loss must have shape (", p.rows, ", ", p.cols, "), got ", grad_loss.sizes());
  }
  TORCH_CHECK_VALUE(!target_grad || (p.kind == BceKind::Bce && p.t != nullptr),
                    "the target's gradient is computed for BCE with a dense target only");
  call.grad_loss = grad_loss.to(accumulate_dtype(call.input.scalar_type()));
  p.grad_loss = call.grad_loss.const_data_ptr();
  p.grad_rs = call.grad_loss.stride(0);
  p.grad_cs = p.reduce_rows ? 0 : call.grad_loss.stride(1);
  call.grad_input = at::empty({p.rows, p.cols}, call.input.options());
  p.grad_input = call.grad_input.mutable_data_ptr();
  call.grad_target = at::empty({target_grad ? p.rows : 0, target_grad ? p.cols : 0}, call.input.options());
  p.grad_target = target_grad ? call.grad_target.mutable_data_ptr() : nullptr;
}

at::Tensor bce_fwd(const at::Tensor& input, const at::Tensor& target, const c10::optional<at::Tensor>& label,
                   const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& pos_weight, int64_t kind,
                   double alpha, double exponent, bool iou_weighted, bool reduce_rows) {
  BceCall call = bce_call(input, target, label, weight, pos_weight, kind, alpha, exponent, iou_weighted, reduce_rows);
  alloc_bce_loss(call);
  run_kernel(input, LOSSEXT_ENTRY(bce_fwd), call.params);
  return call.loss;
}

std::tuple<at::Tensor, at::Tensor> bce_bwd(const at::Tensor& grad_loss, const at::Tensor& input,
                                           const at::Tensor& target, const c10::optional<at::Tensor>& label,
                                           const c10::optional<at::Tensor>& weight,
                                           const c10::optional<at::Tensor>& pos_weight, int64_t kind, double alpha,
                                           double exponent, bool iou_weighted, bool reduce_rows, bool target_grad) {
  BceCall call = bce_call(input, target, label, weight, pos_weight, kind, alpha, exponent, iou_weighted, reduce_rows);
  fill_bce_backward(call, grad_loss, target_grad);
  run_kernel(input, LOSSEXT_ENTRY(bce_bwd), call.params);
  return {call.grad_input, call.grad_target};
}

void register_bce(torch::Library& m) {
  m.impl("bce_fwd", &bce_fwd);
  m.impl("bce_bwd", &bce_bwd);
}

}  // namespace

// kind 0 BCE with logits (weight, pos_weight), 1 quality focal (exponent
// beta; target dense, or the score (N,) with label (N,) int64), 2 varifocal
// (alpha, exponent gamma, iou_weighted). input (N, C); weight and pos_weight
// broadcast to (N, C). Forward: per element in input's dtype, or per-row sums
// in the accumulate type (reduce_rows). Backward: d/d input, and d/d target
// when target_grad (BCE with a dense target; else an empty tensor).
TORCH_LIBRARY_FRAGMENT(lossext, m) {
  m.def(
      "bce_fwd(Tensor input, Tensor target, Tensor? label, Tensor? weight, Tensor? pos_weight, int kind, "
      "float alpha, float exponent, bool iou_weighted, bool reduce_rows) -> Tensor",
      kPt2);
  m.def(
      "bce_bwd(Tensor grad_loss, Tensor input, Tensor target, Tensor? label, Tensor? weight, Tensor? pos_weight, "
      "int kind, float alpha, float exponent, bool iou_weighted, bool reduce_rows, bool target_grad) "
      "-> (Tensor grad_input, Tensor grad_target)",
      kPt2);
}

LOSSEXT_IMPL_CPU_AND_CUDA(register_bce)

}  // namespace ops
}  // namespace lossext
