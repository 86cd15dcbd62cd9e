// CUDA kernels of the distribution focal loss, the math of
// kernels/distribution_focal.h. A row of G = 1 thread (short rows: YOLO's 16
// bins, mmdet's 17) or G = 32 threads (a warp, longer rows); the forward
// folds the row into a one-pass softmax state, the backward recomputes
// softmax from the saved log-sum-exp and writes each gradient element once.
#include "kernels/cuda_common.cuh"
#include "kernels/distribution_focal.h"

namespace lossext {
namespace cuda {
namespace {

constexpr int kDflThreads = 256;

template <int G, typename T>
__global__ void __launch_bounds__(kDflThreads)
    dfl_fwd_kernel(const T* __restrict__ pred, const acc_type<T>* __restrict__ label, int64_t rows, int64_t bins,
                   acc_type<T>* __restrict__ loss, acc_type<T>* __restrict__ lse_out) {
  using acc_t = acc_type<T>;
  constexpr int kRowsPerBlock = kDflThreads / G;
  const int lane = threadIdx.x % G;
  // Every thread of a block takes the same trips (the shuffles need whole warps).
  for (int64_t first = blockIdx.x * int64_t(kRowsPerBlock); first < rows; first += int64_t(gridDim.x) * kRowsPerBlock) {
    const int64_t row = first + threadIdx.x / G;
    const bool live = row < rows;
    const T* x = pred + (live ? row : 0) * bins;
    SoftmaxState<acc_t> s = SoftmaxState<acc_t>::empty();
    if (live)
      for (int64_t c = lane; c < bins; c += G) s.add(to_acc(x[c]));
    s = group_allreduce<G>(s, MergeOp{}, static_cast<SoftmaxState<acc_t>*>(nullptr));
    if (!live || lane != 0) continue;
    const acc_t lse = s.log_sum_exp();
    const acc_t y = label[row];
    lse_out[row] = lse;
    if (!dfl_label_valid(y, bins)) {
      loss[row] = acc_t(NAN);
      continue;
    }
    const DflSplit<acc_t> sp = dfl_split(y, bins);
    loss[row] = dfl_row_loss(sp, lse, to_acc(x[sp.left]), to_acc(x[sp.left + 1]));
  }
}

template <typename T>
__global__ void __launch_bounds__(kDflThreads)
    dfl_bwd_kernel(const T* __restrict__ pred, const acc_type<T>* __restrict__ label,
                   const acc_type<T>* __restrict__ lse, const acc_type<T>* __restrict__ grad_loss, int64_t grad_stride,
                   int64_t rows, int64_t bins, T* __restrict__ grad) {
  using acc_t = acc_type<T>;
  const int64_t numel = rows * bins;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < numel; k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = k / bins, c = k - row * bins;
    const acc_t y = label[row];
    acc_t d = acc_t(NAN);
    if (dfl_label_valid(y, bins))
      d = grad_loss[row * grad_stride] * dfl_grad(dfl_split(y, bins), c, to_acc(pred[k]), lse[row]);
    grad[k] = from_acc<T>(d);
  }
}

}  // namespace
}  // namespace cuda

cudaError_t distribution_focal_fwd_cuda(const DistributionFocalParams& p, cudaStream_t stream) {
  if (p.rows == 0) return cudaSuccess;
  return dtype_switch<cuda::CudaTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using acc_t = acc_type<T>;
    const bool thread_rows = p.bins <= kDflThreadRowBins;
    return static_switch(kBools, thread_rows, [&](auto one) {
      constexpr int G = decltype(one)::value ? 1 : 32;
      cuda::dfl_fwd_kernel<G, T><<<cuda::grid_for(p.rows, cuda::kDflThreads / G), cuda::kDflThreads, 0, stream>>>(
          static_cast<const T*>(p.pred), static_cast<const acc_t*>(p.label), p.rows, p.bins,
          static_cast<acc_t*>(p.loss), static_cast<acc_t*>(p.lse));
      return cudaGetLastError();
    });
  });
}

cudaError_t distribution_focal_bwd_cuda(const DistributionFocalParams& p, cudaStream_t stream) {
  if (p.rows == 0) return cudaSuccess;
  return dtype_switch<cuda::CudaTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using acc_t = acc_type<T>;
    cuda::dfl_bwd_kernel<T><<<cuda::grid_for(p.rows * p.bins, cuda::kDflThreads), cuda::kDflThreads, 0, stream>>>(
        static_cast<const T*>(p.pred), static_cast<const acc_t*>(p.label), static_cast<const acc_t*>(p.saved_lse),
        static_cast<const acc_t*>(p.grad_loss), p.grad_loss_stride, p.rows, p.bins, static_cast<T*>(p.grad_pred));
    return cudaGetLastError();
  });
}

}  // namespace lossext
