// The CPU side of kernels/focal.cu: the entry points sigmoid_focal_*_cpu and
// softmax_focal_*_cpu over the params of kernels/focal.h.
//
// Sigmoid focal: blocks of contiguous rows, in the accumulate type, go through
// row loops compiled per x86 ISA level (cpu/vectorize.h). Every variant
// (gamma kind, dense or index target, weighted or not, upstream gradient per
// element or not) is its own loop so that the vectorizer sees no
// loop-invariant branch; the runtime choices are made once per block of rows.
// Softmax focal: a row at a time through the cross-entropy row loops
// (cpu/cross_entropy.h) and the row math of kernels/focal.h.
#include "cpu/vectorize.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "cpu/acc_rows.h"
#include "cpu/cross_entropy.h"
#include "cpu/memory.h"
#include "kernels/focal.h"

namespace lossext {
namespace cpu {

// `rows` x `classes` logits in the accumulate type, contiguous, with either
// dense targets `t` (the same shape) or class indices `y` (one a row: c makes
// class c positive, -1 every class negative, ignore_index nothing, any other
// value is a bad row). `w`: per-class weights, or null.
template <typename T>
struct SigmoidFocalRows {
  const T* x = nullptr;
  const T* t = nullptr;
  const int64_t* y = nullptr;
  IgnoreIndex ignore_index;
  const T* w = nullptr;
  int64_t rows = 0;
  int64_t classes = 0;
  SigmoidFocalConfig<T> cfg{};
  GammaKind kind = GammaKind::Two;
};

// The upstream gradient of a block of rows: loss value k of the block (row r
// when reduce, else element r * classes + c) at g[k * stride], stride 0 (one
// value) or 1.
template <typename T>
struct RowsUpstream {
  const T* g = nullptr;
  int64_t stride = 1;
  bool reduce = false;

  bool per_element() const { return !reduce && stride != 0; }
  // The factor of row r when it is the same for the whole row.
  LOSSEXT_ALWAYS_INLINE T row(int64_t r) const { return g[reduce ? r * stride : 0]; }
};

namespace {

// Index targets: the loops treat every class as a negative (folding the
// hard-target arms of sigmoid_focal_element) and the positive class y, if
// any, is done on its own.
template <bool DENSE>
constexpr FocalTarget kBulk = DENSE ? FocalTarget::Soft : FocalTarget::Negative;

template <typename T, bool DENSE>
LOSSEXT_ALWAYS_INLINE T target_at(const T* t, int64_t c) {
  if constexpr (DENSE) {
    return t[c];
  } else {
    return T(0);
  }
}

template <bool LOSS, GammaKind K, typename T>
LOSSEXT_ALWAYS_INLINE T positive(T x, T w, const SigmoidFocalConfig<T>& cfg) {
  return sigmoid_focal_element<LOSS, K, FocalTarget::Positive>(x, T(1), w, cfg);
}

template <GammaKind K, bool DENSE, bool WEIGHTED, typename T>
LOSSEXT_ALWAYS_INLINE void row_loss(const T* x, const T* t, int64_t y, const T* w, int64_t n,
                                    const SigmoidFocalConfig<T>& cfg, T* out) {
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) {
    out[c] = sigmoid_focal_element<true, K, kBulk<DENSE>>(x[c], target_at<T, DENSE>(t, c), WEIGHTED ? w[c] : T(1), cfg);
  }
  if (!DENSE && y >= 0) out[y] = positive<true, K>(x[y], WEIGHTED ? w[y] : T(1), cfg);
}

// sum_c v[c] over 16 fixed lanes and a fixed tree, not the vector width, so
// that the AVX-512, AVX2 and baseline clones add in the same order and return
// the same bits. The element losses go through a row buffer in L1 first: a
// reduction inside the element loop keeps gcc from vectorizing that loop well.
constexpr int kLanes = 16;

template <typename T>
LOSSEXT_ALWAYS_INLINE T lane_sum(const T* v, int64_t n) {
  T lanes[kLanes] = {};
  int64_t c0 = 0;
  for (; c0 + kLanes <= n; c0 += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] += v[c0 + l];
  }
  for (int l = 0; c0 + l < n; ++l) lanes[l] += v[c0 + l];
  for (int l = 0; l < 8; ++l) lanes[l] += lanes[l + 8];
  for (int l = 0; l < 4; ++l) lanes[l] += lanes[l + 4];
  for (int l = 0; l < 2; ++l) lanes[l] += lanes[l + 2];
  return lanes[0] + lanes[1];
}

template <GammaKind K, bool DENSE, bool WEIGHTED, bool PER_ELEMENT, typename T>
LOSSEXT_ALWAYS_INLINE void row_grad(const T* x, const T* t, int64_t y, const T* w, int64_t n,
                                    const SigmoidFocalConfig<T>& cfg, const T* g, T row_factor, T* out) {
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) {
    const T d =
        sigmoid_focal_element<false, K, kBulk<DENSE>>(x[c], target_at<T, DENSE>(t, c), WEIGHTED ? w[c] : T(1), cfg);
    out[c] = (PER_ELEMENT ? g[c] : row_factor) * d;
  }
  if (!DENSE && y >= 0) {
    out[y] = (PER_ELEMENT ? g[y] : row_factor) * positive<false, K>(x[y], WEIGHTED ? w[y] : T(1), cfg);
  }
}

