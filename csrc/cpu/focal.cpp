// CPU implementation of the focal-loss ops: rows in parallel
// (at::parallel_for); the inner loops are the vectorized ones of
// loops/focal.cpp (sigmoid) and loops/cross_entropy.cpp (softmax), which apply the
// formulas of kernels/focal.h.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <type_traits>
#include <vector>

#include "cpu/dispatch.h"
#include "cpu/loops/focal.h"
#include "cpu/loops/memory.h"
#include "cpu/loops/cross_entropy.h"
#include "glue/focal.h"

namespace lossext {
namespace cpu {
namespace {

int64_t grain_rows(int64_t classes) { return cpu::grain_rows(classes, 16384); }

// ---- sigmoid focal ---------------------------------------------------------------

// Rows converted to the accumulate type at a time (half, bfloat16): a few
// KiB, so the copies stay in L1.
int64_t convert_block_rows(int64_t classes) { return std::max<int64_t>(1, 2048 / std::max<int64_t>(classes, 1)); }

template <typename acc_t>
SigmoidFocalRows<acc_t> sigmoid_rows(const SigmoidFocalParams& p) {
  SigmoidFocalRows<acc_t> a;
  a.ignore_index = p.ignore_index;
  a.w = static_cast<const acc_t*>(p.weight);
  a.classes = p.classes;
  a.cfg = {acc_t(p.alpha), acc_t(p.gamma), acc_t(p.label_smoothing)};
  a.kind = p.gamma_kind;
  return a;
}

// Rows [r0, r0 + a.rows) of the call's logits and targets, in the accumulate type.
template <typename T>
void bind_rows(const SigmoidFocalParams& p, int64_t r0, SigmoidFocalRows<acc_type<T>>& a,
               std::vector<acc_type<T>>& xbuf, std::vector<acc_type<T>>& tbuf) {
  const int64_t C = p.classes, n = a.rows * C;
  a.x = as_acc(static_cast<const T*>(p.logits) + r0 * C, n, 1, xbuf);
  if (p.target_dense) a.t = as_acc(static_cast<const T*>(p.target_dense) + r0 * C, n, 1, tbuf);
  if (p.target_index) a.y = p.target_index + r0;
}

// A thread's rows go to the kernel in one call when the logits already are
// in the accumulate type (the per-row work then has no call or dispatch
// overhead), else in blocks converted on the fly.
template <typename T>
int64_t rows_per_call(int64_t begin, int64_t end, int64_t classes) {
  return std::is_same_v<T, acc_type<T>> ? std::max<int64_t>(end - begin, 1) : convert_block_rows(classes);
}

// Walks a thread's rows in blocks of rows_per_call, bound in the accumulate
// type, and calls f(rows, first_row, grad). With kGrad, `grad` is the block of
// grad_logits itself when T is the accumulate type, else a buffer converted
// back to T once f returns; without it, `grad` is null.
template <typename T, bool kGrad, typename F>
void for_each_row_block(const SigmoidFocalParams& p, F&& f) {
  using acc_t = acc_type<T>;
  const int64_t C = p.classes;
  const SigmoidFocalRows<acc_t> base = sigmoid_rows<acc_t>(p);
  constexpr bool in_place = std::is_same_v<T, acc_t>;

  at::parallel_for(0, p.rows, grain_rows(C), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> xbuf, tbuf, gbuf;
    const int64_t step = rows_per_call<T>(begin, end, C);
    for (int64_t r0 = begin; r0 < end; r0 += step) {
      SigmoidFocalRows<acc_t> a = base;
      a.rows = std::min(end - r0, step);
      bind_rows<T>(p, r0, a, xbuf, tbuf);
      if constexpr (!kGrad) {
        f(a, r0, static_cast<acc_t*>(nullptr));
      } else {
        T* dst = static_cast<T*>(p.grad_logits) + r0 * C;
        if (!in_place) gbuf.resize(a.rows * C);
        acc_t* g = in_place ? reinterpret_cast<acc_t*>(dst) : gbuf.data();
        f(a, r0, g);
        if constexpr (!in_place) {
          store_from_acc<T>(g, a.rows * C, dst, 1);
        }
      }
    }
  });
}

template <typename T>
void sigmoid_forward(const SigmoidFocalParams& p, BadRow& bad_row) {
  using acc_t = acc_type<T>;
  acc_t* loss = static_cast<acc_t*>(p.loss);
  for_each_row_block<T, false>(p, [&](const SigmoidFocalRows<acc_t>& a, int64_t r0, acc_t*) {
    const int64_t bad = sigmoid_focal_rows_loss(a, p.reduce_rows, loss + (p.reduce_rows ? r0 : r0 * p.classes));
    if (bad >= 0) bad_row.record(r0 + bad);
  });
}

// The upstream gradient of the rows from r0 on, as the row loops take it: per
// element, per row (the loss summed over classes), or one scalar.
template <typename acc_t>
struct RowsUpstream {
  const acc_t* elem = nullptr;
  const acc_t* row = nullptr;
  acc_t scalar = 0;
};
template <typename acc_t>
RowsUpstream<acc_t> rows_upstream(const SigmoidFocalParams& p, int64_t r0) {
  const acc_t* g = static_cast<const acc_t*>(p.grad_loss);
  if (p.grad_loss_stride == 0) return {nullptr, nullptr, g[0]};
  if (p.reduce_rows) return {nullptr, g + r0, acc_t(0)};
  return {g + r0 * p.classes, nullptr, acc_t(0)};
}

template <typename T>
void sigmoid_backward(const SigmoidFocalParams& p) {
  using acc_t = acc_type<T>;
  for_each_row_block<T, true>(p, [&](const SigmoidFocalRows<acc_t>& a, int64_t r0, acc_t* g) {
    const RowsUpstream<acc_t> u = rows_upstream<acc_t>(p, r0);
    sigmoid_focal_rows_grad(a, u.elem, u.row, u.scalar, g);
  });
}

// The forward of sigmoid_forward plus dL/dx of every element from the same
// evaluation (what the backward would recompute: on the CPU the element math,
// not memory, is the cost).
template <typename T>
void sigmoid_forward_with_grad(const SigmoidFocalParams& p, BadRow& bad_row) {
  using acc_t = acc_type<T>;
  acc_t* loss = static_cast<acc_t*>(p.loss);
  for_each_row_block<T, true>(p, [&](const SigmoidFocalRows<acc_t>& a, int64_t r0, acc_t* g) {
    const int64_t bad = sigmoid_focal_rows_loss_grad(a, p.reduce_rows, loss + (p.reduce_rows ? r0 : r0 * p.classes), g);
    if (bad >= 0) bad_row.record(r0 + bad);
  });
}

// grad_logits = upstream gradient x the saved dL/dx (p.logits), rounded once.
template <typename T>
void sigmoid_scale_saved(const SigmoidFocalParams& p) {
  using acc_t = acc_type<T>;
  const int64_t C = p.classes;
  constexpr bool in_place = std::is_same_v<T, acc_t>;

  at::parallel_for(0, p.rows, grain_rows(C), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> dbuf, gbuf;
    const int64_t step = rows_per_call<T>(begin, end, C);
    for (int64_t r0 = begin; r0 < end; r0 += step) {
      const int64_t rows = std::min(end - r0, step);
      const acc_t* d = as_acc(static_cast<const T*>(p.logits) + r0 * C, rows * C, 1, dbuf);
      T* dst = static_cast<T*>(p.grad_logits) + r0 * C;
      if (!in_place) gbuf.resize(rows * C);
      acc_t* g = in_place ? reinterpret_cast<acc_t*>(dst) : gbuf.data();
      const RowsUpstream<acc_t> u = rows_upstream<acc_t>(p, r0);
      sigmoid_focal_rows_scale(d, rows, C, u.elem, u.row, u.scalar, g);
      if constexpr (!in_place) {
        store_from_acc<T>(g, rows * C, dst, 1);
      }
    }
  });
}

// ---- softmax focal ---------------------------------------------------------------

template <typename T, GammaKind K>
void softmax_forward(const SoftmaxFocalParams& p, BadRow& bad_row) {
  using acc_t = acc_type<T>;
  const RowLayout L = p.layout;
  const acc_t* alpha = static_cast<const acc_t*>(p.alpha);
  const acc_t* w = static_cast<const acc_t*>(p.weight);
  acc_t* loss = static_cast<acc_t*>(p.loss);
  acc_t* lse_out = static_cast<acc_t*>(p.lse_out);
  acc_t* row_weight = static_cast<acc_t*>(p.row_weight);

  at::parallel_for(0, L.rows, grain_rows(L.classes), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> buf;
    for (int64_t row = begin; row < end; ++row) {
      const int64_t y = p.target_index[row];
      if (y == p.ignore_index || y < 0 || y >= L.classes) {
        const bool bad = y != p.ignore_index;
        if (bad) bad_row.record(row);
        loss[row] = lse_out[row] = row_weight[row] = bad ? acc_t(NAN) : acc_t(0);
        continue;
      }
      const acc_t* x = as_acc(static_cast<const T*>(p.logits) + L.row_offset(row), L.classes, L.stride_c, buf);
      const acc_t lse = log_sum_exp(x, L.classes);
      const SoftmaxFocalClass<acc_t> k = softmax_focal_class(alpha, w, y);
      loss[row] = softmax_focal_row_loss<K>(x[y] - lse, k.coeff, acc_t(p.gamma));
      lse_out[row] = lse;
      row_weight[row] = k.weight;
    }
  });
}

