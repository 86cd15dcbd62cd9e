// CUDA kernels of the segmentation overlap statistics (kernels/segmentation.h).
//
// Forward, two stages and no atomics, so the sums are bitwise reproducible:
//   1. a grid of (blocks per sample) x N blocks; a thread takes one pixel at a
//      time (neighbouring threads, neighbouring pixels: every class row is read
//      coalesced), computes its softmax or sigmoid on the fly and adds
//      TP, P, T (and the cross-entropy) to its own column of shared memory;
//      the block then sums the columns in a fixed order into one partial row.
//   2. one thread per (sample, statistic) adds the partial rows in block order.
// Backward: a thread per pixel recomputes the probabilities from the logits
// (log-sum-exp once, then p per class) and writes the gradient of every class:
// logits and targets read once more, gradient written once.
// Out-of-range class indices are never dereferenced: their pixel makes the
// sums (and the gradient) nan, since reporting them would need a host sync.
#include <type_traits>

#include "kernels/cuda_common.cuh"
#include "kernels/segmentation.h"

namespace lossext {
namespace cuda {
namespace {

// Validity of an index-target pixel: 1, 0 when ignored, nan when out of range.
template <typename acc_t>
__device__ __forceinline__ acc_t index_validity(int64_t y, const SegParams& p, bool* use) {
  const bool ignored = p.ignore.matches(y);
  const bool in_range = y >= 0 && y < p.classes;
  *use = !ignored && in_range;
  return ignored ? acc_t(0) : (in_range ? acc_t(1) : acc_t(NAN));
}

template <typename T, SegActivation ACT, bool INDEX>
__global__ void seg_stats_kernel(const SegParams p, int64_t blocks_per_sample) {
  using acc_t = acc_type<T>;
  // Aligned for the double accumulators of float64 inputs.
  extern __shared__ __align__(16) unsigned char shared_raw[];
  acc_t* acc = reinterpret_cast<acc_t*>(shared_raw);
  const int64_t C = p.classes, S = p.pixels, K = seg_accumulators(C);
  const int nt = blockDim.x, tid = threadIdx.x, ld = nt + 1;
  for (int64_t k = 0; k < K; ++k) acc[k * ld + tid] = acc_t(0);

  const int64_t n = blockIdx.x / blocks_per_sample;
  const int64_t b = blockIdx.x - n * blocks_per_sample;
  const T* x = static_cast<const T*>(p.logits) + n * p.stride_n;
  const acc_t smoothing = acc_t(p.label_smoothing);
  for (int64_t s = b * nt + tid; s < S; s += blocks_per_sample * nt) {
    if constexpr (INDEX) {
      const int64_t y = p.target_index[n * S + s];
      bool use;
      const acc_t valid = index_validity<acc_t>(y, p, &use);
      acc_t lse = 0, sum_x = 0;
      if constexpr (ACT == SegActivation::Softmax) {
        SoftmaxState<acc_t> state = SoftmaxState<acc_t>::empty();
        for (int64_t c = 0; c < C; ++c) {
          const acc_t v = to_acc(x[c * p.stride_c + s]);
          state.add(v);
          sum_x += v;
        }
        lse = state.log_sum_exp();
      }
      for (int64_t c = 0; c < C; ++c) {
        const acc_t v = to_acc(x[c * p.stride_c + s]);
        const acc_t prob = (ACT == SegActivation::Softmax ? fast_exp(v - lse) : v) * valid;
        acc[(kSegSP * C + c) * ld + tid] += p.squared ? prob * prob : prob;
        if (use && c == y) acc[(kSegTP * C + c) * ld + tid] += prob;
      }
      if (use) acc[(kSegST * C + y) * ld + tid] += acc_t(1);
      acc[(kSegStats * C + kSegValid) * ld + tid] += valid;
      if (ACT == SegActivation::Softmax && p.with_ce && valid != acc_t(0)) {
        const acc_t x_y = use ? to_acc(x[y * p.stride_c + s]) : acc_t(NAN);
        acc[(kSegStats * C + kSegCE) * ld + tid] += seg_ce_pixel(lse, x_y, sum_x, smoothing, acc_t(C));
      }
    } else {
      const T* t = static_cast<const T*>(p.target_dense) + n * C * S;
      const acc_t ignore = acc_t(p.ignore.value);
      for (int64_t c = 0; c < C; ++c) {
        const acc_t tv = to_acc(t[c * S + s]);
        const acc_t v = (p.ignore.active && tv == ignore) ? acc_t(0) : acc_t(1);
        const acc_t xv = to_acc(x[c * p.stride_c + s]);
        const acc_t prob = (ACT == SegActivation::Sigmoid ? seg_sigmoid(xv) : xv) * v;
        const acc_t tt = tv * v;
        acc[(kSegTP * C + c) * ld + tid] += prob * tt;
        acc[(kSegSP * C + c) * ld + tid] += p.squared ? prob * prob : prob;
        acc[(kSegST * C + c) * ld + tid] += p.squared ? tt * tt : tt;
        acc[(kSegStats * C + kSegValid) * ld + tid] += v;
      }
    }
  }
  __syncthreads();
  acc_t* partial = static_cast<acc_t*>(p.workspace) + blockIdx.x * K;
  for (int64_t k = tid; k < K; k += nt) {
    acc_t total = 0;
    for (int i = 0; i < nt; ++i) total += acc[k * ld + i];
    partial[k] = total;
  }
}

template <typename acc_t>
__global__ void seg_finish_kernel(const SegParams p, int64_t blocks_per_sample) {
  const int64_t C = p.classes, K = seg_accumulators(C);
  const acc_t* partial = static_cast<const acc_t*>(p.workspace);
  acc_t* stats = static_cast<acc_t*>(p.stats);
  acc_t* extras = static_cast<acc_t*>(p.extras);
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < p.batch * K;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i / K, k = i - n * K;
    acc_t total = 0;
    for (int64_t b = 0; b < blocks_per_sample; ++b) total += partial[(n * blocks_per_sample + b) * K + k];
    if (k < kSegStats * C)
      stats[n * kSegStats * C + k] = total;
    else
      extras[n * kSegExtras + (k - kSegStats * C)] = total;
  }
}

template <typename T, SegActivation ACT, bool INDEX>
__global__ void __launch_bounds__(256) seg_grad_kernel(const SegParams p) {
  using acc_t = acc_type<T>;
  const int64_t C = p.classes, S = p.pixels;
  const acc_t* coef = static_cast<const acc_t*>(p.coef);
  const acc_t* grad_extras = static_cast<const acc_t*>(p.grad_extras);
  const acc_t smoothing = acc_t(p.label_smoothing);
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < p.batch * S;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i / S, s = i - n * S;
    const T* x = static_cast<const T*>(p.logits) + n * p.stride_n + s;
    T* out = static_cast<T*>(p.grad_logits) + n * C * S + s;
    const acc_t* A = coef + n * kSegStats * C + kSegTP * C;
    const acc_t* B = coef + n * kSegStats * C + kSegSP * C;
    if constexpr (INDEX) {
      const int64_t y = p.target_index[n * S + s];
      bool use;
      const acc_t valid = index_validity<acc_t>(y, p, &use);
      if constexpr (ACT == SegActivation::Softmax) {
        SoftmaxState<acc_t> state = SoftmaxState<acc_t>::empty();
        for (int64_t c = 0; c < C; ++c) state.add(to_acc(x[c * p.stride_c]));
        const acc_t lse = state.log_sum_exp();
        acc_t dot = 0;
        for (int64_t c = 0; c < C; ++c) {
          const acc_t prob = fast_exp(to_acc(x[c * p.stride_c]) - lse);
          dot += prob * seg_dp(A[c], B[c], (use && c == y) ? acc_t(1) : acc_t(0), prob, p.squared);
        }
        const acc_t g_ce = p.with_ce ? grad_extras[n * kSegExtras + kSegCE] : acc_t(0);
        for (int64_t c = 0; c < C; ++c) {
          const acc_t prob = fast_exp(to_acc(x[c * p.stride_c]) - lse);
          const bool is_t = use && c == y;
          acc_t v = prob * (seg_dp(A[c], B[c], is_t ? acc_t(1) : acc_t(0), prob, p.squared) - dot);
          if (p.with_ce) v += g_ce * seg_ce_grad(prob, is_t, smoothing, acc_t(C));
          out[c * S] = from_acc<T>(valid * v);
        }
      } else {
        for (int64_t c = 0; c < C; ++c) {
          const acc_t g =
              seg_dp(A[c], B[c], (use && c == y) ? acc_t(1) : acc_t(0), to_acc(x[c * p.stride_c]), p.squared);
          out[c * S] = from_acc<T>(valid * g);
        }
      }
    } else {
      const T* t = static_cast<const T*>(p.target_dense) + n * C * S + s;
      const acc_t ignore = acc_t(p.ignore.value);
      for (int64_t c = 0; c < C; ++c) {
        const acc_t tv = to_acc(t[c * S]);
        const acc_t v = (p.ignore.active && tv == ignore) ? acc_t(0) : acc_t(1);
        const acc_t xv = to_acc(x[c * p.stride_c]);
        const acc_t prob = ACT == SegActivation::Sigmoid ? seg_sigmoid(xv) : xv;
        const acc_t d = v * seg_dp(A[c], B[c], tv, prob, p.squared);
        out[c * S] = from_acc<T>(ACT == SegActivation::Sigmoid ? d * prob * (acc_t(1) - prob) : d);
      }
    }
  }
}

// Calls f(activation, index_target) as compile-time constants, for the pairs
// the glue allows.
template <typename F>
cudaError_t dispatch_variant(const SegParams& p, F&& f) {
  return static_switch(kBools, p.target_index != nullptr, [&](auto index) {
    return static_switch(seg_activations<decltype(index)::value>(), p.activation,
                         [&](auto act) { return f(act, index); });
  });
}

}  // namespace
}  // namespace cuda