// Loss and gradient of a row from one evaluation of the element math.
template <GammaKind K, bool DENSE, bool WEIGHTED, typename T>
LOSSEXT_ALWAYS_INLINE void row_loss_grad(const T* x, const T* t, int64_t y, const T* w, int64_t n,
                                         const SigmoidFocalConfig<T>& cfg, T* out, T* d) {
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) {
    const FocalValueGrad<T> v =
        sigmoid_focal_value_grad<K, kBulk<DENSE>>(x[c], target_at<T, DENSE>(t, c), WEIGHTED ? w[c] : T(1), cfg);
    out[c] = v.loss;
    d[c] = v.grad;
  }
  if (!DENSE && y >= 0) {
    const FocalValueGrad<T> v =
        sigmoid_focal_value_grad<K, FocalTarget::Positive>(x[y], T(1), WEIGHTED ? w[y] : T(1), cfg);
    out[y] = v.loss;
    d[y] = v.grad;
  }
}

// Whether a row with class index y is skipped, and what fills it then (0 when
// ignored, nan for a bad index).
template <typename T>
LOSSEXT_ALWAYS_INLINE bool skip_row(const SigmoidFocalRows<T>& a, int64_t y, T* fill) {
  const bool ignored = a.ignore_index.matches(y);
  *fill = ignored ? T(0) : T(NAN);
  return ignored || y < -1 || y >= a.classes;
}

template <GammaKind K, bool DENSE, bool WEIGHTED, typename T>
LOSSEXT_ALWAYS_INLINE int64_t loss_rows(const SigmoidFocalRows<T>& a, bool reduce, T* loss) {
  const SigmoidFocalConfig<T> cfg = a.cfg;  // a local copy: `loss` cannot alias it
  const int64_t C = a.classes;
  int64_t bad = -1;
  std::vector<T> row(reduce ? C : 0);
  for (int64_t r = 0; r < a.rows; ++r) {
    T* out = reduce ? loss + r : loss + r * C;
    int64_t y = -1;
    if constexpr (!DENSE) {
      y = a.y[r];
      T fill;
      if (skip_row(a, y, &fill)) {
        // Ignored rows read no logits; a bad index is never dereferenced.
        if (fill != T(0) && bad < 0) bad = r;
        std::fill(out, out + (reduce ? 1 : C), fill);
        continue;
      }
    }
    const T* x = a.x + r * C;
    const T* t = DENSE ? a.t + r * C : nullptr;
    if (reduce) {
      row_loss<K, DENSE, WEIGHTED>(x, t, y, a.w, C, cfg, row.data());
      *out = lane_sum(row.data(), C);
    } else {
      row_loss<K, DENSE, WEIGHTED>(x, t, y, a.w, C, cfg, out);
    }
  }
  return bad;
}

