// Parameters and CUDA launchers of the fused smooth L1 / Huber losses.
#pragma once

#include "kernels/layout.h"
#include "kernels/regression.h"

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace lossext {

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

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
cudaError_t regression_fwd_cuda(const RegressionParams& p, cudaStream_t stream);
cudaError_t regression_bwd_cuda(const RegressionParams& p, cudaStream_t stream);
#endif

}  // namespace lossext