using namespace cuda;

cudaError_t seg_stats_fwd_cuda(const SegParams& p, cudaStream_t stream) {
  if (p.batch == 0 || p.classes == 0) return cudaSuccess;
  const int threads = seg_cuda_threads(p.classes, p.dtype);
  if (threads == 0) return cudaErrorInvalidValue;
  const int64_t bps = seg_cuda_blocks_per_sample(p.batch, p.pixels);
  const size_t shared = static_cast<size_t>(seg_cuda_shared_bytes(p.classes, p.dtype, threads));
  return dtype_switch<CudaTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using acc_t = acc_type<T>;
    return dispatch_variant(p, [&](auto act, auto index) {
      auto kernel = seg_stats_kernel<T, decltype(act)::value, decltype(index)::value>;
      if (shared > 48 * 1024) {
        const cudaError_t err =
            cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared));
        if (err != cudaSuccess) return err;
      }
      kernel<<<static_cast<unsigned int>(p.batch * bps), threads, shared, stream>>>(p, bps);
      cudaError_t err = cudaGetLastError();
      if (err != cudaSuccess) return err;
      seg_finish_kernel<acc_t><<<grid_for(p.batch * seg_accumulators(p.classes), 256), 256, 0, stream>>>(p, bps);
      return cudaGetLastError();
    });
  });
}

cudaError_t seg_stats_bwd_cuda(const SegParams& p, cudaStream_t stream) {
  if (p.batch == 0 || p.classes == 0 || p.pixels == 0) return cudaSuccess;
  return dtype_switch<CudaTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return dispatch_variant(p, [&](auto act, auto index) {
      seg_grad_kernel<T, decltype(act)::value, decltype(index)::value>
          <<<grid_for(p.batch * p.pixels, 256), 256, 0, stream>>>(p);
      return cudaGetLastError();
    });
  });
}

}  // namespace lossext
