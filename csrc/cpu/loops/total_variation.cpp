// The CPU side of kernels/total_variation.cu: total_variation_fwd_cpu and
// total_variation_bwd_cpu over the params of kernels/total_variation.h.
// Image rows go to the injected parallel-for; each row loop splits into the
// interior columns, where every neighbour exists and the body is branch-free
// (it vectorizes), and the two edge columns, done with explicit flags. The
// forward keeps one partial sum per row and adds a plane's rows in order (in
// double), so the result does not depend on the thread count. Half and
// bfloat16 rows are widened to float.
#include "cpu/loops/vectorize.h"

// The isotropic loops vectorize except for sqrt/pow: with gcc's default
// -fmath-errno, sqrt keeps a scalar errno path (a pragma or function
// attribute does not reach the inlined math; -fno-math-errno in setup.py
// would, lossext never reads errno).

#include <algorithm>
#include <type_traits>
#include <vector>

#include "cpu/loops/convert.h"
#include "cpu/loops/memory.h"
#include "kernels/total_variation.h"

namespace lossext {
namespace cpu {
namespace {

template <typename T>
LOSSEXT_ALWAYS_INLINE void aniso_sums(const T* row, const T* next, int64_t w, T* out) {
  T sy = 0, sx = 0;
  if (next != nullptr) {
#pragma omp simd reduction(+ : sy)
    for (int64_t j = 0; j < w; ++j) sy += tv_abs(next[j] - row[j]);
  }
#pragma omp simd reduction(+ : sx)
  for (int64_t j = 0; j < w - 1; ++j) sx += tv_abs(row[j + 1] - row[j]);
  out[0] = sy;
  out[1] = sx;
}

template <TvPower P, typename T>
LOSSEXT_ALWAYS_INLINE T iso_sum_impl(const T* row, const T* next, int64_t w, T beta, T eps) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < w - 1; ++j) s += tv_iso_value<P>(row[j + 1] - row[j], next[j] - row[j], beta, eps);
  return s;
}

template <typename T>
LOSSEXT_ALWAYS_INLINE T iso_sum(const T* row, const T* next, int64_t w, TvPower power, T beta, T eps) {
  if (next == nullptr) return T(0);
  // An always-inline body: it is then compiled for each target_clones entry point's ISA.
  return static_switch(kTvPowers, power, [&](auto P) LOSSEXT_INLINE_LAMBDA {
    return iso_sum_impl<decltype(P)::value>(row, next, w, beta, eps);
  });
}

// HAS_UP / HAS_DOWN are template arguments so that the interior loop sees
// constants (gcc does not vectorize it with the flags as loop invariants).
template <bool HAS_UP, bool HAS_DOWN, typename T>
LOSSEXT_ALWAYS_INLINE void aniso_grad_impl(const T* up, const T* row, const T* down, int64_t w, T wy, T wx, T g,
                                           T* out) {
  auto at = [=](int64_t j) {
    const bool has_left = j > 0, has_right = j < w - 1;
    return g * tv_aniso_pixel_grad(row[j], up[j], down[j], row[has_left ? j - 1 : j], row[has_right ? j + 1 : j],
                                   HAS_UP, HAS_DOWN, has_left, has_right, wy, wx);
  };
  out[0] = at(0);
#pragma omp simd
  for (int64_t j = 1; j < w - 1; ++j) {
    out[j] =
        g * tv_aniso_pixel_grad(row[j], up[j], down[j], row[j - 1], row[j + 1], HAS_UP, HAS_DOWN, true, true, wy, wx);
  }
  if (w > 1) out[w - 1] = at(w - 1);
}

template <typename T>
LOSSEXT_ALWAYS_INLINE void aniso_grad(const T* prev, const T* row, const T* next, int64_t w, T wy, T wx, T g, T* out) {
  // A missing neighbour row is never used: point it at one that exists.
  const T* up = prev != nullptr ? prev : row;
  const T* down = next != nullptr ? next : row;
  if (prev != nullptr && next != nullptr) return aniso_grad_impl<true, true>(up, row, down, w, wy, wx, g, out);
  if (prev != nullptr) return aniso_grad_impl<true, false>(up, row, down, w, wy, wx, g, out);
  if (next != nullptr) return aniso_grad_impl<false, true>(up, row, down, w, wy, wx, g, out);
  return aniso_grad_impl<false, false>(up, row, down, w, wy, wx, g, out);
}

template <TvPower P, bool HAS_UP, bool HAS_DOWN, typename T>
LOSSEXT_ALWAYS_INLINE void iso_grad_impl(const T* up, const T* row, const T* down, int64_t w, T beta, T eps, T g,
                                         T* out) {
  auto at = [=](int64_t j) {
    const bool has_left = j > 0, has_right = j < w - 1;
    const int64_t l = has_left ? j - 1 : j, r = has_right ? j + 1 : j;
    return g * tv_iso_pixel_grad<P>(row[j], up[j], up[r], down[j], down[l], row[l], row[r], HAS_UP, HAS_DOWN, has_left,
                                    has_right, beta, eps);
  };
  out[0] = at(0);
#pragma omp simd
  for (int64_t j = 1; j < w - 1; ++j) {
    out[j] = g * tv_iso_pixel_grad<P>(row[j], up[j], up[j + 1], down[j], down[j - 1], row[j - 1], row[j + 1], HAS_UP,
                                      HAS_DOWN, true, true, beta, eps);
  }
  if (w > 1) out[w - 1] = at(w - 1);
}

template <TvPower P, typename T>
LOSSEXT_ALWAYS_INLINE void iso_grad_rows(const T* prev, const T* row, const T* next, int64_t w, T beta, T eps, T g,
                                         T* out) {
  const T* up = prev != nullptr ? prev : row;
  const T* down = next != nullptr ? next : row;
  if (prev != nullptr && next != nullptr) return iso_grad_impl<P, true, true>(up, row, down, w, beta, eps, g, out);
  if (prev != nullptr) return iso_grad_impl<P, true, false>(up, row, down, w, beta, eps, g, out);
  if (next != nullptr) return iso_grad_impl<P, false, true>(up, row, down, w, beta, eps, g, out);
  return iso_grad_impl<P, false, false>(up, row, down, w, beta, eps, g, out);
}

template <typename T>
LOSSEXT_ALWAYS_INLINE void iso_grad(const T* prev, const T* row, const T* next, int64_t w, TvPower power, T beta, T eps,
                                    T g, T* out) {
  static_switch(kTvPowers, power, [&](auto P) LOSSEXT_INLINE_LAMBDA {
    iso_grad_rows<decltype(P)::value>(prev, row, next, w, beta, eps, g, out);
  });
}

}  // namespace

