// CUDA kernels of the total variation, the math of kernels/total_variation.h.
// Forward: each block reduces one chunk of one plane to two partial sums;
// a second kernel adds a plane's partials in chunk order (deterministic, no
// atomics). Backward: one thread per pixel in gather form, each gradient
// element written once.
#include <type_traits>

#include "kernels/cuda_common.cuh"
#include "kernels/total_variation.h"

namespace lossext {
namespace cuda {
namespace {

constexpr int kTvThreads = 256;

template <typename T>
struct TvPlane {
  const T* base;
  int64_t width;
  __device__ __forceinline__ acc_type<T> at(int64_t i, int64_t j) const { return to_acc(base[i * width + j]); }
};

template <bool ISO, TvPower P, typename T>
__global__ void __launch_bounds__(kTvThreads)
    tv_fwd_partial_kernel(const T* __restrict__ input, acc_type<T>* __restrict__ partial, int64_t units, int64_t chunks,
                          int64_t height, int64_t width, acc_type<T> beta, acc_type<T> eps) {
  using acc_t = acc_type<T>;
  __shared__ acc_t scratch[kTvThreads / 32];
  const int64_t pixels = height * width;
  for (int64_t unit = blockIdx.x; unit < units; unit += gridDim.x) {
    const int64_t plane = unit / chunks, chunk = unit - plane * chunks;
    const TvPlane<T> img{input + plane * pixels, width};
    const int64_t end = min(pixels, (chunk + 1) * kTvChunkPixels);
    acc_t sy = 0, sx = 0;
    for (int64_t k = chunk * kTvChunkPixels + threadIdx.x; k < end; k += kTvThreads) {
      const int64_t i = k / width, j = k - i * width;
      const acc_t c = img.at(i, j);
      const bool has_down = i < height - 1, has_right = j < width - 1;
      const acc_t down = has_down ? img.at(i + 1, j) : c;
      const acc_t right = has_right ? img.at(i, j + 1) : c;
      if constexpr (ISO) {
        if (has_down && has_right) sy += tv_iso_value<P>(right - c, down - c, beta, eps);
      } else {
        if (has_down) sy += tv_abs(down - c);
        if (has_right) sx += tv_abs(right - c);
      }
    }
    sy = group_allreduce<kTvThreads>(sy, SumOp{}, scratch);
    sx = group_allreduce<kTvThreads>(sx, SumOp{}, scratch);
    if (threadIdx.x == 0) {
      partial[2 * unit] = sy;
      partial[2 * unit + 1] = sx;
    }
  }
}

template <typename acc_t>
__global__ void tv_fwd_combine_kernel(const acc_t* __restrict__ partial, acc_t* __restrict__ loss, int64_t planes,
                                      int64_t chunks, acc_t wy, acc_t wx) {
  for (int64_t plane = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; plane < planes;
       plane += int64_t(gridDim.x) * blockDim.x) {
    acc_t sy = 0, sx = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      sy += partial[2 * (plane * chunks + c)];
      sx += partial[2 * (plane * chunks + c) + 1];
    }
    loss[plane] = wy * sy + wx * sx;
  }
}

template <bool ISO, TvPower P, typename T>
__global__ void __launch_bounds__(kTvThreads)
    tv_bwd_kernel(const acc_type<T>* __restrict__ grad_loss, int64_t grad_stride, const T* __restrict__ input,
                  T* __restrict__ grad_input, int64_t numel, int64_t height, int64_t width, acc_type<T> beta,
                  acc_type<T> eps, acc_type<T> wy, acc_type<T> wx) {
  using acc_t = acc_type<T>;
  const int64_t pixels = height * width;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < numel; k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t plane = k / pixels, q = k - plane * pixels;
    const int64_t i = q / width, j = q - i * width;
    const TvPlane<T> img{input + plane * pixels, width};
    const bool has_up = i > 0, has_down = i < height - 1, has_left = j > 0, has_right = j < width - 1;
    const acc_t c = img.at(i, j);
    const acc_t up = has_up ? img.at(i - 1, j) : c;
    const acc_t down = has_down ? img.at(i + 1, j) : c;
    const acc_t left = has_left ? img.at(i, j - 1) : c;
    const acc_t right = has_right ? img.at(i, j + 1) : c;
    const acc_t g = grad_loss[plane * grad_stride];
    acc_t d;
    if constexpr (ISO) {
      const acc_t up_right = has_up && has_right ? img.at(i - 1, j + 1) : c;
      const acc_t down_left = has_down && has_left ? img.at(i + 1, j - 1) : c;
      d = wy * tv_iso_pixel_grad<P>(c, up, up_right, down, down_left, left, right, has_up, has_down, has_left,
                                    has_right, beta, eps);
    } else {
      d = tv_aniso_pixel_grad(c, up, down, left, right, has_up, has_down, has_left, has_right, wy, wx);
    }
    grad_input[k] = from_acc<T>(g * d);
  }
}

// Calls f with the (isotropic, power) pair of p as template arguments.
template <typename F>
cudaError_t dispatch_tv(const TotalVariationParams& p, F&& f) {
  return static_switch(kBools, p.isotropic, [&](auto iso) {
    return static_switch(tv_powers<decltype(iso)::value>(), p.power, [&](auto power) { return f(iso, power); });
  });
}

}  // namespace
}  // namespace cuda

cudaError_t total_variation_fwd_cuda(const TotalVariationParams& p, cudaStream_t stream) {
  if (p.planes == 0) return cudaSuccess;
  return dtype_switch<cuda::CudaTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using acc_t = acc_type<T>;
    return cuda::dispatch_tv(p, [&](auto iso, auto power) {
      const int64_t units = p.planes * p.chunks;
      cuda::tv_fwd_partial_kernel<decltype(iso)::value, decltype(power)::value, T>
          <<<cuda::grid_for(units, 1), cuda::kTvThreads, 0, stream>>>(
              static_cast<const T*>(p.input), static_cast<acc_t*>(p.partial), units, p.chunks, p.height, p.width,
              static_cast<acc_t>(p.beta), static_cast<acc_t>(p.eps));
      cudaError_t err = cudaGetLastError();
      if (err != cudaSuccess) return err;
      cuda::tv_fwd_combine_kernel<acc_t><<<cuda::grid_for(p.planes, cuda::kTvThreads), cuda::kTvThreads, 0, stream>>>(
          static_cast<const acc_t*>(p.partial), static_cast<acc_t*>(p.loss), p.planes, p.chunks,
          static_cast<acc_t>(p.wy), static_cast<acc_t>(p.wx));
      return cudaGetLastError();
    });
  });
}

cudaError_t total_variation_bwd_cuda(const TotalVariationParams& p, cudaStream_t stream) {
  if (p.planes == 0) return cudaSuccess;
  return dtype_switch<cuda::CudaTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using acc_t = acc_type<T>;
    return cuda::dispatch_tv(p, [&](auto iso, auto power) {
      const int64_t numel = p.planes * p.height * p.width;
      cuda::tv_bwd_kernel<decltype(iso)::value, decltype(power)::value, T>
          <<<cuda::grid_for(numel, cuda::kTvThreads), cuda::kTvThreads, 0, stream>>>(
              static_cast<const acc_t*>(p.grad_loss), p.grad_loss_stride, static_cast<const T*>(p.input),
              static_cast<T*>(p.grad_input), numel, p.height, p.width, static_cast<acc_t>(p.beta),
              static_cast<acc_t>(p.eps), static_cast<acc_t>(p.wy), static_cast<acc_t>(p.wx));
      return cudaGetLastError();
    });
  });
}

}  // namespace lossext