template <GammaKind K, bool DENSE, bool WEIGHTED, bool PER_ELEMENT, typename T>
LOSSEXT_ALWAYS_INLINE int64_t grad_rows(const SigmoidFocalRows<T>& a, const RowsUpstream<T>& u, T* grad) {
  const SigmoidFocalConfig<T> cfg = a.cfg;
  const int64_t C = a.classes;
  int64_t bad = -1;
  for (int64_t r = 0; r < a.rows; ++r) {
    T* out = grad + r * C;
    int64_t y = -1;
    if constexpr (!DENSE) {
      y = a.y[r];
      T fill;
      if (skip_row(a, y, &fill)) {
        if (fill != T(0) && bad < 0) bad = r;
        std::fill(out, out + C, fill);
        continue;
      }
    }
    row_grad<K, DENSE, WEIGHTED, PER_ELEMENT>(a.x + r * C, DENSE ? a.t + r * C : nullptr, y, a.w, C, cfg,
                                              PER_ELEMENT ? u.g + r * C : nullptr, PER_ELEMENT ? T(0) : u.row(r), out);
  }
  return bad;
}

template <GammaKind K, bool DENSE, bool WEIGHTED, typename T>
LOSSEXT_ALWAYS_INLINE int64_t loss_grad_rows(const SigmoidFocalRows<T>& a, bool reduce, T* loss, T* grad) {
  const SigmoidFocalConfig<T> cfg = a.cfg;
  const int64_t C = a.classes;
  int64_t bad = -1;
  std::vector<T> row(reduce ? C : 0);
  for (int64_t r = 0; r < a.rows; ++r) {
    T* out = reduce ? loss + r : loss + r * C;
    T* d = grad + r * C;
    int64_t y = -1;
    if constexpr (!DENSE) {
      y = a.y[r];
      T fill;
      if (skip_row(a, y, &fill)) {
        if (fill != T(0) && bad < 0) bad = r;
        std::fill(out, out + (reduce ? 1 : C), fill);
        std::fill(d, d + C, fill);
        continue;
      }
    }
    const T* x = a.x + r * C;
    const T* t = DENSE ? a.t + r * C : nullptr;
    if (reduce) {
      row_loss_grad<K, DENSE, WEIGHTED>(x, t, y, a.w, C, cfg, row.data(), d);
      *out = lane_sum(row.data(), C);
    } else {
      row_loss_grad<K, DENSE, WEIGHTED>(x, t, y, a.w, C, cfg, out, d);
    }
  }
  return bad;
}

// out[r, c] = g_rc d[r, c], g_rc the upstream gradient of element (r, c).
template <bool PER_ELEMENT, typename T>
LOSSEXT_ALWAYS_INLINE void scale_rows(const T* d, int64_t rows, int64_t C, const RowsUpstream<T>& u, T* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const T g = PER_ELEMENT ? T(0) : u.row(r);
    const T* dr = d + r * C;
    const T* ge = PER_ELEMENT ? u.g + r * C : nullptr;
    T* o = out + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) o[c] = (PER_ELEMENT ? ge[c] : g) * dr[c];
  }
}

// The runtime choices become template arguments here, in the body of each
// cloned entry point, so that every loop is inlined into (and vectorized for)
// the clone's ISA; the switch's body is an always-inline lambda for the same
// reason (an outlined one would be compiled for the baseline only).
#define LOSSEXT_FOCAL_VARIANTS(CALL) \
  static_switch(kGammaKinds, a.kind, [&](auto kind) LOSSEXT_INLINE_LAMBDA { CALL(decltype(kind)::value); })

#define LOSSEXT_FOCAL_LOSS(K)                         \
  if (a.t && a.w)                                     \
    bad = loss_rows<K, true, true>(a, reduce, loss);  \
  else if (a.t)                                       \
    bad = loss_rows<K, true, false>(a, reduce, loss); \
  else if (a.w)                                       \
    bad = loss_rows<K, false, true>(a, reduce, loss); \
  else                                                \
    bad = loss_rows<K, false, false>(a, reduce, loss);

#define LOSSEXT_FOCAL_GRAD_G(K, D, W)          \
  if (u.per_element())                         \
    bad = grad_rows<K, D, W, true>(a, u, out); \
  else                                         \
    bad = grad_rows<K, D, W, false>(a, u, out);

