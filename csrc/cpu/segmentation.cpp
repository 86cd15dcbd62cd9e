// The CPU side of kernels/segmentation.cu: seg_stats_fwd_cpu and
// seg_stats_bwd_cpu over the params of kernels/segmentation.h.
//
// Work is split into fixed chunks of kSegCpuChunkPixels pixels (a chunk never
// depends on the thread count) that go to the injected parallel-for; each
// chunk writes its own partial sums (in double) into the params' workspace
// and the partials of a sample are added in chunk order afterwards, so the
// results are bitwise the same for any number of threads. Half and bfloat16
// tiles are widened to float, their gradient narrowed back.
//
// Index targets (multiclass): logits of one sample are C rows of S pixels,
// the class stride apart. A softmax per pixel would walk memory with that
// stride; instead a tile of up to kSegTile pixels is processed across all
// classes at once, so every inner loop runs over contiguous pixels and
// vectorizes. Dense targets (binary / multilabel): every (sample, class) row
// is independent and is walked contiguously.
//
// The tile and row functions apply the per-pixel formulas of
// kernels/segmentation.h; runtime options become template arguments inside
// each of them so that every loop is free of invariant branches and inlined
// into (vectorized for) the clone's ISA.
#include "cpu/vectorize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cpu/convert.h"
#include "cpu/memory.h"
#include "kernels/common.h"  // log_positive: a logf that vectorizes
#include "kernels/segmentation.h"

namespace lossext {
namespace cpu {

constexpr int64_t kSegTile = 256;
static_assert(kSegCpuChunkPixels % kSegTile == 0, "a chunk is whole tiles");

namespace {

template <typename T>
LOSSEXT_ALWAYS_INLINE int64_t prepare_index(const int64_t* y, int64_t n, int64_t classes, bool has_ignore,
                                            int64_t ignore_index, int32_t* cls, T* valid) {
  int64_t bad = 0;
#pragma omp simd reduction(+ : bad)
  for (int64_t j = 0; j < n; ++j) {
    const int64_t v = y[j];
    const bool ignored = has_ignore && v == ignore_index;
    const bool in_range = v >= 0 && v < classes;
    bad += (!ignored && !in_range) ? 1 : 0;
    const bool use = !ignored && in_range;
    cls[j] = use ? static_cast<int32_t>(v) : -1;
    valid[j] = use ? T(1) : T(0);
  }
  if (bad == 0) return -1;
  for (int64_t j = 0; j < n; ++j) {
    const bool ignored = has_ignore && y[j] == ignore_index;
    if (!ignored && (y[j] < 0 || y[j] >= classes)) return j;
  }
  return -1;
}

// Softmax of the tile into work (unnormalized exp), with the per-pixel max m,
// sum of exp s and (for the cross-entropy) sum of logits sx.
template <typename T, bool CE>
LOSSEXT_ALWAYS_INLINE void tile_exp(const T* x, int64_t ldx, int64_t classes, int64_t n, T* work, T* m, T* s, T* sx) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    m[j] = x[j];
    s[j] = T(0);
    if (CE) sx[j] = T(0);
  }
  for (int64_t c = 1; c < classes; ++c) {
    const T* row = x + c * ldx;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) m[j] = row[j] > m[j] ? row[j] : m[j];
  }
  for (int64_t c = 0; c < classes; ++c) {
    const T* row = x + c * ldx;
    T* w = work + c * n;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      const T e = fast_exp(row[j] - m[j]);
      w[j] = e;
      s[j] += e;
      if (CE) sx[j] += row[j];
    }
  }
}

