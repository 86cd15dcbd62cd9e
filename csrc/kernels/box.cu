// CUDA kernels of the box IoU family. The math is kernels/box.h; this file
// only moves boxes in and values out.
#include <cstdint>
#include <type_traits>

#include "kernels/box.h"
#include "kernels/cuda_common.cuh"

namespace lossext {
namespace cuda {
namespace {

// Pairwise tile: a block stages kTileN boxes of boxes1 and kTileM of boxes2
// (and their areas) in shared memory, then its 32 x 8 threads write the
// kTileN x kTileM outputs, consecutive threads on consecutive columns so that
// each warp stores 128 contiguous bytes (float). Nothing but the output is
// ever written to global memory.
constexpr int kTileN = 32;
constexpr int kTileM = 128;
constexpr int kThreadsX = 32;
constexpr int kThreadsY = 8;

template <typename T>
__device__ __forceinline__ Box<T> load_box(const T* base, int64_t i, BoxFmt fmt) {
  const T* b = base + i * 4;
  return to_xyxy(fmt, Box<T>{b[0], b[1], b[2], b[3]});
}

template <BoxPairKind kind, typename T>
__global__ void __launch_bounds__(kThreadsX* kThreadsY)
    box_pairwise_kernel(const T* __restrict__ boxes1, const T* __restrict__ boxes2, T* __restrict__ out, int64_t batch,
                        int64_t n, int64_t m, BoxFmt fmt, T eps) {
  __shared__ Box<T> tile1[kTileN];
  __shared__ T area1[kTileN], aspect1[kTileN];
  __shared__ Box<T> tile2[kTileM];
  __shared__ T area2[kTileM], aspect2[kTileM];
  const int64_t tiles_n = (n + kTileN - 1) / kTileN;
  const int64_t tiles_m = (m + kTileM - 1) / kTileM;
  const int tid = threadIdx.y * kThreadsX + threadIdx.x;
  // Grid-stride on all three axes: loop bounds depend on the block only, so
  // every thread of a block reaches the same __syncthreads.
  for (int64_t z = blockIdx.z; z < batch; z += gridDim.z) {
    const T* b1 = boxes1 + z * n * 4;
    const T* b2 = boxes2 + z * m * 4;
    T* o = out + z * n * m;
    for (int64_t tn = blockIdx.y; tn < tiles_n; tn += gridDim.y) {
      for (int64_t tm = blockIdx.x; tm < tiles_m; tm += gridDim.x) {
        const int64_t n0 = tn * kTileN, m0 = tm * kTileM;
        __syncthreads();  // the previous tile is no longer read
        if (tid < kTileN && n0 + tid < n) {
          const Box<T> b = load_box(b1, n0 + tid, fmt);
          tile1[tid] = b;
          area1[tid] = box_area(b);
          aspect1[tid] = kind == BoxPairKind::CIoU ? box_aspect(b) : T(0);
        }
        if (tid < kTileM && m0 + tid < m) {
          const Box<T> b = load_box(b2, m0 + tid, fmt);
          tile2[tid] = b;
          area2[tid] = box_area(b);
          aspect2[tid] = kind == BoxPairKind::CIoU ? box_aspect(b) : T(0);
        }
        __syncthreads();
        for (int r = threadIdx.y; r < kTileN && n0 + r < n; r += kThreadsY) {
          T* row = o + (n0 + r) * m;
          const Box<T> p = tile1[r];
          const T ap = area1[r], sp = aspect1[r];
#pragma unroll 4
          for (int c = threadIdx.x; c < kTileM; c += kThreadsX) {
            if (m0 + c < m) row[m0 + c] = box_pair_value<kind>(p, ap, sp, tile2[c], area2[c], aspect2[c], eps);
          }
        }
      }
    }
  }
}

template <typename T>
__device__ __forceinline__ Box<acc_type<T>> load_pair_box(const T* base, int64_t i, BoxFmt fmt) {
  const T* b = base + i * 4;
  return to_xyxy(fmt, Box<acc_type<T>>{to_acc(b[0]), to_acc(b[1]), to_acc(b[2]), to_acc(b[3])});
}

template <typename T>
__device__ __forceinline__ void store_box(T* base, int64_t i, const Box<acc_type<T>>& g) {
  T* b = base + i * 4;
  b[0] = from_acc<T>(g.a);
  b[1] = from_acc<T>(g.b);
  b[2] = from_acc<T>(g.c);
  b[3] = from_acc<T>(g.d);
}

template <BoxLossMode mode, typename T>
__global__ void box_loss_fwd_kernel(const T* __restrict__ boxes1, const T* __restrict__ boxes2,
                                    acc_type<T>* __restrict__ loss, int64_t pairs, BoxFmt fmt, acc_type<T> eps) {
  using acc_t = acc_type<T>;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < pairs; i += int64_t(gridDim.x) * blockDim.x) {
    const Box<acc_t> p = load_pair_box(boxes1, i, fmt), q = load_pair_box(boxes2, i, fmt);
    loss[i] = box_pair_loss<mode, false, acc_t>(p, q, eps, acc_t(1), nullptr, nullptr);
  }
}

template <BoxLossMode mode, typename T>
__global__ void box_loss_bwd_kernel(const acc_type<T>* __restrict__ grad_loss, int64_t grad_stride,
                                    const T* __restrict__ boxes1, const T* __restrict__ boxes2, T* __restrict__ grad1,
                                    T* __restrict__ grad2, int64_t pairs, BoxFmt fmt, acc_type<T> eps) {
  using acc_t = acc_type<T>;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < pairs; i += int64_t(gridDim.x) * blockDim.x) {
    const Box<acc_t> p = load_pair_box(boxes1, i, fmt), q = load_pair_box(boxes2, i, fmt);
    Box<acc_t> gp, gq;
    box_pair_loss<mode, true, acc_t>(p, q, eps, grad_loss[i * grad_stride], &gp, &gq);
    if (grad1) store_box(grad1, i, grad_from_xyxy(fmt, gp));
    if (grad2) store_box(grad2, i, grad_from_xyxy(fmt, gq));
  }
}

constexpr int kPairThreads = 256;

}  // namespace
}  // namespace cuda

