// Sigmoid cross-entropy family: binary cross-entropy with logits (torch's
// binary_cross_entropy_with_logits), quality focal loss (GFL; mmdet's
// quality_focal_loss) and varifocal loss (mmdet's varifocal_loss). The loss
// and closed-form derivatives of one element, shared by the CPU and CUDA
// kernels, then the params struct and the launchers.
//
// With e = exp(-|x|), every term comes from one exp and one log1p:
//   softplus(x) = max(x, 0) + log1p(e),  softplus(-x) = max(-x, 0) + log1p(e),
//   p = sigmoid(x) and 1 - p, each as 1/(1+e) or e/(1+e) (no cancellation).
// B(x, t) = t softplus(-x) + (1-t) softplus(x) is BCE with logits; d = p - t
// is evaluated as p (1-t) - t (1-p) so that it keeps its relative precision
// for saturated logits and hard targets.
//
// BCE, weight w, positive weight pw (torch: (1-t) x + (1 + (pw-1) t) softplus(-x)):
//   L = w [ (1-t) softplus(x) + pw t softplus(-x) ]     (the same, rearranged)
//   dL/dx = w [ p (1-t) - pw t (1-p) ],  dL/dt = w [ (pw-1) softplus(-x) - x ].
// Huge finite logits give finite losses (softplus never overflows).
//
// Quality focal, exponent beta: L = w B |d|^beta,
//   dL/dx = w [ d |d|^beta + B beta |d|^(beta-1) sgn(d) p (1-p) ].
// The second term is 0 at d = 0 (torch's autograd of |d|^beta gives nan there
// for beta < 1; the loss is flat in that term's direction).
//
// Varifocal, alpha, exponent gamma: t > 0 (positive): L = w f B with
// f = t (iou_weighted) or 1, dL/dx = w f d; otherwise L = w alpha |d|^gamma B
// with the quality-focal derivative. The focal weight is not detached, as in
// mmdet (gradient flows through |d|^gamma).
#pragma once

#include "cpu/parallel.h"
#include "kernels/common.h"
#include "kernels/static_switch.h"

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

#include "kernels/layout.h"

