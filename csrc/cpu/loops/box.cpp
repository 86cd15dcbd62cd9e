// Definitions for box.h.
// vectorize.h's no-trapping-math is what lets the selects of kernels/box.h
// if-convert; with it, and AVX-512, a pair costs a few nanoseconds.
#include "cpu/loops/vectorize.h"

#include "cpu/loops/box.h"

namespace lossext {
namespace cpu {
namespace {

template <BoxFmt fmt, typename T>
LOSSEXT_ALWAYS_INLINE Box<T> load(const T* __restrict__ base, int64_t i) {
  const T* b = base + i * 4;
  return to_xyxy(fmt, Box<T>{b[0], b[1], b[2], b[3]});
}

template <BoxFmt fmt, typename T>
LOSSEXT_ALWAYS_INLINE void store(T* __restrict__ base, int64_t i, const Box<T>& g) {
  const Box<T> v = grad_from_xyxy(fmt, g);
  T* b = base + i * 4;
  b[0] = v.a;
  b[1] = v.b;
  b[2] = v.c;
  b[3] = v.d;
}

template <BoxLossMode mode, BoxFmt fmt, typename T>
LOSSEXT_ALWAYS_INLINE void fwd_loop(const T* __restrict__ b1, const T* __restrict__ b2, T* __restrict__ loss, T eps,
                                    int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    loss[i] = box_pair_loss<mode, false, T>(load<fmt>(b1, i), load<fmt>(b2, i), eps, T(1), nullptr, nullptr);
  }
}

template <BoxLossMode mode, BoxFmt fmt, typename T>
LOSSEXT_ALWAYS_INLINE void bwd_loop(const T* __restrict__ grad, int64_t gs, const T* __restrict__ b1,
                                    const T* __restrict__ b2, T* __restrict__ g1, T* __restrict__ g2, T eps,
                                    int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    Box<T> ga, gb;
    box_pair_loss<mode, true, T>(load<fmt>(b1, i), load<fmt>(b2, i), eps, grad[i * gs], &ga, &gb);
    store<fmt>(g1, i, ga);
    store<fmt>(g2, i, gb);
  }
}

// The switches' bodies are always-inline lambdas (LOSSEXT_INLINE_LAMBDA): an
// outlined one would be compiled for the baseline ISA only, not for each
// target_clones entry point below.
template <typename T>
LOSSEXT_ALWAYS_INLINE void fwd_typed(const BoxLossParams& p, int64_t begin, int64_t end) {
  static_switch(kBoxLossModes, p.mode, [&](auto mode) LOSSEXT_INLINE_LAMBDA {
    static_switch(kBoxFmts, p.fmt, [&](auto fmt) LOSSEXT_INLINE_LAMBDA {
      fwd_loop<decltype(mode)::value, decltype(fmt)::value>(static_cast<const T*>(p.boxes1),
                                                            static_cast<const T*>(p.boxes2), static_cast<T*>(p.loss),
                                                            static_cast<T>(p.eps), begin, end);
    });
  });
}

template <typename T>
LOSSEXT_ALWAYS_INLINE void bwd_typed(const BoxLossParams& p, int64_t begin, int64_t end) {
  static_switch(kBoxLossModes, p.mode, [&](auto mode) LOSSEXT_INLINE_LAMBDA {
    static_switch(kBoxFmts, p.fmt, [&](auto fmt) LOSSEXT_INLINE_LAMBDA {
      bwd_loop<decltype(mode)::value, decltype(fmt)::value>(
          static_cast<const T*>(p.grad_loss), p.grad_loss_stride, static_cast<const T*>(p.boxes1),
          static_cast<const T*>(p.boxes2), static_cast<T*>(p.grad1), static_cast<T*>(p.grad2), static_cast<T>(p.eps),
          begin, end);
    });
  });
}

template <BoxPairKind kind, BoxFmt fmt, typename T>
LOSSEXT_ALWAYS_INLINE void pairwise_loop(const BoxPairwiseParams& p, int64_t begin, int64_t end) {
  const T* b1 = static_cast<const T*>(p.boxes1);
  const T* b2 = static_cast<const T*>(p.boxes2);
  T* out = static_cast<T*>(p.out);
  const T eps = static_cast<T>(p.eps);
  for (int64_t r = begin; r < end; ++r) {
    const Box<T> a = load<fmt>(b1, r);
    const T area_a = box_area(a);
    const T aspect_a = kind == BoxPairKind::CIoU ? box_aspect(a) : T(0);
    const T* __restrict__ row2 = b2 + (r / p.n) * p.m * 4;
    T* __restrict__ o = out + r * p.m;
    for (int64_t j = 0; j < p.m; ++j) {
      const Box<T> b = load<fmt>(row2, j);
      const T aspect_b = kind == BoxPairKind::CIoU ? box_aspect(b) : T(0);
      o[j] = box_pair_value<kind>(a, area_a, aspect_a, b, box_area(b), aspect_b, eps);
    }
  }
}

template <typename T>
LOSSEXT_ALWAYS_INLINE void pairwise_typed(const BoxPairwiseParams& p, int64_t begin, int64_t end) {
  static_switch(kBoxPairKinds, p.kind, [&](auto kind) LOSSEXT_INLINE_LAMBDA {
    static_switch(kBoxFmts, p.fmt, [&](auto fmt) LOSSEXT_INLINE_LAMBDA {
      pairwise_loop<decltype(kind)::value, decltype(fmt)::value, T>(p, begin, end);
    });
  });
}

LOSSEXT_CPU_CLONES void fwd_float(const BoxLossParams& p, int64_t begin, int64_t end) {
  fwd_typed<float>(p, begin, end);
}
LOSSEXT_CPU_CLONES void bwd_float(const BoxLossParams& p, int64_t begin, int64_t end) {
  bwd_typed<float>(p, begin, end);
}
LOSSEXT_CPU_CLONES void pairwise_float(const BoxPairwiseParams& p, int64_t begin, int64_t end) {
  pairwise_typed<float>(p, begin, end);
}

}  // namespace

void box_loss_fwd_range(const BoxLossParams& p, int64_t begin, int64_t end) {
  if (p.dtype == DType::Float64) return fwd_typed<double>(p, begin, end);
  fwd_float(p, begin, end);
}

void box_loss_bwd_range(const BoxLossParams& p, int64_t begin, int64_t end) {
  if (p.dtype == DType::Float64) return bwd_typed<double>(p, begin, end);
  bwd_float(p, begin, end);
}

void box_pairwise_rows(const BoxPairwiseParams& p, int64_t begin, int64_t end) {
  if (p.dtype == DType::Float64) return pairwise_typed<double>(p, begin, end);
  pairwise_float(p, begin, end);
}

}  // namespace cpu
}  // namespace lossext
