// KL and generalized Jensen-Shannon divergence: the loss and gradient of one
// element. Both are sums of per-element terms over log-probabilities that the
// caller has already normalized, so a kernel is a map plus a reduction.
//
// KL, as torch.nn.functional.kl_div(input = log q, target):
//   log_target = false:  t log t - t x     (0 where t == 0, as torch's xlogy)
//   log_target = true:   e^t (t - x)
//   d/dx = -t  or  -e^t  (the input is never read by the gradient)
//
// Generalized JSD, as Liger-Kernel's LigerJSD(log_q = input, log_p = target):
// P is the target (teacher), Q the input (student), M = b P + (1-b) Q,
//   JS_b = b KL(P || M) + (1-b) KL(Q || M)
//        = b p (log p - log m) + (1-b) q (x - log m)   per element, q = e^x
//   d/dx = (1-b) q (x - log m)
//   d/dp = b (log p - log m)              (target as probabilities)
//   d/dy = b p (y - log m)                (target as log-probabilities y)
// b = 1/2 is the symmetric JSD. A term whose probability is exactly 0 is 0.
#pragma once

#include "cpu/loops/parallel.h"
#include "kernels/common.h"
#include "kernels/layout.h"

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace lossext {

// fast_log (kernels/common.h) keeps the loops below vectorizable on the host.

// ---- KL ----

template <typename acc_t>
LOSSEXT_HD acc_t kl_div_term(acc_t x, acc_t t, bool log_target) {
  if (log_target) return fast_exp(t) * (t - x);
  // The select sits on log t alone, before any arithmetic: gcc keeps such a
  // body branch-free and vectorizes it. `== 0`, not `> 0`: a nan target must
  // reach the loss.
  const acc_t log_t = fast_log(t);
  const acc_t t_log_t = t * (t == acc_t(0) ? acc_t(0) : log_t);
  return t_log_t - t * x;
}

// d term / d x, times the upstream gradient g.
template <typename acc_t>
LOSSEXT_HD acc_t kl_div_grad_input(acc_t t, acc_t g, bool log_target) {
  return -g * (log_target ? fast_exp(t) : t);
}

// ---- JS ----

// The per-element probabilities and log m, shared by loss and gradient.
template <typename acc_t>
struct JsElement {
  acc_t q, p, log_p, log_m;
};

template <typename acc_t>
LOSSEXT_HD JsElement<acc_t> js_element(acc_t x, acc_t y, acc_t beta, bool log_target) {
  JsElement<acc_t> e;
  e.q = fast_exp(x);
  e.p = log_target ? fast_exp(y) : y;
  e.log_p = log_target ? y : fast_log(y);
  e.log_m = fast_log(beta * e.p + (acc_t(1) - beta) * e.q);
  return e;
}

// log(a / m), or 0 where a == 0 so that a zero probability contributes 0
// (its log is -inf and so may be log m). Selected before multiplying by a,
// which keeps the loops branch-free (see kl_div_term).
template <typename acc_t>
LOSSEXT_HD acc_t js_log_ratio(acc_t a, acc_t log_a, acc_t log_m) {
  return a == acc_t(0) ? acc_t(0) : log_a - log_m;
}

template <typename acc_t>
LOSSEXT_HD acc_t js_div_term(acc_t x, acc_t y, acc_t beta, bool log_target) {
  const JsElement<acc_t> e = js_element(x, y, beta, log_target);
  const acc_t kl_p = e.p * js_log_ratio(e.p, e.log_p, e.log_m);
  const acc_t kl_q = e.q * js_log_ratio(e.q, x, e.log_m);
  return beta * kl_p + (acc_t(1) - beta) * kl_q;
}

template <typename acc_t>
LOSSEXT_HD acc_t js_div_grad_input(acc_t x, acc_t y, acc_t beta, bool log_target, acc_t g) {
  const JsElement<acc_t> e = js_element(x, y, beta, log_target);
  // Multiplied by the js_log_ratio select rather than selecting the product:
  // the product form defeats gcc's if-conversion here.
  return (g * (acc_t(1) - beta)) * (e.q * js_log_ratio(e.q, x, e.log_m));
}

// ---- The contract between the torch op and the kernels of both devices.

// Both losses are sums of per-element terms, so the kernels walk the inputs as
// one flat, contiguous array cut into fixed chunks of kDivergenceChunk
// elements. Forward writes one partial sum per chunk (a fixed split, so the
// result is deterministic on CPU and GPU alike); backward scales element i by
// the upstream gradient of its chunk, grad_loss[(i / kDivergenceChunk) *
// grad_loss_stride] (stride 0: one value broadcast to every chunk).
constexpr int64_t kDivergenceChunk = 16384;

LOSSEXT_HD int64_t divergence_chunks(int64_t numel) { return (numel + kDivergenceChunk - 1) / kDivergenceChunk; }

struct DivergenceParams {
  const void* input = nullptr;   // log q, contiguous
  const void* target = nullptr;  // same dtype and numel as input, contiguous
  DType dtype = DType::Float32;
  int64_t numel = 0;
  bool log_target = false;
  double beta = 0.5;  // JS only

  void* partials = nullptr;         // forward: [chunks], accumulate type
  const void* grad_loss = nullptr;  // backward: [chunks] (or one value), accumulate type
  int64_t grad_loss_stride = 1;
  void* grad_input = nullptr;  // backward: [numel], input dtype
};

// The entry points: one CUDA launcher and one CPU driver per pass, same params.
#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
cudaError_t kl_div_fwd_cuda(const DivergenceParams& p, cudaStream_t stream);
cudaError_t kl_div_bwd_cuda(const DivergenceParams& p, cudaStream_t stream);
cudaError_t js_div_fwd_cuda(const DivergenceParams& p, cudaStream_t stream);
cudaError_t js_div_bwd_cuda(const DivergenceParams& p, cudaStream_t stream);
#endif
CpuStatus kl_div_fwd_cpu(const DivergenceParams& p, ParallelFor parallel_for);
CpuStatus kl_div_bwd_cpu(const DivergenceParams& p, ParallelFor parallel_for);
CpuStatus js_div_fwd_cpu(const DivergenceParams& p, ParallelFor parallel_for);
CpuStatus js_div_bwd_cpu(const DivergenceParams& p, ParallelFor parallel_for);

}  // namespace lossext