#define LOSSEXT_FOCAL_GRAD(K)             \
  if (a.t && a.w) {                       \
    LOSSEXT_FOCAL_GRAD_G(K, true, true)   \
  } else if (a.t) {                       \
    LOSSEXT_FOCAL_GRAD_G(K, true, false)  \
  } else if (a.w) {                       \
    LOSSEXT_FOCAL_GRAD_G(K, false, true)  \
  } else {                                \
    LOSSEXT_FOCAL_GRAD_G(K, false, false) \
  }

#define LOSSEXT_FOCAL_LOSS_GRAD(K)                               \
  if (a.t && a.w)                                                \
    bad = loss_grad_rows<K, true, true>(a, reduce, loss, grad);  \
  else if (a.t)                                                  \
    bad = loss_grad_rows<K, true, false>(a, reduce, loss, grad); \
  else if (a.w)                                                  \
    bad = loss_grad_rows<K, false, true>(a, reduce, loss, grad); \
  else                                                           \
    bad = loss_grad_rows<K, false, false>(a, reduce, loss, grad);

}  // namespace

LOSSEXT_CPU_CLONES int64_t sigmoid_focal_rows_loss(const SigmoidFocalRows<float>& a, bool reduce, float* loss) {
  int64_t bad = -1;
  LOSSEXT_FOCAL_VARIANTS(LOSSEXT_FOCAL_LOSS);
  return bad;
}

int64_t sigmoid_focal_rows_loss(const SigmoidFocalRows<double>& a, bool reduce, double* loss) {
  int64_t bad = -1;
  LOSSEXT_FOCAL_VARIANTS(LOSSEXT_FOCAL_LOSS);
  return bad;
}

LOSSEXT_CPU_CLONES int64_t sigmoid_focal_rows_grad(const SigmoidFocalRows<float>& a, const RowsUpstream<float>& u,
                                                   float* out) {
  int64_t bad = -1;
  LOSSEXT_FOCAL_VARIANTS(LOSSEXT_FOCAL_GRAD);
  return bad;
}

int64_t sigmoid_focal_rows_grad(const SigmoidFocalRows<double>& a, const RowsUpstream<double>& u, double* out) {
  int64_t bad = -1;
  LOSSEXT_FOCAL_VARIANTS(LOSSEXT_FOCAL_GRAD);
  return bad;
}

LOSSEXT_CPU_CLONES int64_t sigmoid_focal_rows_loss_grad(const SigmoidFocalRows<float>& a, bool reduce, float* loss,
                                                        float* grad) {
  int64_t bad = -1;
  LOSSEXT_FOCAL_VARIANTS(LOSSEXT_FOCAL_LOSS_GRAD);
  return bad;
}

int64_t sigmoid_focal_rows_loss_grad(const SigmoidFocalRows<double>& a, bool reduce, double* loss, double* grad) {
  int64_t bad = -1;
  LOSSEXT_FOCAL_VARIANTS(LOSSEXT_FOCAL_LOSS_GRAD);
  return bad;
}

LOSSEXT_CPU_CLONES void sigmoid_focal_rows_scale(const float* d, int64_t rows, int64_t classes,
                                                 const RowsUpstream<float>& u, float* out) {
  if (u.per_element())
    scale_rows<true>(d, rows, classes, u, out);
  else
    scale_rows<false>(d, rows, classes, u, out);
}

void sigmoid_focal_rows_scale(const double* d, int64_t rows, int64_t classes, const RowsUpstream<double>& u,
                              double* out) {
  if (u.per_element())
    scale_rows<true>(d, rows, classes, u, out);
  else
    scale_rows<false>(d, rows, classes, u, out);
}

namespace {

int64_t grain(int64_t classes) { return grain_rows(classes, 16384); }

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
  a.x = acc_row(static_cast<const T*>(p.logits) + r0 * C, n, 1, xbuf);
  if (p.target_dense) {
    // A non-null a.t is what says "dense targets", also for rows without
    // classes, whose converted block is empty (and may have no address).
    static const acc_type<T> kNoClasses = 0;
    a.t = n > 0 ? acc_row(static_cast<const T*>(p.target_dense) + r0 * C, n, 1, tbuf) : &kNoClasses;
  }
  if (p.target_index) a.y = p.target_index + r0;
}

