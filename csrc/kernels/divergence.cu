// CUDA kernels for the KL and JS divergences.
//
// A block of 256 threads owns a chunk of kDivergenceChunk elements (grid-stride
// over chunks). Forward reads input and target once, 16 bytes at a time when
// aligned, and writes the chunk's partial sum; backward reads what the
// gradient needs once and writes it once. The chunk split is fixed, so sums
// do not depend on the grid size.
#include <type_traits>

#include "kernels/cuda_common.cuh"
#include "kernels/divergence.h"

namespace lossext {
namespace cuda {
namespace {

constexpr int kThreads = 256;

enum class Kind { KL, JS };

template <Kind K, typename acc_t>
__device__ __forceinline__ acc_t term(acc_t x, acc_t t, acc_t beta, bool log_target) {
  if constexpr (K == Kind::KL) {
    return kl_div_term(x, t, log_target);
  } else {
    return js_div_term(x, t, beta, log_target);
  }
}

template <Kind K, typename acc_t>
__device__ __forceinline__ acc_t grad(acc_t x, acc_t t, acc_t beta, bool log_target, acc_t g) {
  if constexpr (K == Kind::KL) {
    return kl_div_grad_input(t, g, log_target);
  } else {
    return js_div_grad_input(x, t, beta, log_target, g);
  }
}

// Calls f(i, x[VEC], t[VEC]) over [begin, end): packets, then a scalar tail.
template <typename T, int VEC, bool READ_X, typename F>
__device__ __forceinline__ void visit_chunk(const T* x, const T* t, int64_t begin, int64_t end, F&& f) {
  using acc_t = acc_type<T>;
  int64_t vec_end = begin;
  if constexpr (VEC > 1) {
    vec_end = begin + (end - begin) / VEC * VEC;
    for (int64_t i = begin + int64_t(threadIdx.x) * VEC; i < vec_end; i += int64_t(kThreads) * VEC) {
      acc_t xv[VEC], tv[VEC];
      if constexpr (READ_X) {
        load_packed<T, VEC>(x + i, xv);
      } else {
#pragma unroll
        for (int k = 0; k < VEC; ++k) xv[k] = acc_t(0);
      }
      load_packed<T, VEC>(t + i, tv);
      f(i, xv, tv);
    }
  }
  for (int64_t i = vec_end + threadIdx.x; i < end; i += kThreads) {
    acc_t xv[VEC], tv[VEC];
    xv[0] = READ_X ? to_acc(x[i]) : acc_t(0);
    tv[0] = to_acc(t[i]);
    f(i, xv, tv, 1);
  }
}

template <Kind K, typename T, int VEC>
__global__ void __launch_bounds__(kThreads) divergence_fwd_kernel(const DivergenceParams p) {
  using acc_t = acc_type<T>;
  __shared__ acc_t scratch[kThreads / 32];
  const T* x = static_cast<const T*>(p.input);
  const T* t = static_cast<const T*>(p.target);
  const acc_t beta = static_cast<acc_t>(p.beta);
  const int64_t chunks = divergence_chunks(p.numel);
  for (int64_t chunk = blockIdx.x; chunk < chunks; chunk += gridDim.x) {
    const int64_t begin = chunk * kDivergenceChunk;
    const int64_t end = begin + kDivergenceChunk < p.numel ? begin + kDivergenceChunk : p.numel;
    acc_t sum = 0;
    visit_chunk<T, VEC, true>(x, t, begin, end,
                              [&](int64_t, const acc_t(&xv)[VEC], const acc_t(&tv)[VEC], int n = VEC) {
                                for (int k = 0; k < n; ++k) sum += term<K>(xv[k], tv[k], beta, p.log_target);
                              });
    sum = group_allreduce<kThreads>(sum, SumOp{}, scratch);
    if (threadIdx.x == 0) static_cast<acc_t*>(p.partials)[chunk] = sum;
  }
}

template <Kind K, typename T, int VEC>
__global__ void __launch_bounds__(kThreads) divergence_bwd_kernel(const DivergenceParams p) {
  using acc_t = acc_type<T>;
  const T* x = static_cast<const T*>(p.input);
  const T* t = static_cast<const T*>(p.target);
  T* out = static_cast<T*>(p.grad_input);
  const acc_t beta = static_cast<acc_t>(p.beta);
  const acc_t* grad_loss = static_cast<const acc_t*>(p.grad_loss);
  const int64_t chunks = divergence_chunks(p.numel);
  // The KL gradient depends on the target alone: the input is not read.
  constexpr bool kReadX = K == Kind::JS;
  for (int64_t chunk = blockIdx.x; chunk < chunks; chunk += gridDim.x) {
    const int64_t begin = chunk * kDivergenceChunk;
    const int64_t end = begin + kDivergenceChunk < p.numel ? begin + kDivergenceChunk : p.numel;
    const acc_t g = grad_loss[chunk * p.grad_loss_stride];
    visit_chunk<T, VEC, kReadX>(x, t, begin, end,
                                [&](int64_t i, const acc_t(&xv)[VEC], const acc_t(&tv)[VEC], int n = VEC) {
                                  acc_t gv[VEC];
                                  if (n == VEC) {
#pragma unroll
                                    for (int k = 0; k < VEC; ++k) gv[k] = grad<K>(xv[k], tv[k], beta, p.log_target, g);
                                    if constexpr (VEC > 1) {
                                      store_packed<T, VEC>(out + i, gv);
                                      return;
                                    }
                                  } else {
                                    gv[0] = grad<K>(xv[0], tv[0], beta, p.log_target, g);
                                  }
                                  out[i] = from_acc<T>(gv[0]);
                                });
  }
}

bool aligned16(const void* ptr) { return ptr == nullptr || reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

template <bool FORWARD, Kind K>
cudaError_t launch(const DivergenceParams& p, cudaStream_t stream) {
  if (p.numel == 0) return cudaSuccess;
  return dtype_switch<CudaTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int V = vec_width<T>();
    const unsigned int grid = grid_for(divergence_chunks(p.numel), 1);
    // Chunks start at multiples of kDivergenceChunk elements, so aligned base
    // pointers keep every packet aligned.
    const bool vec = aligned16(p.input) && aligned16(p.target) && aligned16(FORWARD ? nullptr : p.grad_input);
    return static_switch(kBools, vec, [&](auto packed) {
      constexpr int VEC = decltype(packed)::value ? V : 1;
      if constexpr (FORWARD) {
        divergence_fwd_kernel<K, T, VEC><<<grid, kThreads, 0, stream>>>(p);
      } else {
        divergence_bwd_kernel<K, T, VEC><<<grid, kThreads, 0, stream>>>(p);
      }
      return cudaGetLastError();
    });
  });
}

}  // namespace
}  // namespace cuda

cudaError_t kl_div_fwd_cuda(const DivergenceParams& p, cudaStream_t stream) {
  return cuda::launch<true, cuda::Kind::KL>(p, stream);
}
cudaError_t kl_div_bwd_cuda(const DivergenceParams& p, cudaStream_t stream) {
  return cuda::launch<false, cuda::Kind::KL>(p, stream);
}
cudaError_t js_div_fwd_cuda(const DivergenceParams& p, cudaStream_t stream) {
  return cuda::launch<true, cuda::Kind::JS>(p, stream);
}
cudaError_t js_div_bwd_cuda(const DivergenceParams& p, cudaStream_t stream) {
  return cuda::launch<false, cuda::Kind::JS>(p, stream);
}

}  // namespace lossext
