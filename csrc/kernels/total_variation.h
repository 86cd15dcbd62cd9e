// Total variation of an H x W image plane, and its gradient per pixel.
//
// Differences (i = row, j = column):
//   dy(i, j) = I(i+1, j) - I(i, j)   for i < H-1   ((H-1) x W of them)
//   dx(i, j) = I(i, j+1) - I(i, j)   for j < W-1   (H x (W-1) of them)
// Anisotropic (kornia.losses.total_variation):
//   sum |dy| * wy + sum |dx| * wx, with w = 1 ('sum') or 1 / (its own count)
//   ('mean'; an empty term contributes 0). d|d|/dd = sign(d), 0 at 0.
// Isotropic, over the (H-1) x (W-1) cells where both differences exist:
//   sum (dx^2 + dy^2 + eps)^(beta/2) * w, w = 1 or 1 / ((H-1)(W-1)).
//   Its derivative in dx is coef * dx with coef = beta s^(beta/2 - 1),
//   s = dx^2 + dy^2 + eps; where s == 0 (a flat cell, eps = 0) coef is
//   defined as 0, a subgradient for beta <= 1 and the limit for beta > 1,
//   so the gradient is finite everywhere; nan stays nan.
//
// The gradient is written in gather form: each pixel reads its neighbours and
// sums the derivatives of every difference it appears in, so a backward pass
// writes every gradient element exactly once, without atomics. The `has_*`
// flags say which neighbours exist; the value of a missing one is ignored.
#pragma once