// A thread's rows go to the row loops in one call when the logits already
// are in the accumulate type (the per-row work then has no call or dispatch
// overhead), else in blocks converted on the fly.
template <typename T>
int64_t rows_per_call(int64_t begin, int64_t end, int64_t classes) {
  return std::is_same_v<T, acc_type<T>> ? std::max<int64_t>(end - begin, 1) : convert_block_rows(classes);
}

// The upstream gradient of the rows from r0 on.
template <typename acc_t>
RowsUpstream<acc_t> rows_upstream(const SigmoidFocalParams& p, int64_t r0) {
  const acc_t* g = static_cast<const acc_t*>(p.grad_loss);
  return {g + (p.reduce_rows ? r0 : r0 * p.classes) * p.grad_loss_stride, p.grad_loss_stride, p.reduce_rows};
}

// A gradient-sized output is fresh memory: fewer page faults with huge pages.
template <typename T>
void advise_rows(void* out, const SigmoidFocalParams& p) {
  advise_huge_pages(out, size_t(p.rows * p.classes) * sizeof(T));
}

// Walks a thread's rows in blocks of rows_per_call, bound in the accumulate
// type, and calls f(rows, first_row, grad), which returns the block's first
// bad row or -1. With kGrad, `grad` is the block of `grad_out` itself when T
// is the accumulate type, else a buffer converted back to T once f returns;
// without it, `grad` is null.
template <typename T, bool kGrad, typename F>
void for_each_row_block(const SigmoidFocalParams& p, ParallelFor parallel_for, void* grad_out, FirstBadIndex& bad_row,
                        F&& f) {
  using acc_t = acc_type<T>;
  const int64_t C = p.classes;
  const SigmoidFocalRows<acc_t> base = sigmoid_rows<acc_t>(p);
  constexpr bool in_place = std::is_same_v<T, acc_t>;

  parallel_for(0, p.rows, grain(C), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> xbuf, tbuf, gbuf;
    const int64_t step = rows_per_call<T>(begin, end, C);
    for (int64_t r0 = begin; r0 < end; r0 += step) {
      SigmoidFocalRows<acc_t> a = base;
      a.rows = std::min(end - r0, step);
      bind_rows<T>(p, r0, a, xbuf, tbuf);
      int64_t bad = -1;
      if constexpr (!kGrad) {
        bad = f(a, r0, static_cast<acc_t*>(nullptr));
      } else {
        T* dst = static_cast<T*>(grad_out) + r0 * C;
        if (!in_place) gbuf.resize(a.rows * C);
        acc_t* g = in_place ? reinterpret_cast<acc_t*>(dst) : gbuf.data();
        bad = f(a, r0, g);
        if constexpr (!in_place) {
          store_acc_row<T>(g, a.rows * C, dst, 1);
        }
      }
      if (bad >= 0) bad_row.offer(r0 + bad);
    }
  });
}

template <typename T>
void sigmoid_forward(const SigmoidFocalParams& p, ParallelFor parallel_for, FirstBadIndex& bad_row) {
  using acc_t = acc_type<T>;
  acc_t* loss = static_cast<acc_t*>(p.loss);
  for_each_row_block<T, false>(
      p, parallel_for, nullptr, bad_row, [&](const SigmoidFocalRows<acc_t>& a, int64_t r0, acc_t*) {
        return sigmoid_focal_rows_loss(a, p.reduce_rows, loss + (p.reduce_rows ? r0 : r0 * p.classes));
      });
}

template <typename T>
void sigmoid_backward(const SigmoidFocalParams& p, ParallelFor parallel_for, FirstBadIndex& bad_row) {
  using acc_t = acc_type<T>;
  advise_rows<T>(p.grad_logits, p);
  for_each_row_block<T, true>(p, parallel_for, p.grad_logits, bad_row,
                              [&](const SigmoidFocalRows<acc_t>& a, int64_t r0, acc_t* g) {
                                return sigmoid_focal_rows_grad(a, rows_upstream<acc_t>(p, r0), g);
                              });
}

