// CPU implementation of the cross-entropy ops: rows in parallel
// (at::parallel_for), each row through the vectorized primitives of
// loops/cross_entropy.h, which apply the formulas of kernels/cross_entropy.h.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <type_traits>
#include <vector>

#include "cpu/dispatch.h"
#include "cpu/loops/memory.h"
#include "cpu/loops/cross_entropy.h"
#include "glue/cross_entropy.h"

namespace lossext {
namespace cpu {
namespace {

using glue::CrossEntropyCall;

int64_t grain_rows(int64_t classes) { return cpu::grain_rows(classes, 32768); }

// Row `row` as contiguous accumulate-type values (see as_acc).
template <typename T>
const acc_type<T>* load_row(const void* base, const RowLayout& L, int64_t row, std::vector<acc_type<T>>& buf) {
  return as_acc(static_cast<const T*>(base) + L.row_offset(row), L.classes, L.stride_c, buf);
}

// Where a row's gradient is computed: straight into the output when it is a
// contiguous accumulate-type row, else into `buf` and copied by store_row.
template <typename T>
bool writes_in_place(const RowLayout& L) {
  return std::is_same_v<T, acc_type<T>> && L.inner == 1;
}

template <typename T>
acc_type<T>* grad_row_target(void* grad, const RowLayout& L, int64_t row, std::vector<acc_type<T>>& buf) {
  if (writes_in_place<T>(L)) return reinterpret_cast<acc_type<T>*>(static_cast<T*>(grad) + L.dense_row_offset(row));
  buf.resize(L.classes);
  return buf.data();
}

template <typename T>
void store_row(void* grad, const RowLayout& L, int64_t row, const acc_type<T>* values) {
  if (writes_in_place<T>(L)) return;
  T* out = static_cast<T*>(grad) + L.dense_row_offset(row);
  store_from_acc<T>(values, L.classes, out, L.dense_stride_c());
}

template <typename T>
void index_forward(const CrossEntropyParams& p, BadRow& bad_row) {
  using acc_t = acc_type<T>;
  const RowLayout L = p.layout;
  const acc_t* w = static_cast<const acc_t*>(p.weight);
  const acc_t weight_sum = w ? *static_cast<const acc_t*>(p.weight_sum) : acc_t(L.classes);
  const acc_t smoothing = static_cast<acc_t>(p.label_smoothing);
  const acc_t z_loss = static_cast<acc_t>(p.z_loss);
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
      const acc_t* x = load_row<T>(p.logits, L, row, buf);
      const acc_t lse = log_sum_exp(x, L.classes);
      CrossEntropyIndexRow<acc_t> r;
      r.target_logit = x[y];
      r.target_weight = w ? w[y] : acc_t(1);
      r.weight_sum = weight_sum;
      r.weighted_logits = smoothing > acc_t(0) ? row_dot(x, w, L.classes) : acc_t(0);
      loss[row] = cross_entropy_index_loss(lse, r, smoothing, L.classes, z_loss);
      lse_out[row] = lse;
      row_weight[row] = r.target_weight;
    }
  });
}

template <typename T>
void index_backward(const CrossEntropyParams& p) {
  using acc_t = acc_type<T>;
  const RowLayout L = p.layout;
  const acc_t* w = static_cast<const acc_t*>(p.weight);
  const acc_t weight_sum = w ? *static_cast<const acc_t*>(p.weight_sum) : acc_t(L.classes);
  const acc_t smoothing = static_cast<acc_t>(p.label_smoothing);
  const acc_t z_loss = static_cast<acc_t>(p.z_loss);
  const acc_t* lse_in = static_cast<const acc_t*>(p.lse);
  const acc_t* grad_loss = static_cast<const acc_t*>(p.grad_loss);

  at::parallel_for(0, L.rows, grain_rows(L.classes), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> xbuf, gbuf;
    for (int64_t row = begin; row < end; ++row) {
      const int64_t y = p.target_index[row];
      acc_t* g = grad_row_target<T>(p.grad_logits, L, row, gbuf);
      if (y == p.ignore_index || y < 0 || y >= L.classes) {
        std::fill(g, g + L.classes, y == p.ignore_index ? acc_t(0) : acc_t(NAN));
      } else {
        const acc_t* x = load_row<T>(p.logits, L, row, xbuf);
        const acc_t lse = lse_in[row];
        const acc_t target_weight = w ? w[y] : acc_t(1);
        const CrossEntropyIndexGrad<acc_t> k = cross_entropy_index_grad_coeffs(
            grad_loss[row * p.grad_loss_stride], lse, target_weight, weight_sum, smoothing, L.classes, z_loss);
        cross_entropy_index_grad_row(x, g, L.classes, lse, k, w);
        g[y] = cross_entropy_index_grad(k, fast_exp(x[y] - lse), true, target_weight);
      }
      store_row<T>(p.grad_logits, L, row, g);
    }
  });
}