template <typename T, GammaKind K>
void softmax_backward(const SoftmaxFocalParams& p) {
  using acc_t = acc_type<T>;
  const RowLayout L = p.layout;
  const acc_t* alpha = static_cast<const acc_t*>(p.alpha);
  const acc_t* w = static_cast<const acc_t*>(p.weight);
  const acc_t* lse_in = static_cast<const acc_t*>(p.lse);
  const acc_t* grad_loss = static_cast<const acc_t*>(p.grad_loss);
  const bool in_place = std::is_same_v<T, acc_t> && L.inner == 1;

  at::parallel_for(0, L.rows, grain_rows(L.classes), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> xbuf, gbuf(L.classes);
    for (int64_t row = begin; row < end; ++row) {
      T* dst = static_cast<T*>(p.grad_logits) + L.dense_row_offset(row);
      acc_t* g = in_place ? reinterpret_cast<acc_t*>(dst) : gbuf.data();
      const int64_t y = p.target_index[row];
      if (y == p.ignore_index || y < 0 || y >= L.classes) {
        std::fill(g, g + L.classes, y == p.ignore_index ? acc_t(0) : acc_t(NAN));
      } else {
        const acc_t* x = as_acc(static_cast<const T*>(p.logits) + L.row_offset(row), L.classes, L.stride_c, xbuf);
        const acc_t lse = lse_in[row];
        const acc_t G = softmax_focal_grad_scale<K>(x[y] - lse, softmax_focal_class(alpha, w, y).coeff, acc_t(p.gamma),
                                                    grad_loss[row * p.grad_loss_stride]);
        // grad_c = G (p_c - [c == y]): the cross-entropy row loop with a = G, d = 0.
        const CrossEntropyIndexGrad<acc_t> k{G, G, acc_t(0)};
        cross_entropy_index_grad_row(x, g, L.classes, lse, k, static_cast<const acc_t*>(nullptr));
        g[y] = cross_entropy_index_grad(k, fast_exp(x[y] - lse), true, acc_t(1));
      }
      if (!in_place) {
        store_from_acc<T>(g, L.classes, dst, L.dense_stride_c());
      }
    }
  });
}

