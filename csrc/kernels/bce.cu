// CUDA kernels of the sigmoid cross-entropy family (BCE with logits, quality
// focal, varifocal): the element math of kernels/bce.h in three kernels.
//   forward, per element:  a grid-stride pass writing the loss of each element;
//   forward, row sums:     G threads per row (G = 1 for rows of a few values,
//                          a warp otherwise) summing the row in the
//                          accumulate type, a fixed shuffle tree (deterministic);
//   backward:              a grid-stride pass writing dL/dx (and dL/dt for BCE).
// Nothing gradient-sized is kept between the passes: backward recomputes from
// the logits and targets.
#include "kernels/bce.h"
#include "kernels/cuda_common.cuh"

namespace lossext {
namespace cuda {
namespace {

constexpr int kThreads = 256;
// Rows at most this wide get a thread each; wider rows a warp.
constexpr int64_t kThreadRowCols = 8;

template <typename T>
struct BceArgs {
  const T* x;
  const T* t;
  const int64_t* label;
  const T* score;
  const acc_type<T>* w;
  int64_t w_rs, w_cs;
  const acc_type<T>* pw;
  int64_t pw_rs, pw_cs;
  int64_t rows, cols;
  BceConfig<acc_type<T>> cfg;
};

template <typename T>
BceArgs<T> bce_args(const BceParams& p) {
  using acc_t = acc_type<T>;
  return BceArgs<T>{static_cast<const T*>(p.x),
                    static_cast<const T*>(p.t),
                    p.label,
                    static_cast<const T*>(p.score),
                    static_cast<const acc_t*>(p.weight),
                    p.weight_rs,
                    p.weight_cs,
                    static_cast<const acc_t*>(p.pos_weight),
                    p.pos_weight_rs,
                    p.pos_weight_cs,
                    p.rows,
                    p.cols,
                    bce_config<acc_t>(p)};
}

// Element (r, c) at flat index i = r * cols + c.
template <int V, typename T>
__device__ __forceinline__ BceValueGrad<acc_type<T>> element(const BceArgs<T>& a, int64_t r, int64_t c, int64_t i) {
  using acc_t = acc_type<T>;
  const acc_t x = to_acc(a.x[i]);
  const acc_t t = a.t != nullptr ? to_acc(a.t[i]) : bce_label_target(a.label[r], c, to_acc(a.score[r]));
  const acc_t w = a.w != nullptr ? a.w[r * a.w_rs + c * a.w_cs] : acc_t(1);
  const acc_t pw = a.pw != nullptr ? a.pw[r * a.pw_rs + c * a.pw_cs] : acc_t(1);
  return bce_element<bce_variant_kind(V), bce_variant_power(V)>(x, t, w, pw, a.cfg);
}

template <typename T, int V>
__global__ void bce_fwd_elem_kernel(BceArgs<T> a, T* __restrict__ loss) {
  const int64_t n = a.rows * a.cols;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / a.cols;
    loss[i] = from_acc<T>(element<V>(a, r, i - r * a.cols, i).loss);
  }
}

template <typename T, int V, int G>
__global__ void bce_fwd_rows_kernel(BceArgs<T> a, acc_type<T>* __restrict__ loss) {
  using acc_t = acc_type<T>;
  const int64_t tid = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const int lane = static_cast<int>(tid % G);
  const int64_t groups = int64_t(gridDim.x) * blockDim.x / G;
  // Every thread of a warp walks the same number of rows (G divides the
  // block), so the shuffles of group_allreduce see the whole warp.
  for (int64_t r = tid / G; r < a.rows; r += groups) {
    acc_t s = acc_t(0);
    for (int64_t c = lane; c < a.cols; c += G) s += element<V>(a, r, c, r * a.cols + c).loss;
    s = group_allreduce<G>(s, SumOp{}, static_cast<acc_t*>(nullptr));
    if (lane == 0) loss[r] = s;
  }
}

template <typename T, int V, bool WithTarget>
__global__ void bce_bwd_kernel(BceArgs<T> a, const acc_type<T>* __restrict__ grad_loss, int64_t g_rs, int64_t g_cs,
                               T* __restrict__ grad_input, T* __restrict__ grad_target) {
  const int64_t n = a.rows * a.cols;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / a.cols, c = i - r * a.cols;
    const auto v = element<V>(a, r, c, i);
    const auto g = grad_loss[r * g_rs + c * g_cs];
    grad_input[i] = from_acc<T>(g * v.dx);
    if constexpr (WithTarget) grad_target[i] = from_acc<T>(g * v.dt);
  }
}

}  // namespace
}  // namespace cuda

cudaError_t bce_fwd_cuda(const BceParams& p, cudaStream_t stream) {
  if (p.rows == 0 || (p.cols == 0 && !p.reduce_rows)) return cudaSuccess;  // cols = 0: rows still sum to 0
  return dtype_switch<cuda::CudaTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const auto args = cuda::bce_args<T>(p);
    return static_switch(kBceVariants, bce_variant(p.kind, p.exponent), [&](auto variant) {
      constexpr int V = decltype(variant)::value;
      if (!p.reduce_rows) {
        cuda::bce_fwd_elem_kernel<T, V><<<cuda::grid_for(p.rows * p.cols, cuda::kThreads), cuda::kThreads, 0, stream>>>(
            args, static_cast<T*>(p.loss));
        return cudaGetLastError();
      }
      auto* out = static_cast<acc_type<T>*>(p.loss);
      return static_switch(kBools, p.cols <= cuda::kThreadRowCols, [&](auto narrow) {
        constexpr int G = decltype(narrow)::value ? 1 : 32;
        cuda::bce_fwd_rows_kernel<T, V, G>
            <<<cuda::grid_for(p.rows, cuda::kThreads / G), cuda::kThreads, 0, stream>>>(args, out);
        return cudaGetLastError();
      });
    });
  });
}

cudaError_t bce_bwd_cuda(const BceParams& p, cudaStream_t stream) {
  if (p.rows == 0 || p.cols == 0) return cudaSuccess;
  return dtype_switch<cuda::CudaTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const auto args = cuda::bce_args<T>(p);
    const auto* g = static_cast<const acc_type<T>*>(p.grad_loss);
    return static_switch(kBceVariants, bce_variant(p.kind, p.exponent), [&](auto variant) {
      constexpr int V = decltype(variant)::value;
      // The target's gradient exists for BCE only.
      return static_switch(kBools, V == 0 && p.grad_target != nullptr, [&](auto with_target) {
        if constexpr (V != 0 && decltype(with_target)::value) {
          return cudaErrorInvalidValue;
        } else {
          cuda::bce_bwd_kernel<T, V, decltype(with_target)::value>
              <<<cuda::grid_for(p.rows * p.cols, cuda::kThreads), cuda::kThreads, 0, stream>>>(
                  args, g, p.grad_rs, p.grad_cs, static_cast<T*>(p.grad_input), static_cast<T*>(p.grad_target));
          return cudaGetLastError();
        }
      });
    });
  });
}

}  // namespace lossext