LOSSEXT_CPU_CLONES void tv_aniso_row_sums(const float* row, const float* next, int64_t width, float* out) {
  aniso_sums(row, next, width, out);
}
void tv_aniso_row_sums(const double* row, const double* next, int64_t width, double* out) {
  aniso_sums(row, next, width, out);
}

LOSSEXT_CPU_CLONES float tv_iso_row_sum(const float* row, const float* next, int64_t width, TvPower power, float beta,
                                        float eps) {
  return iso_sum(row, next, width, power, beta, eps);
}
double tv_iso_row_sum(const double* row, const double* next, int64_t width, TvPower power, double beta, double eps) {
  return iso_sum(row, next, width, power, beta, eps);
}

LOSSEXT_CPU_CLONES void tv_aniso_row_grad(const float* prev, const float* row, const float* next, int64_t width,
                                          float wy, float wx, float g, float* out) {
  aniso_grad(prev, row, next, width, wy, wx, g, out);
}
void tv_aniso_row_grad(const double* prev, const double* row, const double* next, int64_t width, double wy, double wx,
                       double g, double* out) {
  aniso_grad(prev, row, next, width, wy, wx, g, out);
}

LOSSEXT_CPU_CLONES void tv_iso_row_grad(const float* prev, const float* row, const float* next, int64_t width,
                                        TvPower power, float beta, float eps, float g, float* out) {
  iso_grad(prev, row, next, width, power, beta, eps, g, out);
}
void tv_iso_row_grad(const double* prev, const double* row, const double* next, int64_t width, TvPower power,
                     double beta, double eps, double g, double* out) {
  iso_grad(prev, row, next, width, power, beta, eps, g, out);
}

namespace {

// Rows per parallel task: enough pixels to amortise the task.
int64_t row_grain(int64_t width) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(width, 1)); }

// Row `r` (plane-major) as accumulate-type values: in place, or widened into a buffer.
template <typename T>
struct RowReader {
  using acc_t = acc_type<T>;
  const T* base;
  int64_t width;
  std::vector<acc_t> buf[3];

