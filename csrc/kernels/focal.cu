// CUDA kernels for the focal losses.
//
// Sigmoid focal: forward gives a warp to a row (the loss summed across the
// warp when the caller reduces, so only [rows] floats are written); backward
// is a flat grid-stride loop over elements that recomputes the element's
// sigmoid and writes its gradient: logits and targets read once, gradient
// written once. Softmax focal: a warp per row for contiguous rows, a thread per
// row for (N, C, d...) layouts (neighbouring threads then read neighbouring
// positions); forward keeps the row's log-sum-exp, backward recomputes p.
#include "kernels/cuda_common.cuh"
#include "kernels/focal.h"

namespace lossext {
namespace cuda {
namespace {

constexpr int kBlock = 256;

// Index target of `row`, or why the row is skipped: ignored rows give 0,
// out-of-range indices nan (never dereferenced; the op documents it).
__device__ __forceinline__ bool skip_row(int64_t y, IgnoreIndex ignore_index, int64_t lowest, int64_t classes,
                                         bool* ignored) {
  *ignored = ignore_index.matches(y);
  return *ignored || y < lowest || y >= classes;
}

template <int G>
__host__ __device__ constexpr int rows_per_block() {
  return kBlock / G;
}

// Grid-stride walk over rows, a group of G threads a row.
template <int G>
__device__ __forceinline__ int64_t first_row() {
  return int64_t(blockIdx.x) * rows_per_block<G>() + threadIdx.x / G;
}
template <int G>
__device__ __forceinline__ int64_t row_step() {
  return int64_t(gridDim.x) * rows_per_block<G>();
}

template <typename T, GammaKind K, bool DENSE, bool REDUCE>
__global__ void __launch_bounds__(kBlock) sigmoid_focal_fwd_kernel(const SigmoidFocalParams p) {
  using acc_t = acc_type<T>;
  const int64_t C = p.classes;
  const acc_t* w = static_cast<const acc_t*>(p.weight);
  const SigmoidFocalConfig<acc_t> cfg{acc_t(p.alpha), acc_t(p.gamma), acc_t(p.label_smoothing)};
  const T* logits = static_cast<const T*>(p.logits);
  const T* dense = static_cast<const T*>(p.target_dense);
  acc_t* loss = static_cast<acc_t*>(p.loss);
  const int lane = threadIdx.x % 32;

  for (int64_t row = first_row<32>(); row < p.rows; row += row_step<32>()) {
    int64_t y = -1;
    if constexpr (!DENSE) {
      y = p.target_index[row];
      bool ignored;
      if (skip_row(y, p.ignore_index, -1, C, &ignored)) {
        const acc_t fill = ignored ? acc_t(0) : acc_t(NAN);
        if constexpr (REDUCE) {
          if (lane == 0) loss[row] = fill;
        } else {
          for (int64_t c = lane; c < C; c += 32) loss[row * C + c] = fill;
        }
        continue;
      }
    }
    acc_t sum = 0;
    for (int64_t c = lane; c < C; c += 32) {
      const int64_t i = row * C + c;
      const acc_t t = DENSE ? to_acc(dense[i]) : (c == y ? acc_t(1) : acc_t(0));
      const acc_t v = sigmoid_focal_element<true, K>(to_acc(logits[i]), t, w ? w[c] : acc_t(1), cfg);
      if constexpr (REDUCE) {
        sum += v;
      } else {
        loss[i] = v;
      }
    }
    if constexpr (REDUCE) {
      sum = group_allreduce<32>(sum, SumOp{}, static_cast<acc_t*>(nullptr));
      if (lane == 0) loss[row] = sum;
    }
  }
}

template <typename T, GammaKind K, bool DENSE>
__global__ void __launch_bounds__(kBlock) sigmoid_focal_bwd_kernel(const SigmoidFocalParams p) {
  using acc_t = acc_type<T>;
  const int64_t C = p.classes;
  const int64_t n = p.rows * C;
  const acc_t* w = static_cast<const acc_t*>(p.weight);
  const SigmoidFocalConfig<acc_t> cfg{acc_t(p.alpha), acc_t(p.gamma), acc_t(p.label_smoothing)};
  const T* logits = static_cast<const T*>(p.logits);
  const T* dense = static_cast<const T*>(p.target_dense);
  const acc_t* grad_loss = static_cast<const acc_t*>(p.grad_loss);
  T* out = static_cast<T*>(p.grad_logits);

  for (int64_t i = int64_t(blockIdx.x) * kBlock + threadIdx.x; i < n; i += int64_t(gridDim.x) * kBlock) {
    const int64_t row = i / C;
    const int64_t c = i - row * C;
    acc_t t;
    if constexpr (DENSE) {
      t = to_acc(dense[i]);
    } else {
      const int64_t y = p.target_index[row];
      bool ignored;
      if (skip_row(y, p.ignore_index, -1, C, &ignored)) {
        out[i] = from_acc<T>(ignored ? acc_t(0) : acc_t(NAN));
        continue;
      }
      t = c == y ? acc_t(1) : acc_t(0);
    }
    const acc_t g = grad_loss[(p.reduce_rows ? row : i) * p.grad_loss_stride];
    out[i] = from_acc<T>(g * sigmoid_focal_element<false, K>(to_acc(logits[i]), t, w ? w[c] : acc_t(1), cfg));
  }
}

template <typename T, int G, GammaKind K>
__global__ void __launch_bounds__(kBlock) softmax_focal_fwd_kernel(const SoftmaxFocalParams p) {
  using acc_t = acc_type<T>;
  const RowLayout L = p.layout;
  const acc_t* alpha = static_cast<const acc_t*>(p.alpha);
  const acc_t* w = static_cast<const acc_t*>(p.weight);
  acc_t* loss = static_cast<acc_t*>(p.loss);
  acc_t* lse_out = static_cast<acc_t*>(p.lse_out);
  acc_t* row_weight = static_cast<acc_t*>(p.row_weight);
  const int lane = threadIdx.x % G;

  for (int64_t row = first_row<G>(); row < L.rows; row += row_step<G>()) {
    const int64_t y = p.target_index[row];
    bool ignored;
    if (skip_row(y, p.ignore_index, 0, L.classes, &ignored)) {
      if (lane == 0) loss[row] = lse_out[row] = row_weight[row] = ignored ? acc_t(0) : acc_t(NAN);
      continue;
    }
    const T* x = static_cast<const T*>(p.logits) + L.row_offset(row);
    SoftmaxState<acc_t> state = SoftmaxState<acc_t>::empty();
    for (int64_t c = lane; c < L.classes; c += G) state.add(to_acc(x[c * L.stride_c]));
    state = group_allreduce<G>(state, MergeOp{}, static_cast<SoftmaxState<acc_t>*>(nullptr));
    if (lane == 0) {
      const acc_t lse = state.log_sum_exp();
      const SoftmaxFocalClass<acc_t> k = softmax_focal_class(alpha, w, y);
      loss[row] = softmax_focal_row_loss<K>(to_acc(x[y * L.stride_c]) - lse, k.coeff, acc_t(p.gamma));
      lse_out[row] = lse;
      row_weight[row] = k.weight;
    }
  }
}

template <typename T, int G, GammaKind K>
__global__ void __launch_bounds__(kBlock) softmax_focal_bwd_kernel(const SoftmaxFocalParams p) {
  using acc_t = acc_type<T>;
  const RowLayout L = p.layout;
  const acc_t* alpha = static_cast<const acc_t*>(p.alpha);
  const acc_t* w = static_cast<const acc_t*>(p.weight);
  const acc_t* lse_in = static_cast<const acc_t*>(p.lse);
  const acc_t* grad_loss = static_cast<const acc_t*>(p.grad_loss);
  const int64_t dsc = L.dense_stride_c();
  const int lane = threadIdx.x % G;

  for (int64_t row = first_row<G>(); row < L.rows; row += row_step<G>()) {
    T* out = static_cast<T*>(p.grad_logits) + L.dense_row_offset(row);
    const int64_t y = p.target_index[row];
    bool ignored;
    if (skip_row(y, p.ignore_index, 0, L.classes, &ignored)) {
      const T fill = from_acc<T>(ignored ? acc_t(0) : acc_t(NAN));
      for (int64_t c = lane; c < L.classes; c += G) out[c * dsc] = fill;
      continue;
    }
    const T* x = static_cast<const T*>(p.logits) + L.row_offset(row);
    const acc_t lse = lse_in[row];
    const acc_t coeff = softmax_focal_class(alpha, w, y).coeff;
    const acc_t scale = softmax_focal_grad_scale<K>(to_acc(x[y * L.stride_c]) - lse, coeff, acc_t(p.gamma),
                                                    grad_loss[row * p.grad_loss_stride]);
    for (int64_t c = lane; c < L.classes; c += G) {
      const acc_t prob = fast_exp(to_acc(x[c * L.stride_c]) - lse);
      out[c * dsc] = from_acc<T>(scale * (prob - (c == y ? acc_t(1) : acc_t(0))));
    }
  }
}

// ---- launches ---------------------------------------------------------------------

template <typename Tag>
using Elem = typename Tag::type;

// Calls f(tag, kind) with the element type's tag and the gamma kind as a
// compile-time constant: every kernel is specialised on both.
template <typename F>
cudaError_t for_dtype_and_gamma(DType dtype, GammaKind k, F&& f) {
  return dtype_switch<CudaTypes>(
      dtype, [&](auto tag) { return static_switch(kGammaKinds, k, [&](auto kind) { return f(tag, kind); }); });
}

// One launch of `kernel` over `units` work units, `per_block` of them a block.
template <typename Params>
cudaError_t launch(void (*kernel)(Params), int64_t units, int per_block, cudaStream_t stream, const Params& p) {
  kernel<<<grid_for(units, per_block), kBlock, 0, stream>>>(p);
  return cudaGetLastError();
}

// Softmax focal rows: a warp per contiguous row; a thread per row when the
// classes are strided (neighbouring threads then read neighbouring positions).
// pick(tag, kind, group) names the kernel for a group of `group` threads a row.
template <typename Pick>
cudaError_t launch_softmax_rows(const SoftmaxFocalParams& p, cudaStream_t stream, Pick&& pick) {
  if (p.layout.rows == 0) return cudaSuccess;
  return for_dtype_and_gamma(p.dtype, p.gamma_kind, [&](auto tag, auto kind) {
    return static_switch(ValueList<1, 32>{}, p.layout.stride_c == 1 ? 32 : 1, [&](auto group) {
      return launch(pick(tag, kind, group), p.layout.rows, rows_per_block<decltype(group)::value>(), stream, p);
    });
  });
}

}  // namespace
}  // namespace cuda

using namespace cuda;

cudaError_t sigmoid_focal_fwd_cuda(const SigmoidFocalParams& p, cudaStream_t stream) {
  if (p.rows == 0 || (p.classes == 0 && !p.reduce_rows)) return cudaSuccess;  // C = 0: rows still sum to 0
  return for_dtype_and_gamma(p.dtype, p.gamma_kind, [&](auto tag, auto kind) {
    return static_switch(kBools, p.target_dense != nullptr, [&](auto dense) {
      return static_switch(kBools, p.reduce_rows, [&](auto reduce) {
        return launch(sigmoid_focal_fwd_kernel<Elem<decltype(tag)>, decltype(kind)::value, decltype(dense)::value,
                                               decltype(reduce)::value>,
                      p.rows, rows_per_block<32>(), stream, p);
      });
    });
  });
}

cudaError_t sigmoid_focal_bwd_cuda(const SigmoidFocalParams& p, cudaStream_t stream) {
  if (p.rows == 0 || p.classes == 0) return cudaSuccess;
  return for_dtype_and_gamma(p.dtype, p.gamma_kind, [&](auto tag, auto kind) {
    return static_switch(kBools, p.target_dense != nullptr, [&](auto dense) {
      return launch(sigmoid_focal_bwd_kernel<Elem<decltype(tag)>, decltype(kind)::value, decltype(dense)::value>,
                    p.rows * p.classes, kBlock, stream, p);
    });
  });
}

cudaError_t softmax_focal_fwd_cuda(const SoftmaxFocalParams& p, cudaStream_t stream) {
  return launch_softmax_rows(p, stream, [](auto tag, auto kind, auto group) {
    return softmax_focal_fwd_kernel<Elem<decltype(tag)>, decltype(group)::value, decltype(kind)::value>;
  });
}

cudaError_t softmax_focal_bwd_cuda(const SoftmaxFocalParams& p, cudaStream_t stream) {
  return launch_softmax_rows(p, stream, [](auto tag, auto kind, auto group) {
    return softmax_focal_bwd_kernel<Elem<decltype(tag)>, decltype(group)::value, decltype(kind)::value>;
  });
}

}  // namespace lossext
