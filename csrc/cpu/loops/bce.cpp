#include "cpu/loops/vectorize.h"
// (vectorize.h first: its pragma covers everything below.)
#include "cpu/loops/bce.h"

namespace lossext {
namespace cpu {
namespace {

// The target of element (r, c): dense, or the label-score form.
template <typename A>
LOSSEXT_ALWAYS_INLINE A target_at(const BceRows<A>& a, int64_t r, int64_t c) {
  return a.t != nullptr ? a.t[r * a.cols + c] : bce_label_target(a.label[r], c, a.score[r]);
}

// One row's elements through f(c, value_grad). The dense, unweighted case
// reads only contiguous arrays, which lets gcc vectorize it.
template <int V, typename A, typename F>
LOSSEXT_ALWAYS_INLINE void for_row(const BceRows<A>& a, int64_t r, F&& f) {
  constexpr BceKind K = bce_variant_kind(V);
  constexpr BcePower P = bce_variant_power(V);
  const A* x = a.x + r * a.cols;
  if (a.t != nullptr && a.w == nullptr && a.pw == nullptr) {
    const A* t = a.t + r * a.cols;
    for (int64_t c = 0; c < a.cols; ++c) f(c, bce_element<K, P>(x[c], t[c], A(1), A(1), a.cfg));
    return;
  }
  for (int64_t c = 0; c < a.cols; ++c) {
    const A w = a.w != nullptr ? a.w[r * a.w_rs + c * a.w_cs] : A(1);
    const A pw = a.pw != nullptr ? a.pw[r * a.pw_rs + c * a.pw_cs] : A(1);
    f(c, bce_element<K, P>(x[c], target_at(a, r, c), w, pw, a.cfg));
  }
}

template <typename A>
LOSSEXT_ALWAYS_INLINE void rows_loss(const BceRows<A>& a, bool reduce, A* loss) {
  static_switch(kBceVariants, a.variant, [&](auto variant) LOSSEXT_INLINE_LAMBDA {
    constexpr int V = decltype(variant)::value;
    for (int64_t r = 0; r < a.rows; ++r) {
      if (reduce) {
        A s = A(0);
        for_row<V>(a, r, [&](int64_t, const BceValueGrad<A>& v) LOSSEXT_INLINE_LAMBDA { s += v.loss; });
        loss[r] = s;
      } else {
        A* out = loss + r * a.cols;
        for_row<V>(a, r, [&](int64_t c, const BceValueGrad<A>& v) LOSSEXT_INLINE_LAMBDA { out[c] = v.loss; });
      }
    }
  });
}

template <typename A>
LOSSEXT_ALWAYS_INLINE void rows_grad(const BceRows<A>& a, const A* g, int64_t g_rs, int64_t g_cs, A* gx, A* gt) {
  static_switch(kBceVariants, a.variant, [&](auto variant) LOSSEXT_INLINE_LAMBDA {
    constexpr int V = decltype(variant)::value;
    for (int64_t r = 0; r < a.rows; ++r) {
      const A* gr = g + r * g_rs;
      A* ox = gx + r * a.cols;
      if (gt != nullptr) {
        A* ot = gt + r * a.cols;
        for_row<V>(a, r, [&](int64_t c, const BceValueGrad<A>& v) LOSSEXT_INLINE_LAMBDA {
          const A gc = gr[c * g_cs];
          ox[c] = gc * v.dx;
          ot[c] = gc * v.dt;
        });
      } else {
        for_row<V>(a, r,
                   [&](int64_t c, const BceValueGrad<A>& v) LOSSEXT_INLINE_LAMBDA { ox[c] = gr[c * g_cs] * v.dx; });
      }
    }
  });
}

}  // namespace

LOSSEXT_CPU_CLONES void bce_rows_loss(const BceRows<float>& a, bool reduce, float* loss) { rows_loss(a, reduce, loss); }
LOSSEXT_CPU_CLONES void bce_rows_loss(const BceRows<double>& a, bool reduce, double* loss) {
  rows_loss(a, reduce, loss);
}
LOSSEXT_CPU_CLONES void bce_rows_grad(const BceRows<float>& a, const float* g, int64_t g_rs, int64_t g_cs, float* gx,
                                      float* gt) {
  rows_grad(a, g, g_rs, g_cs, gx, gt);
}
LOSSEXT_CPU_CLONES void bce_rows_grad(const BceRows<double>& a, const double* g, int64_t g_rs, int64_t g_cs, double* gx,
                                      double* gt) {
  rows_grad(a, g, g_rs, g_cs, gx, gt);
}

}  // namespace cpu
}  // namespace lossext