  const acc_t* get(int64_t r, int slot) {
    const T* p = base + r * width;
    if constexpr (std::is_same_v<T, acc_t>) {
      return p;
    } else {
      buf[slot].resize(width);
      widen_16bit(reinterpret_cast<const uint16_t*>(p), width, 1, width, std::is_same_v<T, BFloat16>, buf[slot].data());
      return buf[slot].data();
    }
  }
};

template <typename T>
void forward(const TotalVariationParams& p, ParallelFor parallel_for) {
  using acc_t = acc_type<T>;
  const int64_t h = p.height, w = p.width, rows = p.planes * h;
  acc_t* sums = static_cast<acc_t*>(p.partial);  // one (y, x) pair per row
  const acc_t beta = static_cast<acc_t>(p.beta), eps = static_cast<acc_t>(p.eps);
  parallel_for(0, rows, row_grain(w), [&](int64_t first, int64_t last) {
    RowReader<T> reader{static_cast<const T*>(p.input), w, {}};
    for (int64_t r = first; r < last; ++r) {
      const acc_t* row = reader.get(r, 0);
      const acc_t* next = (r % h) < h - 1 ? reader.get(r + 1, 1) : nullptr;
      if (p.isotropic) {
        sums[2 * r] = tv_iso_row_sum(row, next, w, p.power, beta, eps);
        sums[2 * r + 1] = 0;
      } else {
        tv_aniso_row_sums(row, next, w, &sums[2 * r]);
      }
    }
  });
  acc_t* loss = static_cast<acc_t*>(p.loss);
  for (int64_t plane = 0; plane < p.planes; ++plane) {
    double sy = 0, sx = 0;
    for (int64_t i = 0; i < h; ++i) {
      sy += sums[2 * (plane * h + i)];
      sx += sums[2 * (plane * h + i) + 1];
    }
    loss[plane] = static_cast<acc_t>(p.wy * sy + p.wx * sx);
  }
}

template <typename T>
void backward(const TotalVariationParams& p, ParallelFor parallel_for) {
  using acc_t = acc_type<T>;
  const int64_t h = p.height, w = p.width, rows = p.planes * h;
  const acc_t* grad_loss = static_cast<const acc_t*>(p.grad_loss);
  T* grad = static_cast<T*>(p.grad_input);
  advise_huge_pages(grad, size_t(rows * w) * sizeof(T));
  const acc_t beta = static_cast<acc_t>(p.beta), eps = static_cast<acc_t>(p.eps);
  const acc_t wy = static_cast<acc_t>(p.wy), wx = static_cast<acc_t>(p.wx);
  parallel_for(0, rows, row_grain(w), [&](int64_t first, int64_t last) {
    RowReader<T> reader{static_cast<const T*>(p.input), w, {}};
    std::vector<acc_t> out_buf;
    for (int64_t r = first; r < last; ++r) {
      const int64_t i = r % h;
      const acc_t* prev = i > 0 ? reader.get(r - 1, 0) : nullptr;
      const acc_t* row = reader.get(r, 1);
      const acc_t* next = i < h - 1 ? reader.get(r + 1, 2) : nullptr;
      const acc_t g = grad_loss[(r / h) * p.grad_loss_stride];
      T* out_row = grad + r * w;
      acc_t* out;
      if constexpr (std::is_same_v<T, acc_t>) {
        out = out_row;
      } else {
        out_buf.resize(w);
        out = out_buf.data();
      }
      if (p.isotropic) {
        tv_iso_row_grad(prev, row, next, w, p.power, beta, eps, g * wy, out);
      } else {
        tv_aniso_row_grad(prev, row, next, w, wy, wx, g, out);
      }
      if constexpr (!std::is_same_v<T, acc_t>) {
        narrow_16bit(out, 1, w, std::is_same_v<T, BFloat16>, reinterpret_cast<uint16_t*>(out_row), w);
      }
    }
  });
}

}  // namespace
}  // namespace cpu

CpuStatus total_variation_fwd_cpu(const TotalVariationParams& p, ParallelFor parallel_for) {
  if (p.planes > 0) {
    dtype_switch<cpu::LoopTypes>(p.dtype,
                                 [&](auto tag) { cpu::forward<typename decltype(tag)::type>(p, parallel_for); });
  }
  return {};
}

CpuStatus total_variation_bwd_cpu(const TotalVariationParams& p, ParallelFor parallel_for) {
  if (p.planes > 0) {
    dtype_switch<cpu::LoopTypes>(p.dtype,
                                 [&](auto tag) { cpu::backward<typename decltype(tag)::type>(p, parallel_for); });
  }
  return {};
}

}  // namespace lossext
