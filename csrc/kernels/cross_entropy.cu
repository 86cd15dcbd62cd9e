// CUDA kernels for softmax cross-entropy, index and probability targets.
//
// One group of G threads owns a row: G = 1 for class-strided layouts (the
// (N, C, d...) case, where neighbouring threads then read neighbouring
// positions), 32 for rows up to 2k classes, a whole block beyond. Forward makes
// one pass with an online softmax and keeps only per-row statistics; backward
// makes one pass that recomputes p = exp(x - lse) and writes the gradient.
#include "kernels/cross_entropy.h"
#include "kernels/cuda_common.cuh"

namespace lossext {
namespace cuda {
namespace {

template <int G>
__host__ __device__ constexpr int block_threads() {
  return G > 32 ? G : 256;
}

// Calls f(c, v) for the slice of the row that thread `lane` of the group owns,
// VEC consecutive values at a time (VEC > 1 only when the row is contiguous).
template <typename T, int G, int VEC, typename F>
__device__ __forceinline__ void visit_row(const T* x, int64_t classes, int64_t stride_c, int lane, F&& f) {
  using acc_t = acc_type<T>;
  if constexpr (VEC > 1) {
    for (int64_t c = int64_t(lane) * VEC; c < classes; c += int64_t(G) * VEC) {
      acc_t v[VEC];
      load_packed<T, VEC>(x + c, v);
      f(c, v);
    }
  } else {
    for (int64_t c = lane; c < classes; c += G) {
      acc_t v[1] = {to_acc(x[c * stride_c])};
      f(c, v);
    }
  }
}

template <typename T, int VEC>
__device__ __forceinline__ void store_row_chunk(T* out, int64_t c, int64_t dense_stride_c,
                                                const acc_type<T> (&v)[VEC]) {
  if constexpr (VEC > 1) {
    store_packed<T, VEC>(out + c, v);
  } else {
    out[c * dense_stride_c] = from_acc<T>(v[0]);
  }
}

template <typename T, int G, int VEC>
__device__ __forceinline__ void fill_row(T* out, int64_t classes, int64_t dense_stride_c, int lane, acc_type<T> value) {
  acc_type<T> v[VEC];
#pragma unroll
  for (int i = 0; i < VEC; ++i) v[i] = value;
  for (int64_t c = int64_t(lane) * VEC; c < classes; c += int64_t(G) * VEC) {
    store_row_chunk<T, VEC>(out, c, dense_stride_c, v);
  }
}

template <typename T, int G>
__device__ __forceinline__ int64_t first_row() {
  return int64_t(blockIdx.x) * (block_threads<G>() / G) + threadIdx.x / G;
}
template <int G>
__device__ __forceinline__ int64_t row_step() {
  return int64_t(gridDim.x) * (block_threads<G>() / G);
}

template <typename T, int G, int VEC>
__global__ void __launch_bounds__(block_threads<G>()) cross_entropy_index_fwd_kernel(const CrossEntropyParams p) {
  using acc_t = acc_type<T>;
  __shared__ SoftmaxState<acc_t> scratch_state[block_threads<G>() / 32];
  __shared__ acc_t scratch_sum[block_threads<G>() / 32];
  const RowLayout L = p.layout;
  const acc_t* weight = static_cast<const acc_t*>(p.weight);
  const acc_t smoothing = static_cast<acc_t>(p.label_smoothing);
  const acc_t z_loss = static_cast<acc_t>(p.z_loss);
  acc_t* loss = static_cast<acc_t*>(p.loss);
  acc_t* lse_out = static_cast<acc_t*>(p.lse_out);
  acc_t* row_weight = static_cast<acc_t*>(p.row_weight);
  const int lane = threadIdx.x % G;

  for (int64_t row = first_row<T, G>(); row < L.rows; row += row_step<G>()) {
    const int64_t y = p.target_index[row];
    if (p.ignore_index.matches(y) || y < 0 || y >= L.classes) {
      // Ignored rows cost no read of the logits. An out-of-range index is never
      // dereferenced: its row reports nan, which the glue turns into an error
      // where it can check without a device sync.
      if (lane == 0) {
        const acc_t fill = p.ignore_index.matches(y) ? acc_t(0) : acc_t(NAN);
        loss[row] = fill;
        lse_out[row] = fill;
        row_weight[row] = fill;
      }
      continue;
    }
    const T* x = static_cast<const T*>(p.logits) + L.row_offset(row);
    SoftmaxState<acc_t> state = SoftmaxState<acc_t>::empty();
    acc_t weighted_logits = 0;
    visit_row<T, G, VEC>(x, L.classes, L.stride_c, lane, [&](int64_t c, const acc_t(&v)[VEC]) {
      state.add_chunk(v);
      if (smoothing > acc_t(0)) {
#pragma unroll
        for (int i = 0; i < VEC; ++i) weighted_logits += (weight ? weight[c + i] : acc_t(1)) * v[i];
      }
    });
    state = group_allreduce<G>(state, MergeOp{}, scratch_state);
    if (smoothing > acc_t(0)) weighted_logits = group_allreduce<G>(weighted_logits, SumOp{}, scratch_sum);
    if (lane == 0) {
      const acc_t lse = state.log_sum_exp();
      CrossEntropyIndexRow<acc_t> r;
      r.target_logit = to_acc(x[y * L.stride_c]);
      r.target_weight = weight ? weight[y] : acc_t(1);
      r.weight_sum = weight ? *static_cast<const acc_t*>(p.weight_sum) : acc_t(L.classes);
      r.weighted_logits = weighted_logits;
      loss[row] = cross_entropy_index_loss(lse, r, smoothing, L.classes, z_loss);
      lse_out[row] = lse;
      row_weight[row] = r.target_weight;
    }
  }
}

template <typename T, int G, int VEC>
__global__ void __launch_bounds__(block_threads<G>()) cross_entropy_index_bwd_kernel(const CrossEntropyParams p) {
  using acc_t = acc_type<T>;
  const RowLayout L = p.layout;
  const acc_t* weight = static_cast<const acc_t*>(p.weight);
  const acc_t smoothing = static_cast<acc_t>(p.label_smoothing);
  const acc_t z_loss = static_cast<acc_t>(p.z_loss);
  const acc_t* lse_in = static_cast<const acc_t*>(p.lse);
  const acc_t* grad_loss = static_cast<const acc_t*>(p.grad_loss);
  const acc_t weight_sum = weight ? *static_cast<const acc_t*>(p.weight_sum) : acc_t(L.classes);
  const int lane = threadIdx.x % G;

  for (int64_t row = first_row<T, G>(); row < L.rows; row += row_step<G>()) {
    T* out = static_cast<T*>(p.grad_logits) + L.dense_row_offset(row);
    const int64_t y = p.target_index[row];
    if (p.ignore_index.matches(y) || y < 0 || y >= L.classes) {
      fill_row<T, G, VEC>(out, L.classes, L.dense_stride_c(), lane, p.ignore_index.matches(y) ? acc_t(0) : acc_t(NAN));
      continue;
    }
    const T* x = static_cast<const T*>(p.logits) + L.row_offset(row);
    const acc_t lse = lse_in[row];
    const CrossEntropyIndexGrad<acc_t> k =
        cross_entropy_index_grad_coeffs(grad_loss[row * p.grad_loss_stride], lse, weight ? weight[y] : acc_t(1),
                                        weight_sum, smoothing, L.classes, z_loss);
    visit_row<T, G, VEC>(x, L.classes, L.stride_c, lane, [&](int64_t c, const acc_t(&v)[VEC]) {
      acc_t g[VEC];
#pragma unroll
      for (int i = 0; i < VEC; ++i) {
        g[i] = cross_entropy_index_grad(k, fast_exp(v[i] - lse), c + i == y, weight ? weight[c + i] : acc_t(1));
      }
      store_row_chunk<T, VEC>(out, c, L.dense_stride_c(), g);
    });
  }
}

// Probability targets share the logits' dtype; `tL` walks them.
template <typename T, int VEC>
__device__ __forceinline__ void load_target_chunk(const T* t, int64_t c, int64_t stride_c, acc_type<T> (&out)[VEC]) {
  if constexpr (VEC > 1) {
    load_packed<T, VEC>(t + c, out);
  } else {
    out[0] = to_acc(t[c * stride_c]);
  }
}

template <typename T, int G, int VEC>
__global__ void __launch_bounds__(block_threads<G>()) cross_entropy_prob_fwd_kernel(const CrossEntropyParams p) {
  using acc_t = acc_type<T>;
  __shared__ SoftmaxState<acc_t> scratch_state[block_threads<G>() / 32];
  __shared__ acc_t scratch_mass[block_threads<G>() / 32];
  __shared__ acc_t scratch_dot[block_threads<G>() / 32];
  const RowLayout L = p.layout;
  const RowLayout tL = p.target_layout;
  const acc_t* weight = static_cast<const acc_t*>(p.weight);
  const acc_t smoothing = static_cast<acc_t>(p.label_smoothing);
  const acc_t z_loss = static_cast<acc_t>(p.z_loss);
  const int lane = threadIdx.x % G;

  for (int64_t row = first_row<T, G>(); row < L.rows; row += row_step<G>()) {
    const T* x = static_cast<const T*>(p.logits) + L.row_offset(row);
    const T* t = static_cast<const T*>(p.target_probs) + tL.row_offset(row);
    SoftmaxState<acc_t> state = SoftmaxState<acc_t>::empty();
    acc_t mass = 0, dot = 0;
    visit_row<T, G, VEC>(x, L.classes, L.stride_c, lane, [&](int64_t c, const acc_t(&v)[VEC]) {
      state.add_chunk(v);
      acc_t tv[VEC];
      load_target_chunk<T, VEC>(t, c, tL.stride_c, tv);
#pragma unroll
      for (int i = 0; i < VEC; ++i) {
        const acc_t tw = cross_entropy_prob_target(tv[i], weight ? weight[c + i] : acc_t(1), smoothing, L.classes);
        mass += tw;
        dot += tw * v[i];
      }
    });
    state = group_allreduce<G>(state, MergeOp{}, scratch_state);
    mass = group_allreduce<G>(mass, SumOp{}, scratch_mass);
    dot = group_allreduce<G>(dot, SumOp{}, scratch_dot);
    if (lane == 0) {
      const acc_t lse = state.log_sum_exp();
      static_cast<acc_t*>(p.loss)[row] = cross_entropy_prob_loss(lse, mass, dot, z_loss);
      static_cast<acc_t*>(p.lse_out)[row] = lse;
      static_cast<acc_t*>(p.target_mass_out)[row] = mass;
    }
  }
}

template <typename T, int G, int VEC>
__global__ void __launch_bounds__(block_threads<G>()) cross_entropy_prob_bwd_kernel(const CrossEntropyParams p) {
  using acc_t = acc_type<T>;
  const RowLayout L = p.layout;
  const RowLayout tL = p.target_layout;
  const acc_t* weight = static_cast<const acc_t*>(p.weight);
  const acc_t smoothing = static_cast<acc_t>(p.label_smoothing);
  const acc_t z_loss = static_cast<acc_t>(p.z_loss);
  const int lane = threadIdx.x % G;

  for (int64_t row = first_row<T, G>(); row < L.rows; row += row_step<G>()) {
    const T* x = static_cast<const T*>(p.logits) + L.row_offset(row);
    const T* t = static_cast<const T*>(p.target_probs) + tL.row_offset(row);
    T* out = static_cast<T*>(p.grad_logits) + L.dense_row_offset(row);
    const acc_t lse = static_cast<const acc_t*>(p.lse)[row];
    const acc_t grad_row = static_cast<const acc_t*>(p.grad_loss)[row * p.grad_loss_stride];
    const acc_t a = cross_entropy_prob_grad_coeff(grad_row, lse, static_cast<const acc_t*>(p.target_mass)[row], z_loss);
    visit_row<T, G, VEC>(x, L.classes, L.stride_c, lane, [&](int64_t c, const acc_t(&v)[VEC]) {
      acc_t tv[VEC], g[VEC];
      load_target_chunk<T, VEC>(t, c, tL.stride_c, tv);
#pragma unroll
      for (int i = 0; i < VEC; ++i) {
        const acc_t tw = cross_entropy_prob_target(tv[i], weight ? weight[c + i] : acc_t(1), smoothing, L.classes);
        g[i] = cross_entropy_prob_grad(a, grad_row, fast_exp(v[i] - lse), tw);
      }
      store_row_chunk<T, VEC>(out, c, L.dense_stride_c(), g);
    });
  }
}

bool aligned16(const void* ptr) { return ptr == nullptr || reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

// Rows may be read and written 16 bytes at a time when every row starts on a
// 16-byte boundary and holds a whole number of packets.
template <typename T>
bool rows_vectorizable(const RowLayout& L, const void* in, const void* out) {
  constexpr int V = vec_width<T>();
  return L.stride_c == 1 && L.inner == 1 && L.stride_n % V == 0 && L.classes % V == 0 && aligned16(in) &&
         aligned16(out);
}

// Threads per row: one for class-strided rows, else more for longer rows.
inline int row_group(const RowLayout& L) {
  if (L.stride_c != 1) return 1;
  return L.classes <= 2048 ? 32 : L.classes <= 16384 ? 256 : 512;
}

// Picks threads-per-row G and vector width, then calls launch(Constant<G>, Constant<VEC>).
template <typename T, typename Launch>
cudaError_t launch_rows(const RowLayout& L, bool vectorizable, Launch&& launch) {
  constexpr int V = vec_width<T>();
  if (L.rows == 0) return cudaSuccess;
  return static_switch(ValueList<1, 32, 256, 512>{}, row_group(L), [&](auto g) {
    if constexpr (decltype(g)::value == 1) {
      return launch(g, Constant<1>{});  // strided rows are read one value at a time
    } else {
      return static_switch(kBools, vectorizable,
                           [&](auto vec) { return launch(g, Constant<decltype(vec)::value ? V : 1>{}); });
    }
  });
}

template <int G>
unsigned int grid_rows(int64_t rows) {
  return grid_for(rows, block_threads<G>() / G);
}

}  // namespace

#define LOSSEXT_CE_LAUNCH(KERNEL, VEC_OK)                                                   \
  dtype_switch<CudaTypes>(p.dtype, [&](auto tag) {                                          \
    using T = typename decltype(tag)::type;                                                 \
    return launch_rows<T>(p.layout, VEC_OK, [&](auto g, auto v) {                           \
      constexpr int G = decltype(g)::value;                                                 \
      constexpr int VEC = decltype(v)::value;                                               \
      KERNEL<T, G, VEC><<<grid_rows<G>(p.layout.rows), block_threads<G>(), 0, stream>>>(p); \
      return cudaGetLastError();                                                            \
    });                                                                                     \
  })

}  // namespace cuda

cudaError_t cross_entropy_index_fwd_cuda(const CrossEntropyParams& p, cudaStream_t stream) {
  using namespace cuda;
  return LOSSEXT_CE_LAUNCH(cross_entropy_index_fwd_kernel, (rows_vectorizable<T>(p.layout, p.logits, nullptr)));
}

cudaError_t cross_entropy_index_bwd_cuda(const CrossEntropyParams& p, cudaStream_t stream) {
  using namespace cuda;
  return LOSSEXT_CE_LAUNCH(cross_entropy_index_bwd_kernel, (rows_vectorizable<T>(p.layout, p.logits, p.grad_logits)));
}

cudaError_t cross_entropy_prob_fwd_cuda(const CrossEntropyParams& p, cudaStream_t stream) {
  using namespace cuda;
  return LOSSEXT_CE_LAUNCH(cross_entropy_prob_fwd_kernel,
                           (rows_vectorizable<T>(p.layout, p.logits, nullptr) &&
                            rows_vectorizable<T>(p.target_layout, p.target_probs, nullptr)));
}

cudaError_t cross_entropy_prob_bwd_cuda(const CrossEntropyParams& p, cudaStream_t stream) {
  using namespace cuda;
  return LOSSEXT_CE_LAUNCH(cross_entropy_prob_bwd_kernel,
                           (rows_vectorizable<T>(p.layout, p.logits, p.grad_logits) &&
                            rows_vectorizable<T>(p.target_layout, p.target_probs, nullptr)));
}

#undef LOSSEXT_CE_LAUNCH

}  // namespace lossext