at::Tensor sigmoid_focal_fwd_cpu(const at::Tensor& input, const at::Tensor& target,
                                 const c10::optional<at::Tensor>& weight, double alpha, double gamma,
                                 int64_t ignore_index, double label_smoothing, bool reduce_rows) {
  auto call = glue::sigmoid_focal_call(input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows);
  glue::sigmoid_focal_alloc_loss(call);
  BadRow bad_row;
  dtype_switch<CpuTypes>(call.params.dtype,
                         [&](auto tag) { sigmoid_forward<typename decltype(tag)::type>(call.params, bad_row); });
  bad_row.raise_if_any(call.params.target_index, -1, call.params.classes, ignore_index);
  return call.loss;
}

at::Tensor sigmoid_focal_bwd_cpu(const at::Tensor& grad_loss, const at::Tensor& input, const at::Tensor& target,
                                 const c10::optional<at::Tensor>& weight, double alpha, double gamma,
                                 int64_t ignore_index, double label_smoothing, bool reduce_rows) {
  auto call = glue::sigmoid_focal_call(input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows);
  glue::sigmoid_focal_fill_backward(call, grad_loss);
  advise_huge_pages(call.grad_logits.data_ptr(), call.grad_logits.nbytes());
  dtype_switch<CpuTypes>(call.params.dtype,
                         [&](auto tag) { sigmoid_backward<typename decltype(tag)::type>(call.params); });
  return call.grad_logits;
}

