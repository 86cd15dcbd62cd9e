// Overlap losses for segmentation (Dice, Jaccard, Tversky, and the
// cross-entropy half of Dice+CE): the per-pixel pieces shared by the CPU and
// CUDA kernels.
//
// Every overlap score is a function of three sums per (sample, class):
//   TP = sum p t,   SP = sum p (or p^2 with squared_pred),   ST = sum t (or t^2)
// over the pixels that are not ignored. The kernels compute only those sums
// (and, for Dice+CE, the cross-entropy sum and the count of valid pixels);
// the score, the empty-class rule, class weights and the reductions are a few
// torch ops on (N, C) tensors in Python, whose autograd hands back
//   A = dL/dTP,  B = dL/dSP   per (sample, class)   (ST does not depend on x).
// The backward kernel turns them into the gradient of the logits in one pass:
//   g_c   = dL/dp_c = A_c t_c + B_c (2 p_c if squared_pred else 1)
//   softmax: dL/dx_c = p_c (g_c - sum_k p_k g_k)
//   sigmoid: dL/dx_c = g_c p_c (1 - p_c)
//   identity (from_logits=False): dL/dx_c = g_c
// and, for Dice+CE with upstream G per sample and label smoothing s,
//   + G (p_c - (1 - s) [c == y] - s / C).
// Ignored pixels contribute nothing to the sums and get a zero gradient.
#pragma once

#include "cpu/loops/parallel.h"
#include "kernels/common.h"
#include "kernels/layout.h"
#include "kernels/static_switch.h"

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace lossext {

// How probabilities are made from the input (the op's `activation` argument).
enum class SegActivation : int { Identity = 0, Sigmoid = 1, Softmax = 2 };
// The activations each target kind takes (the glue checks): softmax with index
// targets, sigmoid with dense ones; any other value runs as Identity.
template <bool INDEX_TARGET>
constexpr auto seg_activations() {
  if constexpr (INDEX_TARGET) {
    return ValueList<SegActivation::Softmax, SegActivation::Identity>{};
  } else {
    return ValueList<SegActivation::Sigmoid, SegActivation::Identity>{};
  }
}

// Statistics per (sample, class) in the order the ops return them.
enum SegStat : int { kSegTP = 0, kSegSP = 1, kSegST = 2, kSegStats = 3 };
// Per-sample extras: cross-entropy sum over valid pixels, valid-pixel count.
enum SegExtra : int { kSegCE = 0, kSegValid = 1, kSegExtras = 2 };

// sigmoid(x) = 1 / (1 + exp(-x)); exp overflows to inf for x < -88, which
// gives exactly 0, and underflows to 0 for large x, which gives exactly 1.
template <typename acc_t>
LOSSEXT_HD acc_t seg_sigmoid(acc_t x) {
  return acc_t(1) / (acc_t(1) + fast_exp(-x));
}

// dL/dp of one pixel and class from the score coefficients.
template <typename acc_t>
LOSSEXT_HD acc_t seg_dp(acc_t A, acc_t B, acc_t t, acc_t p, bool squared) {
  return A * t + B * (squared ? acc_t(2) * p : acc_t(1));
}

// Per-pixel softmax cross-entropy with label smoothing s over C classes:
//   lse - (1 - s) x_y - (s / C) sum_c x_c
template <typename acc_t>
LOSSEXT_HD acc_t seg_ce_pixel(acc_t lse, acc_t x_y, acc_t sum_x, acc_t smoothing, acc_t classes) {
  return lse - (acc_t(1) - smoothing) * x_y - smoothing / classes * sum_x;
}

// d(cross-entropy)/dx_c of one pixel: p_c - (1 - s) [c == y] - s / C.
template <typename acc_t>
LOSSEXT_HD acc_t seg_ce_grad(acc_t p, bool is_target, acc_t smoothing, acc_t classes) {
  return p - (is_target ? acc_t(1) - smoothing : acc_t(0)) - smoothing / classes;
}

// ---- The contract between the torch op and the kernels of both devices.

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
  IgnoreIndex ignore;  // index targets: a class value; dense: compared as a float

  SegActivation activation = SegActivation::Softmax;
  bool squared = false;          // SP = sum p^2, ST = sum t^2
  bool with_ce = false;          // softmax + index targets only: cross-entropy sum per sample
  double label_smoothing = 0.0;  // of the cross-entropy

  // Forward outputs (accumulate type): stats (N, 3, C) = TP, SP, ST; extras
  // (N, 2) = cross-entropy sum, valid pixel count.
  void* stats = nullptr;
  void* extras = nullptr;
  // Forward scratch, seg_workspace_bytes() long: per-block partial sums on
  // CUDA, per-chunk partial sums (double) on the CPU, added in a fixed order.
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

// CPU work unit: a fixed chunk of pixels of one sample (index targets) or of
// one (sample, class) row (dense targets), so that a chunk never depends on
// the thread count. Each keeps its partial sums in double: 3C + 2 of them
// (index) or TP, SP, ST and the valid count (dense).
constexpr int64_t kSegCpuChunkPixels = 4096;
constexpr int64_t kSegDenseSums = 4;

inline int64_t seg_cpu_chunks(int64_t pixels) { return (pixels + kSegCpuChunkPixels - 1) / kSegCpuChunkPixels; }

// Bytes of the forward's `workspace` on either device (the target set first).
inline int64_t seg_workspace_bytes(const SegParams& p, bool cuda) {
  if (cuda) return seg_cuda_workspace_bytes(p);
  const int64_t per_sample = p.target_index ? seg_accumulators(p.classes) : p.classes * kSegDenseSums;
  return p.batch * seg_cpu_chunks(p.pixels) * per_sample * int64_t(sizeof(double));
}

// The entry points: one CUDA launcher and one CPU driver per pass, same params.
// The CPU forward reports the first class index outside [0, C) that is not
// ignored (CpuStatus); the CUDA kernels cannot without a host sync, and make
// that pixel's sums and gradient nan instead.
#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
cudaError_t seg_stats_fwd_cuda(const SegParams& p, cudaStream_t stream);
cudaError_t seg_stats_bwd_cuda(const SegParams& p, cudaStream_t stream);
#endif
CpuStatus seg_stats_fwd_cpu(const SegParams& p, ParallelFor parallel_for);
CpuStatus seg_stats_bwd_cpu(const SegParams& p, ParallelFor parallel_for);

}  // namespace lossext