template <typename T, bool SOFTMAX, bool SQUARED, bool CE>
LOSSEXT_ALWAYS_INLINE void index_tile_stats(const T* x, int64_t ldx, int64_t classes, int64_t n, const int32_t* cls,
                                            const T* valid, T smoothing, T* work, double* acc) {
  T m[kSegTile], s[kSegTile], sx[kSegTile], r[kSegTile];
  if (SOFTMAX) {
    tile_exp<T, CE>(x, ldx, classes, n, work, m, s, sx);
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) r[j] = valid[j] / s[j];
  }
  for (int64_t c = 0; c < classes; ++c) {
    const T* src = SOFTMAX ? work + c * n : x + c * ldx;
    T tp = 0, sp = 0;
    const int32_t cc = static_cast<int32_t>(c);
#pragma omp simd reduction(+ : tp, sp)
    for (int64_t j = 0; j < n; ++j) {
      const T p = src[j] * (SOFTMAX ? r[j] : valid[j]);
      sp += SQUARED ? p * p : p;
      tp += cls[j] == cc ? p : T(0);
    }
    acc[kSegTP * classes + c] += tp;
    acc[kSegSP * classes + c] += sp;
  }
  T count = 0;
  for (int64_t j = 0; j < n; ++j) {
    if (cls[j] >= 0) acc[kSegST * classes + cls[j]] += 1.0;
    count += valid[j];
  }
  acc[kSegStats * classes + kSegValid] += count;
  if (CE) {
    // The target logit is a gather; the rest (log included) vectorizes.
    T x_y[kSegTile];
    for (int64_t j = 0; j < n; ++j) x_y[j] = cls[j] >= 0 ? x[cls[j] * ldx + j] : T(0);
    T ce = 0;
    const T C = static_cast<T>(classes);
#pragma omp simd reduction(+ : ce)
    for (int64_t j = 0; j < n; ++j) {
      const T v = seg_ce_pixel(m[j] + log_positive(s[j]), x_y[j], sx[j], smoothing, C);
      ce += valid[j] != T(0) ? v : T(0);
    }
    acc[kSegStats * classes + kSegCE] += ce;
  }
}

template <typename T, bool SOFTMAX, bool SQUARED, bool CE>
LOSSEXT_ALWAYS_INLINE void index_tile_grad(const T* x, int64_t ldx, int64_t classes, int64_t n, const int32_t* cls,
                                           const T* valid, const T* A, const T* B, T g_ce, T smoothing, T* work, T* out,
                                           int64_t ldo) {
  // dot_j = sum_c p_c g_c with g_c = A_c [c == y] + B_c (2 p_c or 1) is
  // r (A_y e_y) + r sum_c B_c e_c (or 2 r^2 sum_c B_c e_c^2), r = 1 / sum_c e_c,
  // so it is accumulated while the exponentials are made: no extra pass.
  T m[kSegTile], s[kSegTile], ae[kSegTile], be[kSegTile], r[kSegTile], dot[kSegTile];
  if (SOFTMAX) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      m[j] = x[j];
      s[j] = ae[j] = be[j] = T(0);
    }
    for (int64_t c = 1; c < classes; ++c) {
      const T* row = x + c * ldx;
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) m[j] = row[j] > m[j] ? row[j] : m[j];
    }
    for (int64_t c = 0; c < classes; ++c) {
      const T* row = x + c * ldx;
      T* w = work + c * n;
      const T a = A[c], b = B[c];
      const int32_t cc = static_cast<int32_t>(c);
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) {
        const T e = fast_exp(row[j] - m[j]);
        w[j] = e;
        s[j] += e;
        ae[j] += cls[j] == cc ? a * e : T(0);
        be[j] += SQUARED ? b * e * e : b * e;
      }
    }
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      r[j] = T(1) / s[j];
      dot[j] = r[j] * ae[j] + (SQUARED ? T(2) * r[j] * r[j] * be[j] : r[j] * be[j]);
    }
  }
  const T C = static_cast<T>(classes);
  for (int64_t c = 0; c < classes; ++c) {
    const T a = A[c], b = B[c];
    const int32_t cc = static_cast<int32_t>(c);
    T* o = out + c * ldo;
    if (SOFTMAX) {
      const T* w = work + c * n;
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) {
        const T p = w[j] * r[j];
        const bool is_t = cls[j] == cc;
        T v = p * (seg_dp(a, b, is_t ? T(1) : T(0), p, SQUARED) - dot[j]);
        if (CE) v += g_ce * seg_ce_grad(p, is_t, smoothing, C);
        o[j] = valid[j] * v;
      }
    } else {
      const T* row = x + c * ldx;
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) {
        o[j] = valid[j] * seg_dp(a, b, cls[j] == cc ? T(1) : T(0), row[j], SQUARED);
      }
    }
  }
}

