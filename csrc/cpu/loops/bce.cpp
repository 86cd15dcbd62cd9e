#include "cpu/loops/vectorize.h"
// (vectorize.h first: its pragma covers everything below.)
#include "cpu/loops/bce.h"

namespace lossext {
namespace cpu {
namespace {

// One row's elements through f(c, value_grad). The options are copied into
// locals first: read through `a` inside the loop, gcc cannot prove that the
// outputs written by f leave them unchanged, and the loop stays scalar (ten
// times slower). The unweighted dense and label-score rows read only
// contiguous arrays and loop-invariant values, which lets gcc vectorize them.
template <int V, typename A, typename F>
LOSSEXT_ALWAYS_INLINE void for_row(const BceRows<A>& a, int64_t r, F&& f) {
  constexpr BceKind K = bce_variant_kind(V);
  constexpr BcePower P = bce_variant_power(V);
  const BceConfig<A> cfg = a.cfg;
  const int64_t cols = a.cols;
  const A* x = a.x + r * cols;
  const A* t = a.t != nullptr ? a.t + r * cols : nullptr;
  const A* w = a.w;
  const A* pw = a.pw;
  const int64_t w_rs = a.w_rs, w_cs = a.w_cs, pw_rs = a.pw_rs, pw_cs = a.pw_cs;
  // Label-score form: the score at the label's column, 0 elsewhere.
  const int64_t label = t == nullptr ? a.label[r] : -1;
  const A score = t == nullptr ? a.score[r] : A(0);
  if (w == nullptr && pw == nullptr) {
    if (t != nullptr) {
      for (int64_t c = 0; c < cols; ++c) f(c, bce_element<K, P>(x[c], t[c], A(1), A(1), cfg));
    } else {
      for (int64_t c = 0; c < cols; ++c)
        f(c, bce_element<K, P>(x[c], bce_label_target(label, c, score), A(1), A(1), cfg));
    }
    return;
  }
  for (int64_t c = 0; c < cols; ++c) {
    const A wc = w != nullptr ? w[r * w_rs + c * w_cs] : A(1);
    const A pwc = pw != nullptr ? pw[r * pw_rs + c * pw_cs] : A(1);
    const A tc = t != nullptr ? t[c] : bce_label_target(label, c, score);
    f(c, bce_element<K, P>(x[c], tc, wc, pwc, cfg));
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
