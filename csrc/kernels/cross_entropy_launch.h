// Parameters and CUDA launchers for softmax cross-entropy.
//
// The params struct is the whole contract between the torch glue and the
// kernels (as in FlashAttention): raw pointers, sizes, strides, a dtype. The
// CPU kernels read the same struct, so the glue fills it once for both.
#pragma once

#include "kernels/layout.h"

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace lossext {

struct CrossEntropyParams {
  // Inputs. `logits` is walked through `layout`; statistics, weights and
  // per-row outputs are in the accumulate type (float, or double for float64).
  const void* logits = nullptr;
  DType dtype = DType::Float32;
  RowLayout layout;

  const int64_t* target_index = nullptr;  // [rows], index targets
  const void* target_probs = nullptr;     // probability targets, same dtype as logits
  RowLayout target_layout;                // walk of target_probs

  const void* weight = nullptr;      // [C] accumulate type, or null for all ones
  const void* weight_sum = nullptr;  // scalar accumulate type, sum of weight (device-side: no sync)
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;
  double z_loss = 0.0;

  // Forward outputs, [rows] each, accumulate type.
  void* loss = nullptr;
  void* lse_out = nullptr;
  void* row_weight = nullptr;       // index: w_y, 0 when ignored, nan when out of range
  void* target_mass_out = nullptr;  // prob: sum_c t'_c w_c (backward needs it before its pass)

  // Backward inputs: what the forward wrote to lse_out and target_mass_out.
  const void* lse = nullptr;
  const void* target_mass = nullptr;
  // grad_loss[row * grad_loss_stride] (stride 0 for a broadcast scalar).
  const void* grad_loss = nullptr;
  int64_t grad_loss_stride = 1;
  void* grad_logits = nullptr;  // dense (N, C, D) in the logits dtype
};

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
cudaError_t cross_entropy_index_fwd_cuda(const CrossEntropyParams& p, cudaStream_t stream);
cudaError_t cross_entropy_index_bwd_cuda(const CrossEntropyParams& p, cudaStream_t stream);
cudaError_t cross_entropy_prob_fwd_cuda(const CrossEntropyParams& p, cudaStream_t stream);
cudaError_t cross_entropy_prob_bwd_cuda(const CrossEntropyParams& p, cudaStream_t stream);
#endif

}  // namespace lossext