cudaError_t box_pairwise_cuda(const BoxPairwiseParams& p, cudaStream_t stream) {
  if (p.batch == 0 || p.n == 0 || p.m == 0) return cudaSuccess;
  const int64_t tiles_n = (p.n + cuda::kTileN - 1) / cuda::kTileN;
  const int64_t tiles_m = (p.m + cuda::kTileM - 1) / cuda::kTileM;
  const auto cap = [](int64_t v, int64_t c) { return static_cast<unsigned int>(v < c ? v : c); };
  const dim3 grid(cap(tiles_m, int64_t(1) << 30), cap(tiles_n, 65535), cap(p.batch, 65535));
  const dim3 block(cuda::kThreadsX, cuda::kThreadsY);
  // The glue converts every other dtype to float32.
  if (p.dtype != DType::Float64 && p.dtype != DType::Float32) return cudaErrorInvalidValue;
  return static_switch(kBoxPairKinds, p.kind, [&](auto kind) {
    constexpr BoxPairKind K = decltype(kind)::value;
    if (p.dtype == DType::Float64) {
      cuda::box_pairwise_kernel<K, double>
          <<<grid, block, 0, stream>>>(static_cast<const double*>(p.boxes1), static_cast<const double*>(p.boxes2),
                                       static_cast<double*>(p.out), p.batch, p.n, p.m, p.fmt, p.eps);
    } else {
      cuda::box_pairwise_kernel<K, float>
          <<<grid, block, 0, stream>>>(static_cast<const float*>(p.boxes1), static_cast<const float*>(p.boxes2),
                                       static_cast<float*>(p.out), p.batch, p.n, p.m, p.fmt, static_cast<float>(p.eps));
    }
    return cudaGetLastError();
  });
}

cudaError_t box_loss_fwd_cuda(const BoxLossParams& p, cudaStream_t stream) {
  if (p.pairs == 0) return cudaSuccess;
  return dtype_switch<cuda::CudaTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using acc_t = acc_type<T>;
    return static_switch(kBoxLossModes, p.mode, [&](auto mode) {
      cuda::box_loss_fwd_kernel<decltype(mode)::value, T>
          <<<cuda::grid_for(p.pairs, cuda::kPairThreads), cuda::kPairThreads, 0, stream>>>(
              static_cast<const T*>(p.boxes1), static_cast<const T*>(p.boxes2), static_cast<acc_t*>(p.loss), p.pairs,
              p.fmt, static_cast<acc_t>(p.eps));
      return cudaGetLastError();
    });
  });
}

cudaError_t box_loss_bwd_cuda(const BoxLossParams& p, cudaStream_t stream) {
  if (p.pairs == 0) return cudaSuccess;
  return dtype_switch<cuda::CudaTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using acc_t = acc_type<T>;
    return static_switch(kBoxLossModes, p.mode, [&](auto mode) {
      cuda::box_loss_bwd_kernel<decltype(mode)::value, T>
          <<<cuda::grid_for(p.pairs, cuda::kPairThreads), cuda::kPairThreads, 0, stream>>>(
              static_cast<const acc_t*>(p.grad_loss), p.grad_loss_stride, static_cast<const T*>(p.boxes1),
              static_cast<const T*>(p.boxes2), static_cast<T*>(p.grad1), static_cast<T*>(p.grad2), p.pairs, p.fmt,
              static_cast<acc_t>(p.eps));
      return cudaGetLastError();
    });
  });
}

}  // namespace lossext
