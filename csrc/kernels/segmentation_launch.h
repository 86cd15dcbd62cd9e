// Parameters and CUDA launchers of the segmentation overlap statistics
// (kernels/segmentation.h). The CPU kernels read the same struct; the torch
// glue (glue/segmentation.h) fills it once for both devices.
#pragma once

#include "kernels/layout.h"
#include "kernels/segmentation.h"

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace lossext {

// Logits are seen as (N, C, S): S pixels per (sample, class), contiguous
// (stride 1); samples and classes may be strided.
struct SegParams {
  const void* logits = nullptr;
  DType dtype = DType::Float32;
  int64_t batch = 0;    // N
  int64_t classes = 0;  // C
  int64_t pixels = 0;   // S = d1 * ... * dk
  int64_t stride_n = 0;
  int64_t stride_c = 0;

  // Exactly one target: int64 class indices (N, S), or a dense (N, C, S)
  // contiguous mask in the logits' dtype.
  const int64_t* target_index = nullptr;
  const void* target_dense = nullptr;
  bool has_ignore = false;
  int64_t ignore_index = -100;  // index targets: a class value; dense: compared as a float

  SegActivation activation = SegActivation::Softmax;
  bool squared = false;          // SP = sum p^2, ST = sum t^2
  bool with_ce = false;          // softmax + index targets only: cross-entropy sum per sample
  double label_smoothing = 0.0;  // of the cross-entropy

  // Forward outputs (accumulate type): stats (N, 3, C) = TP, SP, ST; extras
  // (N, 2) = cross-entropy sum, valid pixel count.
  void* stats = nullptr;
  void* extras = nullptr;
  // CUDA only: per-block partial sums, seg_cuda_workspace_bytes() long.
  void* workspace = nullptr;

  // Backward: coef (N, 3, C) holds dL/dTP in [:, 0] and dL/dSP in [:, 1];
  // grad_extras (N, 2) holds dL/d(cross-entropy sum) in [:, 0].
  const void* coef = nullptr;
  const void* grad_extras = nullptr;
  void* grad_logits = nullptr;  // dense (N, C, S) in the logits' dtype
};

LOSSEXT_HD int64_t seg_accumulators(int64_t classes) { return kSegStats * classes + kSegExtras; }

inline int64_t seg_acc_size(DType dtype) { return dtype == DType::Float64 ? 8 : 4; }

// CUDA forward: blocks per sample (enough to fill the device, at least 1024
// pixels per block) and threads per block (each thread keeps its
// 3C + 2 accumulators in shared memory, so wide class counts get fewer threads).
inline int64_t seg_cuda_blocks_per_sample(int64_t batch, int64_t pixels) {
  const int64_t by_pixels = (pixels + 1023) / 1024;
  const int64_t by_device = (2048 + batch - 1) / (batch > 0 ? batch : 1);
  const int64_t b = by_pixels < by_device ? by_pixels : by_device;
  return b < 1 ? 1 : b;
}

constexpr int64_t kSegCudaMaxSharedBytes = 96 * 1024;  // opted into; sm_80 and sm_90 allow more

// Shared memory of a forward block: 3C + 2 rows of (threads + 1) sums (the
// padding keeps both the per-thread updates and the final per-row sums free of
// bank conflicts).
inline int64_t seg_cuda_shared_bytes(int64_t classes, DType dtype, int threads) {
  return seg_accumulators(classes) * (threads + 1) * seg_acc_size(dtype);
}

inline int seg_cuda_threads(int64_t classes, DType dtype) {
  for (int t = 256; t >= 32; t /= 2) {
    if (seg_cuda_shared_bytes(classes, dtype, t) <= 48 * 1024) return t;
  }
  return seg_cuda_shared_bytes(classes, dtype, 32) <= kSegCudaMaxSharedBytes ? 32 : 0;  // 0: too many classes
}

inline int64_t seg_cuda_workspace_bytes(const SegParams& p) {
  return p.batch * seg_cuda_blocks_per_sample(p.batch, p.pixels) * seg_accumulators(p.classes) * seg_acc_size(p.dtype);
}

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
cudaError_t seg_stats_fwd_cuda(const SegParams& p, cudaStream_t stream);
cudaError_t seg_stats_bwd_cuda(const SegParams& p, cudaStream_t stream);
#endif

}  // namespace lossext
