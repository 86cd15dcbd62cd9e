// CPU implementation of the fused smooth L1 / Huber ops: one elementwise pass
// per direction over at::parallel_for, the math of kernels/regression.h.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "cpu/dispatch.h"
#include "glue/regression.h"

namespace lossext {
namespace cpu {
namespace {

constexpr int64_t kGrain = 32768;

template <RegressionKind kind, typename T>
void forward(const RegressionParams& p) {
  using acc_t = acc_type<T>;
  const T* x = static_cast<const T*>(p.input);
  const T* y = static_cast<const T*>(p.target);
  T* out = static_cast<T*>(p.loss);
  const acc_t param = static_cast<acc_t>(p.param);
  at::parallel_for(0, p.numel, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      out[i] = static_cast<T>(regression_loss<kind>(static_cast<acc_t>(x[i]) - static_cast<acc_t>(y[i]), param));
    }
  });
}

template <RegressionKind kind, typename T>
void backward(const RegressionParams& p) {
  using acc_t = acc_type<T>;
  const T* x = static_cast<const T*>(p.input);
  const T* y = static_cast<const T*>(p.target);
  const acc_t* g = static_cast<const acc_t*>(p.grad_loss);
  T* out = static_cast<T*>(p.grad_input);
  const acc_t param = static_cast<acc_t>(p.param);
  const int64_t gs = p.grad_loss_stride;
  at::parallel_for(0, p.numel, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const acc_t d = static_cast<acc_t>(x[i]) - static_cast<acc_t>(y[i]);
      out[i] = static_cast<T>(g[i * gs] * regression_grad<kind>(d, param));
    }
  });
}

at::Tensor regression_fwd_cpu(const at::Tensor& input, const at::Tensor& target, int64_t kind, double param) {
  glue::RegressionCall call = glue::regression_call(input, target, kind, param);
  glue::alloc_regression_loss(call);
  dtype_switch<CpuTypes>(call.params.dtype, [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    static_switch(kRegressionKinds, call.params.kind,
                  [&](auto kind) { forward<decltype(kind)::value, scalar_t>(call.params); });
  });
  return call.loss;
}

at::Tensor regression_bwd_cpu(const at::Tensor& grad_loss, const at::Tensor& input, const at::Tensor& target,
                              int64_t kind, double param) {
  glue::RegressionCall call = glue::regression_call(input, target, kind, param);
  glue::fill_regression_backward(call, grad_loss);
  dtype_switch<CpuTypes>(call.params.dtype, [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    static_switch(kRegressionKinds, call.params.kind,
                  [&](auto kind) { backward<decltype(kind)::value, scalar_t>(call.params); });
  });
  return call.grad_input;
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CPU, m) {
  m.impl("regression_fwd", &regression_fwd_cpu);
  m.impl("regression_bwd", &regression_bwd_cpu);
}

}  // namespace cpu
}  // namespace lossext
