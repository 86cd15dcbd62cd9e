// Focal losses: the loss and closed-form gradient of one element (sigmoid
// focal) or one row (softmax focal), shared by the CPU and CUDA kernels.
//
// Sigmoid focal (RetinaNet; torchvision.ops.sigmoid_focal_loss for t in [0,1];
// a soft target outside [0, 1] gives a nan loss and gradient):
//   p = sigmoid(x), q = 1 - p_t = p (1-t) + (1-p) t,  alpha_t = alpha t + (1-alpha)(1-t)
//   (alpha < 0: alpha_t = 1), w_c the optional class weight,
//   L = w_c alpha_t q^gamma B,   B = BCEwithlogits(x, t') = softplus(x) - t' x.
// Label smoothing follows NVIDIA apex's detection focal loss
// (apex/contrib/focal_loss, K = 2 binary classes): only the BCE term sees the
// smoothed target t' = t (1 - s) + s/2; q and alpha_t keep the hard target.
// With s = 0, t' = t and L is torchvision's loss exactly.
//
// Gradient. dq/dx = p (1-p) (1-2t) and dB/dx = p - t', so
//   dL/dx = w_c alpha_t q^gamma [ gamma (1-2t) r B + (p - t') ],  r = p (1-p) / q.
// The textbook form carries q^(gamma-1), which is inf at q = 0 (saturated
// logits) for gamma < 1. Folding it into r removes the negative power: for a
// hard target r is exactly p (t = 1) or 1-p (t = 0), always in [0, 1]; for a
// soft target q >= min(t, 1-t) > 0. q = 0 only happens with q^gamma = 0 (or
// gamma = 0, where the term is multiplied by gamma), so r is set to 0 there.
// p and 1-p both come from e = exp(-|x|), so neither cancels for large |x|,
// and p - t' is evaluated as p (1-t') - t' (1-p) for the same reason.
//
// Softmax focal, index target y, l = log p_y = x_y - lse, coefficient k = alpha_y w_y:
//   L = -k (1-p_y)^gamma l
//   dL/dx_c = G (p_c - [c == y]),  G = k (1-p_y)^gamma (1 - gamma p_y l / (1-p_y))
// where l / (1-p_y) -> -1 as p_y -> 1 (evaluated with expm1, no negative power).
#pragma once