template <typename T>
void prob_forward(const CrossEntropyParams& p) {
  using acc_t = acc_type<T>;
  const RowLayout L = p.layout;
  const acc_t* w = static_cast<const acc_t*>(p.weight);
  const acc_t smoothing = static_cast<acc_t>(p.label_smoothing);
  const acc_t z_loss = static_cast<acc_t>(p.z_loss);

  at::parallel_for(0, L.rows, grain_rows(L.classes), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> xbuf, tbuf;
    for (int64_t row = begin; row < end; ++row) {
      const acc_t* x = load_row<T>(p.logits, L, row, xbuf);
      const acc_t* t = load_row<T>(p.target_probs, p.target_layout, row, tbuf);
      const acc_t lse = log_sum_exp(x, L.classes);
      acc_t mass, dot;
      cross_entropy_prob_stats_row(x, t, w, L.classes, smoothing, L.classes, &mass, &dot);
      static_cast<acc_t*>(p.loss)[row] = cross_entropy_prob_loss(lse, mass, dot, z_loss);
      static_cast<acc_t*>(p.lse_out)[row] = lse;
      static_cast<acc_t*>(p.target_mass_out)[row] = mass;
    }
  });
}

template <typename T>
void prob_backward(const CrossEntropyParams& p) {
  using acc_t = acc_type<T>;
  const RowLayout L = p.layout;
  const acc_t* w = static_cast<const acc_t*>(p.weight);
  const acc_t smoothing = static_cast<acc_t>(p.label_smoothing);
  const acc_t z_loss = static_cast<acc_t>(p.z_loss);

  at::parallel_for(0, L.rows, grain_rows(L.classes), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> xbuf, tbuf, gbuf;
    for (int64_t row = begin; row < end; ++row) {
      const acc_t* x = load_row<T>(p.logits, L, row, xbuf);
      const acc_t* t = load_row<T>(p.target_probs, p.target_layout, row, tbuf);
      acc_t* g = grad_row_target<T>(p.grad_logits, L, row, gbuf);
      const acc_t lse = static_cast<const acc_t*>(p.lse)[row];
      const acc_t grad_row = static_cast<const acc_t*>(p.grad_loss)[row * p.grad_loss_stride];
      const acc_t a =
          cross_entropy_prob_grad_coeff(grad_row, lse, static_cast<const acc_t*>(p.target_mass)[row], z_loss);
      cross_entropy_prob_grad_row(x, t, w, g, L.classes, lse, a, grad_row, smoothing, L.classes);
      store_row<T>(p.grad_logits, L, row, g);
    }
  });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> cross_entropy_index_fwd_cpu(const at::Tensor& logits,
                                                                           const at::Tensor& target,
                                                                           const c10::optional<at::Tensor>& weight,
                                                                           int64_t ignore_index, double label_smoothing,
                                                                           double z_loss) {
  CrossEntropyCall call = glue::index_forward_call(logits, target, weight, ignore_index, label_smoothing, z_loss);
  BadRow bad_row;
  dtype_switch<CpuTypes>(call.params.dtype,
                         [&](auto tag) { index_forward<typename decltype(tag)::type>(call.params, bad_row); });
  bad_row.raise_if_any(call.params.target_index, 0, call.params.layout.classes, ignore_index);
  return {call.loss, call.lse, call.aux};
}

at::Tensor cross_entropy_index_bwd_cpu(const at::Tensor& grad_loss, const at::Tensor& logits, const at::Tensor& target,
                                       const c10::optional<at::Tensor>& weight, const at::Tensor& lse,
                                       int64_t ignore_index, double label_smoothing, double z_loss) {
  CrossEntropyCall call =
      glue::index_backward_call(grad_loss, logits, target, weight, lse, ignore_index, label_smoothing, z_loss);
  advise_huge_pages(call.grad_logits.data_ptr(), call.grad_logits.nbytes());
  dtype_switch<CpuTypes>(call.params.dtype,
                         [&](auto tag) { index_backward<typename decltype(tag)::type>(call.params); });
  return call.grad_logits;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> cross_entropy_prob_fwd_cpu(const at::Tensor& logits,
                                                                          const at::Tensor& target,
                                                                          const c10::optional<at::Tensor>& weight,
                                                                          double label_smoothing, double z_loss) {
  CrossEntropyCall call = glue::prob_forward_call(logits, target, weight, label_smoothing, z_loss);
  dtype_switch<CpuTypes>(call.params.dtype, [&](auto tag) { prob_forward<typename decltype(tag)::type>(call.params); });
  return {call.loss, call.lse, call.aux};
}

at::Tensor cross_entropy_prob_bwd_cpu(const at::Tensor& grad_loss, const at::Tensor& logits, const at::Tensor& target,
                                      const c10::optional<at::Tensor>& weight, const at::Tensor& lse,
                                      const at::Tensor& target_mass, double label_smoothing, double z_loss) {
  CrossEntropyCall call =
      glue::prob_backward_call(grad_loss, logits, target, weight, lse, target_mass, label_smoothing, z_loss);
  advise_huge_pages(call.grad_logits.data_ptr(), call.grad_logits.nbytes());
  dtype_switch<CpuTypes>(call.params.dtype,
                         [&](auto tag) { prob_backward<typename decltype(tag)::type>(call.params); });
  return call.grad_logits;
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CPU, m) {
  m.impl("cross_entropy_index_fwd", &cross_entropy_index_fwd_cpu);
  m.impl("cross_entropy_index_bwd", &cross_entropy_index_bwd_cpu);
  m.impl("cross_entropy_prob_fwd", &cross_entropy_prob_fwd_cpu);
  m.impl("cross_entropy_prob_bwd", &cross_entropy_prob_bwd_cpu);
}

}  // namespace cpu
}  // namespace lossext
