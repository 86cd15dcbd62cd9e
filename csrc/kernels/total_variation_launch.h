// Parameters and CUDA launchers of the fused total variation.
#pragma once

#include "kernels/layout.h"
#include "kernels/total_variation.h"

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace lossext {

// input: `planes` contiguous H x W planes of `dtype`.
// Forward: loss[p] (accumulate type) = wy * sum|dy| + wx * sum|dx|
// (anisotropic) or w * sum cell values (isotropic, w = wy); `partial` is
// scratch of 2 * planes * chunks accumulate-type values (CUDA only), summed
// per plane in a fixed order so that the result is deterministic.
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

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
cudaError_t total_variation_fwd_cuda(const TotalVariationParams& p, cudaStream_t stream);
cudaError_t total_variation_bwd_cuda(const TotalVariationParams& p, cudaStream_t stream);
#endif

}  // namespace lossext
