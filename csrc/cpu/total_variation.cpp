// CPU implementation of the fused total variation: image rows in parallel
// (at::parallel_for), each through the vectorized row loops of
// loops/total_variation.h. The forward keeps one partial sum per row and
// adds a plane's rows in order (in double), so that the result does not
// depend on the thread count. Half and bfloat16 rows are widened to float.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <type_traits>
#include <vector>

#include "cpu/dispatch.h"
#include "cpu/memory.h"
#include "cpu/loops/total_variation.h"
#include "glue/total_variation.h"

namespace lossext {
namespace cpu {
namespace {

using glue::TotalVariationCall;

// Rows per parallel task: enough pixels to amortise the task.
int64_t row_grain(int64_t width) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(width, 1)); }

// Row `r` (plane-major) as accumulate-type values: in place, or widened into buf.
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
      for (int64_t j = 0; j < width; ++j) buf[slot][j] = static_cast<acc_t>(p[j]);
      return buf[slot].data();
    }
  }
};

template <typename T>
void forward(const TotalVariationParams& p) {
  using acc_t = acc_type<T>;
  const int64_t h = p.height, w = p.width, rows = p.planes * h;
  std::vector<acc_t> sums(2 * rows);
  const acc_t beta = static_cast<acc_t>(p.beta), eps = static_cast<acc_t>(p.eps);
  at::parallel_for(0, rows, row_grain(w), [&](int64_t first, int64_t last) {
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
void backward(const TotalVariationParams& p) {
  using acc_t = acc_type<T>;
  const int64_t h = p.height, w = p.width, rows = p.planes * h;
  const acc_t* grad_loss = static_cast<const acc_t*>(p.grad_loss);
  T* grad = static_cast<T*>(p.grad_input);
  advise_huge_pages(grad, size_t(rows * w) * sizeof(T));
  const acc_t beta = static_cast<acc_t>(p.beta), eps = static_cast<acc_t>(p.eps);
  const acc_t wy = static_cast<acc_t>(p.wy), wx = static_cast<acc_t>(p.wx);
  at::parallel_for(0, rows, row_grain(w), [&](int64_t first, int64_t last) {
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
        for (int64_t j = 0; j < w; ++j) out_row[j] = static_cast<T>(out[j]);
      }
    }
  });
}

at::Tensor total_variation_fwd_cpu(const at::Tensor& img, bool isotropic, bool mean, double beta, double eps) {
  TotalVariationCall call = glue::total_variation_call(img, isotropic, mean, beta, eps);
  glue::alloc_total_variation_loss(call);
  if (call.params.planes == 0) return call.loss;
  dtype_switch<CpuTypes>(call.params.dtype, [&](auto tag) { forward<typename decltype(tag)::type>(call.params); });
  return call.loss;
}

at::Tensor total_variation_bwd_cpu(const at::Tensor& grad_loss, const at::Tensor& img, bool isotropic, bool mean,
                                   double beta, double eps) {
  TotalVariationCall call = glue::total_variation_call(img, isotropic, mean, beta, eps);
  glue::fill_total_variation_backward(call, grad_loss);
  if (call.params.planes == 0) return call.grad_input;
  dtype_switch<CpuTypes>(call.params.dtype, [&](auto tag) { backward<typename decltype(tag)::type>(call.params); });
  return call.grad_input;
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CPU, m) {
  m.impl("total_variation_fwd", &total_variation_fwd_cpu);
  m.impl("total_variation_bwd", &total_variation_bwd_cpu);
}

}  // namespace cpu
}  // namespace lossext
