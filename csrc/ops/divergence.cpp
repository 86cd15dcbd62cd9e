// The torch ops of the KL and generalized JS divergences
// (kernels/divergence.h): schemas, argument checks, allocation and params,
// one implementation for both devices.
#include <ATen/ops/empty.h>

#include "kernels/divergence.h"
#include "ops/common.h"

namespace lossext {
namespace ops {
namespace {

// Owns every tensor the params point into, so they outlive the kernel.
struct DivergenceCall {
  at::Tensor input, target, partials, grad_loss, grad_input;
  DivergenceParams params;
};

DivergenceCall divergence_call(const at::Tensor& input, const at::Tensor& target, bool log_target, double beta) {
  const DType dtype = to_dtype(input.scalar_type(), "input");
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
  p.dtype = dtype;
  p.numel = input.numel();
  p.log_target = log_target;
  p.beta = beta;
  return call;
}

// The forward's output: one partial sum per chunk, in the accumulate type.
at::Tensor divergence_fwd(const char* op, CpuStatus (*cpu)(const DivergenceParams&, ParallelFor),
                          CudaEntry<DivergenceParams> cuda, const at::Tensor& input, const at::Tensor& target,
                          bool log_target, double beta) {
  DivergenceCall call = divergence_call(input, target, log_target, beta);
  DivergenceParams& p = call.params;
  call.partials = at::empty({divergence_chunks(p.numel)}, input.options().dtype(accumulate_dtype(input.scalar_type())));
  p.partials = call.partials.mutable_data_ptr();
  run_kernel(input, op, cpu, cuda, p);
  return call.partials;
}

// grad_partials: the gradient of the forward's partials, one value per chunk;
// read in place when it is one value broadcast (what a sum hands back).
at::Tensor divergence_bwd(const char* op, CpuStatus (*cpu)(const DivergenceParams&, ParallelFor),
                          CudaEntry<DivergenceParams> cuda, const at::Tensor& grad_partials, const at::Tensor& input,
                          const at::Tensor& target, bool log_target, double beta) {
  DivergenceCall call = divergence_call(input, target, log_target, beta);
  DivergenceParams& p = call.params;
  check_same_device(input, "input", grad_partials, "grad_partials");
  const int64_t chunks = divergence_chunks(p.numel);
  TORCH_CHECK_VALUE(grad_partials.dim() == 1 && grad_partials.size(0) == chunks, "grad_partials must have shape (",
                    chunks, "), got ", grad_partials.sizes());
  bool broadcast = false;
  call.grad_loss = upstream(grad_partials, accumulate_dtype(input.scalar_type()), &broadcast);
  p.grad_loss = call.grad_loss.const_data_ptr();
  p.grad_loss_stride = broadcast ? 0 : 1;
  call.grad_input = at::empty(input.sizes(), input.options().memory_format(at::MemoryFormat::Contiguous));
  p.grad_input = call.grad_input.mutable_data_ptr();
  run_kernel(input, op, cpu, cuda, p);
  return call.grad_input;
}

at::Tensor kl_div_fwd(const at::Tensor& input, const at::Tensor& target, bool log_target) {
  return divergence_fwd(LOSSEXT_ENTRY(kl_div_fwd), input, target, log_target, 0.5);
}

at::Tensor kl_div_bwd(const at::Tensor& grad_partials, const at::Tensor& input, const at::Tensor& target,
                      bool log_target) {
  return divergence_bwd(LOSSEXT_ENTRY(kl_div_bwd), grad_partials, input, target, log_target, 0.5);
}

at::Tensor js_div_fwd(const at::Tensor& input, const at::Tensor& target, double beta, bool log_target) {
  return divergence_fwd(LOSSEXT_ENTRY(js_div_fwd), input, target, log_target, beta);
}

at::Tensor js_div_bwd(const at::Tensor& grad_partials, const at::Tensor& input, const at::Tensor& target, double beta,
                      bool log_target) {
  return divergence_bwd(LOSSEXT_ENTRY(js_div_bwd), grad_partials, input, target, log_target, beta);
}

void register_divergence(torch::Library& m) {
  m.impl("kl_div_fwd", &kl_div_fwd);
  m.impl("kl_div_bwd", &kl_div_bwd);
  m.impl("js_div_fwd", &js_div_fwd);
  m.impl("js_div_bwd", &js_div_bwd);
}

}  // namespace

// KL and generalized JS divergence over log-probabilities (input = log q).
// Forward returns one partial sum per fixed chunk of 16384 elements of the
// flattened inputs (accumulate dtype); backward takes the gradient of each
// partial and returns the gradient of input.
TORCH_LIBRARY_FRAGMENT(lossext, m) {
  m.def("kl_div_fwd(Tensor input, Tensor target, bool log_target) -> Tensor", kPt2);
  m.def("kl_div_bwd(Tensor grad_partials, Tensor input, Tensor target, bool log_target) -> Tensor", kPt2);
  m.def("js_div_fwd(Tensor input, Tensor target, float beta, bool log_target) -> Tensor", kPt2);
  m.def("js_div_bwd(Tensor grad_partials, Tensor input, Tensor target, float beta, bool log_target) -> Tensor", kPt2);
}

LOSSEXT_IMPL_CPU_AND_CUDA(register_divergence)

}  // namespace ops
}  // namespace lossext
