// CPU implementation of the box IoU ops: at::parallel_for over pairs (or
// matrix rows), each range through the vectorized loops of loops/box.cpp,
// which apply kernels/box.h. Half and bfloat16 boxes are widened to float
// per range, so they take the same loops.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <type_traits>
#include <vector>

#include "cpu/dispatch.h"
#include "cpu/loops/box.h"
#include "cpu/loops/memory.h"
#include "glue/box.h"

namespace lossext {
namespace cpu {
namespace {

constexpr int64_t kPairGrain = 8192;

at::Tensor box_pairwise_cpu(const at::Tensor& boxes1, const at::Tensor& boxes2, int64_t kind, int64_t fmt, double eps) {
  glue::BoxPairwiseCall call = glue::pairwise_call(boxes1, boxes2, kind, fmt, eps);
  const BoxPairwiseParams& p = call.params;
  advise_huge_pages(p.out, static_cast<size_t>(call.out.nbytes()));
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(p.m, 1));
  at::parallel_for(0, p.batch * p.n, grain, [&](int64_t begin, int64_t end) { box_pairwise_rows(p, begin, end); });
  return call.out;
}

template <typename T>
void widen(const T* src, int64_t n, std::vector<float>& dst) {
  dst.resize(n);
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]);
}

template <typename T>
void narrow(const std::vector<float>& src, T* dst) {
  for (size_t i = 0; i < src.size(); ++i) dst[i] = static_cast<T>(src[i]);
}

// Half boxes: the pairs of [begin, end) as a float32 problem of its own.
template <typename T>
BoxLossParams widened(const BoxLossParams& p, int64_t begin, int64_t end, std::vector<float>& a,
                      std::vector<float>& b) {
  widen(static_cast<const T*>(p.boxes1) + begin * 4, (end - begin) * 4, a);
  widen(static_cast<const T*>(p.boxes2) + begin * 4, (end - begin) * 4, b);
  BoxLossParams q = p;
  q.dtype = DType::Float32;
  q.boxes1 = a.data();
  q.boxes2 = b.data();
  q.pairs = end - begin;
  return q;
}

at::Tensor box_loss_fwd_cpu(const at::Tensor& boxes1, const at::Tensor& boxes2, int64_t mode, int64_t fmt, double eps) {
  glue::BoxLossCall call = glue::loss_call(boxes1, boxes2, mode, fmt, eps);
  glue::alloc_loss(call);
  const BoxLossParams& p = call.params;
  dtype_switch<CpuTypes>(call.params.dtype, [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    at::parallel_for(0, p.pairs, kPairGrain, [&](int64_t begin, int64_t end) {
      if constexpr (std::is_same_v<scalar_t, float> || std::is_same_v<scalar_t, double>) {
        box_loss_fwd_range(p, begin, end);
      } else {
        std::vector<float> a, b;
        BoxLossParams q = widened<scalar_t>(p, begin, end, a, b);
        q.loss = static_cast<float*>(p.loss) + begin;
        box_loss_fwd_range(q, 0, q.pairs);
      }
    });
  });
  return call.loss;
}

std::tuple<at::Tensor, at::Tensor> box_loss_bwd_cpu(const at::Tensor& grad_loss, const at::Tensor& boxes1,
                                                    const at::Tensor& boxes2, int64_t mode, int64_t fmt, double eps) {
  glue::BoxLossCall call = glue::loss_call(boxes1, boxes2, mode, fmt, eps);
  glue::fill_loss_backward(call, grad_loss);
  const BoxLossParams& p = call.params;
  dtype_switch<CpuTypes>(call.params.dtype, [&](auto tag) {
    using scalar_t = typename decltype(tag)::type;
    at::parallel_for(0, p.pairs, kPairGrain, [&](int64_t begin, int64_t end) {
      if constexpr (std::is_same_v<scalar_t, float> || std::is_same_v<scalar_t, double>) {
        box_loss_bwd_range(p, begin, end);
      } else {
        std::vector<float> a, b, ga((end - begin) * 4), gb((end - begin) * 4);
        BoxLossParams q = widened<scalar_t>(p, begin, end, a, b);
        q.grad_loss = static_cast<const float*>(p.grad_loss) + begin * p.grad_loss_stride;
        q.grad1 = ga.data();
        q.grad2 = gb.data();
        box_loss_bwd_range(q, 0, q.pairs);
        narrow(ga, static_cast<scalar_t*>(p.grad1) + begin * 4);
        narrow(gb, static_cast<scalar_t*>(p.grad2) + begin * 4);
      }
    });
  });
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