template <typename T, bool SIGMOID, bool SQUARED, bool IGNORE>
LOSSEXT_ALWAYS_INLINE void dense_row_stats(const T* x, const T* t, int64_t n, T ignore, double* sums) {
  T tp = 0, sp = 0, st = 0, count = 0;
#pragma omp simd reduction(+ : tp, sp, st, count)
  for (int64_t j = 0; j < n; ++j) {
    const T v = IGNORE ? (t[j] != ignore ? T(1) : T(0)) : T(1);
    const T p = (SIGMOID ? seg_sigmoid(x[j]) : x[j]) * v;
    const T tt = t[j] * v;
    tp += p * tt;
    sp += SQUARED ? p * p : p;
    st += SQUARED ? tt * tt : tt;
    count += v;
  }
  sums[0] += tp;
  sums[1] += sp;
  sums[2] += st;
  sums[3] += count;
}

template <typename T, bool SIGMOID, bool SQUARED, bool IGNORE>
LOSSEXT_ALWAYS_INLINE void dense_row_grad(const T* x, const T* t, int64_t n, T ignore, T A, T B, T* out) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    const T v = IGNORE ? (t[j] != ignore ? T(1) : T(0)) : T(1);
    const T p = SIGMOID ? seg_sigmoid(x[j]) : x[j];
    const T d = v * seg_dp(A, B, t[j], p, SQUARED);
    out[j] = SIGMOID ? d * p * (T(1) - p) : d;
  }
}

}  // namespace