// The forward of sigmoid_forward plus dL/dx of every element from the same
// evaluation (what the backward would recompute: on the CPU the element math,
// not memory, is the cost).
template <typename T>
void sigmoid_forward_with_grad(const SigmoidFocalParams& p, ParallelFor parallel_for, FirstBadIndex& bad_row) {
  using acc_t = acc_type<T>;
  acc_t* loss = static_cast<acc_t*>(p.loss);
  advise_rows<T>(p.dloss_dinput_out, p);
  for_each_row_block<T, true>(
      p, parallel_for, p.dloss_dinput_out, bad_row, [&](const SigmoidFocalRows<acc_t>& a, int64_t r0, acc_t* g) {
        return sigmoid_focal_rows_loss_grad(a, p.reduce_rows, loss + (p.reduce_rows ? r0 : r0 * p.classes), g);
      });
}

// grad_logits = upstream gradient x the saved dL/dx, rounded once.
template <typename T>
void sigmoid_scale_saved(const SigmoidFocalParams& p, ParallelFor parallel_for) {
  using acc_t = acc_type<T>;
  const int64_t C = p.classes;
  constexpr bool in_place = std::is_same_v<T, acc_t>;
  advise_rows<T>(p.grad_logits, p);

  parallel_for(0, p.rows, grain(C), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> dbuf, gbuf;
    const int64_t step = rows_per_call<T>(begin, end, C);
    for (int64_t r0 = begin; r0 < end; r0 += step) {
      const int64_t rows = std::min(end - r0, step);
      const acc_t* d = acc_row(static_cast<const T*>(p.dloss_dinput) + r0 * C, rows * C, 1, dbuf);
      T* dst = static_cast<T*>(p.grad_logits) + r0 * C;
      if (!in_place) gbuf.resize(rows * C);
      acc_t* g = in_place ? reinterpret_cast<acc_t*>(dst) : gbuf.data();
      sigmoid_focal_rows_scale(d, rows, C, rows_upstream<acc_t>(p, r0), g);
      if constexpr (!in_place) {
        store_acc_row<T>(g, rows * C, dst, 1);
      }
    }
  });
}

// ---- softmax focal ---------------------------------------------------------------

template <typename T, GammaKind K>
void softmax_forward(const SoftmaxFocalParams& p, ParallelFor parallel_for, FirstBadIndex& bad_row) {
  using acc_t = acc_type<T>;
  const RowLayout L = p.layout;
  const acc_t* alpha = static_cast<const acc_t*>(p.alpha);
  const acc_t* w = static_cast<const acc_t*>(p.weight);
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
      const acc_t* x = acc_row(static_cast<const T*>(p.logits) + L.row_offset(row), L.classes, L.stride_c, buf);
      const acc_t lse = log_sum_exp(x, L.classes);
      const SoftmaxFocalClass<acc_t> k = softmax_focal_class(alpha, w, y);
      loss[row] = softmax_focal_row_loss<K>(x[y] - lse, k.coeff, acc_t(p.gamma));
      lse_out[row] = lse;
      row_weight[row] = k.weight;
    }
  });
}

