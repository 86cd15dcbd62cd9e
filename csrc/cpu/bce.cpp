// The CPU side of kernels/bce.cu: bce_fwd_cpu and bce_bwd_cpu over the
// params of kernels/bce.h. Blocks of rows go to the injected parallel-for;
// rows are independent (a row's sum is taken in column order), so the results
// do not depend on how the range is split. float16 / bfloat16 blocks are
// widened to float first and the results narrowed once, as the CUDA kernels
// compute them in float. Each loop applies the element formulas of
// kernels/bce.h and nothing else.
#include "cpu/vectorize.h"
// (vectorize.h first: its pragma covers everything below.)
#include <algorithm>
#include <type_traits>
#include <vector>

#include "cpu/convert.h"
#include "kernels/bce.h"

namespace lossext {
namespace cpu {
namespace {

// `rows` x `cols` logits `x` in the accumulate type, contiguous, with a dense
// target `t` of the same shape, or (quality focal) `label` and `score`, one
// of each a row. `w` and `pw` (optional) are read at r * rs + c * cs, r
// counted from the block's first row. `variant`: bce_variant(kind, exponent).
template <typename A>
struct BceRows {
  const A* x = nullptr;
  const A* t = nullptr;
  const int64_t* label = nullptr;
  const A* score = nullptr;
  const A* w = nullptr;
  int64_t w_rs = 0, w_cs = 0;
  const A* pw = nullptr;
  int64_t pw_rs = 0, pw_cs = 0;
  int64_t rows = 0, cols = 0;
  BceConfig<A> cfg{};
  int variant = 0;
};

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
  // No weight, or one per row (w_cs == 0, as mmdet's per-anchor label weights): the weight is a
  // loop invariant, so these rows vectorize too.
  if (pw == nullptr && (w == nullptr || w_cs == 0)) {
    const A wr = w != nullptr ? w[r * w_rs] : A(1);
    if (t != nullptr) {
      for (int64_t c = 0; c < cols; ++c) f(c, bce_element<K, P>(x[c], t[c], wr, A(1), cfg));
    } else {
      for (int64_t c = 0; c < cols; ++c)
        f(c, bce_element<K, P>(x[c], bce_label_target(label, c, score), wr, A(1), cfg));
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
      } else if (g_cs == 0) {
        // One upstream value for the row (per-row losses, or a broadcast 'sum' / 'mean').
        const A g_row = gr[0];
        for_row<V>(a, r, [&](int64_t c, const BceValueGrad<A>& v) LOSSEXT_INLINE_LAMBDA { ox[c] = g_row * v.dx; });
      } else {
        for_row<V>(a, r,
                   [&](int64_t c, const BceValueGrad<A>& v) LOSSEXT_INLINE_LAMBDA { ox[c] = gr[c * g_cs] * v.dx; });
      }
    }
  });
}

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

constexpr int64_t kGrainElements = 16384;

bool is16(DType d) { return d == DType::Float16 || d == DType::BFloat16; }

// n contiguous values of dtype d at src (offset `at` values) as accumulate-type
// values: in place for float / double, widened into buf for 16-bit.
template <typename A>
const A* acc_view(const void* src, int64_t at, int64_t n, DType d, std::vector<A>& buf) {
  if (!is16(d)) return static_cast<const A*>(src) + at;
  if constexpr (std::is_same_v<A, float>) {
    buf.resize(std::max<int64_t>(n, 1));
    widen_16bit(static_cast<const uint16_t*>(src) + at, n, 1, n, d == DType::BFloat16, buf.data());
  }
  return buf.data();
}

// out (n accumulate-type values) stored at dst (offset `at`) in dtype d.
template <typename A>
void store(const A* out, int64_t n, DType d, void* dst, int64_t at) {
  if constexpr (std::is_same_v<A, float>) {
    if (is16(d)) {
      narrow_16bit(out, 1, n, d == DType::BFloat16, static_cast<uint16_t*>(dst) + at, n);
      return;
    }
  }
  std::copy(out, out + n, static_cast<A*>(dst) + at);
}

