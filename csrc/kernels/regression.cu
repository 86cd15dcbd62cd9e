// CUDA kernels of the smooth L1 / Huber losses: one grid-stride pass per
// direction, the math of kernels/regression.h.
#include <type_traits>

#include "kernels/cuda_common.cuh"
#include "kernels/regression.h"

namespace lossext {
namespace cuda {
namespace {

template <RegressionKind kind, typename T>
__global__ void regression_fwd_kernel(const T* __restrict__ input, const T* __restrict__ target, T* __restrict__ loss,
                                      int64_t numel, acc_type<T> param) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < numel; i += int64_t(gridDim.x) * blockDim.x) {
    loss[i] = from_acc<T>(regression_loss<kind>(to_acc(input[i]) - to_acc(target[i]), param));
  }
}

template <RegressionKind kind, typename T>
__global__ void regression_bwd_kernel(const acc_type<T>* __restrict__ grad_loss, int64_t grad_stride,
                                      const T* __restrict__ input, const T* __restrict__ target,
                                      T* __restrict__ grad_input, int64_t numel, acc_type<T> param) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < numel; i += int64_t(gridDim.x) * blockDim.x) {
    const acc_type<T> d = to_acc(input[i]) - to_acc(target[i]);
    grad_input[i] = from_acc<T>(grad_loss[i * grad_stride] * regression_grad<kind>(d, param));
  }
}

constexpr int kThreads = 256;

}  // namespace
}  // namespace cuda

cudaError_t regression_fwd_cuda(const RegressionParams& p, cudaStream_t stream) {
  if (p.numel == 0) return cudaSuccess;
  return dtype_switch<cuda::CudaTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const auto param = static_cast<acc_type<T>>(p.param);
    const unsigned int grid = cuda::grid_for(p.numel, cuda::kThreads);
    const T* in = static_cast<const T*>(p.input);
    const T* tg = static_cast<const T*>(p.target);
    T* out = static_cast<T*>(p.loss);
    return static_switch(kRegressionKinds, p.kind, [&](auto kind) {
      cuda::regression_fwd_kernel<decltype(kind)::value>
          <<<grid, cuda::kThreads, 0, stream>>>(in, tg, out, p.numel, param);
      return cudaGetLastError();
    });
  });
}

cudaError_t regression_bwd_cuda(const RegressionParams& p, cudaStream_t stream) {
  if (p.numel == 0) return cudaSuccess;
  return dtype_switch<cuda::CudaTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using acc_t = acc_type<T>;
    const auto param = static_cast<acc_t>(p.param);
    const unsigned int grid = cuda::grid_for(p.numel, cuda::kThreads);
    const acc_t* g = static_cast<const acc_t*>(p.grad_loss);
    const T* in = static_cast<const T*>(p.input);
    const T* tg = static_cast<const T*>(p.target);
    T* out = static_cast<T*>(p.grad_input);
    return static_switch(kRegressionKinds, p.kind, [&](auto kind) {
      cuda::regression_bwd_kernel<decltype(kind)::value>
          <<<grid, cuda::kThreads, 0, stream>>>(g, p.grad_loss_stride, in, tg, out, p.numel, param);
      return cudaGetLastError();
    });
  });
}

}  // namespace lossext
