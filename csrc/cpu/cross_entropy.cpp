// The CPU side of kernels/cross_entropy.cu: the vectorized row loops of
// cpu/cross_entropy.h and the entry points cross_entropy_*_cpu over the
// params of kernels/cross_entropy.h. Rows go to the injected parallel-for,
// each row through the loops in the accumulate type (half and bfloat16 rows
// widened to float, strided rows gathered). Free of torch headers: this file
// compiles in seconds and holds all of the CPU inner loops.
#include "cpu/vectorize.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "cpu/acc_rows.h"
#include "cpu/cross_entropy.h"
#include "cpu/memory.h"
#include "kernels/cross_entropy.h"

namespace lossext {
namespace cpu {
namespace {

template <typename T>
LOSSEXT_ALWAYS_INLINE T max_impl(const T* x, int64_t n) {
  T m = neg_infinity<T>();
#pragma omp simd reduction(max : m)
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

template <typename T>
LOSSEXT_ALWAYS_INLINE T sum_exp_impl(const T* x, int64_t n, T shift) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += fast_exp(x[i] - shift);
  return s;
}

template <typename T>
LOSSEXT_ALWAYS_INLINE T dot_impl(const T* x, const T* w, int64_t n) {
  T s = 0;
  if (w == nullptr) {
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += x[i];
  } else {
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += w[i] * x[i];
  }
  return s;
}

template <typename T>
LOSSEXT_ALWAYS_INLINE void index_grad_impl(const T* x, T* out, int64_t n, T lse, const CrossEntropyIndexGrad<T>& k,
                                           const T* w) {
  if (w == nullptr) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = cross_entropy_index_grad(k, fast_exp(x[i] - lse), false, T(1));
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = cross_entropy_index_grad(k, fast_exp(x[i] - lse), false, w[i]);
  }
}

template <typename T>
LOSSEXT_ALWAYS_INLINE void prob_stats_impl(const T* x, const T* t, const T* w, int64_t n, T smoothing, int64_t classes,
                                           T* mass_out, T* dot_out) {
  T mass = 0, dot = 0;
#pragma omp simd reduction(+ : mass, dot)
  for (int64_t i = 0; i < n; ++i) {
    const T tw = cross_entropy_prob_target(t[i], w ? w[i] : T(1), smoothing, classes);
    mass += tw;
    dot += tw * x[i];
  }
  *mass_out = mass;
  *dot_out = dot;
}

template <typename T>
LOSSEXT_ALWAYS_INLINE void prob_grad_impl(const T* x, const T* t, const T* w, T* out, int64_t n, T lse, T a, T grad_row,
                                          T smoothing, int64_t classes) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const T tw = cross_entropy_prob_target(t[i], w ? w[i] : T(1), smoothing, classes);
    out[i] = cross_entropy_prob_grad(a, grad_row, fast_exp(x[i] - lse), tw);
  }
}

}  // namespace

LOSSEXT_CPU_CLONES float row_max(const float* x, int64_t n) { return max_impl(x, n); }
double row_max(const double* x, int64_t n) { return max_impl(x, n); }

LOSSEXT_CPU_CLONES float row_sum_exp(const float* x, int64_t n, float shift) { return sum_exp_impl(x, n, shift); }
double row_sum_exp(const double* x, int64_t n, double shift) { return sum_exp_impl(x, n, shift); }

LOSSEXT_CPU_CLONES float row_dot(const float* x, const float* w, int64_t n) { return dot_impl(x, w, n); }
double row_dot(const double* x, const double* w, int64_t n) { return dot_impl(x, w, n); }

LOSSEXT_CPU_CLONES void cross_entropy_index_grad_row(const float* x, float* out, int64_t n, float lse,
                                                     const CrossEntropyIndexGrad<float>& k, const float* w) {
  index_grad_impl(x, out, n, lse, k, w);
}
void cross_entropy_index_grad_row(const double* x, double* out, int64_t n, double lse,
                                  const CrossEntropyIndexGrad<double>& k, const double* w) {
  index_grad_impl(x, out, n, lse, k, w);
}

LOSSEXT_CPU_CLONES void cross_entropy_prob_stats_row(const float* x, const float* t, const float* w, int64_t n,
                                                     float smoothing, int64_t classes, float* mass, float* dot) {
  prob_stats_impl(x, t, w, n, smoothing, classes, mass, dot);
}
void cross_entropy_prob_stats_row(const double* x, const double* t, const double* w, int64_t n, double smoothing,
                                  int64_t classes, double* mass, double* dot) {
  prob_stats_impl(x, t, w, n, smoothing, classes, mass, dot);
}

LOSSEXT_CPU_CLONES void cross_entropy_prob_grad_row(const float* x, const float* t, const float* w, float* out,
                                                    int64_t n, float lse, float a, float grad_row, float smoothing,
                                                    int64_t classes) {
  prob_grad_impl(x, t, w, out, n, lse, a, grad_row, smoothing, classes);
}
void cross_entropy_prob_grad_row(const double* x, const double* t, const double* w, double* out, int64_t n, double lse,
                                 double a, double grad_row, double smoothing, int64_t classes) {
  prob_grad_impl(x, t, w, out, n, lse, a, grad_row, smoothing, classes);
}

