// The torch ops of the fused softmax cross-entropy (kernels/cross_entropy.h):
// schemas, argument checks, allocation and params, one implementation for
// both devices.
#include <ATen/ops/empty.h>
#include <ATen/ops/sum.h>

#include <tuple>
#include <vector>

#include "kernels/cross_entropy.h"
#include "ops/common.h"

namespace lossext {
namespace ops {
namespace {

// Owns every tensor the params point into, so they outlive the kernel.
struct CrossEntropyCall {
  at::Tensor logits, target, weight, weight_sum;
  at::Tensor loss, lse, aux;  // aux: row_weight (index) or target_mass (prob)
  at::Tensor grad_loss, grad_logits;
  CrossEntropyParams params;
};

void check_logits(const at::Tensor& logits) {
  TORCH_CHECK_VALUE(logits.dim() >= 2, "input must have shape (N, C) or (N, C, d1, ..., dk), got ", logits.sizes());
  (void)to_dtype(logits.scalar_type(), "input");
  TORCH_CHECK_VALUE(logits.size(1) >= 1 || logits.numel() == 0, "input must have at least one class, got shape ",
                    logits.sizes());
}

// The checks and params every pass shares.
CrossEntropyCall common_call(const at::Tensor& logits, const c10::optional<at::Tensor>& weight, double label_smoothing,
                             double z_loss) {
  check_logits(logits);
  TORCH_CHECK_VALUE(label_smoothing >= 0.0 && label_smoothing <= 1.0, "label_smoothing must be in [0, 1], got ",
                    label_smoothing);
  CrossEntropyCall call;
  call.logits = walkable(logits);
  call.weight = class_weight(weight, call.logits, call.logits.size(1));
  CrossEntropyParams& p = call.params;
  p.logits = call.logits.const_data_ptr();
  p.dtype = to_dtype(call.logits.scalar_type(), "input");
  p.layout = class_rows(call.logits);
  if (call.weight.defined()) {
    // Summed on the device: reading it back would cost a sync per call.
    call.weight_sum = call.weight.sum();
    p.weight = call.weight.const_data_ptr();
    p.weight_sum = call.weight_sum.const_data_ptr();
  }
  p.label_smoothing = label_smoothing;
  p.z_loss = z_loss;
  return call;
}

void fill_index_target(CrossEntropyCall& call, const at::Tensor& target, const c10::optional<int64_t>& ignore_index) {
  check_same_device(call.logits, "input", target, "target");
  TORCH_CHECK_TYPE(target.scalar_type() == at::kLong, "target must be int64 class indices, got ", target.scalar_type());
  const std::vector<int64_t> shape = row_shape(call.logits);
  TORCH_CHECK_VALUE(target.sizes() == at::IntArrayRef(shape), "target must have shape ", at::IntArrayRef(shape),
                    " for input of shape ", call.logits.sizes(), ", got ", target.sizes());
  call.target = target.contiguous();
  call.params.target_index = call.target.const_data_ptr<int64_t>();
  call.params.ignore_index = ignore_index_of(ignore_index);
}

void fill_prob_target(CrossEntropyCall& call, const at::Tensor& target) {
  check_same_device(call.logits, "input", target, "target");
  TORCH_CHECK_VALUE(target.sizes() == call.logits.sizes(), "probability target must have the shape of input ",
                    call.logits.sizes(), ", got ", target.sizes());
  TORCH_CHECK_TYPE(at::isFloatingType(target.scalar_type()), "probability target must be floating, got ",
                   target.scalar_type());
  // The kernels read targets in the logits' dtype.
  call.target = walkable(target.to(call.logits.scalar_type()));
  call.params.target_probs = call.target.const_data_ptr();
  call.params.target_layout = class_rows(call.target);
}

// loss, lse and aux: [rows] in the accumulate type.
void alloc_forward(CrossEntropyCall& call) {
  const auto opts = call.logits.options().dtype(accumulate_dtype(call.logits.scalar_type()));
  const auto shape = row_shape(call.logits);
  call.loss = at::empty(shape, opts);
  call.lse = at::empty(shape, opts);
  call.aux = at::empty(shape, opts);
  call.params.loss = call.loss.mutable_data_ptr();
  call.params.lse_out = call.lse.mutable_data_ptr();
}

void fill_backward(CrossEntropyCall& call, const at::Tensor& grad_loss, const at::Tensor& lse) {
  const auto acc = accumulate_dtype(call.logits.scalar_type());
  const std::vector<int64_t> shape = row_shape(call.logits);
  TORCH_CHECK_VALUE(lse.sizes() == at::IntArrayRef(shape), "lse must have shape ", shape, ", got ", lse.sizes());
  TORCH_CHECK_VALUE(grad_loss.sizes() == at::IntArrayRef(shape), "grad_loss must have shape ", shape, ", got ",
                    grad_loss.sizes());
  check_same_device(call.logits, "input", grad_loss, "grad_loss");
  check_same_device(call.logits, "input", lse, "lse");
  call.lse = lse.to(acc).contiguous();
  // The upstream gradient of a 'mean' or 'sum' loss arrives as one value
  // broadcast over the rows (all strides 0); read it in place.
  bool broadcast = false;
  call.grad_loss = upstream(grad_loss, acc, &broadcast);
  call.params.grad_loss = call.grad_loss.const_data_ptr();
  call.params.grad_loss_stride = broadcast ? 0 : 1;
  call.params.lse = call.lse.const_data_ptr();
  call.grad_logits = at::empty(call.logits.sizes(), call.logits.options().memory_format(at::MemoryFormat::Contiguous));
  call.params.grad_logits = call.grad_logits.mutable_data_ptr();
}

// An out-of-range class index (not ignore_index) makes its row nan on both
// devices; only the CPU can raise it without a host sync (README, "Conventions").
void raise_if_bad(const CpuStatus& status, const CrossEntropyCall& call) {
  raise_if_bad_index(status, call.target, 0, call.params.layout.classes, call.params.ignore_index);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> cross_entropy_index_fwd(const at::Tensor& logits,
                                                                       const at::Tensor& target,
                                                                       const c10::optional<at::Tensor>& weight,
                                                                       c10::optional<int64_t> ignore_index,
                                                                       double label_smoothing, double z_loss) {
  CrossEntropyCall call = common_call(logits, weight, label_smoothing, z_loss);
  fill_index_target(call, target, ignore_index);
  alloc_forward(call);
  call.params.row_weight = call.aux.mutable_data_ptr();
  raise_if_bad(run_kernel(logits, LOSSEXT_ENTRY(cross_entropy_index_fwd), call.params), call);
  return {call.loss, call.lse, call.aux};
}

at::Tensor cross_entropy_index_bwd(const at::Tensor& grad_loss, const at::Tensor& logits, const at::Tensor& target,
                                   const c10::optional<at::Tensor>& weight, const at::Tensor& lse,
                                   c10::optional<int64_t> ignore_index, double label_smoothing, double z_loss) {
  CrossEntropyCall call = common_call(logits, weight, label_smoothing, z_loss);
  fill_index_target(call, target, ignore_index);
  fill_backward(call, grad_loss, lse);
  raise_if_bad(run_kernel(logits, LOSSEXT_ENTRY(cross_entropy_index_bwd), call.params), call);
  return call.grad_logits;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> cross_entropy_prob_fwd(const at::Tensor& logits,
                                                                      const at::Tensor& target,
                                                                      const c10::optional<at::Tensor>& weight,
                                                                      double label_smoothing, double z_loss) {
  CrossEntropyCall call = common_call(logits, weight, label_smoothing, z_loss);
  fill_prob_target(call, target);
  alloc_forward(call);
  call.params.target_mass_out = call.aux.mutable_data_ptr();
  run_kernel(logits, LOSSEXT_ENTRY(cross_entropy_prob_fwd), call.params);
  return {call.loss, call.lse, call.aux};
}

at::Tensor cross_entropy_prob_bwd(const at::Tensor& grad_loss, const at::Tensor& logits, const at::Tensor& target,
                                  const c10::optional<at::Tensor>& weight, const at::Tensor& lse,
                                  const at::Tensor& target_mass, double label_smoothing, double z_loss) {
  CrossEntropyCall call = common_call(logits, weight, label_smoothing, z_loss);
  fill_prob_target(call, target);
  fill_backward(call, grad_loss, lse);
  TORCH_CHECK_VALUE(target_mass.sizes() == call.lse.sizes(), "target_mass must have shape ", call.lse.sizes(), ", got ",
                    target_mass.sizes());
  check_same_device(call.logits, "input", target_mass, "target_mass");
  call.aux = target_mass.to(call.lse.scalar_type()).contiguous();
  call.params.target_mass = call.aux.const_data_ptr();
  run_kernel(logits, LOSSEXT_ENTRY(cross_entropy_prob_bwd), call.params);
  return call.grad_logits;
}

void register_cross_entropy(torch::Library& m) {
  m.impl("cross_entropy_index_fwd", &cross_entropy_index_fwd);
  m.impl("cross_entropy_index_bwd", &cross_entropy_index_bwd);
  m.impl("cross_entropy_prob_fwd", &cross_entropy_prob_fwd);
  m.impl("cross_entropy_prob_bwd", &cross_entropy_prob_bwd);
}

}  // namespace

// Softmax cross-entropy. Per-row outputs (input's shape without dim 1) in
// float32 (float64 for float64 input): loss, log-sum-exp, and the row's
// target weight (index targets; 0 when ignored) or target mass (probability
// targets), which the reductions and the backward need. ignore_index: rows
// of this class count for nothing (None: every row counts).
TORCH_LIBRARY_FRAGMENT(lossext, m) {
  m.def(
      "cross_entropy_index_fwd(Tensor input, Tensor target, Tensor? weight, int? ignore_index, "
      "float label_smoothing, float z_loss) -> (Tensor loss, Tensor lse, Tensor row_weight)",
      kPt2);
  m.def(
      "cross_entropy_index_bwd(Tensor grad_loss, Tensor input, Tensor target, Tensor? weight, Tensor lse, "
      "int? ignore_index, float label_smoothing, float z_loss) -> Tensor",
      kPt2);
  m.def(
      "cross_entropy_prob_fwd(Tensor input, Tensor target, Tensor? weight, float label_smoothing, "
      "float z_loss) -> (Tensor loss, Tensor lse, Tensor target_mass)",
      kPt2);
  m.def(
      "cross_entropy_prob_bwd(Tensor grad_loss, Tensor input, Tensor target, Tensor? weight, Tensor lse, "
      "Tensor target_mass, float label_smoothing, float z_loss) -> Tensor",
      kPt2);
}

LOSSEXT_IMPL_CPU_AND_CUDA(register_cross_entropy)

}  // namespace ops
}  // namespace lossext
