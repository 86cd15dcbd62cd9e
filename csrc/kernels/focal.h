// Focal losses: the loss and closed-form gradient of one element (sigmoid
// focal) or one row (softmax focal), shared by the CPU and CUDA kernels.
//
// Sigmoid focal (RetinaNet; torchvision.ops.sigmoid_focal_loss for t in [0,1]):
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

#include "kernels/common.h"

// The per-element functions are large; the CPU row loops only vectorize when
// all of them are inlined into the loop body, which plain `inline` leaves to
// the compiler's size heuristics (and target_clones makes it decline).
#if defined(__CUDACC__)
#define LOSSEXT_FOCAL_HD __host__ __device__ __forceinline__
#elif defined(__GNUC__)
#define LOSSEXT_FOCAL_HD inline __attribute__((always_inline))
#else
#define LOSSEXT_FOCAL_HD inline
#endif

namespace lossext {

// Which power of q the modulating factor is: the three common exponents skip
// exp/log entirely. Picked once per call on the host.
enum class GammaKind : int { Zero = 0, One = 1, Two = 2, General = 3 };

inline GammaKind gamma_kind(double gamma) {
  if (gamma == 0.0) return GammaKind::Zero;
  if (gamma == 1.0) return GammaKind::One;
  if (gamma == 2.0) return GammaKind::Two;
  return GammaKind::General;
}

// log(x) for x > 0 (subnormals included). Host float: Cephes' logf polynomial,
// branch-free so that the CPU row loops vectorize; relative error ~1e-7.
LOSSEXT_FOCAL_HD float focal_log(float x) {
#if defined(__CUDA_ARCH__)
  return logf(x);
#else
  // Subnormals are scaled into the normal range first (exponent field 0).
  // Every arm of a select is computed unconditionally: gcc (with its default
  // -ftrapping-math) will not vectorize a select whose arm does arithmetic.
  const bool tiny = x < 1.17549435e-38f;
  const float scaled = x * 16777216.0f;
  const float xs = tiny ? scaled : x;
  int32_t bits;
  std::memcpy(&bits, &xs, sizeof(bits));
  float e = static_cast<float>(((bits >> 23) & 0xff) - 126);
  bits = (bits & 0x807fffff) | 0x3f000000;  // mantissa in [0.5, 1)
  float m;
  std::memcpy(&m, &bits, sizeof(m));
  const bool low = m < 0.707106781186547524f;
  const float e_low = e - 1.0f, m_low = m + m - 1.0f, m_high = m - 1.0f;
  e = low ? e_low : e;
  m = low ? m_low : m_high;
  const float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  y += -2.12194440e-4f * e;
  y += -0.5f * z;
  const float r = m + y + 0.693359375f * e;
  const float r_tiny = r - 16.6355323f;  // 24 ln 2
  return tiny ? r_tiny : r;
#endif
}
LOSSEXT_FOCAL_HD double focal_log(double x) { return log(x); }

// log(1 + e) for e in [0, 1], given inv = 1 / (1 + e) (already at hand in the
// sigmoid): -log(inv) needs no division; below e = 2^-12, where inv rounds
// off e's low bits, the series e - e^2/2 (relative error < e^2/3) takes over.
LOSSEXT_FOCAL_HD float focal_log1p(float e, float inv) {
#if defined(__CUDA_ARCH__)
  (void)inv;
  return log1pf(e);
#else
  const float series = e - 0.5f * e * e;
  const float direct = -focal_log(inv);
  return e < 2.44140625e-4f ? series : direct;
#endif
}
LOSSEXT_FOCAL_HD double focal_log1p(double e, double) { return log1p(e); }

LOSSEXT_FOCAL_HD float focal_expm1(float x) {
#if defined(__CUDA_ARCH__)
  return expm1f(x);
#else
  return std::expm1(x);
#endif
}
LOSSEXT_FOCAL_HD double focal_expm1(double x) { return expm1(x); }

// q^gamma for q in [0, 1]; 0^0 = 1 as in torch.
template <GammaKind K, typename acc_t> LOSSEXT_FOCAL_HD acc_t focal_pow(acc_t q, acc_t gamma) {
  if constexpr (K == GammaKind::Zero) {
    return acc_t(1);
  } else if constexpr (K == GammaKind::One) {
    return q;
  } else if constexpr (K == GammaKind::Two) {
    return q * q;
  } else {
    const acc_t safe = q > acc_t(0) ? q : acc_t(1);
    const acc_t v = fast_exp(gamma * focal_log(safe));
    return q > acc_t(0) ? v : acc_t(0);
  }
}

// Per-call constants of the sigmoid focal loss.
template <typename acc_t> struct SigmoidFocalConfig {
  acc_t alpha;      // < 0: no alpha weighting
  acc_t gamma;
  acc_t smoothing;  // apex label smoothing s in [0, 1]
};

// alpha_t, or 1 when alpha is disabled.
template <typename acc_t> LOSSEXT_FOCAL_HD acc_t focal_alpha_t(acc_t alpha, acc_t t) {
  const acc_t weighted = alpha * t + (acc_t(1) - alpha) * (acc_t(1) - t);
  return alpha < acc_t(0) ? acc_t(1) : weighted;
}

// Loss (LOSS) or gradient dL/dx (!LOSS) of one element with target t and class
// weight w. Both share the same exp/log work; the compiler drops the unused half.
template <bool LOSS, GammaKind K, typename acc_t>
LOSSEXT_FOCAL_HD acc_t sigmoid_focal_element(acc_t x, acc_t t, acc_t w, const SigmoidFocalConfig<acc_t>& cfg) {
  const acc_t one = acc_t(1);
  const acc_t neg_ax = x < acc_t(0) ? x : -x;  // -|x|
  const acc_t e = fast_exp(neg_ax);
  const acc_t inv = one / (one + e);
  const acc_t e_inv = e * inv;
  const bool pos = x >= acc_t(0);
  const acc_t p = pos ? inv : e_inv;
  const acc_t pm = pos ? e_inv : inv;  // 1 - p
  const acc_t relu = pos ? x : acc_t(0);
  const acc_t ts = t * (one - cfg.smoothing) + acc_t(0.5) * cfg.smoothing;
  // softplus(x) - t' x = max(x, 0) - t' x + log1p(exp(-|x|))
  const acc_t bce = relu - ts * x + focal_log1p(e, inv);
  const acc_t q = p * (one - t) + pm * t;
  const acc_t scale = w * focal_alpha_t(cfg.alpha, t) * focal_pow<K>(q, cfg.gamma);
  if constexpr (LOSS) {
    return scale * bce;
  } else {
    // Hard targets (the index-target kernels pass t as a constant) fold to
    // r = 1-p or p with no division.
    const acc_t r_raw = p * pm / (q > acc_t(0) ? q : one);
    const acc_t r_soft = q > acc_t(0) ? r_raw : acc_t(0);
    const acc_t r = t == acc_t(0) ? pm : (t == one ? p : r_soft);
    const acc_t push = p * (one - ts) - ts * pm;  // p - t'
    if constexpr (K == GammaKind::Zero) {
      return scale * push;
    } else {
      return scale * (cfg.gamma * (one - acc_t(2) * t) * r * bce + push);
    }
  }
}

// Softmax focal loss of one row from l = log p_y and k = alpha_y w_y.
template <GammaKind K, typename acc_t>
LOSSEXT_FOCAL_HD acc_t softmax_focal_row_loss(acc_t log_p_y, acc_t coeff, acc_t gamma) {
  const acc_t one_minus = -focal_expm1(log_p_y);
  return -coeff * focal_pow<K>(one_minus, gamma) * log_p_y;
}

// G of dL/dx_c = G (p_c - [c == y]), upstream gradient g of the row included.
template <GammaKind K, typename acc_t>
LOSSEXT_FOCAL_HD acc_t softmax_focal_grad_scale(acc_t log_p_y, acc_t coeff, acc_t gamma, acc_t grad_row) {
  const acc_t one_minus = -focal_expm1(log_p_y);
  const acc_t mod = focal_pow<K>(one_minus, gamma);
  if constexpr (K == GammaKind::Zero) {
    return grad_row * coeff;
  } else {
    // log(p) / (1 - p) -> -1 as p -> 1.
    const acc_t ratio = one_minus > acc_t(0) ? log_p_y / one_minus : acc_t(-1);
    const acc_t p_y = acc_t(1) - one_minus;
    return grad_row * coeff * mod * (acc_t(1) - gamma * p_y * ratio);
  }
}

}  // namespace lossext