namespace {

int64_t grain(int64_t classes) { return grain_rows(classes, 32768); }

// Row `row` as contiguous accumulate-type values (see acc_row).
template <typename T>
const acc_type<T>* load_row(const void* base, const RowLayout& L, int64_t row, std::vector<acc_type<T>>& buf) {
  return acc_row(static_cast<const T*>(base) + L.row_offset(row), L.classes, L.stride_c, buf);
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
  store_acc_row<T>(values, L.classes, out, L.dense_stride_c());
}

// The gradient buffer is fresh memory the size of the logits: fewer page faults with huge pages.
template <typename T>
void advise_grad(const CrossEntropyParams& p) {
  const RowLayout& L = p.layout;
  advise_huge_pages(p.grad_logits, size_t(L.rows * L.classes) * sizeof(T));
}

template <typename T>
void index_forward(const CrossEntropyParams& p, ParallelFor parallel_for, FirstBadIndex& bad_row) {
  using acc_t = acc_type<T>;
  const RowLayout L = p.layout;
  const acc_t* w = static_cast<const acc_t*>(p.weight);
  const acc_t weight_sum = w ? *static_cast<const acc_t*>(p.weight_sum) : acc_t(L.classes);
  const acc_t smoothing = static_cast<acc_t>(p.label_smoothing);
  const acc_t z_loss = static_cast<acc_t>(p.z_loss);
  acc_t* loss = static_cast<acc_t*>(p.loss);
  acc_t* lse_out = static_cast<acc_t*>(p.lse_out);
  acc_t* row_weight = static_cast<acc_t*>(p.row_weight);

  parallel_for(0, L.rows, grain(L.classes), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> buf;
    for (int64_t row = begin; row < end; ++row) {
      const int64_t y = p.target_index[row];
      const bool ignored = p.ignore_index.matches(y);
      if (ignored || y < 0 || y >= L.classes) {
        if (!ignored) bad_row.offer(row);
        loss[row] = lse_out[row] = row_weight[row] = ignored ? acc_t(0) : acc_t(NAN);
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
void index_backward(const CrossEntropyParams& p, ParallelFor parallel_for, FirstBadIndex& bad_row) {
  using acc_t = acc_type<T>;
  const RowLayout L = p.layout;
  const acc_t* w = static_cast<const acc_t*>(p.weight);
  const acc_t weight_sum = w ? *static_cast<const acc_t*>(p.weight_sum) : acc_t(L.classes);
  const acc_t smoothing = static_cast<acc_t>(p.label_smoothing);
  const acc_t z_loss = static_cast<acc_t>(p.z_loss);
  const acc_t* lse_in = static_cast<const acc_t*>(p.lse);
  const acc_t* grad_loss = static_cast<const acc_t*>(p.grad_loss);
  advise_grad<T>(p);

  parallel_for(0, L.rows, grain(L.classes), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> xbuf, gbuf;
    for (int64_t row = begin; row < end; ++row) {
      const int64_t y = p.target_index[row];
      acc_t* g = grad_row_target<T>(p.grad_logits, L, row, gbuf);
      const bool ignored = p.ignore_index.matches(y);
      if (ignored || y < 0 || y >= L.classes) {
        if (!ignored) bad_row.offer(row);
        std::fill(g, g + L.classes, ignored ? acc_t(0) : acc_t(NAN));
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
void prob_forward(const CrossEntropyParams& p, ParallelFor parallel_for) {
  using acc_t = acc_type<T>;
  const RowLayout L = p.layout;
  const acc_t* w = static_cast<const acc_t*>(p.weight);
  const acc_t smoothing = static_cast<acc_t>(p.label_smoothing);
  const acc_t z_loss = static_cast<acc_t>(p.z_loss);

  parallel_for(0, L.rows, grain(L.classes), [&](int64_t begin, int64_t end) {
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
void prob_backward(const CrossEntropyParams& p, ParallelFor parallel_for) {
  using acc_t = acc_type<T>;
  const RowLayout L = p.layout;
  const acc_t* w = static_cast<const acc_t*>(p.weight);
  const acc_t smoothing = static_cast<acc_t>(p.label_smoothing);
  const acc_t z_loss = static_cast<acc_t>(p.z_loss);
  advise_grad<T>(p);

  parallel_for(0, L.rows, grain(L.classes), [&](int64_t begin, int64_t end) {
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

}  // namespace
}  // namespace cpu

CpuStatus cross_entropy_index_fwd_cpu(const CrossEntropyParams& p, ParallelFor parallel_for) {
  FirstBadIndex bad_row;
  if (p.layout.rows > 0) {
    dtype_switch<cpu::LoopTypes>(
        p.dtype, [&](auto tag) { cpu::index_forward<typename decltype(tag)::type>(p, parallel_for, bad_row); });
  }
  return bad_row.status();
}

CpuStatus cross_entropy_index_bwd_cpu(const CrossEntropyParams& p, ParallelFor parallel_for) {
  FirstBadIndex bad_row;
  if (p.layout.rows > 0) {
    dtype_switch<cpu::LoopTypes>(
        p.dtype, [&](auto tag) { cpu::index_backward<typename decltype(tag)::type>(p, parallel_for, bad_row); });
  }
  return bad_row.status();
}

CpuStatus cross_entropy_prob_fwd_cpu(const CrossEntropyParams& p, ParallelFor parallel_for) {
  if (p.layout.rows > 0) {
    dtype_switch<cpu::LoopTypes>(p.dtype,
                                 [&](auto tag) { cpu::prob_forward<typename decltype(tag)::type>(p, parallel_for); });
  }
  return {};
}

CpuStatus cross_entropy_prob_bwd_cpu(const CrossEntropyParams& p, ParallelFor parallel_for) {
  if (p.layout.rows > 0) {
    dtype_switch<cpu::LoopTypes>(p.dtype,
                                 [&](auto tag) { cpu::prob_backward<typename decltype(tag)::type>(p, parallel_for); });
  }
  return {};
}

}  // namespace lossext