namespace lossext {

enum class BceKind : int { Bce = 0, QualityFocal = 1, Varifocal = 2 };

// The focal exponent: 2 (the default of both mmdet losses) needs no exp/log.
// BCE has no exponent and always takes Square.
enum class BcePower : int { Square = 0, General = 1 };

// The instantiated (kind, power) pairs, numbered: 0 BCE; 1, 2 quality focal
// (square, general); 3, 4 varifocal (square, general).
inline constexpr ValueList<0, 1, 2, 3, 4> kBceVariants{};
LOSSEXT_HD constexpr BceKind bce_variant_kind(int v) {
  return v == 0 ? BceKind::Bce : (v <= 2 ? BceKind::QualityFocal : BceKind::Varifocal);
}
LOSSEXT_HD constexpr BcePower bce_variant_power(int v) {
  return (v == 1 || v == 3) ? BcePower::Square : BcePower::General;
}
inline int bce_variant(BceKind kind, double exponent) {
  if (kind == BceKind::Bce) return 0;
  const int general = exponent == 2.0 ? 0 : 1;
  return (kind == BceKind::QualityFocal ? 1 : 3) + general;
}

// Per-call constants.
template <typename acc_t>
struct BceConfig {
  acc_t alpha = acc_t(0.75);      // varifocal: weight of the negatives
  acc_t exponent = acc_t(2);      // quality focal beta / varifocal gamma
  acc_t iou_weighted = acc_t(1);  // varifocal: 1 weighs positives by t, 0 by 1
};

template <typename acc_t>
struct BceValueGrad {
  acc_t loss;
  acc_t dx;  // dL/dx
  acc_t dt;  // dL/dt (BCE only; 0 for the focal kinds)
};

// |d|^k and k |d|^(k-1) sgn(d), with 0^0 = 1 (torch) and the second 0 at d = 0.
template <BcePower P, typename acc_t>
LOSSEXT_HD_INLINE void bce_power(acc_t d, acc_t k, acc_t& pw, acc_t& dpw) {
  if constexpr (P == BcePower::Square) {
    pw = d * d;
    dpw = acc_t(2) * d;
  } else {
    const acc_t a = abs_(d);
    const bool nonzero = a > acc_t(0);
    const acc_t v = fast_exp(k * fast_log(nonzero ? a : acc_t(1)));
    pw = nonzero ? v : (k == acc_t(0) ? acc_t(1) : acc_t(0));
    // nan d: both comparisons fail, so d itself (nan) is carried.
    pw = d == d ? pw : d;
    dpw = nonzero ? k * v / d : (d == d ? acc_t(0) : d);
  }
}

// Loss and derivatives of one element: logit x, target t, weight w, positive
// weight pw (BCE only; 1 when absent). Callers that need only the loss inline
// it and the compiler drops the rest.
template <BceKind K, BcePower P, typename acc_t>
LOSSEXT_HD_INLINE BceValueGrad<acc_t> bce_element(acc_t x, acc_t t, acc_t w, acc_t pw, const BceConfig<acc_t>& cfg) {
  const acc_t one = acc_t(1), zero = acc_t(0);
  const acc_t e = exp_nonpositive(-abs_(x));
  const acc_t inv = one / (one + e);
  const acc_t e_inv = e * inv;
  const bool nonneg = x >= zero;
  const acc_t p = nonneg ? inv : e_inv;  // sigmoid(x)
  const acc_t q = nonneg ? e_inv : inv;  // 1 - sigmoid(x)
  const acc_t l1p = log1p_unit(e);
  const acc_t sp_pos = (nonneg ? x : zero) + l1p;   // softplus(x)
  const acc_t sp_neg = (nonneg ? zero : -x) + l1p;  // softplus(-x)
  const acc_t u = one - t;
  BceValueGrad<acc_t> r;
  if constexpr (K == BceKind::Bce) {
    r.loss = w * (u * sp_pos + pw * t * sp_neg);
    r.dx = w * (p * u - pw * t * q);
    r.dt = w * ((pw - one) * sp_neg - x);
  } else {
    const acc_t b = t * sp_neg + u * sp_pos;
    const acc_t d = p * u - t * q;
    acc_t pow_d, dpow_d;
    bce_power<P>(d, cfg.exponent, pow_d, dpow_d);
    const acc_t focal_loss = b * pow_d;
    const acc_t focal_dx = d * pow_d + b * dpow_d * (p * q);
    r.dt = zero;
    if constexpr (K == BceKind::QualityFocal) {
      r.loss = w * focal_loss;
      r.dx = w * focal_dx;
    } else {
      const bool positive = t > zero;
      // t or 1 as arithmetic, not a select on a bool: gcc leaves a loop with
      // a bool-conditioned float select scalar.
      const acc_t f = t * cfg.iou_weighted + (one - cfg.iou_weighted);
      const acc_t wa = w * cfg.alpha;
      r.loss = positive ? w * f * b : wa * focal_loss;
      r.dx = positive ? w * f * d : wa * focal_dx;
    }
  }
  return r;
}

// The target of element (row, c) in the label-score form of quality focal:
// the score at the label's class, 0 elsewhere (a label outside [0, C) is a
// background row: every class has target 0).
template <typename acc_t>
LOSSEXT_HD_INLINE acc_t bce_label_target(int64_t label, int64_t c, acc_t score) {
  return label == c ? score : acc_t(0);
}

// The whole contract of one call. Logits `x` and a dense target `t` are
// `rows` x `cols` contiguous values of `dtype`; quality focal's label-score
// form has t null and reads `label` (rows, int64) and `score` (rows, dtype)
// instead. `weight` and `pos_weight` (optional, accumulate type) are read at
// row * rs + col * cs (a broadcast dimension has stride 0); pos_weight is
// BCE's only. Forward writes `loss`: per element in `dtype` (reduce_rows
// false) or the sum of each row in the accumulate type (reduce_rows true).
// Backward reads the upstream gradient `grad_loss` (accumulate type) at
// row * grad_rs + col * grad_cs and writes `grad_input` (dtype) and, when not
// null, `grad_target` (dtype, BCE with a dense target only).
struct BceParams {
  const void* x = nullptr;
  const void* t = nullptr;
  const int64_t* label = nullptr;
  const void* score = nullptr;
  DType dtype = DType::Float32;
  int64_t rows = 0;
  int64_t cols = 0;
  const void* weight = nullptr;
  int64_t weight_rs = 0, weight_cs = 0;
  const void* pos_weight = nullptr;
  int64_t pos_weight_rs = 0, pos_weight_cs = 0;
  BceKind kind = BceKind::Bce;
  double alpha = 0.75;
  double exponent = 2.0;
  bool iou_weighted = true;
  bool reduce_rows = false;
  void* loss = nullptr;
  const void* grad_loss = nullptr;
  int64_t grad_rs = 0, grad_cs = 0;
  void* grad_input = nullptr;
  void* grad_target = nullptr;
};

template <typename acc_t>
inline BceConfig<acc_t> bce_config(const BceParams& p) {
  BceConfig<acc_t> cfg;
  cfg.alpha = static_cast<acc_t>(p.alpha);
  cfg.exponent = static_cast<acc_t>(p.exponent);
  cfg.iou_weighted = p.iou_weighted ? acc_t(1) : acc_t(0);
  return cfg;
}

// The entry points: one CUDA launcher and one CPU driver per pass, same params.
#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
cudaError_t bce_fwd_cuda(const BceParams& p, cudaStream_t stream);
cudaError_t bce_bwd_cuda(const BceParams& p, cudaStream_t stream);
#endif
CpuStatus bce_fwd_cpu(const BceParams& p, ParallelFor parallel_for);
CpuStatus bce_bwd_cpu(const BceParams& p, ParallelFor parallel_for);

}  // namespace lossext
