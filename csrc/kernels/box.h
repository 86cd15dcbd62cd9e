// Box IoU family: the math of one box pair, shared by the CPU and CUDA kernels.
//
// Conventions are torchvision's (ops/giou_loss.py, diou_loss.py, ciou_loss.py,
// boxes.py), so that the kernels are drop-in for them:
//   aligned losses: inter counts only when both overlap sides are > 0;
//     iou = inter / (union + eps); GIoU adds (C - union) / (C + eps) with C the
//     enclosing area; DIoU adds rho^2 / (c_w^2 + c_h^2 + eps) with rho the
//     centre distance and c the enclosing box; CIoU adds alpha * v with
//     v = 4/pi^2 (atan(w2/h2) - atan(w1/h1))^2 and alpha = v / (1 - iou + v + eps)
//     held constant in the backward (torchvision computes it under no_grad).
//   EIoU = 1 - iou + rho^2/(c_w^2+c_h^2+eps) + dw^2/(c_w^2+eps) + dh^2/(c_h^2+eps).
//   SIoU (Gevorgyan 2022, "SIoU Loss: More Powerful Learning for Bounding Box
//     Regression"), with s = centre2 - centre1 and c the enclosing box:
//       angle cost    L = sin(2 arcsin(min(|s_x|,|s_y|)/|s|)) = 2|s_x||s_y| / (s_x^2 + s_y^2 + eps)
//                     (the paper's 1 - 2 sin^2(arcsin(x) - pi/4), rewritten without
//                     trig; 0 for coincident centres, where the paper is 0/0)
//       distance cost D = sum_{t=x,y} 1 - exp(-(2 - L) rho_t),  rho_x = s_x^2/(c_w^2+eps)
//       shape cost    O = sum_{t=w,h} (1 - exp(-omega_t))^4,
//                     omega_w = |w1 - w2| / (max(|w1|,|w2|) + eps)   (theta = 4)
//       loss = 1 - iou + (D + O) / 2.
//   pairwise values (no eps in IoU / GIoU, overlap clamped at 0, as
//     torchvision's box_iou etc.): IoU, GIoU, DIoU (eps on the diagonal), CIoU.
//
// Degenerate boxes: widths and heights are used signed, as torchvision does
// (x2 < x1 gives a negative area). atan(w/h) is taken as +-pi/2 for h = 0
// (gradient: its limit (h, -w)/(w^2+h^2)) and 0 for w = h = 0 (gradient 0),
// so zero-size boxes stay finite where torchvision gives nan. Ties in min/max split the gradient in halves,
// as torch.minimum / torch.maximum do.
#pragma once

#include <type_traits>

#include "cpu/loops/parallel.h"
#include "kernels/common.h"
#include "kernels/layout.h"
#include "kernels/static_switch.h"

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

// The pair functions are large: without forcing, gcc calls them out of line
// and the CPU pair loops no longer vectorize.
#if defined(__CUDACC__)
#define LOSSEXT_BOX_HD __host__ __device__ __forceinline__
#elif defined(__GNUC__)
#define LOSSEXT_BOX_HD inline __attribute__((always_inline))
#else
#define LOSSEXT_BOX_HD inline
#endif

