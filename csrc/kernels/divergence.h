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

#include "kernels/common.h"

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

}  // namespace lossext