// The loop arguments of rows [r0, r0 + n).
template <typename A>
struct Block {
  std::vector<A> xb, tb, sb;
  BceRows<A> rows;
  Block(const BceParams& p, int64_t r0, int64_t n) {
    const int64_t C = p.cols;
    rows.x = acc_view<A>(p.x, r0 * C, n * C, p.dtype, xb);
    if (p.t != nullptr) {
      rows.t = acc_view<A>(p.t, r0 * C, n * C, p.dtype, tb);
    } else {
      rows.label = p.label + r0;
      rows.score = acc_view<A>(p.score, r0, n, p.dtype, sb);
    }
    if (p.weight != nullptr) {
      rows.w = static_cast<const A*>(p.weight) + r0 * p.weight_rs;
      rows.w_rs = p.weight_rs;
      rows.w_cs = p.weight_cs;
    }
    if (p.pos_weight != nullptr) {
      rows.pw = static_cast<const A*>(p.pos_weight) + r0 * p.pos_weight_rs;
      rows.pw_rs = p.pos_weight_rs;
      rows.pw_cs = p.pos_weight_cs;
    }
    rows.rows = n;
    rows.cols = C;
    rows.cfg = bce_config<A>(p);
    rows.variant = bce_variant(p.kind, p.exponent);
  }
};

template <typename A>
void forward(const BceParams& p, ParallelFor parallel_for) {
  const int64_t C = p.cols;
  parallel_for(0, p.rows, std::max<int64_t>(1, kGrainElements / std::max<int64_t>(C, 1)),
               [&](int64_t begin, int64_t end) {
                 Block<A> b(p, begin, end - begin);
                 if (p.reduce_rows) {
                   bce_rows_loss(b.rows, true, static_cast<A*>(p.loss) + begin);
                 } else if (!is16(p.dtype)) {
                   bce_rows_loss(b.rows, false, static_cast<A*>(p.loss) + begin * C);
                 } else {
                   std::vector<A> out((end - begin) * C);
                   bce_rows_loss(b.rows, false, out.data());
                   store(out.data(), int64_t(out.size()), p.dtype, p.loss, begin * C);
                 }
               });
}

template <typename A>
void backward(const BceParams& p, ParallelFor parallel_for) {
  const int64_t C = p.cols;
  parallel_for(0, p.rows, std::max<int64_t>(1, kGrainElements / C), [&](int64_t begin, int64_t end) {
    Block<A> b(p, begin, end - begin);
    const A* g = static_cast<const A*>(p.grad_loss) + begin * p.grad_rs;
    const bool with_t = p.grad_target != nullptr;
    if (!is16(p.dtype)) {
      A* gt = with_t ? static_cast<A*>(p.grad_target) + begin * C : nullptr;
      bce_rows_grad(b.rows, g, p.grad_rs, p.grad_cs, static_cast<A*>(p.grad_input) + begin * C, gt);
      return;
    }
    const int64_t n = (end - begin) * C;
    std::vector<A> ox(n), ot(with_t ? n : 0);
    bce_rows_grad(b.rows, g, p.grad_rs, p.grad_cs, ox.data(), with_t ? ot.data() : nullptr);
    store(ox.data(), n, p.dtype, p.grad_input, begin * C);
    if (with_t) store(ot.data(), n, p.dtype, p.grad_target, begin * C);
  });
}

}  // namespace
}  // namespace cpu

CpuStatus bce_fwd_cpu(const BceParams& p, ParallelFor parallel_for) {
  if (p.rows == 0 || (p.cols == 0 && !p.reduce_rows)) return {};  // cols = 0: rows still sum to 0
  if (p.dtype == DType::Float64)
    cpu::forward<double>(p, parallel_for);
  else
    cpu::forward<float>(p, parallel_for);
  return {};
}

CpuStatus bce_bwd_cpu(const BceParams& p, ParallelFor parallel_for) {
  if (p.rows == 0 || p.cols == 0) return {};
  if (p.dtype == DType::Float64)
    cpu::backward<double>(p, parallel_for);
  else
    cpu::backward<float>(p, parallel_for);
  return {};
}

}  // namespace lossext