#include "cpu/parallel.h"
#include "kernels/common.h"
#include "kernels/layout.h"
#include "kernels/static_switch.h"

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace lossext {

// Which power of q the modulating factor is: the three common exponents skip
// exp/log entirely. Picked once per call on the host.
enum class GammaKind : int { Zero = 0, One = 1, Two = 2, General = 3 };
inline constexpr ValueList<GammaKind::Zero, GammaKind::One, GammaKind::Two, GammaKind::General> kGammaKinds{};

inline GammaKind gamma_kind(double gamma) {
  if (gamma == 0.0) return GammaKind::Zero;
  if (gamma == 1.0) return GammaKind::One;
  if (gamma == 2.0) return GammaKind::Two;
  return GammaKind::General;
}

LOSSEXT_HD_INLINE float focal_expm1(float x) {
#if defined(__CUDA_ARCH__)
  return expm1f(x);
#else
  return std::expm1(x);
#endif
}
LOSSEXT_HD_INLINE double focal_expm1(double x) { return expm1(x); }

// q^gamma for q in [0, 1], given log q for the general exponent; 0^0 = 1 as
// in torch.
template <GammaKind K, typename acc_t>
LOSSEXT_HD_INLINE acc_t focal_pow(acc_t q, acc_t log_q, acc_t gamma) {
  if constexpr (K == GammaKind::Zero) {
    return acc_t(1);
  } else if constexpr (K == GammaKind::One) {
    return q;
  } else if constexpr (K == GammaKind::Two) {
    return q * q;
  } else {
    const acc_t v = fast_exp(gamma * log_q);
    return q > acc_t(0) ? v : acc_t(0);
  }
}

// log q for q in [0, 1] (q = 0 need not give -inf: focal_pow masks it).
template <typename acc_t>
LOSSEXT_HD_INLINE acc_t focal_log_q(acc_t q) {
  return log_positive(q > acc_t(0) ? q : acc_t(1));
}

// Per-call constants of the sigmoid focal loss.
template <typename acc_t>
struct SigmoidFocalConfig {
  acc_t alpha;  // < 0: no alpha weighting
  acc_t gamma;
  acc_t smoothing;  // apex label smoothing s in [0, 1]
};

// alpha_t, or 1 when alpha is disabled.
template <typename acc_t>
LOSSEXT_HD_INLINE acc_t focal_alpha_t(acc_t alpha, acc_t t) {
  const acc_t weighted = alpha * t + (acc_t(1) - alpha) * (acc_t(1) - t);
  return alpha < acc_t(0) ? acc_t(1) : weighted;
}

// What the target of an element is known to be at compile time: the
// index-target CPU loops know every element but one is a negative, and
// `0 * v` cannot be folded away without fast-math (v may be inf or nan), so
// the hard cases are spelled out rather than left to constant folding.
enum class FocalTarget : int { Soft = 0, Negative = 1, Positive = 2 };

template <typename acc_t>
struct FocalValueGrad {
  acc_t loss;
  acc_t grad;  // dL/dx
};

// Loss and gradient dL/dx of one element with target t (read only when TK is
// Soft) and class weight w, from one set of exp/log work. Callers that need
// one of the two (sigmoid_focal_element) inline it and the compiler drops the
// other half; the CPU forward that also writes the gradient keeps both.
// One exp serves everything: e = exp(-|x|) gives p, 1-p and
// softplus(+-x) = relu(+-x) + log1p(e), hence log p = -softplus(-x) and
// log(1-p) = -softplus(x), the log q of a hard target's q^gamma. Only a soft
// target (0 < t < 1) needs a log of its own.
template <GammaKind K, FocalTarget TK = FocalTarget::Soft, typename acc_t>
LOSSEXT_HD_INLINE FocalValueGrad<acc_t> sigmoid_focal_value_grad(acc_t x, acc_t t, acc_t w,
                                                                 const SigmoidFocalConfig<acc_t>& cfg) {
  constexpr bool soft = TK == FocalTarget::Soft, negative = TK == FocalTarget::Negative;
  const acc_t one = acc_t(1);
  const acc_t e = exp_nonpositive(-abs_(x));  // exp(-|x|)
  const acc_t inv = one / (one + e);
  const acc_t e_inv = e * inv;
  const bool pos = x >= acc_t(0);
  const acc_t p = pos ? inv : e_inv;
  const acc_t pm = pos ? e_inv : inv;  // 1 - p
  const acc_t relu = pos ? x : acc_t(0);
  const acc_t log1p_e = log1p_unit(e);
  const acc_t s = cfg.smoothing;
  const acc_t ts = soft ? t * (one - s) + acc_t(0.5) * s : (negative ? acc_t(0.5) * s : (one - s) + acc_t(0.5) * s);
  // softplus(x) - t' x = max(x, 0) - t' x + log1p(exp(-|x|))
  const acc_t bce = relu - ts * x + log1p_e;
  const acc_t q = soft ? p * (one - t) + pm * t : (negative ? p : pm);
  acc_t log_q = acc_t(0);
  if constexpr (K == GammaKind::General) {
    const acc_t log_p = x - relu - log1p_e;  // -softplus(-x)
    const acc_t log_pm = -relu - log1p_e;    // -softplus(x)
    if constexpr (soft) {
      log_q = t == acc_t(0) ? log_p : (t == one ? log_pm : focal_log_q(q));
    } else {
      log_q = negative ? log_p : log_pm;
    }
  }
  const acc_t alpha_t = focal_alpha_t(cfg.alpha, soft ? t : (negative ? acc_t(0) : one));
  // A soft target outside [0, 1] is not a probability: q leaves [0, 1] and
  // the closed form below is no longer the derivative of the loss, so a nan
  // factor makes loss and gradient nan rather than silently wrong (the CPU
  // raises before this; CUDA does not spend a pass over the targets on it).
  const acc_t w_t = soft ? ((t < acc_t(0) || t > one) ? static_cast<acc_t>(NAN) : w) : w;
  const acc_t scale = w_t * alpha_t * focal_pow<K>(q, log_q, cfg.gamma);
  // r = p (1-p) / q: exactly 1-p or p for a hard target, no division.
  acc_t r;
  if constexpr (soft) {
    const acc_t r_raw = p * pm / (q > acc_t(0) ? q : one);
    const acc_t r_soft = q > acc_t(0) ? r_raw : acc_t(0);
    r = t == acc_t(0) ? pm : (t == one ? p : r_soft);
  } else {
    r = negative ? pm : p;
  }
  const acc_t push = p * (one - ts) - ts * pm;  // p - t'
  acc_t grad;
  if constexpr (K == GammaKind::Zero) {
    grad = scale * push;
  } else {
    const acc_t sign = soft ? one - acc_t(2) * t : (negative ? one : -one);  // dq/dp
    grad = scale * (cfg.gamma * sign * r * bce + push);
  }
  return {scale * bce, grad};
}

// The loss (LOSS) or the gradient (!LOSS) alone.
template <bool LOSS, GammaKind K, FocalTarget TK = FocalTarget::Soft, typename acc_t>
LOSSEXT_HD_INLINE acc_t sigmoid_focal_element(acc_t x, acc_t t, acc_t w, const SigmoidFocalConfig<acc_t>& cfg) {
  const FocalValueGrad<acc_t> v = sigmoid_focal_value_grad<K, TK>(x, t, w, cfg);
  if constexpr (LOSS) {
    return v.loss;
  } else {
    return v.grad;
  }
}

// The class factors of a softmax focal row with target y: w_y and the loss
// coefficient k = alpha_y w_y (a null table stands for ones).
template <typename acc_t>
struct SoftmaxFocalClass {
  acc_t weight;
  acc_t coeff;
};

template <typename acc_t>
LOSSEXT_HD_INLINE SoftmaxFocalClass<acc_t> softmax_focal_class(const acc_t* alpha, const acc_t* w, int64_t y) {
  const acc_t w_y = w ? w[y] : acc_t(1);
  return {w_y, (alpha ? alpha[y] : acc_t(1)) * w_y};
}

// Softmax focal loss of one row from l = log p_y and k = alpha_y w_y.
template <GammaKind K, typename acc_t>
LOSSEXT_HD_INLINE acc_t softmax_focal_row_loss(acc_t log_p_y, acc_t coeff, acc_t gamma) {
  const acc_t one_minus = -focal_expm1(log_p_y);
  return -coeff * focal_pow<K>(one_minus, focal_log_q(one_minus), gamma) * log_p_y;
}

// G of dL/dx_c = G (p_c - [c == y]), upstream gradient g of the row included.
template <GammaKind K, typename acc_t>
LOSSEXT_HD_INLINE acc_t softmax_focal_grad_scale(acc_t log_p_y, acc_t coeff, acc_t gamma, acc_t grad_row) {
  const acc_t one_minus = -focal_expm1(log_p_y);
  const acc_t mod = focal_pow<K>(one_minus, focal_log_q(one_minus), gamma);
  if constexpr (K == GammaKind::Zero) {
    return grad_row * coeff;
  } else {
    // log(p) / (1 - p) -> -1 as p -> 1.
    const acc_t ratio = one_minus > acc_t(0) ? log_p_y / one_minus : acc_t(-1);
    const acc_t p_y = acc_t(1) - one_minus;
    return grad_row * coeff * mod * (acc_t(1) - gamma * p_y * ratio);
  }
}

// ---- The contract between the torch ops and the kernels of both devices.

// Sigmoid focal over a dense (rows, classes) view of the logits (the last dim
// holds the classes; the op makes it contiguous).
struct SigmoidFocalParams {
  const void* logits = nullptr;
  DType dtype = DType::Float32;
  int64_t rows = 0;
  int64_t classes = 0;

  const int64_t* target_index = nullptr;  // [rows]: c positive, -1 background, ignore_index ignored
  const void* target_dense = nullptr;     // [rows, classes] in the logits' dtype
  IgnoreIndex ignore_index;               // index targets: a row of this value counts for nothing

  const void* weight = nullptr;  // [classes] accumulate type, or null
  double alpha = 0.25;
  double gamma = 2.0;
  GammaKind gamma_kind = GammaKind::Two;
  double label_smoothing = 0.0;

  // Forward: loss in the accumulate type, [rows] when reduce_rows (summed over
  // classes), else [rows, classes]. An out-of-range index makes it nan.
  bool reduce_rows = false;
  void* loss = nullptr;
  // The CPU forward with gradient also writes dL/dx of every element, without
  // the upstream factor, [rows, classes] in the logits' dtype.
  void* dloss_dinput_out = nullptr;

  // Backward: the upstream gradient of loss value k (a row when reduce_rows,
  // else an element) at grad_loss[k * grad_loss_stride], accumulate type;
  // stride 0 for one value ('sum' / 'mean' reduced in Python), else 1.
  const void* grad_loss = nullptr;
  int64_t grad_loss_stride = 1;
  // The CPU backward from the saved gradient reads dloss_dinput (what the
  // forward with gradient wrote) instead of logits and targets.
  const void* dloss_dinput = nullptr;
  void* grad_logits = nullptr;  // [rows, classes] in the logits' dtype
};

// Softmax focal over (N, C, d...) logits walked through a RowLayout, index targets.
struct SoftmaxFocalParams {
  const void* logits = nullptr;
  DType dtype = DType::Float32;
  RowLayout layout;

  const int64_t* target_index = nullptr;  // [rows]
  IgnoreIndex ignore_index;               // a row of this class counts for nothing
  const void* alpha = nullptr;            // [C] accumulate type, or null (1)
  const void* weight = nullptr;           // [C] accumulate type, or null (1)
  double gamma = 2.0;
  GammaKind gamma_kind = GammaKind::Two;

  // Forward outputs, [rows], accumulate type.
  void* loss = nullptr;
  void* lse_out = nullptr;
  void* row_weight = nullptr;  // w_y; 0 when ignored, nan when out of range

  // Backward: the forward's lse_out, and grad_loss[row * grad_loss_stride]
  // (stride 0 for a broadcast scalar).
  const void* lse = nullptr;
  const void* grad_loss = nullptr;
  int64_t grad_loss_stride = 1;
  void* grad_logits = nullptr;  // dense (N, C, D) in the logits' dtype
};

// The entry points: one CUDA launcher and one CPU driver per pass, same
// params. An out-of-range class index (not ignore_index) makes its row nan on
// both devices; the CPU entries also report the first one (CpuStatus), which
// the op raises as an IndexError (CUDA cannot without a host sync).
#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
cudaError_t sigmoid_focal_fwd_cuda(const SigmoidFocalParams& p, cudaStream_t stream);
cudaError_t sigmoid_focal_bwd_cuda(const SigmoidFocalParams& p, cudaStream_t stream);
cudaError_t softmax_focal_fwd_cuda(const SoftmaxFocalParams& p, cudaStream_t stream);
cudaError_t softmax_focal_bwd_cuda(const SoftmaxFocalParams& p, cudaStream_t stream);
#endif
CpuStatus sigmoid_focal_fwd_cpu(const SigmoidFocalParams& p, ParallelFor parallel_for);
CpuStatus sigmoid_focal_bwd_cpu(const SigmoidFocalParams& p, ParallelFor parallel_for);
CpuStatus softmax_focal_fwd_cpu(const SoftmaxFocalParams& p, ParallelFor parallel_for);
CpuStatus softmax_focal_bwd_cpu(const SoftmaxFocalParams& p, ParallelFor parallel_for);

// CPU only (there the element math, not memory traffic, bounds the kernel, so
// it is evaluated once for forward and backward): the forward that also
// writes dloss_dinput_out, and the backward that scales the saved
// dloss_dinput by the upstream gradient (accumulate type, rounded once).
CpuStatus sigmoid_focal_fwd_with_grad_cpu(const SigmoidFocalParams& p, ParallelFor parallel_for);
CpuStatus sigmoid_focal_bwd_saved_cpu(const SigmoidFocalParams& p, ParallelFor parallel_for);

}  // namespace lossext
