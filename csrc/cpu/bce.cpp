// CPU implementation of the sigmoid cross-entropy ops: the glue, then the
// loops of cpu/loops/bce.cpp over blocks of rows under at::parallel_for
// (float16 / bfloat16 blocks widened to float first, results narrowed once).
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "cpu/dispatch.h"
#include "cpu/loops/bce.h"
#include "glue/bce.h"

namespace lossext {
namespace cpu {
namespace {

constexpr int64_t kGrainElements = 16384;

// The loop arguments of rows [r0, r0 + n): inputs as accumulate-type values
// (converted into the buffers for 16-bit inputs).
template <typename T>
struct Block {
  using acc_t = acc_type<T>;
  std::vector<acc_t> xb, tb, sb;
  BceRows<acc_t> rows;

  Block(const BceParams& p, int64_t r0, int64_t n) {
    const int64_t C = p.cols;
    rows.x = as_acc(static_cast<const T*>(p.x) + r0 * C, n * C, 1, xb);
    if (p.t != nullptr) {
      rows.t = as_acc(static_cast<const T*>(p.t) + r0 * C, n * C, 1, tb);
    } else {
      rows.label = p.label + r0;
      rows.score = as_acc(static_cast<const T*>(p.score) + r0, n, 1, sb);
    }
    if (p.weight != nullptr) {
      rows.w = static_cast<const acc_t*>(p.weight) + r0 * p.weight_rs;
      rows.w_rs = p.weight_rs;
      rows.w_cs = p.weight_cs;
    }
    if (p.pos_weight != nullptr) {
      rows.pw = static_cast<const acc_t*>(p.pos_weight) + r0 * p.pos_weight_rs;
      rows.pw_rs = p.pos_weight_rs;
      rows.pw_cs = p.pos_weight_cs;
    }
    rows.rows = n;
    rows.cols = C;
    rows.cfg = bce_config<acc_t>(p);
    rows.variant = bce_variant(p.kind, p.exponent);
  }
};

template <typename T>
void forward(const BceParams& p) {
  using acc_t = acc_type<T>;
  const int64_t C = p.cols;
  at::parallel_for(0, p.rows, grain_rows(C, kGrainElements), [&](int64_t begin, int64_t end) {
    Block<T> b(p, begin, end - begin);
    if (p.reduce_rows) {
      bce_rows_loss(b.rows, true, static_cast<acc_t*>(p.loss) + begin);
    } else if constexpr (std::is_same_v<T, acc_t>) {
      bce_rows_loss(b.rows, false, static_cast<T*>(p.loss) + begin * C);
    } else {
      std::vector<acc_t> out((end - begin) * C);
      bce_rows_loss(b.rows, false, out.data());
      store_from_acc<T>(out.data(), int64_t(out.size()), static_cast<T*>(p.loss) + begin * C, 1);
    }
  });
}

template <typename T>
void backward(const BceParams& p) {
  using acc_t = acc_type<T>;
  const int64_t C = p.cols;
  at::parallel_for(0, p.rows, grain_rows(C, kGrainElements), [&](int64_t begin, int64_t end) {
    Block<T> b(p, begin, end - begin);
    const acc_t* g = static_cast<const acc_t*>(p.grad_loss) + begin * p.grad_rs;
    T* gx = static_cast<T*>(p.grad_input) + begin * C;
    T* gt = p.grad_target != nullptr ? static_cast<T*>(p.grad_target) + begin * C : nullptr;
    if constexpr (std::is_same_v<T, acc_t>) {
      bce_rows_grad(b.rows, g, p.grad_rs, p.grad_cs, gx, gt);
    } else {
      const int64_t n = (end - begin) * C;
      std::vector<acc_t> ox(n), ot(gt != nullptr ? n : 0);
      bce_rows_grad(b.rows, g, p.grad_rs, p.grad_cs, ox.data(), gt != nullptr ? ot.data() : nullptr);
      store_from_acc<T>(ox.data(), n, gx, 1);
      if (gt != nullptr) store_from_acc<T>(ot.data(), n, gt, 1);
    }
  });
}

at::Tensor bce_fwd_cpu(const at::Tensor& input, const at::Tensor& target, const c10::optional<at::Tensor>& label,
                       const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& pos_weight,
                       int64_t kind, double alpha, double exponent, bool iou_weighted, bool reduce_rows) {
  glue::BceCall call =
      glue::bce_call(input, target, label, weight, pos_weight, kind, alpha, exponent, iou_weighted, reduce_rows);
  glue::alloc_bce_loss(call);
  dtype_switch<CpuTypes>(call.params.dtype, [&](auto tag) { forward<typename decltype(tag)::type>(call.params); });
  return call.loss;
}

std::tuple<at::Tensor, at::Tensor> bce_bwd_cpu(const at::Tensor& grad_loss, const at::Tensor& input,
                                               const at::Tensor& target, const c10::optional<at::Tensor>& label,
                                               const c10::optional<at::Tensor>& weight,
                                               const c10::optional<at::Tensor>& pos_weight, int64_t kind, double alpha,
                                               double exponent, bool iou_weighted, bool reduce_rows, bool target_grad) {
  glue::BceCall call =
      glue::bce_call(input, target, label, weight, pos_weight, kind, alpha, exponent, iou_weighted, reduce_rows);
  glue::fill_bce_backward(call, grad_loss, target_grad);
  dtype_switch<CpuTypes>(call.params.dtype, [&](auto tag) { backward<typename decltype(tag)::type>(call.params); });
  return {call.grad_input, call.grad_target};
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CPU, m) {
  m.impl("bce_fwd", &bce_fwd_cpu);
  m.impl("bce_bwd", &bce_bwd_cpu);
}

}  // namespace cpu
}  // namespace lossext
