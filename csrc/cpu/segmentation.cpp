// CPU implementation of the segmentation statistics ops.
//
// Work is split into fixed chunks of pixels (a chunk never depends on the
// thread count); each chunk writes its own partial sums and the partials of a
// sample are added in chunk order afterwards, so results are bitwise the same
// for any number of threads. Partial sums are kept in double.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <type_traits>
#include <vector>

#include "cpu/dispatch.h"
#include "cpu/loops/memory.h"
#include "cpu/loops/segmentation.h"
#include "glue/segmentation.h"

namespace lossext {
namespace cpu {
namespace {

constexpr int64_t kChunk = 16 * kSegTile;  // pixels per work unit

int64_t chunks_of(int64_t pixels) { return (pixels + kChunk - 1) / kChunk; }

// Tile rows (C rows of n pixels, `stride` apart) as accumulate-type values:
// the input itself when it already is, else converted into buf.
template <typename T>
const acc_type<T>* tile_rows(const T* x, int64_t stride, int64_t classes, int64_t n, std::vector<acc_type<T>>& buf,
                             int64_t* ld) {
  if constexpr (std::is_same_v<T, acc_type<T>>) {
    *ld = stride;
    return x;
  } else {
    static_assert(is_16bit<T>);
    buf.resize(classes * n);
    widen_16bit(reinterpret_cast<const uint16_t*>(x), stride, classes, n, std::is_same_v<T, at::BFloat16>, buf.data());
    *ld = n;
    return buf.data();
  }
}

// rows x n accumulate-type values (dense) into dst rows `ld` apart.
template <typename T>
void store_rows(const acc_type<T>* src, int64_t rows, int64_t n, T* dst, int64_t ld) {
  static_assert(is_16bit<T>);
  narrow_16bit(src, rows, n, std::is_same_v<T, at::BFloat16>, reinterpret_cast<uint16_t*>(dst), ld);
}

template <typename acc_t>
void finish_stats(const SegParams& p, const std::vector<double>& partial, int64_t units, int64_t K) {
  acc_t* stats = static_cast<acc_t*>(p.stats);
  acc_t* extras = static_cast<acc_t*>(p.extras);
  const int64_t C = p.classes;
  for (int64_t n = 0; n < p.batch; ++n) {
    std::vector<double> total(K, 0.0);
    for (int64_t u = 0; u < units; ++u) {
      const double* part = partial.data() + (n * units + u) * K;
      for (int64_t k = 0; k < K; ++k) total[k] += part[k];
    }
    for (int64_t k = 0; k < kSegStats * C; ++k) stats[n * kSegStats * C + k] = static_cast<acc_t>(total[k]);
    for (int64_t e = 0; e < kSegExtras; ++e) extras[n * kSegExtras + e] = static_cast<acc_t>(total[kSegStats * C + e]);
  }
}

template <typename T>
void index_forward(const SegParams& p, BadRow& bad) {
  using acc_t = acc_type<T>;
  const int64_t C = p.classes, S = p.pixels, K = seg_accumulators(C);
  const int64_t units = chunks_of(S);
  std::vector<double> partial(p.batch * units * K, 0.0);
  at::parallel_for(0, p.batch * units, 1, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> cls(kSegTile);
    std::vector<acc_t> valid(kSegTile), work(C * kSegTile), xbuf;
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t n = unit / units;
      const int64_t s_end = std::min(S, (unit % units + 1) * kChunk);
      double* acc = partial.data() + unit * K;
      for (int64_t s0 = (unit % units) * kChunk; s0 < s_end; s0 += kSegTile) {
        const int64_t len = std::min(kSegTile, s_end - s0);
        const int64_t off = seg_prepare_index(p.target_index + n * S + s0, len, C, p.has_ignore, p.ignore_index,
                                              cls.data(), valid.data());
        if (off >= 0) bad.record(n * S + s0 + off);
        int64_t ldx = 0;
        const acc_t* x =
            tile_rows(static_cast<const T*>(p.logits) + n * p.stride_n + s0, p.stride_c, C, len, xbuf, &ldx);
        seg_index_tile_stats(x, ldx, C, len, cls.data(), valid.data(), p.activation, p.squared, p.with_ce,
                             acc_t(p.label_smoothing), work.data(), acc);
      }
    }
  });
  finish_stats<acc_t>(p, partial, units, K);
}

template <typename T>
void index_backward(const SegParams& p) {
  using acc_t = acc_type<T>;
  const int64_t C = p.classes, S = p.pixels;
  const int64_t units = chunks_of(S);
  const acc_t* coef = static_cast<const acc_t*>(p.coef);
  const acc_t* gx = static_cast<const acc_t*>(p.grad_extras);
  constexpr bool in_place = std::is_same_v<T, acc_t>;
  at::parallel_for(0, p.batch * units, 1, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> cls(kSegTile);
    std::vector<acc_t> valid(kSegTile), work(C * kSegTile), xbuf, obuf(in_place ? 0 : C * kSegTile);
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t n = unit / units;
      const int64_t s_end = std::min(S, (unit % units + 1) * kChunk);
      const acc_t* A = coef + n * kSegStats * C + kSegTP * C;
      const acc_t* B = coef + n * kSegStats * C + kSegSP * C;
      const acc_t g_ce = gx[n * kSegExtras + kSegCE];
      for (int64_t s0 = (unit % units) * kChunk; s0 < s_end; s0 += kSegTile) {
        const int64_t len = std::min(kSegTile, s_end - s0);
        // Out-of-range indices (reported by the forward) map to "ignored":
        // never dereferenced here either.
        seg_prepare_index(p.target_index + n * S + s0, len, C, p.has_ignore, p.ignore_index, cls.data(), valid.data());
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
void dense_forward(const SegParams& p) {
  using acc_t = acc_type<T>;
  const int64_t C = p.classes, S = p.pixels, K = seg_accumulators(C);
  const int64_t units = chunks_of(S);
  std::vector<double> partial(p.batch * C * units * 4, 0.0);
  at::parallel_for(0, p.batch * C * units, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> xbuf, tbuf;
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t row = unit / units, n = row / C, c = row - n * C;
      const int64_t s0 = (unit % units) * kChunk, len = std::min(kChunk, S - s0);
      int64_t ld = 0;
      const acc_t* x =
          tile_rows(static_cast<const T*>(p.logits) + n * p.stride_n + c * p.stride_c + s0, 0, 1, len, xbuf, &ld);
      const acc_t* t = tile_rows(static_cast<const T*>(p.target_dense) + row * S + s0, 0, 1, len, tbuf, &ld);
      seg_dense_row_stats(x, t, len, p.activation, p.squared, p.has_ignore, acc_t(p.ignore_index),
                          partial.data() + unit * 4);
    }
  });
  // Fold each row's chunks into the (N, 3C + 2) layout of finish_stats, in order.
  std::vector<double> per_sample(p.batch * K, 0.0);
  for (int64_t row = 0; row < p.batch * C; ++row) {
    const int64_t n = row / C, c = row - n * C;
    double sums[4] = {0, 0, 0, 0};
    for (int64_t u = 0; u < units; ++u) {
      for (int k = 0; k < 4; ++k) sums[k] += partial[(row * units + u) * 4 + k];
    }
    double* acc = per_sample.data() + n * K;
    acc[kSegTP * C + c] = sums[0];
    acc[kSegSP * C + c] = sums[1];
    acc[kSegST * C + c] = sums[2];
    acc[kSegStats * C + kSegValid] += sums[3];
  }
  finish_stats<acc_t>(p, per_sample, 1, K);
}

template <typename T>
void dense_backward(const SegParams& p) {
  using acc_t = acc_type<T>;
  const int64_t C = p.classes, S = p.pixels;
  const int64_t units = chunks_of(S);
  const acc_t* coef = static_cast<const acc_t*>(p.coef);
  constexpr bool in_place = std::is_same_v<T, acc_t>;
  at::parallel_for(0, p.batch * C * units, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> xbuf, tbuf, obuf(in_place ? 0 : kChunk);
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t row = unit / units, n = row / C, c = row - n * C;
      const int64_t s0 = (unit % units) * kChunk, len = std::min(kChunk, S - s0);
      int64_t ld = 0;
      const acc_t* x =
          tile_rows(static_cast<const T*>(p.logits) + n * p.stride_n + c * p.stride_c + s0, 0, 1, len, xbuf, &ld);
      const acc_t* t = tile_rows(static_cast<const T*>(p.target_dense) + row * S + s0, 0, 1, len, tbuf, &ld);
      T* dst = static_cast<T*>(p.grad_logits) + row * S + s0;
      acc_t* out = in_place ? reinterpret_cast<acc_t*>(dst) : obuf.data();
      seg_dense_row_grad(x, t, len, p.activation, p.squared, p.has_ignore, acc_t(p.ignore_index),
                         coef[n * kSegStats * C + kSegTP * C + c], coef[n * kSegStats * C + kSegSP * C + c], out);
      if constexpr (!in_place) store_rows(obuf.data(), 1, len, dst, 0);
    }
  });
}

