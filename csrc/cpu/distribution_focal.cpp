// CPU implementation of the fused distribution focal loss: blocks of rows in
// parallel (at::parallel_for) through the row loops of
// loops/distribution_focal.h; 16-bit rows are widened to float per block.
// A label outside the bins raises a ValueError after the loop.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <atomic>
#include <type_traits>
#include <vector>

#include "cpu/dispatch.h"
#include "cpu/loops/distribution_focal.h"
#include "cpu/memory.h"
#include "glue/distribution_focal.h"

namespace lossext {
namespace cpu {
namespace {

using glue::DistributionFocalCall;

template <typename T>
void forward(const DistributionFocalParams& p) {
  using acc_t = acc_type<T>;
  const T* pred = static_cast<const T*>(p.pred);
  const acc_t* label = static_cast<const acc_t*>(p.label);
  acc_t* loss = static_cast<acc_t*>(p.loss);
  acc_t* lse = static_cast<acc_t*>(p.lse);
  std::atomic<int64_t> bad{-1};
  at::parallel_for(0, p.rows, grain_rows(p.bins, 16384), [&](int64_t first, int64_t last) {
    std::vector<acc_t> buf;
    const acc_t* x = as_acc(pred + first * p.bins, (last - first) * p.bins, 1, buf);
    const int64_t b = dfl_fwd_rows(x, label + first, last - first, p.bins, loss + first, lse + first);
    if (b >= 0) {
      // The lowest bad row of any range, so the message does not depend on the threads.
      int64_t seen = bad.load();
      while ((seen < 0 || first + b < seen) && !bad.compare_exchange_weak(seen, first + b)) {
      }
    }
  });
  const int64_t row = bad.load();
  TORCH_CHECK_VALUE(row < 0, "label must lie in [0, bins - 1] = [0, ", p.bins - 1, "], got ",
                    row < 0 ? 0.0 : double(label[row]), " at position ", row);
}

template <typename T>
void backward(const DistributionFocalParams& p) {
  using acc_t = acc_type<T>;
  const T* pred = static_cast<const T*>(p.pred);
  T* grad = static_cast<T*>(p.grad_pred);
  advise_huge_pages(grad, size_t(p.rows * p.bins) * sizeof(T));
  at::parallel_for(0, p.rows, grain_rows(p.bins, 16384), [&](int64_t first, int64_t last) {
    const int64_t n = (last - first) * p.bins;
    std::vector<acc_t> in_buf, out_buf;
    const acc_t* x = as_acc(pred + first * p.bins, n, 1, in_buf);
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
    if constexpr (!std::is_same_v<T, acc_t>) store_from_acc(out, n, grad + first * p.bins, 1);
  });
}

std::tuple<at::Tensor, at::Tensor> distribution_focal_fwd_cpu(const at::Tensor& pred, const at::Tensor& label) {
  DistributionFocalCall call = glue::distribution_focal_call(pred, label);
  glue::alloc_distribution_focal_forward(call);
  if (call.params.rows > 0)
    dtype_switch<CpuTypes>(call.params.dtype, [&](auto tag) { forward<typename decltype(tag)::type>(call.params); });
  return {call.loss, call.lse};
}

at::Tensor distribution_focal_bwd_cpu(const at::Tensor& grad_loss, const at::Tensor& pred, const at::Tensor& label,
                                      const at::Tensor& lse) {
  DistributionFocalCall call = glue::distribution_focal_call(pred, label);
  glue::fill_distribution_focal_backward(call, grad_loss, lse);
  if (call.params.rows > 0)
    dtype_switch<CpuTypes>(call.params.dtype, [&](auto tag) { backward<typename decltype(tag)::type>(call.params); });
  return call.grad_pred;
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CPU, m) {
  m.impl("distribution_focal_fwd", &distribution_focal_fwd_cpu);
  m.impl("distribution_focal_bwd", &distribution_focal_bwd_cpu);
}

}  // namespace cpu
}  // namespace lossext