namespace lossext {

enum class BoxFmt : int { XYXY = 0, XYWH = 1, CXCYWH = 2 };
enum class BoxLossMode : int { IoU = 0, GIoU = 1, DIoU = 2, CIoU = 3, EIoU = 4, SIoU = 5 };
enum class BoxPairKind : int { IoU = 0, GIoU = 1, DIoU = 2, CIoU = 3 };
inline constexpr ValueList<BoxFmt::XYXY, BoxFmt::XYWH, BoxFmt::CXCYWH> kBoxFmts{};
inline constexpr ValueList<BoxLossMode::IoU, BoxLossMode::GIoU, BoxLossMode::DIoU, BoxLossMode::CIoU, BoxLossMode::EIoU,
                           BoxLossMode::SIoU>
    kBoxLossModes{};
inline constexpr ValueList<BoxPairKind::IoU, BoxPairKind::GIoU, BoxPairKind::DIoU, BoxPairKind::CIoU> kBoxPairKinds{};

template <typename T>
struct Box {
  T a, b, c, d;  // (x1, y1, x2, y2) once in xyxy; the raw four values before
};

template <typename T>
LOSSEXT_HD Box<T> to_xyxy(BoxFmt fmt, Box<T> v) {
  switch (fmt) {
    case BoxFmt::XYWH: return {v.a, v.b, v.a + v.c, v.b + v.d};
    case BoxFmt::CXCYWH: {
      const T hw = v.c * T(0.5), hh = v.d * T(0.5);
      return {v.a - hw, v.b - hh, v.a + hw, v.b + hh};
    }
    default: return v;
  }
}

// Chain rule of to_xyxy: gradient w.r.t. the xyxy corners -> w.r.t. fmt's values.
template <typename T>
LOSSEXT_HD Box<T> grad_from_xyxy(BoxFmt fmt, Box<T> g) {
  switch (fmt) {
    case BoxFmt::XYWH: return {g.a + g.c, g.b + g.d, g.c, g.d};
    case BoxFmt::CXCYWH: return {g.a + g.c, g.b + g.d, (g.c - g.a) * T(0.5), (g.d - g.b) * T(0.5)};
    default: return g;
  }
}

namespace box_detail {

template <typename T>
LOSSEXT_HD T max_(T a, T b) {
  return a > b ? a : b;
}
template <typename T>
LOSSEXT_HD T min_(T a, T b) {
  return a < b ? a : b;
}
template <typename T>
LOSSEXT_HD T abs_(T a) {
  return a < T(0) ? -a : a;
}
template <typename T>
LOSSEXT_HD T sign_(T a) {
  return a > T(0) ? T(1) : (a < T(0) ? T(-1) : T(0));
}
// Share of the gradient of max(a, b) that goes to a (torch.maximum's rule).
template <typename T>
LOSSEXT_HD T max_share(T a, T b) {
  return a > b ? T(1) : (a == b ? T(0.5) : T(0));
}
template <typename T>
LOSSEXT_HD T min_share(T a, T b) {
  return a < b ? T(1) : (a == b ? T(0.5) : T(0));
}

// atan for the host loops: Cephes' atanf (range reduction to |x| <= tan(pi/8)
// and a degree-9 odd polynomial, about 2 ulp), branch-free so that gcc
// vectorizes the pair loops that call it; libm's atanf is an opaque call.
// atan(+-inf) = +-pi/2, atan(nan) = nan.
LOSSEXT_HD float atan_(float x) {
#if defined(__CUDA_ARCH__)
  return atanf(x);
#else
  const float ax = x < 0.0f ? -x : x;
  const bool big = ax > 2.414213562373095f, mid = ax > 0.41421356237309503f;
  const float base = big ? 1.5707963267948966f : (mid ? 0.78539816339744831f : 0.0f);
  const float inv = -1.0f / ax, shifted = (ax - 1.0f) / (ax + 1.0f);
  const float xr = big ? inv : (mid ? shifted : ax);
  const float z = xr * xr;
  const float poly =
      (((8.05374449538e-2f * z - 1.38776856032e-1f) * z + 1.99777106478e-1f) * z - 3.33329491539e-1f) * z * xr + xr;
  const float r = base + poly;
  return x < 0.0f ? -r : r;
#endif
}
LOSSEXT_HD double atan_(double x) { return atan(x); }
LOSSEXT_HD float exp_(float x) { return fast_exp(x); }
LOSSEXT_HD double exp_(double x) { return exp(x); }

// atan(w / h), finite for h = 0 (see the header comment). Selects, not
// branches: the host loops vectorize over pairs.
template <typename T>
LOSSEXT_HD T aspect_angle(T w, T h) {
  const T half_pi = T(1.5707963267948966);
  const T edge = w > T(0) ? half_pi : (w < T(0) ? -half_pi : T(0));
  const T a = atan_(w / (h != T(0) ? h : T(1)));
  return h != T(0) ? a : edge;
}
// d/dw and d/dh of atan(w/h): h/(w^2+h^2), -w/(w^2+h^2); 0 at w = h = 0.
template <typename T>
LOSSEXT_HD void aspect_angle_grad(T w, T h, T& dw, T& dh) {
  const T r = w * w + h * h;
  const T inv_safe = T(1) / (r != T(0) ? r : T(1));
  const T inv = r != T(0) ? inv_safe : T(0);
  dw = h * inv;
  dh = -w * inv;
}

template <typename T>
LOSSEXT_HD T four_over_pi_sq() {
  return T(0.40528473456935108578);
}

}  // namespace box_detail

// Loss of one aligned pair of xyxy boxes; with kGrad, also its gradient
// w.r.t. both boxes' corners scaled by `g` (reverse mode written out by hand).
// Straight-line code (selects, no branches, the mode a template argument) so
// that the CPU pair loops vectorize.
template <BoxLossMode mode, bool want_grad, typename T>
LOSSEXT_BOX_HD T box_pair_loss(const Box<T>& p, const Box<T>& q, T eps, T g, Box<T>* gp, Box<T>* gq) {
  using namespace box_detail;
  const T w1 = p.c - p.a, h1 = p.d - p.b, w2 = q.c - q.a, h2 = q.d - q.b;
  const T ix1 = max_(p.a, q.a), iy1 = max_(p.b, q.b), ix2 = min_(p.c, q.c), iy2 = min_(p.d, q.d);
  const T iw = ix2 - ix1, ih = iy2 - iy1;
  const bool overlap = (iw > T(0)) & (ih > T(0));
  const T iw_ih = iw * ih;
  const T inter = overlap ? iw_ih : T(0);
  const T uni = w1 * h1 + w2 * h2 - inter;
  const T U = uni + eps;
  const T iou = inter / U;
  T loss = T(1) - iou;

  // Enclosing box and centre offset (q's centre minus p's).
  const T cx1 = min_(p.a, q.a), cy1 = min_(p.b, q.b), cx2 = max_(p.c, q.c), cy2 = max_(p.d, q.d);
  const T cw = cx2 - cx1, ch = cy2 - cy1;
  const T sx = (q.a + q.c - p.a - p.c) * T(0.5), sy = (q.b + q.d - p.b - p.d) * T(0.5);

  // Adjoints of the intermediates, filled as the penalty terms are added.
  T g_iou = -g, g_uni = T(0), g_cw = T(0), g_ch = T(0), g_sx = T(0), g_sy = T(0);
  T g_w1 = T(0), g_h1 = T(0), g_w2 = T(0), g_h2 = T(0);

  if constexpr (mode == BoxLossMode::GIoU) {
    const T area_c = cw * ch, C = area_c + eps;
    loss += (area_c - uni) / C;
    const T g_area = g * (uni + eps) / (C * C);
    g_cw += g_area * ch;
    g_ch += g_area * cw;
    g_uni -= g / C;
  } else if constexpr (mode == BoxLossMode::DIoU || mode == BoxLossMode::CIoU || mode == BoxLossMode::EIoU) {
    const T diag = cw * cw + ch * ch + eps, rho = sx * sx + sy * sy;
    loss += rho / diag;
    const T g_rho = g / diag, g_diag = -g * rho / (diag * diag);
    g_sx += g_rho * T(2) * sx;
    g_sy += g_rho * T(2) * sy;
    g_cw += g_diag * T(2) * cw;
    g_ch += g_diag * T(2) * ch;
    if constexpr (mode == BoxLossMode::CIoU) {
      const T da = aspect_angle(w2, h2) - aspect_angle(w1, h1);
      const T v = four_over_pi_sq<T>() * da * da;
      const T alpha = v / (T(1) - iou + v + eps);  // a constant for the backward
      loss += alpha * v;
      const T g_da = g * alpha * four_over_pi_sq<T>() * T(2) * da;
      T dw, dh;
      aspect_angle_grad(w2, h2, dw, dh);
      g_w2 += g_da * dw;
      g_h2 += g_da * dh;
      aspect_angle_grad(w1, h1, dw, dh);
      g_w1 -= g_da * dw;
      g_h1 -= g_da * dh;
    } else if constexpr (mode == BoxLossMode::EIoU) {
      const T dw = w1 - w2, dh = h1 - h2;
      const T Cw = cw * cw + eps, Ch = ch * ch + eps;
      loss += dw * dw / Cw + dh * dh / Ch;
      const T g_dw = g * T(2) * dw / Cw, g_dh = g * T(2) * dh / Ch;
      g_w1 += g_dw;
      g_w2 -= g_dw;
      g_h1 += g_dh;
      g_h2 -= g_dh;
      g_cw -= g * dw * dw / (Cw * Cw) * T(2) * cw;
      g_ch -= g * dh * dh / (Ch * Ch) * T(2) * ch;
    }
  } else if constexpr (mode == BoxLossMode::SIoU) {
    const T ax = abs_(sx), ay = abs_(sy), S = sx * sx + sy * sy + eps;
    const T angle = T(2) * ax * ay / S;
    const T gam = T(2) - angle;
    const T Cw = cw * cw + eps, Ch = ch * ch + eps;
    const T rx = sx * sx / Cw, ry = sy * sy / Ch;
    const T ex = exp_(-gam * rx), ey = exp_(-gam * ry);
    const T dist = T(2) - ex - ey;
    const T dw = w1 - w2, dh = h1 - h2;
    const T mw = max_(abs_(w1), abs_(w2)), mh = max_(abs_(h1), abs_(h2));
    const T ow = abs_(dw) / (mw + eps), oh = abs_(dh) / (mh + eps);
    const T eow = exp_(-ow), eoh = exp_(-oh);
    const T fw = T(1) - eow, fh = T(1) - eoh;
    const T fw2 = fw * fw, fh2 = fh * fh;
    loss += T(0.5) * (dist + fw2 * fw2 + fh2 * fh2);
    if constexpr (want_grad) {
      const T gh = g * T(0.5);
      // distance cost
      const T g_rx = gh * gam * ex, g_ry = gh * gam * ey;
      const T g_angle = -gh * (rx * ex + ry * ey);
      g_sx += g_rx * T(2) * sx / Cw;
      g_sy += g_ry * T(2) * sy / Ch;
      g_cw -= g_rx * rx / Cw * T(2) * cw;
      g_ch -= g_ry * ry / Ch * T(2) * ch;
      // angle cost: d(2 ax ay / S)
      g_sx += g_angle * (T(2) * sign_(sx) * ay / S - angle / S * T(2) * sx);
      g_sy += g_angle * (T(2) * sign_(sy) * ax / S - angle / S * T(2) * sy);
      // shape cost
      const T g_ow = gh * T(4) * fw2 * fw * eow, g_oh = gh * T(4) * fh2 * fh * eoh;
      const T g_dw = g_ow * sign_(dw) / (mw + eps), g_dh = g_oh * sign_(dh) / (mh + eps);
      const T g_mw = -g_ow * abs_(dw) / ((mw + eps) * (mw + eps));
      const T g_mh = -g_oh * abs_(dh) / ((mh + eps) * (mh + eps));
      const T sw = max_share(abs_(w1), abs_(w2)), sh = max_share(abs_(h1), abs_(h2));
      g_w1 += g_dw + g_mw * sw * sign_(w1);
      g_w2 += -g_dw + g_mw * (T(1) - sw) * sign_(w2);
      g_h1 += g_dh + g_mh * sh * sign_(h1);
      g_h2 += -g_dh + g_mh * (T(1) - sh) * sign_(h2);
    }
  }
  if constexpr (!want_grad) return loss;

  // iou = inter / (union + eps); union = w1 h1 + w2 h2 - inter.
  g_uni -= g_iou * inter / (U * U);
  T g_inter = g_iou / U - g_uni;
  g_w1 += g_uni * h1;
  g_h1 += g_uni * w1;
  g_w2 += g_uni * h2;
  g_h2 += g_uni * w2;
  const T g_iw = overlap ? g_inter * ih : T(0), g_ih = overlap ? g_inter * iw : T(0);

  Box<T> a{T(0), T(0), T(0), T(0)}, b{T(0), T(0), T(0), T(0)};
  // widths and heights
  a.c += g_w1;
  a.a -= g_w1;
  a.d += g_h1;
  a.b -= g_h1;
  b.c += g_w2;
  b.a -= g_w2;
  b.d += g_h2;
  b.b -= g_h2;
  // intersection sides: iw = min(x2s) - max(x1s)
  T s = min_share(p.c, q.c);
  a.c += g_iw * s;
  b.c += g_iw * (T(1) - s);
  s = max_share(p.a, q.a);
  a.a -= g_iw * s;
  b.a -= g_iw * (T(1) - s);
  s = min_share(p.d, q.d);
  a.d += g_ih * s;
  b.d += g_ih * (T(1) - s);
  s = max_share(p.b, q.b);
  a.b -= g_ih * s;
  b.b -= g_ih * (T(1) - s);
  // enclosing sides: cw = max(x2s) - min(x1s)
  s = max_share(p.c, q.c);
  a.c += g_cw * s;
  b.c += g_cw * (T(1) - s);
  s = min_share(p.a, q.a);
  a.a -= g_cw * s;
  b.a -= g_cw * (T(1) - s);
  s = max_share(p.d, q.d);
  a.d += g_ch * s;
  b.d += g_ch * (T(1) - s);
  s = min_share(p.b, q.b);
  a.b -= g_ch * s;
  b.b -= g_ch * (T(1) - s);
  // centre offset
  const T hx = g_sx * T(0.5), hy = g_sy * T(0.5);
  a.a -= hx;
  a.c -= hx;
  b.a += hx;
  b.c += hx;
  a.b -= hy;
  a.d -= hy;
  b.b += hy;
  b.d += hy;
  *gp = a;
  *gq = b;
  return loss;
}

template <typename T>
LOSSEXT_HD T box_area(const Box<T>& b) {
  return (b.c - b.a) * (b.d - b.b);
}
// atan(w / h) of a box, CIoU's aspect angle.
template <typename T>
LOSSEXT_HD T box_aspect(const Box<T>& b) {
  return box_detail::aspect_angle(b.c - b.a, b.d - b.b);
}

// One entry of a pairwise matrix (torchvision's box_iou & co.) for xyxy boxes.
// Areas and aspect angles (CIoU only) are computed once per box by the caller:
// besides saving work, a per-row value computed inside the column loop keeps
// gcc from vectorizing it.
template <BoxPairKind kind, typename T>
LOSSEXT_BOX_HD T box_pair_value(const Box<T>& p, T area_p, T aspect_p, const Box<T>& q, T area_q, T aspect_q, T eps) {
  using namespace box_detail;
  const T iw = max_(min_(p.c, q.c) - max_(p.a, q.a), T(0));
  const T ih = max_(min_(p.d, q.d) - max_(p.b, q.b), T(0));
  const T inter = iw * ih;
  const T uni = area_p + area_q - inter;
  const T iou = inter / uni;
  if constexpr (kind == BoxPairKind::IoU) return iou;
  const T cw = max_(max_(p.c, q.c) - min_(p.a, q.a), T(0));
  const T ch = max_(max_(p.d, q.d) - min_(p.b, q.b), T(0));
  if constexpr (kind == BoxPairKind::GIoU) {
    const T area_c = cw * ch;
    return iou - (area_c - uni) / area_c;
  }
  const T diag = cw * cw + ch * ch + eps;
  const T sx = (q.a + q.c - p.a - p.c) * T(0.5), sy = (q.b + q.d - p.b - p.d) * T(0.5);
  const T diou = iou - (sx * sx + sy * sy) / diag;
  if constexpr (kind == BoxPairKind::DIoU) return diou;
  const T da = aspect_p - aspect_q;
  const T v = four_over_pi_sq<T>() * da * da;
  const T alpha = v / (T(1) - iou + v + eps);
  return diou - alpha * v;
}

// ---- The contract between the torch op and the kernels of both devices.

// Pairwise matrix: boxes1 (batch, n, 4) x boxes2 (batch, m, 4), contiguous,
// float32 or float64 (the op converts the rest) -> out (batch, n, m) in the
// same dtype. Float16 and bfloat16 are refused: the CUDA launcher returns
// cudaErrorInvalidValue without launching, the CPU entry writes nothing.
struct BoxPairwiseParams {
  const void* boxes1 = nullptr;
  const void* boxes2 = nullptr;
  void* out = nullptr;
  DType dtype = DType::Float32;
  int64_t batch = 0, n = 0, m = 0;
  BoxPairKind kind = BoxPairKind::IoU;
  BoxFmt fmt = BoxFmt::XYXY;
  double eps = 1e-7;
};

// Aligned pairs: boxes1[i] with boxes2[i], i < pairs, both contiguous (pairs, 4)
// in `dtype`. loss: (pairs,) in the accumulate type. Backward reads
// grad_loss[i * grad_loss_stride] (stride 0: one broadcast value) in the
// accumulate type and writes grad1 / grad2 (pairs, 4) in `dtype`; a null
// gradient is not asked for and not written.
struct BoxLossParams {
  const void* boxes1 = nullptr;
  const void* boxes2 = nullptr;
  DType dtype = DType::Float32;
  int64_t pairs = 0;
  BoxLossMode mode = BoxLossMode::GIoU;
  BoxFmt fmt = BoxFmt::XYXY;
  double eps = 1e-7;
  void* loss = nullptr;
  const void* grad_loss = nullptr;
  int64_t grad_loss_stride = 1;
  void* grad1 = nullptr;
  void* grad2 = nullptr;
};

// The entry points: one CUDA launcher and one CPU driver per pass, same params.
#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
cudaError_t box_pairwise_cuda(const BoxPairwiseParams& p, cudaStream_t stream);
cudaError_t box_loss_fwd_cuda(const BoxLossParams& p, cudaStream_t stream);
cudaError_t box_loss_bwd_cuda(const BoxLossParams& p, cudaStream_t stream);
#endif
CpuStatus box_pairwise_cpu(const BoxPairwiseParams& p, ParallelFor parallel_for);
CpuStatus box_loss_fwd_cpu(const BoxLossParams& p, ParallelFor parallel_for);
CpuStatus box_loss_bwd_cpu(const BoxLossParams& p, ParallelFor parallel_for);

}  // namespace lossext