std::tuple<at::Tensor, at::Tensor> seg_stats_fwd_cpu(const at::Tensor& input, const at::Tensor& target,
                                                     int64_t activation, int64_t ignore_index, bool has_ignore,
                                                     bool squared, bool with_ce, double label_smoothing) {
  auto call = glue::seg_call(input, target, activation, ignore_index, has_ignore, squared, with_ce, label_smoothing);
  glue::seg_alloc_forward(call);
  const SegParams& p = call.params;
  if (p.batch == 0 || p.classes == 0 || p.pixels == 0) return {call.stats, call.extras};
  BadRow bad;
  dtype_switch<CpuTypes>(call.params.dtype, [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    if (p.target_index)
      index_forward<scalar_t>(p, bad);
    else
      dense_forward<scalar_t>(p);
  });
  bad.raise_if_any(p.target_index, 0, p.classes, ignore_index, has_ignore);
  return {call.stats, call.extras};
}

at::Tensor seg_stats_bwd_cpu(const at::Tensor& grad_stats, const at::Tensor& grad_extras, const at::Tensor& input,
                             const at::Tensor& target, int64_t activation, int64_t ignore_index, bool has_ignore,
                             bool squared, bool with_ce, double label_smoothing) {
  auto call = glue::seg_call(input, target, activation, ignore_index, has_ignore, squared, with_ce, label_smoothing);
  glue::seg_fill_backward(call, grad_stats, grad_extras);
  const SegParams& p = call.params;
  if (call.grad_logits.numel() == 0) return call.grad_logits;
  advise_huge_pages(call.grad_logits.data_ptr(), call.grad_logits.nbytes());
  dtype_switch<CpuTypes>(call.params.dtype, [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    if (p.target_index)
      index_backward<scalar_t>(p);
    else
      dense_backward<scalar_t>(p);
  });
  return call.grad_logits;
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CPU, m) {
  m.impl("seg_stats_fwd", &seg_stats_fwd_cpu);
  m.impl("seg_stats_bwd", &seg_stats_bwd_cpu);
}

}  // namespace cpu
}  // namespace lossext
