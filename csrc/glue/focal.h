// Checks, output allocation and params filling for the focal-loss ops, shared
// by the CPU and CUDA implementations (same messages, same params struct).
#pragma once

#include <ATen/ops/empty.h>

#include <algorithm>
#include <vector>

#include "glue/common.h"
#include "kernels/focal_launch.h"

namespace lossext {
namespace glue {

inline void check_focal_scalars(double alpha, double gamma, double label_smoothing) {
  TORCH_CHECK_VALUE(alpha < 0.0 || alpha <= 1.0, "alpha must be in [0, 1] (or negative to disable it), got ", alpha);
  TORCH_CHECK_VALUE(gamma >= 0.0, "gamma must be >= 0, got ", gamma);
  TORCH_CHECK_VALUE(label_smoothing >= 0.0 && label_smoothing <= 1.0, "label_smoothing must be in [0, 1], got ",
                    label_smoothing);
}

// ---- sigmoid focal: (rows, classes) logits, dense or index targets ----------

struct SigmoidFocalCall {
  at::Tensor logits, target, weight, loss, grad_loss, grad_logits;
  SigmoidFocalParams params;
};

inline SigmoidFocalCall sigmoid_focal_call(const at::Tensor& logits, const at::Tensor& target,
                                           const c10::optional<at::Tensor>& weight, double alpha, double gamma,
                                           int64_t ignore_index, double label_smoothing, bool reduce_rows) {
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
  p.ignore_index = ignore_index;
  p.alpha = alpha;
  p.gamma = gamma;
  p.gamma_kind = gamma_kind(gamma);
  p.label_smoothing = label_smoothing;
  p.reduce_rows = reduce_rows;
  return call;
}

inline void sigmoid_focal_alloc_loss(SigmoidFocalCall& call) {
  const auto opts = call.logits.options().dtype(accumulate_dtype(call.logits.scalar_type()));
  call.loss = call.params.reduce_rows ? at::empty({call.params.rows}, opts)
                                      : at::empty({call.params.rows, call.params.classes}, opts);
  call.params.loss = call.loss.mutable_data_ptr();
}

inline void sigmoid_focal_fill_backward(SigmoidFocalCall& call, const at::Tensor& grad_loss) {
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

// The forward that also writes dL/dx (CPU): a logits-shaped buffer in the
// logits' dtype, kept by autograd until the backward.
inline void sigmoid_focal_alloc_grad(SigmoidFocalCall& call) {
  call.grad_logits = at::empty({call.params.rows, call.params.classes}, call.logits.options());
  call.params.grad_logits = call.grad_logits.mutable_data_ptr();
}

// Backward from that saved dL/dx: the call reads `dloss_dinput` in place of
// logits (shape, dtype, device) and the upstream gradient as the backward does.
inline SigmoidFocalCall sigmoid_focal_saved_call(const at::Tensor& grad_loss, const at::Tensor& dloss_dinput,
                                                 bool reduce_rows) {
  TORCH_CHECK_VALUE(dloss_dinput.dim() == 2, "dloss_dinput must be 2-D (rows, classes), got ", dloss_dinput.sizes());
  SigmoidFocalCall call;
  call.logits = dloss_dinput.contiguous();
  call.params.dtype = to_dtype(dloss_dinput.scalar_type(), "dloss_dinput");
  call.params.logits = call.logits.const_data_ptr();
  call.params.rows = dloss_dinput.size(0);
  call.params.classes = dloss_dinput.size(1);
  call.params.reduce_rows = reduce_rows;
  sigmoid_focal_fill_backward(call, grad_loss);
  return call;
}

// ---- softmax focal: (N, C, d...) logits, index targets -------------------------

struct SoftmaxFocalCall {
  at::Tensor logits, target, alpha, weight, loss, lse, row_weight, grad_loss, grad_logits;
  SoftmaxFocalParams params;
};

inline SoftmaxFocalCall softmax_focal_call(const at::Tensor& logits, const at::Tensor& target,
                                           const c10::optional<at::Tensor>& alpha,
                                           const c10::optional<at::Tensor>& weight, double gamma,
                                           int64_t ignore_index) {
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
  p.ignore_index = ignore_index;
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

inline void softmax_focal_alloc_forward(SoftmaxFocalCall& call) {
  const auto opts = call.logits.options().dtype(accumulate_dtype(call.logits.scalar_type()));
  const auto shape = row_shape(call.logits);
  call.loss = at::empty(shape, opts);
  call.lse = at::empty(shape, opts);
  call.row_weight = at::empty(shape, opts);
  call.params.loss = call.loss.mutable_data_ptr();
  call.params.lse_out = call.lse.mutable_data_ptr();
  call.params.row_weight = call.row_weight.mutable_data_ptr();
}

inline void softmax_focal_fill_backward(SoftmaxFocalCall& call, const at::Tensor& grad_loss, const at::Tensor& lse) {
  const auto acc = accumulate_dtype(call.logits.scalar_type());
  const std::vector<int64_t> shape = row_shape(call.logits);
  TORCH_CHECK_VALUE(lse.sizes() == at::IntArrayRef(shape), "lse must have shape ", at::IntArrayRef(shape), ", got ",
                    lse.sizes());
  TORCH_CHECK_VALUE(grad_loss.sizes() == at::IntArrayRef(shape), "grad_loss must have shape ", at::IntArrayRef(shape),
                    ", got ", grad_loss.sizes());
  check_same_device(call.logits, "input", grad_loss, "grad_loss");
  check_same_device(call.logits, "input", lse, "lse");
  call.lse = lse.to(acc).contiguous();
  call.params.lse = call.lse.const_data_ptr();
  bool broadcast = false;
  call.grad_loss = upstream(grad_loss, acc, &broadcast);
  call.params.grad_loss = call.grad_loss.const_data_ptr();
  call.params.grad_loss_stride = broadcast ? 0 : 1;
  call.grad_logits = at::empty(call.logits.sizes(), call.logits.options().memory_format(at::MemoryFormat::Contiguous));
  call.params.grad_logits = call.grad_logits.mutable_data_ptr();
}

}  // namespace glue
}  // namespace lossext
