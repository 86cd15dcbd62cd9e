// The torch ops of the segmentation overlap statistics
// (kernels/segmentation.h): schemas, argument checks, allocation and params,
// one implementation for both devices.
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include <tuple>
#include <vector>

#include "kernels/segmentation.h"
#include "ops/common.h"

namespace lossext {
namespace ops {
namespace {

// Owns every tensor the params point into, so they outlive the kernel.
struct SegCall {
  at::Tensor logits, target, stats, extras, workspace, coef, grad_extras, grad_logits;
  SegParams params;
};

SegCall seg_call(const at::Tensor& input, const at::Tensor& target, int64_t activation,
                 const c10::optional<int64_t>& ignore_index, bool squared, bool with_ce, double label_smoothing) {
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
  p.ignore = ignore_index_of(ignore_index);
  p.label_smoothing = label_smoothing;
  if (target.scalar_type() == at::kLong) {
    const std::vector<int64_t> shape = row_shape(input);
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

std::tuple<at::Tensor, at::Tensor> seg_stats_fwd(const at::Tensor& input, const at::Tensor& target, int64_t activation,
                                                 c10::optional<int64_t> ignore_index, bool squared, bool with_ce,
                                                 double label_smoothing) {
  SegCall call = seg_call(input, target, activation, ignore_index, squared, with_ce, label_smoothing);
  SegParams& p = call.params;
  // Zeros: what an input without samples, classes or pixels returns.
  const auto opts = call.logits.options().dtype(accumulate_dtype(call.logits.scalar_type()));
  call.stats = at::zeros({p.batch, kSegStats, p.classes}, opts);
  call.extras = at::zeros({p.batch, kSegExtras}, opts);
  p.stats = call.stats.mutable_data_ptr();
  p.extras = call.extras.mutable_data_ptr();
  if (input.is_cuda()) {
    TORCH_CHECK_VALUE(seg_cuda_threads(p.classes, p.dtype) > 0, "seg_stats_fwd: ", p.classes,
                      " classes is more than the CUDA kernel holds in shared memory");
  }
  call.workspace = at::empty({seg_workspace_bytes(p, input.is_cuda())}, input.options().dtype(at::kByte));
  p.workspace = call.workspace.mutable_data_ptr();
  // Out-of-range class indices: the CPU raises; CUDA cannot without a sync,
  // its kernels never dereference them and make the sums and gradient nan.
  const CpuStatus status = run_kernel(input, LOSSEXT_ENTRY(seg_stats_fwd), p);
  raise_if_bad_index(status, call.target, 0, p.classes, p.ignore);
  return {call.stats, call.extras};
}

at::Tensor seg_stats_bwd(const at::Tensor& grad_stats, const at::Tensor& grad_extras, const at::Tensor& input,
                         const at::Tensor& target, int64_t activation, c10::optional<int64_t> ignore_index,
                         bool squared, bool with_ce, double label_smoothing) {
  SegCall call = seg_call(input, target, activation, ignore_index, squared, with_ce, label_smoothing);
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
  if (call.grad_logits.numel() > 0) run_kernel(input, LOSSEXT_ENTRY(seg_stats_bwd), p);
  return call.grad_logits;
}

void register_segmentation(torch::Library& m) {
  m.impl("seg_stats_fwd", &seg_stats_fwd);
  m.impl("seg_stats_bwd", &seg_stats_bwd);
}

}  // namespace

// Segmentation overlap statistics: input (N, C, d...) logits, target int64
// class indices (N, d...) or a float mask of the input's shape; activation
// 0 identity, 1 sigmoid, 2 softmax; ignore_index: the target value to skip
// (none when None). stats (N, 3, C) = sum p t, sum p (p^2 when squared), sum t
// (t^2) over non-ignored pixels; extras (N, 2) = cross-entropy sum (with_ce)
// and valid-pixel count. The backward reads dL/dstats and dL/dextras and
// returns dL/dinput.
TORCH_LIBRARY_FRAGMENT(lossext, m) {
  m.def(
      "seg_stats_fwd(Tensor input, Tensor target, int activation, int? ignore_index, bool squared, bool with_ce, "
      "float label_smoothing) -> (Tensor stats, Tensor extras)",
      kPt2);
  m.def(
      "seg_stats_bwd(Tensor grad_stats, Tensor grad_extras, Tensor input, Tensor target, int activation, "
      "int? ignore_index, bool squared, bool with_ce, float label_smoothing) -> Tensor",
      kPt2);
}

LOSSEXT_IMPL_CPU_AND_CUDA(register_segmentation)

}  // namespace ops
}  // namespace lossext
