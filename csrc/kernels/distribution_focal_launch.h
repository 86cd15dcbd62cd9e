// Parameters and CUDA launchers of the fused distribution focal loss.
#pragma once

#include "kernels/distribution_focal.h"
#include "kernels/layout.h"

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace lossext {

// pred: (rows, bins) dense logits of `dtype`; label: (rows,) dense, in the
// accumulate type (float, double for float64 pred). bins >= 2.
// Forward writes loss and lse, (rows,) each in the accumulate type. A label
// outside [0, bins - 1] (or nan) is never used as an index: its row's loss is
// nan (the CPU op raises before anyone sees it).
// Backward reads the forward's lse as saved_lse and writes
// grad_pred = grad_loss[row * grad_loss_stride] * d loss[row] / d pred,
// (rows, bins) of `dtype`; a row with an invalid label gets nan.
struct DistributionFocalParams {
  const void* pred = nullptr;
  DType dtype = DType::Float32;
  const void* label = nullptr;
  int64_t rows = 0;
  int64_t bins = 0;
  void* loss = nullptr;
  void* lse = nullptr;
  const void* saved_lse = nullptr;
  const void* grad_loss = nullptr;
  int64_t grad_loss_stride = 1;
  void* grad_pred = nullptr;
};

// Rows of at most this many bins get a thread each on CUDA, longer ones a warp.
constexpr int64_t kDflThreadRowBins = 32;

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
cudaError_t distribution_focal_fwd_cuda(const DistributionFocalParams& p, cudaStream_t stream);
cudaError_t distribution_focal_bwd_cuda(const DistributionFocalParams& p, cudaStream_t stream);
#endif

}  // namespace lossext