std::tuple<at::Tensor, at::Tensor> sigmoid_focal_fwd_with_grad_cpu(const at::Tensor& input, const at::Tensor& target,
                                                                   const c10::optional<at::Tensor>& weight,
                                                                   double alpha, double gamma, int64_t ignore_index,
                                                                   double label_smoothing, bool reduce_rows) {
  auto call = glue::sigmoid_focal_call(input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows);
  glue::sigmoid_focal_alloc_loss(call);
  glue::sigmoid_focal_alloc_grad(call);
  advise_huge_pages(call.grad_logits.data_ptr(), call.grad_logits.nbytes());
  BadRow bad_row;
  dtype_switch<CpuTypes>(call.params.dtype, [&](auto tag) {
    sigmoid_forward_with_grad<typename decltype(tag)::type>(call.params, bad_row);
  });
  bad_row.raise_if_any(call.params.target_index, -1, call.params.classes, ignore_index);
  return {call.loss, call.grad_logits};
}

at::Tensor sigmoid_focal_bwd_saved_cpu(const at::Tensor& grad_loss, const at::Tensor& dloss_dinput, bool reduce_rows) {
  auto call = glue::sigmoid_focal_saved_call(grad_loss, dloss_dinput, reduce_rows);
  advise_huge_pages(call.grad_logits.data_ptr(), call.grad_logits.nbytes());
  dtype_switch<CpuTypes>(call.params.dtype,
                         [&](auto tag) { sigmoid_scale_saved<typename decltype(tag)::type>(call.params); });
  return call.grad_logits;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> softmax_focal_fwd_cpu(const at::Tensor& input, const at::Tensor& target,
                                                                     const c10::optional<at::Tensor>& alpha,
                                                                     const c10::optional<at::Tensor>& weight,
                                                                     double gamma, int64_t ignore_index) {
  auto call = glue::softmax_focal_call(input, target, alpha, weight, gamma, ignore_index);
  glue::softmax_focal_alloc_forward(call);
  BadRow bad_row;
  dtype_switch<CpuTypes>(call.params.dtype, [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    static_switch(kGammaKinds, call.params.gamma_kind,
                  [&](auto kind) { softmax_forward<scalar_t, decltype(kind)::value>(call.params, bad_row); });
  });
  bad_row.raise_if_any(call.params.target_index, 0, call.params.layout.classes, ignore_index);
  return {call.loss, call.lse, call.row_weight};
}

at::Tensor softmax_focal_bwd_cpu(const at::Tensor& grad_loss, const at::Tensor& input, const at::Tensor& target,
                                 const c10::optional<at::Tensor>& alpha, const c10::optional<at::Tensor>& weight,
                                 const at::Tensor& lse, double gamma, int64_t ignore_index) {
  auto call = glue::softmax_focal_call(input, target, alpha, weight, gamma, ignore_index);
  glue::softmax_focal_fill_backward(call, grad_loss, lse);
  advise_huge_pages(call.grad_logits.data_ptr(), call.grad_logits.nbytes());
  dtype_switch<CpuTypes>(call.params.dtype, [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    static_switch(kGammaKinds, call.params.gamma_kind,
                  [&](auto kind) { softmax_backward<scalar_t, decltype(kind)::value>(call.params); });
  });
  return call.grad_logits;
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CPU, m) {
  m.impl("sigmoid_focal_fwd", &sigmoid_focal_fwd_cpu);
  m.impl("sigmoid_focal_bwd", &sigmoid_focal_bwd_cpu);
  m.impl("sigmoid_focal_fwd_with_grad", &sigmoid_focal_fwd_with_grad_cpu);
  m.impl("sigmoid_focal_bwd_saved", &sigmoid_focal_bwd_saved_cpu);
  m.impl("softmax_focal_fwd", &softmax_focal_fwd_cpu);
  m.impl("softmax_focal_bwd", &softmax_focal_bwd_cpu);
}

}  // namespace cpu
}  // namespace lossext