// NAME as a compile-time bool in the body; the body is an always-inline
// lambda, so it is compiled for each target_clones entry point's ISA.
#define LOSSEXT_SEG_BOOL(FLAG, NAME, ...)                                 \
  static_switch(kBools, (FLAG), [&](auto NAME##_) LOSSEXT_INLINE_LAMBDA { \
    constexpr bool NAME = decltype(NAME##_)::value;                       \
    __VA_ARGS__;                                                          \
  })

#define LOSSEXT_SEG_INDEX_STATS(T)                                                                                   \
  LOSSEXT_SEG_BOOL(act == SegActivation::Softmax, SM,                                                                \
                   LOSSEXT_SEG_BOOL(squared, SQ,                                                                     \
                                    LOSSEXT_SEG_BOOL(with_ce && SM, CE,                                              \
                                                     index_tile_stats<T, SM, SQ, CE>(x, ldx, classes, n, cls, valid, \
                                                                                     smoothing, work, acc))))

#define LOSSEXT_SEG_INDEX_GRAD(T)                                                                                  \
  LOSSEXT_SEG_BOOL(                                                                                                \
      act == SegActivation::Softmax, SM,                                                                           \
      LOSSEXT_SEG_BOOL(squared, SQ,                                                                                \
                       LOSSEXT_SEG_BOOL(with_ce && SM, CE,                                                         \
                                        index_tile_grad<T, SM, SQ, CE>(x, ldx, classes, n, cls, valid, A, B, g_ce, \
                                                                       smoothing, work, out, ldo))))

#define LOSSEXT_SEG_DENSE(FN, T, ...)                 \
  LOSSEXT_SEG_BOOL(act == SegActivation::Sigmoid, SG, \
                   LOSSEXT_SEG_BOOL(squared, SQ, LOSSEXT_SEG_BOOL(has_ignore, IG, FN<T, SG, SQ, IG>(__VA_ARGS__))))

int64_t seg_prepare_index(const int64_t* y, int64_t n, int64_t classes, bool has_ignore, int64_t ignore_index,
                          int32_t* cls, float* valid) {
  return prepare_index(y, n, classes, has_ignore, ignore_index, cls, valid);
}
int64_t seg_prepare_index(const int64_t* y, int64_t n, int64_t classes, bool has_ignore, int64_t ignore_index,
                          int32_t* cls, double* valid) {
  return prepare_index(y, n, classes, has_ignore, ignore_index, cls, valid);
}

LOSSEXT_CPU_CLONES void seg_index_tile_stats(const float* x, int64_t ldx, int64_t classes, int64_t n,
                                             const int32_t* cls, const float* valid, SegActivation act, bool squared,
                                             bool with_ce, float smoothing, float* work, double* acc) {
  LOSSEXT_SEG_INDEX_STATS(float);
}
void seg_index_tile_stats(const double* x, int64_t ldx, int64_t classes, int64_t n, const int32_t* cls,
                          const double* valid, SegActivation act, bool squared, bool with_ce, double smoothing,
                          double* work, double* acc) {
  LOSSEXT_SEG_INDEX_STATS(double);
}

LOSSEXT_CPU_CLONES void seg_index_tile_grad(const float* x, int64_t ldx, int64_t classes, int64_t n, const int32_t* cls,
                                            const float* valid, SegActivation act, bool squared, const float* A,
                                            const float* B, bool with_ce, float g_ce, float smoothing, float* work,
                                            float* out, int64_t ldo) {
  LOSSEXT_SEG_INDEX_GRAD(float);
}
void seg_index_tile_grad(const double* x, int64_t ldx, int64_t classes, int64_t n, const int32_t* cls,
                         const double* valid, SegActivation act, bool squared, const double* A, const double* B,
                         bool with_ce, double g_ce, double smoothing, double* work, double* out, int64_t ldo) {
  LOSSEXT_SEG_INDEX_GRAD(double);
}

LOSSEXT_CPU_CLONES void seg_dense_row_stats(const float* x, const float* t, int64_t n, SegActivation act, bool squared,
                                            bool has_ignore, float ignore, double* sums) {
  LOSSEXT_SEG_DENSE(dense_row_stats, float, x, t, n, ignore, sums);
}
void seg_dense_row_stats(const double* x, const double* t, int64_t n, SegActivation act, bool squared, bool has_ignore,
                         double ignore, double* sums) {
  LOSSEXT_SEG_DENSE(dense_row_stats, double, x, t, n, ignore, sums);
}

LOSSEXT_CPU_CLONES void seg_dense_row_grad(const float* x, const float* t, int64_t n, SegActivation act, bool squared,
                                           bool has_ignore, float ignore, float A, float B, float* out) {
  LOSSEXT_SEG_DENSE(dense_row_grad, float, x, t, n, ignore, A, B, out);
}
void seg_dense_row_grad(const double* x, const double* t, int64_t n, SegActivation act, bool squared, bool has_ignore,
                        double ignore, double A, double B, double* out) {
  LOSSEXT_SEG_DENSE(dense_row_grad, double, x, t, n, ignore, A, B, out);
}

namespace {

// Tile rows (C rows of n pixels, `stride` apart) as accumulate-type values:
// the input itself when it already is, else widened into buf.
template <typename T>
const acc_type<T>* tile_rows(const T* x, int64_t stride, int64_t classes, int64_t n, std::vector<acc_type<T>>& buf,
                             int64_t* ld) {
  if constexpr (std::is_same_v<T, acc_type<T>>) {
    *ld = stride;
    return x;
  } else {
    buf.resize(classes * n);
    widen_16bit(reinterpret_cast<const uint16_t*>(x), stride, classes, n, std::is_same_v<T, BFloat16>, buf.data());
    *ld = n;
    return buf.data();
  }
}

// rows x n accumulate-type values (dense) into 16-bit dst rows `ld` apart.
template <typename T>
void store_rows(const float* src, int64_t rows, int64_t n, T* dst, int64_t ld) {
  narrow_16bit(src, rows, n, std::is_same_v<T, BFloat16>, reinterpret_cast<uint16_t*>(dst), ld);
}

// Adds the chunks' partials of each sample (units per sample, K values each)
// in chunk order and stores them as stats (N, 3, C) and extras (N, 2).
template <typename acc_t>
void finish_stats(const SegParams& p, const double* partial, int64_t units, int64_t K) {
  acc_t* stats = static_cast<acc_t*>(p.stats);
  acc_t* extras = static_cast<acc_t*>(p.extras);
  const int64_t C = p.classes;
  std::vector<double> total(K);
  for (int64_t n = 0; n < p.batch; ++n) {
    std::fill(total.begin(), total.end(), 0.0);
    for (int64_t u = 0; u < units; ++u) {
      const double* part = partial + (n * units + u) * K;
      for (int64_t k = 0; k < K; ++k) total[k] += part[k];
    }
    for (int64_t k = 0; k < kSegStats * C; ++k) stats[n * kSegStats * C + k] = static_cast<acc_t>(total[k]);
    for (int64_t e = 0; e < kSegExtras; ++e) extras[n * kSegExtras + e] = static_cast<acc_t>(total[kSegStats * C + e]);
  }
}

template <typename T>
CpuStatus index_forward(const SegParams& p, ParallelFor parallel_for) {
  using acc_t = acc_type<T>;
  const int64_t C = p.classes, S = p.pixels, K = seg_accumulators(C);
  const int64_t units = seg_cpu_chunks(S);
  double* partial = static_cast<double*>(p.workspace);
  FirstBadIndex bad;
  parallel_for(0, p.batch * units, 1, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> cls(kSegTile);
    std::vector<acc_t> valid(kSegTile), work(C * kSegTile), xbuf;
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t n = unit / units;
      const int64_t s_end = std::min(S, (unit % units + 1) * kSegCpuChunkPixels);
      double* acc = partial + unit * K;
      std::fill(acc, acc + K, 0.0);
      for (int64_t s0 = (unit % units) * kSegCpuChunkPixels; s0 < s_end; s0 += kSegTile) {
        const int64_t len = std::min(kSegTile, s_end - s0);
        const int64_t off = seg_prepare_index(p.target_index + n * S + s0, len, C, p.ignore.active, p.ignore.value,
                                              cls.data(), valid.data());
        if (off >= 0) bad.offer(n * S + s0 + off);
        int64_t ldx = 0;
        const acc_t* x =
            tile_rows(static_cast<const T*>(p.logits) + n * p.stride_n + s0, p.stride_c, C, len, xbuf, &ldx);
        seg_index_tile_stats(x, ldx, C, len, cls.data(), valid.data(), p.activation, p.squared, p.with_ce,
                             acc_t(p.label_smoothing), work.data(), acc);
      }
    }
  });
  finish_stats<acc_t>(p, partial, units, K);
  return bad.status();
}

