// Smooth L1 and Huber losses of one element d = input - target, and their
// derivative in d, in torch's conventions (aten's smooth_l1_loss and
// huber_loss, forward and backward):
//   smooth_l1: 0.5 d^2 / beta if |d| < beta, else |d| - 0.5 beta;
//              d/beta inside, sign(d) outside; beta = 0 is the L1 loss.
//   huber:     0.5 d^2 if |d| <= delta, else delta (|d| - 0.5 delta);
//              d inside, delta sign(d) outside.
// A nan d gives a nan loss and a nan derivative, as torch does.
#pragma once

#include "cpu/loops/parallel.h"
#include "kernels/common.h"
#include "kernels/layout.h"
#include "kernels/static_switch.h"

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace lossext {

enum class RegressionKind : int { SmoothL1 = 0, Huber = 1 };
inline constexpr ValueList<RegressionKind::SmoothL1, RegressionKind::Huber> kRegressionKinds{};

template <RegressionKind kind, typename T>
LOSSEXT_HD_INLINE T regression_loss(T d, T param) {
  const T a = d < T(0) ? -d : d;
  if constexpr (kind == RegressionKind::SmoothL1) {
    // beta = 0: `a < 0` never holds, so this is |d| - 0 (the L1 loss) with
    // no 0/0 evaluated in the chosen branch.
    const T inner = T(0.5) * a * a / (param > T(0) ? param : T(1));
    return a < param ? inner : a - T(0.5) * param;
  } else {
    return a <= param ? T(0.5) * a * a : param * (a - T(0.5) * param);
  }
}

template <RegressionKind kind, typename T>
LOSSEXT_HD_INLINE T regression_grad(T d, T param) {
  // sign(d), with 0 at d = 0 and nan (d itself) at nan.
  const T sign = d > T(0) ? T(1) : (d < T(0) ? T(-1) : d);
  if constexpr (kind == RegressionKind::SmoothL1) {
    const T inner = d / (param > T(0) ? param : T(1));
    return (d > -param && d < param) ? inner : sign;
  } else {
    return d < -param ? -param : (d > param ? param : d);
  }
}

// ---- The contract between the torch op and the kernels of both devices.

// input, target: `numel` contiguous elements of `dtype`. loss: per element in
// `dtype` (forward). grad_loss[i * grad_loss_stride] in the accumulate type
// (stride 0: one broadcast value); grad_input in `dtype` (backward).
struct RegressionParams {
  const void* input = nullptr;
  const void* target = nullptr;
  DType dtype = DType::Float32;
  int64_t numel = 0;
  RegressionKind kind = RegressionKind::SmoothL1;
  double param = 1.0;
  void* loss = nullptr;
  const void* grad_loss = nullptr;
  int64_t grad_loss_stride = 1;
  void* grad_input = nullptr;
};

// The entry points: one CUDA launcher and one CPU driver per pass, same params.
#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
cudaError_t regression_fwd_cuda(const RegressionParams& p, cudaStream_t stream);
cudaError_t regression_bwd_cuda(const RegressionParams& p, cudaStream_t stream);
#endif
CpuStatus regression_fwd_cpu(const RegressionParams& p, ParallelFor parallel_for);
CpuStatus regression_bwd_cpu(const RegressionParams& p, ParallelFor parallel_for);

}  // namespace lossext
