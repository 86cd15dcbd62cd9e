// Parameters and CUDA launchers for the KL and JS divergences.
//
// Both losses are sums of per-element terms, so the kernels walk the inputs as
// one flat, contiguous array cut into fixed chunks of kDivergenceChunk
// elements. Forward writes one partial sum per chunk (a fixed split, so the
// result is deterministic on CPU and GPU alike); backward scales element i by
// the upstream gradient of its chunk, grad_partials[i / kDivergenceChunk].
#pragma once

#include "kernels/layout.h"

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace lossext {

constexpr int64_t kDivergenceChunk = 16384;

LOSSEXT_HD int64_t divergence_chunks(int64_t numel) { return (numel + kDivergenceChunk - 1) / kDivergenceChunk; }

struct DivergenceParams {
  const void* input = nullptr;   // log q, contiguous
  const void* target = nullptr;  // same dtype and numel as input, contiguous
  DType dtype = DType::Float32;
  int64_t numel = 0;
  bool log_target = false;
  double beta = 0.5;  // JS only

  void* partials = nullptr;             // forward: [chunks], accumulate type
  const void* grad_partials = nullptr;  // backward: [chunks], accumulate type
  void* grad_input = nullptr;           // backward: [numel], input dtype
};

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
cudaError_t kl_div_fwd_cuda(const DivergenceParams& p, cudaStream_t stream);
cudaError_t kl_div_bwd_cuda(const DivergenceParams& p, cudaStream_t stream);
cudaError_t js_div_fwd_cuda(const DivergenceParams& p, cudaStream_t stream);
cudaError_t js_div_bwd_cuda(const DivergenceParams& p, cudaStream_t stream);
#endif

}  // namespace lossext