template <typename T>
void index_backward(const SegParams& p, ParallelFor parallel_for) {
  using acc_t = acc_type<T>;
  const int64_t C = p.classes, S = p.pixels;
  const int64_t units = seg_cpu_chunks(S);
  const acc_t* coef = static_cast<const acc_t*>(p.coef);
  const acc_t* gx = static_cast<const acc_t*>(p.grad_extras);
  constexpr bool in_place = std::is_same_v<T, acc_t>;
  parallel_for(0, p.batch * units, 1, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> cls(kSegTile);
    std::vector<acc_t> valid(kSegTile), work(C * kSegTile), xbuf, obuf(in_place ? 0 : C * kSegTile);
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t n = unit / units;
      const int64_t s_end = std::min(S, (unit % units + 1) * kSegCpuChunkPixels);
      const acc_t* A = coef + n * kSegStats * C + kSegTP * C;
      const acc_t* B = coef + n * kSegStats * C + kSegSP * C;
      const acc_t g_ce = gx[n * kSegExtras + kSegCE];
      for (int64_t s0 = (unit % units) * kSegCpuChunkPixels; s0 < s_end; s0 += kSegTile) {
        const int64_t len = std::min(kSegTile, s_end - s0);
        // Out-of-range indices (reported by the forward) map to "ignored":
        // never dereferenced here either.
        seg_prepare_index(p.target_index + n * S + s0, len, C, p.ignore.active, p.ignore.value, cls.data(),
                          valid.data());
        int64_t ldx = 0;
        const acc_t* x =
            tile_rows(static_cast<const T*>(p.logits) + n * p.stride_n + s0, p.stride_c, C, len, xbuf, &ldx);
        T* dst = static_cast<T*>(p.grad_logits) + n * C * S + s0;
        acc_t* out = in_place ? reinterpret_cast<acc_t*>(dst) : obuf.data();
        const int64_t ldo = in_place ? S : len;
        seg_index_tile_grad(x, ldx, C, len, cls.data(), valid.data(), p.activation, p.squared, A, B, p.with_ce, g_ce,
                            acc_t(p.label_smoothing), work.data(), out, ldo);
        if constexpr (!in_place) store_rows(obuf.data(), C, len, dst, S);
      }
    }
  });
}

