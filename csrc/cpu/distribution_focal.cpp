// The CPU side of kernels/distribution_focal.cu: distribution_focal_fwd_cpu
// and distribution_focal_bwd_cpu over the params of
// kernels/distribution_focal.h. Blocks of rows go to the injected
// parallel-for; 16-bit rows are widened to float per block. A row is short
// (16 or 17 bins in the detectors that use DFL): the forward works on blocks
// of rows (see fwd_rows), the backward row by row (a map, no reduction).
#include "cpu/vectorize.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "cpu/convert.h"
#include "cpu/memory.h"
#include "kernels/distribution_focal.h"

namespace lossext {
namespace cpu {
namespace {

// Values of one block of rows: the per-row steps (max, exponentials, sum,
// log) each run over the whole block before the next starts. Row by row, each
// row is one long dependency chain through two horizontal reductions, and a
// 16-bin row has too little work to hide it (4x slower, measured).
constexpr int64_t kBlockValues = 4096;

template <typename T>
LOSSEXT_ALWAYS_INLINE int64_t fwd_rows(const T* pred, const T* label, int64_t rows, int64_t bins, T* loss, T* lse) {
  int64_t bad = -1;
  const int64_t block = std::max<int64_t>(1, kBlockValues / bins);
  std::vector<T> m(block), sum(block), e(block * bins);
  for (int64_t r0 = 0; r0 < rows; r0 += block) {
    const int64_t nr = std::min(block, rows - r0);
    const T* xb = pred + r0 * bins;
    for (int64_t r = 0; r < nr; ++r) {
      T mm = xb[r * bins];
      for (int64_t c = 1; c < bins; ++c) mm = std::max(mm, xb[r * bins + c]);
      m[r] = mm;
    }
    for (int64_t r = 0; r < nr; ++r) {
      const T mr = m[r];
      const T* x = xb + r * bins;
      T* er = e.data() + r * bins;
      // x == max gives exp(0) = 1 exactly, and keeps (-inf) - (-inf) = nan out
      // of an all -inf row, whose lse is then -inf (torch's logsumexp).
#pragma omp simd
      for (int64_t c = 0; c < bins; ++c) er[c] = x[c] == mr ? T(1) : fast_exp(x[c] - mr);
    }
    for (int64_t r = 0; r < nr; ++r) {
      T s = 0;
      for (int64_t c = 0; c < bins; ++c) s += e[r * bins + c];
      sum[r] = s;
    }
    // sum >= 1 (the max contributes 1), or nan: the polynomial log is exact enough.
#pragma omp simd
    for (int64_t r = 0; r < nr; ++r) lse[r0 + r] = m[r] + fast_log(sum[r]);
    for (int64_t r = 0; r < nr; ++r) {
      const int64_t i = r0 + r;
      if (!dfl_label_valid(label[i], bins)) {
        loss[i] = T(NAN);
        if (bad < 0) bad = i;
        continue;
      }
      const T* x = pred + i * bins;
      const DflSplit<T> sp = dfl_split(label[i], bins);
      loss[i] = dfl_row_loss(sp, lse[i], x[sp.left], x[sp.left + 1]);
    }
  }
  return bad;
}

template <typename T>
LOSSEXT_ALWAYS_INLINE void bwd_rows(const T* pred, const T* label, const T* lse, const T* grad_loss,
                                    int64_t grad_stride, int64_t rows, int64_t bins, T* grad) {
  for (int64_t i = 0; i < rows; ++i) {
    const T* x = pred + i * bins;
    T* out = grad + i * bins;
    if (!dfl_label_valid(label[i], bins)) {
      for (int64_t c = 0; c < bins; ++c) out[c] = T(NAN);
      continue;
    }
    const DflSplit<T> s = dfl_split(label[i], bins);
    const T g = grad_loss[i * grad_stride], l = lse[i], scale = g * (s.wl + s.wr);
#pragma omp simd
    for (int64_t c = 0; c < bins; ++c) out[c] = scale * fast_exp(x[c] - l);
    // dfl_grad's two indicator terms, outside the vectorized loop.
    out[s.left] -= g * s.wl;
    out[s.left + 1] -= g * s.wr;
  }
}

}  // namespace

LOSSEXT_CPU_CLONES int64_t dfl_fwd_rows(const float* pred, const float* label, int64_t rows, int64_t bins, float* loss,
                                        float* lse) {
  return fwd_rows(pred, label, rows, bins, loss, lse);
}
int64_t dfl_fwd_rows(const double* pred, const double* label, int64_t rows, int64_t bins, double* loss, double* lse) {
  return fwd_rows(pred, label, rows, bins, loss, lse);
}

LOSSEXT_CPU_CLONES void dfl_bwd_rows(const float* pred, const float* label, const float* lse, const float* grad_loss,
                                     int64_t grad_stride, int64_t rows, int64_t bins, float* grad) {
  bwd_rows(pred, label, lse, grad_loss, grad_stride, rows, bins, grad);
}
void dfl_bwd_rows(const double* pred, const double* label, const double* lse, const double* grad_loss,
                  int64_t grad_stride, int64_t rows, int64_t bins, double* grad) {
  bwd_rows(pred, label, lse, grad_loss, grad_stride, rows, bins, grad);
}

namespace {

// Rows per parallel task: about 16k values each.
int64_t grain(int64_t bins) { return std::max<int64_t>(1, 16384 / bins); }

// n values of a T array as accumulate-type values: in place, or widened into buf.
template <typename T>
const acc_type<T>* widened(const T* x, int64_t n, std::vector<acc_type<T>>& buf) {
  if constexpr (std::is_same_v<T, acc_type<T>>) {
    return x;
  } else {
    buf.resize(n);
    widen_16bit(reinterpret_cast<const uint16_t*>(x), n, 1, n, std::is_same_v<T, BFloat16>, buf.data());
    return buf.data();
  }
}

template <typename T>
CpuStatus forward(const DistributionFocalParams& p, ParallelFor parallel_for) {
  using acc_t = acc_type<T>;
  const T* pred = static_cast<const T*>(p.pred);
  const acc_t* label = static_cast<const acc_t*>(p.label);
  acc_t* loss = static_cast<acc_t*>(p.loss);
  acc_t* lse = static_cast<acc_t*>(p.lse);
  FirstBadIndex bad;
  parallel_for(0, p.rows, grain(p.bins), [&](int64_t first, int64_t last) {
    std::vector<acc_t> buf;
    const acc_t* x = widened(pred + first * p.bins, (last - first) * p.bins, buf);
    const int64_t b = dfl_fwd_rows(x, label + first, last - first, p.bins, loss + first, lse + first);
    if (b >= 0) bad.offer(first + b);
  });
  return bad.status();
}

template <typename T>
void backward(const DistributionFocalParams& p, ParallelFor parallel_for) {
  using acc_t = acc_type<T>;
  const T* pred = static_cast<const T*>(p.pred);
  T* grad = static_cast<T*>(p.grad_pred);
  advise_huge_pages(grad, size_t(p.rows * p.bins) * sizeof(T));
  parallel_for(0, p.rows, grain(p.bins), [&](int64_t first, int64_t last) {
    const int64_t n = (last - first) * p.bins;
    std::vector<acc_t> in_buf, out_buf;
    const acc_t* x = widened(pred + first * p.bins, n, in_buf);
    acc_t* out;
    if constexpr (std::is_same_v<T, acc_t>) {
      out = grad + first * p.bins;
    } else {
      out_buf.resize(n);
      out = out_buf.data();
    }
    dfl_bwd_rows(x, static_cast<const acc_t*>(p.label) + first, static_cast<const acc_t*>(p.saved_lse) + first,
                 static_cast<const acc_t*>(p.grad_loss) + first * p.grad_loss_stride, p.grad_loss_stride, last - first,
                 p.bins, out);
    if constexpr (!std::is_same_v<T, acc_t>) {
      narrow_16bit(out, 1, n, std::is_same_v<T, BFloat16>, reinterpret_cast<uint16_t*>(grad + first * p.bins), n);
    }
  });
}

}  // namespace
}  // namespace cpu

CpuStatus distribution_focal_fwd_cpu(const DistributionFocalParams& p, ParallelFor parallel_for) {
  if (p.rows == 0) return {};
  return dtype_switch<cpu::LoopTypes>(
      p.dtype, [&](auto tag) { return cpu::forward<typename decltype(tag)::type>(p, parallel_for); });
}

CpuStatus distribution_focal_bwd_cpu(const DistributionFocalParams& p, ParallelFor parallel_for) {
  if (p.rows > 0) {
    dtype_switch<cpu::LoopTypes>(p.dtype,
                                 [&](auto tag) { cpu::backward<typename decltype(tag)::type>(p, parallel_for); });
  }
  return {};
}

}  // namespace lossext
