// Parameters and CUDA launchers for the box IoU family (see kernels/box.h).
#pragma once

#include "kernels/box.h"
#include "kernels/layout.h"

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace lossext {

// Pairwise matrix: boxes1 (batch, n, 4) x boxes2 (batch, m, 4), contiguous,
// float32 or float64 (the glue converts the rest) -> out (batch, n, m) in the
// same dtype.
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
// accumulate type and writes grad1 / grad2 (pairs, 4) in `dtype`.
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

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
cudaError_t box_pairwise_cuda(const BoxPairwiseParams& p, cudaStream_t stream);
cudaError_t box_loss_fwd_cuda(const BoxLossParams& p, cudaStream_t stream);
cudaError_t box_loss_bwd_cuda(const BoxLossParams& p, cudaStream_t stream);
#endif

}  // namespace lossext