// Dense targets: a work unit is one chunk of one (sample, class) row.
template <typename T>
void dense_forward(const SegParams& p, ParallelFor parallel_for) {
  using acc_t = acc_type<T>;
  const int64_t C = p.classes, S = p.pixels;
  const int64_t units = seg_cpu_chunks(S);
  double* partial = static_cast<double*>(p.workspace);
  const acc_t ignore = acc_t(p.ignore.value);
  parallel_for(0, p.batch * C * units, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> xbuf, tbuf;
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t row = unit / units, n = row / C, c = row - n * C;
      const int64_t s0 = (unit % units) * kSegCpuChunkPixels, len = std::min(kSegCpuChunkPixels, S - s0);
      int64_t ld = 0;
      const acc_t* x =
          tile_rows(static_cast<const T*>(p.logits) + n * p.stride_n + c * p.stride_c + s0, 0, 1, len, xbuf, &ld);
      const acc_t* t = tile_rows(static_cast<const T*>(p.target_dense) + row * S + s0, 0, 1, len, tbuf, &ld);
      double* sums = partial + unit * kSegDenseSums;
      std::fill(sums, sums + kSegDenseSums, 0.0);
      seg_dense_row_stats(x, t, len, p.activation, p.squared, p.ignore.active, ignore, sums);
    }
  });
  // Each row's chunks in order, then a sample's valid counts in class order.
  acc_t* stats = static_cast<acc_t*>(p.stats);
  acc_t* extras = static_cast<acc_t*>(p.extras);
  for (int64_t n = 0; n < p.batch; ++n) {
    double valid = 0;
    for (int64_t c = 0; c < C; ++c) {
      const int64_t row = n * C + c;
      double sums[kSegDenseSums] = {0, 0, 0, 0};
      for (int64_t u = 0; u < units; ++u) {
        for (int k = 0; k < kSegDenseSums; ++k) sums[k] += partial[(row * units + u) * kSegDenseSums + k];
      }
      stats[n * kSegStats * C + kSegTP * C + c] = static_cast<acc_t>(sums[0]);
      stats[n * kSegStats * C + kSegSP * C + c] = static_cast<acc_t>(sums[1]);
      stats[n * kSegStats * C + kSegST * C + c] = static_cast<acc_t>(sums[2]);
      valid += sums[3];
    }
    extras[n * kSegExtras + kSegCE] = 0;
    extras[n * kSegExtras + kSegValid] = static_cast<acc_t>(valid);
  }
}

template <typename T>
void dense_backward(const SegParams& p, ParallelFor parallel_for) {
  using acc_t = acc_type<T>;
  const int64_t C = p.classes, S = p.pixels;
  const int64_t units = seg_cpu_chunks(S);
  const acc_t* coef = static_cast<const acc_t*>(p.coef);
  const acc_t ignore = acc_t(p.ignore.value);
  constexpr bool in_place = std::is_same_v<T, acc_t>;
  parallel_for(0, p.batch * C * units, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> xbuf, tbuf, obuf(in_place ? 0 : kSegCpuChunkPixels);
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t row = unit / units, n = row / C, c = row - n * C;
      const int64_t s0 = (unit % units) * kSegCpuChunkPixels, len = std::min(kSegCpuChunkPixels, S - s0);
      int64_t ld = 0;
      const acc_t* x =
          tile_rows(static_cast<const T*>(p.logits) + n * p.stride_n + c * p.stride_c + s0, 0, 1, len, xbuf, &ld);
      const acc_t* t = tile_rows(static_cast<const T*>(p.target_dense) + row * S + s0, 0, 1, len, tbuf, &ld);
      T* dst = static_cast<T*>(p.grad_logits) + row * S + s0;
      acc_t* out = in_place ? reinterpret_cast<acc_t*>(dst) : obuf.data();
      seg_dense_row_grad(x, t, len, p.activation, p.squared, p.ignore.active, ignore,
                         coef[n * kSegStats * C + kSegTP * C + c], coef[n * kSegStats * C + kSegSP * C + c], out);
      if constexpr (!in_place) store_rows(obuf.data(), 1, len, dst, 0);
    }
  });
}

}  // namespace
}  // namespace cpu

CpuStatus seg_stats_fwd_cpu(const SegParams& p, ParallelFor parallel_for) {
  if (p.batch == 0 || p.classes == 0 || p.pixels == 0) return {};  // the op's zeros stand
  CpuStatus status;
  dtype_switch<cpu::LoopTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (p.target_index)
      status = cpu::index_forward<T>(p, parallel_for);
    else
      cpu::dense_forward<T>(p, parallel_for);
  });
  return status;
}

CpuStatus seg_stats_bwd_cpu(const SegParams& p, ParallelFor parallel_for) {
  if (p.batch == 0 || p.classes == 0 || p.pixels == 0) return {};
  dtype_switch<cpu::LoopTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    cpu::advise_huge_pages(p.grad_logits, size_t(p.batch * p.classes * p.pixels) * sizeof(T));
    if (p.target_index)
      cpu::index_backward<T>(p, parallel_for);
    else
      cpu::dense_backward<T>(p, parallel_for);
  });
  return {};
}

}  // namespace lossext
