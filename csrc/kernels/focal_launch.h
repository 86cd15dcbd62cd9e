// Parameters and CUDA launchers for the focal losses. The CPU kernels read the
// same structs; the torch glue (glue/focal.h) fills them once for both.
#pragma once

#include "kernels/focal.h"
#include "kernels/layout.h"

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace lossext {

// Sigmoid focal over a dense (rows, classes) view of the logits (the last dim
// holds the classes; the glue makes it contiguous).
struct SigmoidFocalParams {
  const void* logits = nullptr;
  DType dtype = DType::Float32;
  int64_t rows = 0;
  int64_t classes = 0;

  const int64_t* target_index = nullptr;  // [rows]: c positive, -1 background, ignore_index ignored
  const void* target_dense = nullptr;     // [rows, classes] in the logits' dtype
  int64_t ignore_index = -100;

  const void* weight = nullptr;  // [classes] accumulate type, or null
  double alpha = 0.25;
  double gamma = 2.0;
  GammaKind gamma_kind = GammaKind::Two;
  double label_smoothing = 0.0;

  // Forward: loss in the accumulate type, [rows] when reduce_rows (summed over
  // classes), else [rows, classes]. An out-of-range index makes it nan.
  bool reduce_rows = false;
  void* loss = nullptr;

  // Backward.
  // Backward: the upstream gradient of loss value k (a row when reduce_rows,
  // else an element) at grad_loss[k * grad_loss_stride], accumulate type;
  // stride 0 for one scalar ('sum' / 'mean' reduced in Python).
  const void* grad_loss = nullptr;
  int64_t grad_loss_stride = 1;
  void* grad_logits = nullptr;  // [rows, classes] in the logits' dtype
};

// Softmax focal over (N, C, d...) logits walked through a RowLayout, index targets.
struct SoftmaxFocalParams {
  const void* logits = nullptr;
  DType dtype = DType::Float32;
  RowLayout layout;

  const int64_t* target_index = nullptr;  // [rows]
  int64_t ignore_index = -100;
  const void* alpha = nullptr;   // [C] accumulate type, or null (1)
  const void* weight = nullptr;  // [C] accumulate type, or null (1)
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

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
cudaError_t sigmoid_focal_fwd_cuda(const SigmoidFocalParams& p, cudaStream_t stream);
cudaError_t sigmoid_focal_bwd_cuda(const SigmoidFocalParams& p, cudaStream_t stream);
cudaError_t softmax_focal_fwd_cuda(const SoftmaxFocalParams& p, cudaStream_t stream);
cudaError_t softmax_focal_bwd_cuda(const SoftmaxFocalParams& p, cudaStream_t stream);
#endif

}  // namespace lossext
