// CPU implementation of the box IoU ops: the math of kernels/box.h over
// at::parallel_for. The loss mode is made a compile-time constant before the
// pair loop so that the per-pair code has no mode branches left.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <type_traits>

#include "cpu/memory.h"
#include "glue/box.h"

namespace lossext {
namespace cpu {
namespace {

constexpr int64_t kPairGrain = 4096;

template <typename F> void with_mode(BoxLossMode mode, F&& f) {
  switch (mode) {
    case BoxLossMode::IoU: return f(std::integral_constant<BoxLossMode, BoxLossMode::IoU>());
    case BoxLossMode::GIoU: return f(std::integral_constant<BoxLossMode, BoxLossMode::GIoU>());
    case BoxLossMode::DIoU: return f(std::integral_constant<BoxLossMode, BoxLossMode::DIoU>());
    case BoxLossMode::CIoU: return f(std::integral_constant<BoxLossMode, BoxLossMode::CIoU>());
    case BoxLossMode::EIoU: return f(std::integral_constant<BoxLossMode, BoxLossMode::EIoU>());
    case BoxLossMode::SIoU: return f(std::integral_constant<BoxLossMode, BoxLossMode::SIoU>());
  }
}

template <typename F> void with_fmt(BoxFmt fmt, F&& f) {
  switch (fmt) {
    case BoxFmt::XYXY: return f(std::integral_constant<BoxFmt, BoxFmt::XYXY>());
    case BoxFmt::XYWH: return f(std::integral_constant<BoxFmt, BoxFmt::XYWH>());
    case BoxFmt::CXCYWH: return f(std::integral_constant<BoxFmt, BoxFmt::CXCYWH>());
  }
}

template <typename acc_t, typename T> Box<acc_t> load_box(const T* base, int64_t i, BoxFmt fmt) {
  const T* b = base + i * 4;
  return to_xyxy(fmt, Box<acc_t>{static_cast<acc_t>(b[0]), static_cast<acc_t>(b[1]), static_cast<acc_t>(b[2]),
                                 static_cast<acc_t>(b[3])});
}

template <typename T, typename acc_t> void store_box(T* base, int64_t i, const Box<acc_t>& g) {
  T* b = base + i * 4;
  b[0] = static_cast<T>(g.a);
  b[1] = static_cast<T>(g.b);
  b[2] = static_cast<T>(g.c);
  b[3] = static_cast<T>(g.d);
}

template <typename T> void pairwise(const BoxPairwiseParams& p) {
  const T* b1 = static_cast<const T*>(p.boxes1);
  const T* b2 = static_cast<const T*>(p.boxes2);
  T* out = static_cast<T*>(p.out);
  const int64_t rows = p.batch * p.n;
  advise_huge_pages(out, static_cast<size_t>(rows * p.m) * sizeof(T));
  const T eps = static_cast<T>(p.eps);
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(p.m, 1));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t z = r / p.n;
      const Box<T> a = load_box<T>(b1, r, p.fmt);
      const T area_a = box_area(a);
      const T* row2 = b2 + z * p.m * 4;
      T* o = out + r * p.m;
      for (int64_t j = 0; j < p.m; ++j) {
        const Box<T> b = load_box<T>(row2, j, p.fmt);
        o[j] = box_pair_value(p.kind, a, area_a, b, box_area(b), eps);
      }
    }
  });
}

at::Tensor box_pairwise_cpu(const at::Tensor& boxes1, const at::Tensor& boxes2, int64_t kind, int64_t fmt,
                            double eps) {
  glue::BoxPairwiseCall call = glue::pairwise_call(boxes1, boxes2, kind, fmt, eps);
  if (call.params.dtype == DType::Float64) {
    pairwise<double>(call.params);
  } else {
    pairwise<float>(call.params);
  }
  return call.out;
}

template <typename T> void loss_forward(const BoxLossParams& p) {
  using acc_t = acc_type<T>;
  const T* b1 = static_cast<const T*>(p.boxes1);
  const T* b2 = static_cast<const T*>(p.boxes2);
  acc_t* loss = static_cast<acc_t*>(p.loss);
  const acc_t eps = static_cast<acc_t>(p.eps);
  with_mode(p.mode, [&](auto mode) {
    with_fmt(p.fmt, [&](auto fmt) {
      at::parallel_for(0, p.pairs, kPairGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          const Box<acc_t> a = load_box<acc_t>(b1, i, fmt), b = load_box<acc_t>(b2, i, fmt);
          loss[i] = box_pair_loss<acc_t>(mode, a, b, eps, false, acc_t(1), nullptr, nullptr);
        }
      });
    });
  });
}

template <typename T> void loss_backward(const BoxLossParams& p) {
  using acc_t = acc_type<T>;
  const T* b1 = static_cast<const T*>(p.boxes1);
  const T* b2 = static_cast<const T*>(p.boxes2);
  const acc_t* g = static_cast<const acc_t*>(p.grad_loss);
  T* g1 = static_cast<T*>(p.grad1);
  T* g2 = static_cast<T*>(p.grad2);
  const acc_t eps = static_cast<acc_t>(p.eps);
  const int64_t gs = p.grad_loss_stride;
  with_mode(p.mode, [&](auto mode) {
    with_fmt(p.fmt, [&](auto fmt) {
      at::parallel_for(0, p.pairs, kPairGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          const Box<acc_t> a = load_box<acc_t>(b1, i, fmt), b = load_box<acc_t>(b2, i, fmt);
          Box<acc_t> ga, gb;
          box_pair_loss<acc_t>(mode, a, b, eps, true, g[i * gs], &ga, &gb);
          store_box(g1, i, grad_from_xyxy<acc_t>(fmt, ga));
          store_box(g2, i, grad_from_xyxy<acc_t>(fmt, gb));
        }
      });
    });
  });
}

at::Tensor box_loss_fwd_cpu(const at::Tensor& boxes1, const at::Tensor& boxes2, int64_t mode, int64_t fmt,
                            double eps) {
  glue::BoxLossCall call = glue::loss_call(boxes1, boxes2, mode, fmt, eps);
  glue::alloc_loss(call);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, call.boxes1.scalar_type(), "box_loss_fwd",
                                  [&] { loss_forward<scalar_t>(call.params); });
  return call.loss;
}

std::tuple<at::Tensor, at::Tensor> box_loss_bwd_cpu(const at::Tensor& grad_loss, const at::Tensor& boxes1,
                                                    const at::Tensor& boxes2, int64_t mode, int64_t fmt,
                                                    double eps) {
  glue::BoxLossCall call = glue::loss_call(boxes1, boxes2, mode, fmt, eps);
  glue::fill_loss_backward(call, grad_loss);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, call.boxes1.scalar_type(), "box_loss_bwd",
                                  [&] { loss_backward<scalar_t>(call.params); });
  return {call.grad1, call.grad2};
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CPU, m) {
  m.impl("box_pairwise", &box_pairwise_cpu);
  m.impl("box_loss_fwd", &box_loss_fwd_cpu);
  m.impl("box_loss_bwd", &box_loss_bwd_cpu);
}

}  // namespace cpu
}  // namespace lossext