#include "cpu/loops/parallel.h"
#include "kernels/common.h"
#include "kernels/layout.h"
#include "kernels/static_switch.h"

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace lossext {

template <typename T>
LOSSEXT_HD T tv_abs(T d) {
  return d < T(0) ? -d : d;
}

// sign(d), 0 at 0, nan for nan (d * 0).
template <typename T>
LOSSEXT_HD T tv_sign(T d) {
  return d > T(0) ? T(1) : (d < T(0) ? T(-1) : d * T(0));
}

LOSSEXT_HD float tv_sqrt(float s) { return sqrtf(s); }
LOSSEXT_HD double tv_sqrt(double s) { return sqrt(s); }
LOSSEXT_HD float tv_pow(float s, float e) { return powf(s, e); }
LOSSEXT_HD double tv_pow(double s, double e) { return pow(s, e); }

// The isotropic exponent, with the common cases that need no pow.
enum class TvPower : int { Sqrt = 0, Square = 1, General = 2 };
inline constexpr ValueList<TvPower::Sqrt, TvPower::Square, TvPower::General> kTvPowers{};
// The anisotropic loss has no power: its kernels take Sqrt, whatever the params say.
template <bool ISOTROPIC>
constexpr auto tv_powers() {
  if constexpr (ISOTROPIC) {
    return kTvPowers;
  } else {
    return ValueList<TvPower::Sqrt>{};
  }
}

template <TvPower P, typename T>
LOSSEXT_HD T tv_iso_value(T dx, T dy, T beta, T eps) {
  const T s = dx * dx + dy * dy + eps;
  if constexpr (P == TvPower::Sqrt) {
    return tv_sqrt(s);
  } else if constexpr (P == TvPower::Square) {
    return s;
  } else {
    return tv_pow(s, T(0.5) * beta);
  }
}

// coef with d value / d dx = coef * dx (and likewise dy).
template <TvPower P, typename T>
LOSSEXT_HD T tv_iso_coef(T dx, T dy, T beta, T eps) {
  const T s = dx * dx + dy * dy + eps;
  if constexpr (P == TvPower::Square) {
    return T(2);
  } else {
    const T safe = s == T(0) ? T(1) : s;
    T c;
    if constexpr (P == TvPower::Sqrt) {
      c = T(1) / tv_sqrt(safe);
    } else {
      c = beta * tv_pow(safe, T(0.5) * beta - T(1));
    }
    return s == T(0) ? T(0) : c;
  }
}

// Anisotropic: d TV / d I(i, j), before the upstream gradient.
template <typename T>
LOSSEXT_HD T tv_aniso_pixel_grad(T c, T up, T down, T left, T right, bool has_up, bool has_down, bool has_left,
                                 bool has_right, T wy, T wx) {
  const T gy = (has_up ? tv_sign(c - up) : T(0)) - (has_down ? tv_sign(down - c) : T(0));
  const T gx = (has_left ? tv_sign(c - left) : T(0)) - (has_right ? tv_sign(right - c) : T(0));
  return wy * gy + wx * gx;
}

// Isotropic: d TV / d I(i, j), before the weight w and the upstream gradient.
// Pixel (i, j) enters cell (i, j) as the base of dx and dy, cell (i, j-1) as
// the right end of its dx, cell (i-1, j) as the lower end of its dy.
template <TvPower P, typename T>
LOSSEXT_HD T tv_iso_pixel_grad(T c, T up, T up_right, T down, T down_left, T left, T right, bool has_up, bool has_down,
                               bool has_left, bool has_right, T beta, T eps) {
  T g = T(0);
  if (has_down && has_right) {
    const T dx = right - c, dy = down - c;
    g -= tv_iso_coef<P>(dx, dy, beta, eps) * (dx + dy);
  }
  if (has_down && has_left) {
    const T dx = c - left, dy = down_left - left;
    g += tv_iso_coef<P>(dx, dy, beta, eps) * dx;
  }
  if (has_up && has_right) {
    const T dx = up_right - up, dy = c - up;
    g += tv_iso_coef<P>(dx, dy, beta, eps) * dy;
  }
  return g;
}

// ---- The contract between the torch op and the kernels of both devices.

// input: `planes` contiguous H x W planes of `dtype`.
// Forward: loss[p] (accumulate type) = wy * sum|dy| + wx * sum|dx|
// (anisotropic) or w * sum cell values (isotropic, w = wy); `partial` is
// scratch of total_variation_partial_count values (per-chunk sums on CUDA,
// per-row sums on the CPU), added per plane in a fixed order so that the
// result is deterministic. `chunks`: ceil(H * W / kTvChunkPixels).
// Backward: grad_input = grad_loss[p * grad_loss_stride] * d loss[p] / d input.
struct TotalVariationParams {
  const void* input = nullptr;
  DType dtype = DType::Float32;
  int64_t planes = 0;
  int64_t height = 0;
  int64_t width = 0;
  bool isotropic = false;
  TvPower power = TvPower::Sqrt;
  double beta = 1.0;
  double eps = 0.0;
  double wy = 1.0;
  double wx = 1.0;
  void* loss = nullptr;
  void* partial = nullptr;
  int64_t chunks = 1;
  const void* grad_loss = nullptr;
  int64_t grad_loss_stride = 1;
  void* grad_input = nullptr;
};

// Pixels one CUDA block of the forward reduces (the chunk of a plane).
constexpr int64_t kTvChunkPixels = 256 * 16;

// Accumulate-type values of the forward's `partial` scratch: one pair (y and
// x sums) per chunk of each plane on CUDA, per image row on the CPU.
inline int64_t total_variation_partial_count(const TotalVariationParams& p, bool cuda) {
  return 2 * p.planes * (cuda ? p.chunks : p.height);
}

// The entry points: one CUDA launcher and one CPU driver per pass, same params.
#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
cudaError_t total_variation_fwd_cuda(const TotalVariationParams& p, cudaStream_t stream);
cudaError_t total_variation_bwd_cuda(const TotalVariationParams& p, cudaStream_t stream);
#endif
CpuStatus total_variation_fwd_cpu(const TotalVariationParams& p, ParallelFor parallel_for);
CpuStatus total_variation_bwd_cpu(const TotalVariationParams& p, ParallelFor parallel_for);

}  // namespace lossext
