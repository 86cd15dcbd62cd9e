// Checks, allocation and params filling for the KL / JS divergence ops,
// shared by the CPU and CUDA implementations.
#pragma once

#include "glue/common.h"
#include "kernels/divergence_launch.h"

namespace lossext {
namespace glue {

// Owns every tensor the params point into, so they outlive the launch.
struct DivergenceCall {
  at::Tensor input, target, partials, grad_partials, grad_input;
  DivergenceParams params;
};

inline DivergenceCall divergence_call(const at::Tensor& input, const at::Tensor& target, bool log_target, double beta) {
  (void)to_dtype(input.scalar_type(), "input");
  check_same_device(input, "input", target, "target");
  TORCH_CHECK_VALUE(target.sizes() == input.sizes(), "target must have the shape of input ", input.sizes(), ", got ",
                    target.sizes());
  TORCH_CHECK_TYPE(target.scalar_type() == input.scalar_type(), "target must have input's dtype ", input.scalar_type(),
                   ", got ", target.scalar_type());
  TORCH_CHECK_VALUE(beta >= 0.0 && beta <= 1.0, "beta must be in [0, 1], got ", beta);
  DivergenceCall call;
  // The kernels walk both as one flat array.
  call.input = input.contiguous();
  call.target = target.contiguous();
  DivergenceParams& p = call.params;
  p.input = call.input.const_data_ptr();
  p.target = call.target.const_data_ptr();
  p.dtype = to_dtype(input.scalar_type(), "input");
  p.numel = input.numel();
  p.log_target = log_target;
  p.beta = beta;
  return call;
}

inline DivergenceCall divergence_forward_call(const at::Tensor& input, const at::Tensor& target, bool log_target,
                                              double beta) {
  DivergenceCall call = divergence_call(input, target, log_target, beta);
  call.partials =
      at::empty({divergence_chunks(call.params.numel)}, input.options().dtype(accumulate_dtype(input.scalar_type())));
  call.params.partials = call.partials.mutable_data_ptr();
  return call;
}

inline DivergenceCall divergence_backward_call(const at::Tensor& grad_partials, const at::Tensor& input,
                                               const at::Tensor& target, bool log_target, double beta) {
  DivergenceCall call = divergence_call(input, target, log_target, beta);
  check_same_device(input, "input", grad_partials, "grad_partials");
  const int64_t chunks = divergence_chunks(call.params.numel);
  TORCH_CHECK_VALUE(grad_partials.dim() == 1 && grad_partials.size(0) == chunks, "grad_partials must have shape (",
                    chunks, "), got ", grad_partials.sizes());
  call.grad_partials = grad_partials.to(accumulate_dtype(input.scalar_type())).contiguous();
  call.params.grad_partials = call.grad_partials.const_data_ptr();
  call.grad_input = at::empty(input.sizes(), input.options().memory_format(at::MemoryFormat::Contiguous));
  call.params.grad_input = call.grad_input.mutable_data_ptr();
  return call;
}

}  // namespace glue
}  // namespace lossext