template <typename T, GammaKind K>
void softmax_backward(const SoftmaxFocalParams& p, ParallelFor parallel_for, FirstBadIndex& bad_row) {
  using acc_t = acc_type<T>;
  const RowLayout L = p.layout;
  const acc_t* alpha = static_cast<const acc_t*>(p.alpha);
  const acc_t* w = static_cast<const acc_t*>(p.weight);
  const acc_t* lse_in = static_cast<const acc_t*>(p.lse);
  const acc_t* grad_loss = static_cast<const acc_t*>(p.grad_loss);
  const bool in_place = std::is_same_v<T, acc_t> && L.inner == 1;
  advise_huge_pages(p.grad_logits, size_t(L.rows * L.classes) * sizeof(T));

  parallel_for(0, L.rows, grain(L.classes), [&](int64_t begin, int64_t end) {
    std::vector<acc_t> xbuf, gbuf(L.classes);
    for (int64_t row = begin; row < end; ++row) {
      T* dst = static_cast<T*>(p.grad_logits) + L.dense_row_offset(row);
      acc_t* g = in_place ? reinterpret_cast<acc_t*>(dst) : gbuf.data();
      const int64_t y = p.target_index[row];
      const bool ignored = p.ignore_index.matches(y);
      if (ignored || y < 0 || y >= L.classes) {
        if (!ignored) bad_row.offer(row);
        std::fill(g, g + L.classes, ignored ? acc_t(0) : acc_t(NAN));
      } else {
        const acc_t* x = acc_row(static_cast<const T*>(p.logits) + L.row_offset(row), L.classes, L.stride_c, xbuf);
        const acc_t lse = lse_in[row];
        const acc_t G = softmax_focal_grad_scale<K>(x[y] - lse, softmax_focal_class(alpha, w, y).coeff, acc_t(p.gamma),
                                                    grad_loss[row * p.grad_loss_stride]);
        // grad_c = G (p_c - [c == y]): the cross-entropy row loop with a = G, d = 0.
        const CrossEntropyIndexGrad<acc_t> k{G, G, acc_t(0)};
        cross_entropy_index_grad_row(x, g, L.classes, lse, k, static_cast<const acc_t*>(nullptr));
        g[y] = cross_entropy_index_grad(k, fast_exp(x[y] - lse), true, acc_t(1));
      }
      if (!in_place) {
        store_acc_row<T>(g, L.classes, dst, L.dense_stride_c());
      }
    }
  });
}

}  // namespace
}  // namespace cpu

CpuStatus sigmoid_focal_fwd_cpu(const SigmoidFocalParams& p, ParallelFor parallel_for) {
  FirstBadIndex bad_row;
  if (p.rows > 0) {
    dtype_switch<cpu::LoopTypes>(
        p.dtype, [&](auto tag) { cpu::sigmoid_forward<typename decltype(tag)::type>(p, parallel_for, bad_row); });
  }
  return bad_row.status();
}

CpuStatus sigmoid_focal_bwd_cpu(const SigmoidFocalParams& p, ParallelFor parallel_for) {
  FirstBadIndex bad_row;
  if (p.rows > 0) {
    dtype_switch<cpu::LoopTypes>(
        p.dtype, [&](auto tag) { cpu::sigmoid_backward<typename decltype(tag)::type>(p, parallel_for, bad_row); });
  }
  return bad_row.status();
}

CpuStatus sigmoid_focal_fwd_with_grad_cpu(const SigmoidFocalParams& p, ParallelFor parallel_for) {
  FirstBadIndex bad_row;
  if (p.rows > 0) {
    dtype_switch<cpu::LoopTypes>(p.dtype, [&](auto tag) {
      cpu::sigmoid_forward_with_grad<typename decltype(tag)::type>(p, parallel_for, bad_row);
    });
  }
  return bad_row.status();
}

CpuStatus sigmoid_focal_bwd_saved_cpu(const SigmoidFocalParams& p, ParallelFor parallel_for) {
  if (p.rows > 0) {
    dtype_switch<cpu::LoopTypes>(
        p.dtype, [&](auto tag) { cpu::sigmoid_scale_saved<typename decltype(tag)::type>(p, parallel_for); });
  }
  return {};
}

CpuStatus softmax_focal_fwd_cpu(const SoftmaxFocalParams& p, ParallelFor parallel_for) {
  FirstBadIndex bad_row;
  if (p.layout.rows > 0) {
    dtype_switch<cpu::LoopTypes>(p.dtype, [&](auto tag) {
      static_switch(kGammaKinds, p.gamma_kind, [&](auto kind) {
        cpu::softmax_forward<typename decltype(tag)::type, decltype(kind)::value>(p, parallel_for, bad_row);
      });
    });
  }
  return bad_row.status();
}

CpuStatus softmax_focal_bwd_cpu(const SoftmaxFocalParams& p, ParallelFor parallel_for) {
  FirstBadIndex bad_row;
  if (p.layout.rows > 0) {
    dtype_switch<cpu::LoopTypes>(p.dtype, [&](auto tag) {
      static_switch(kGammaKinds, p.gamma_kind, [&](auto kind) {
        cpu::softmax_backward<typename decltype(tag)::type, decltype(kind)::value>(p, parallel_for, bad_row);
      });
    });
  }
  return bad_row.status();
}

}  // namespace lossext
