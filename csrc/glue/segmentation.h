// Checks, output allocation and params filling for the segmentation
// statistics ops, shared by the CPU and CUDA implementations.
#pragma once

#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include "glue/common.h"
#include "kernels/segmentation_launch.h"

namespace lossext {
namespace glue {

struct SegCall {
  at::Tensor logits, target, stats, extras, coef, grad_extras, grad_logits;
  SegParams params;
};

inline SegCall seg_call(const at::Tensor& input, const at::Tensor& target, int64_t activation, int64_t ignore_index,
                        bool has_ignore, bool squared, bool with_ce, double label_smoothing) {
  TORCH_CHECK_VALUE(input.dim() >= 2, "input must have shape (N, C, d1, ..., dk), got ", input.sizes());
  TORCH_CHECK_VALUE(activation >= 0 && activation <= 2,
                    "activation must be 0 (identity), 1 (sigmoid) or 2 "
                    "(softmax), got ",
                    activation);
  TORCH_CHECK_VALUE(label_smoothing >= 0.0 && label_smoothing <= 1.0, "label_smoothing must be in [0, 1], got ",
                    label_smoothing);
  check_same_device(input, "input", target, "target");
  SegCall call;
  SegParams& p = call.params;
  // Pixels must be contiguous; any other layout is copied once.
  call.logits = input.contiguous();
  p.logits = call.logits.const_data_ptr();
  p.dtype = to_dtype(input.scalar_type(), "input");
  p.batch = input.size(0);
  p.classes = input.size(1);
  p.pixels = 1;
  for (int64_t d = 2; d < input.dim(); ++d) p.pixels *= input.size(d);
  p.stride_n = call.logits.stride(0);
  p.stride_c = call.logits.stride(1);
  p.activation = static_cast<SegActivation>(activation);
  p.squared = squared;
  p.has_ignore = has_ignore;
  p.ignore_index = ignore_index;
  p.label_smoothing = label_smoothing;
  if (target.scalar_type() == at::kLong) {
    std::vector<int64_t> shape(input.sizes().begin(), input.sizes().end());
    shape.erase(shape.begin() + 1);
    TORCH_CHECK_VALUE(target.sizes() == at::IntArrayRef(shape), "class-index target must have shape ",
                      at::IntArrayRef(shape), " for input of shape ", input.sizes(), ", got ", target.sizes());
    TORCH_CHECK_VALUE(p.activation != SegActivation::Sigmoid,
                      "class-index targets go with a softmax (or no activation), not a sigmoid");
    call.target = target.contiguous();
    p.target_index = call.target.const_data_ptr<int64_t>();
  } else {
    TORCH_CHECK_TYPE(at::isFloatingType(target.scalar_type()),
                     "target must be int64 class indices or a floating mask, got ", target.scalar_type());
    TORCH_CHECK_VALUE(target.sizes() == input.sizes(), "dense target must have the shape of input ", input.sizes(),
                      ", got ", target.sizes());
    TORCH_CHECK_VALUE(p.activation != SegActivation::Softmax,
                      "dense targets go with a sigmoid (or no activation), not a softmax");
    call.target = target.to(input.scalar_type()).contiguous();
    p.target_dense = call.target.const_data_ptr();
  }
  TORCH_CHECK_VALUE(!with_ce || (p.activation == SegActivation::Softmax && p.target_index),
                    "with_ce needs a softmax over class-index targets");
  p.with_ce = with_ce;
  return call;
}

inline void seg_alloc_forward(SegCall& call) {
  const auto opts = call.logits.options().dtype(accumulate_dtype(call.logits.scalar_type()));
  call.stats = at::zeros({call.params.batch, kSegStats, call.params.classes}, opts);
  call.extras = at::zeros({call.params.batch, kSegExtras}, opts);
  call.params.stats = call.stats.mutable_data_ptr();
  call.params.extras = call.extras.mutable_data_ptr();
}

inline void seg_fill_backward(SegCall& call, const at::Tensor& grad_stats, const at::Tensor& grad_extras) {
  SegParams& p = call.params;
  const auto acc = accumulate_dtype(call.logits.scalar_type());
  TORCH_CHECK_VALUE(grad_stats.sizes() == at::IntArrayRef({p.batch, kSegStats, p.classes}),
                    "grad_stats must have shape (N, 3, C) = (", p.batch, ", 3, ", p.classes, "), got ",
                    grad_stats.sizes());
  TORCH_CHECK_VALUE(grad_extras.sizes() == at::IntArrayRef({p.batch, kSegExtras}),
                    "grad_extras must have shape (N, 2) = (", p.batch, ", 2), got ", grad_extras.sizes());
  check_same_device(call.logits, "input", grad_stats, "grad_stats");
  check_same_device(call.logits, "input", grad_extras, "grad_extras");
  call.coef = grad_stats.to(acc).contiguous();
  call.grad_extras = grad_extras.to(acc).contiguous();
  p.coef = call.coef.const_data_ptr();
  p.grad_extras = call.grad_extras.const_data_ptr();
  call.grad_logits = at::empty(call.logits.sizes(), call.logits.options().memory_format(at::MemoryFormat::Contiguous));
  p.grad_logits = call.grad_logits.mutable_data_ptr();
}

}  // namespace glue
}  // namespace lossext
