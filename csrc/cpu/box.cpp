// The CPU side of kernels/box.cu: box_pairwise_cpu, box_loss_fwd_cpu and
// box_loss_bwd_cpu over the params of kernels/box.h. Pairs (or matrix rows)
// go to the injected parallel-for; every pair is independent, so the results
// do not depend on how the range is split. Half and bfloat16 boxes are
// widened to float a chunk at a time and take the float loops.
// vectorize.h's no-trapping-math is what lets the selects of kernels/box.h
// if-convert; with it, and AVX-512, a pair costs a few nanoseconds.
#include "cpu/vectorize.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "cpu/convert.h"
#include "cpu/memory.h"
#include "kernels/box.h"

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

// The float32 / float64 loops over pairs [begin, end) of p.
void fwd_range(const BoxLossParams& p, int64_t begin, int64_t end) {
  if (p.dtype == DType::Float64) return fwd_typed<double>(p, begin, end);
  fwd_float(p, begin, end);
}
void bwd_range(const BoxLossParams& p, int64_t begin, int64_t end) {
  if (p.dtype == DType::Float64) return bwd_typed<double>(p, begin, end);
  bwd_float(p, begin, end);
}

// Pairs per parallel task, and per chunk of widened 16-bit boxes (which then
// stay in cache between the conversion and the loop).
constexpr int64_t kPairGrain = 8192;

// The 4 * count values of `count` boxes from box `first` on, as float or double.
template <typename T>
const acc_type<T>* boxes_as_acc(const void* boxes, int64_t first, int64_t count, std::vector<acc_type<T>>& buf) {
  const T* src = static_cast<const T*>(boxes) + first * 4;
  if constexpr (std::is_same_v<T, acc_type<T>>) {
    return src;
  } else {
    buf.resize(count * 4);
    widen_16bit(reinterpret_cast<const uint16_t*>(src), count * 4, 1, count * 4, std::is_same_v<T, BFloat16>,
                buf.data());
    return buf.data();
  }
}

// Pairs [first, first + count) of p as a problem of their own in the
// accumulate type: boxes in place or widened into a and b; upstream gradient
// and loss rebased. The gradients are left to the caller.
template <typename T>
BoxLossParams chunk_of(const BoxLossParams& p, int64_t first, int64_t count, std::vector<acc_type<T>>& a,
                       std::vector<acc_type<T>>& b) {
  using acc_t = acc_type<T>;
  BoxLossParams q = p;
  q.dtype = std::is_same_v<acc_t, double> ? DType::Float64 : DType::Float32;
  q.pairs = count;
  q.boxes1 = boxes_as_acc<T>(p.boxes1, first, count, a);
  q.boxes2 = boxes_as_acc<T>(p.boxes2, first, count, b);
  if (p.loss) q.loss = static_cast<acc_t*>(p.loss) + first;
  if (p.grad_loss) q.grad_loss = static_cast<const acc_t*>(p.grad_loss) + first * p.grad_loss_stride;
  return q;
}

template <typename T>
void loss_forward(const BoxLossParams& p, ParallelFor parallel_for) {
  using acc_t = acc_type<T>;
  parallel_for(0, p.pairs, kPairGrain, [&](int64_t first, int64_t last) {
    if constexpr (std::is_same_v<T, acc_t>) {
      fwd_range(p, first, last);
    } else {
      std::vector<acc_t> a, b;
      for (int64_t c = first; c < last; c += kPairGrain) {
        const BoxLossParams q = chunk_of<T>(p, c, std::min(kPairGrain, last - c), a, b);
        fwd_range(q, 0, q.pairs);
      }
    }
  });
}

// The loops write both gradients: one not asked for (null) goes to per-range
// scratch, a 16-bit one to float scratch that is then rounded into place.
template <typename T>
void loss_backward(const BoxLossParams& p, ParallelFor parallel_for) {
  using acc_t = acc_type<T>;
  constexpr bool wide = std::is_same_v<T, acc_t>;
  parallel_for(0, p.pairs, kPairGrain, [&](int64_t first, int64_t last) {
    std::vector<acc_t> a, b, g1, g2;
    for (int64_t c = first; c < last; c += kPairGrain) {
      const int64_t count = std::min(kPairGrain, last - c);
      BoxLossParams q = chunk_of<T>(p, c, count, a, b);
      auto target = [&](void* grad, std::vector<acc_t>& scratch) -> void* {
        if (wide && grad) return static_cast<T*>(grad) + c * 4;
        scratch.resize(count * 4);
        return scratch.data();
      };
      q.grad1 = target(p.grad1, g1);
      q.grad2 = target(p.grad2, g2);
      bwd_range(q, 0, count);
      if constexpr (!wide) {
        auto store = [&](void* grad, const std::vector<acc_t>& scratch) {
          constexpr bool bf16 = std::is_same_v<T, BFloat16>;
          if (grad) narrow_16bit(scratch.data(), 1, count * 4, bf16, static_cast<uint16_t*>(grad) + c * 4, count * 4);
        };
        store(p.grad1, g1);
        store(p.grad2, g2);
      }
    }
  });
}

template <typename T>
void pairwise(const BoxPairwiseParams& p, ParallelFor parallel_for) {
  advise_huge_pages(p.out, size_t(p.batch * p.n * p.m) * sizeof(T));
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(p.m, 1));
  parallel_for(0, p.batch * p.n, grain, [&](int64_t first, int64_t last) {
    if constexpr (std::is_same_v<T, double>) {
      pairwise_typed<double>(p, first, last);
    } else {
      pairwise_float(p, first, last);
    }
  });
}

}  // namespace
}  // namespace cpu

CpuStatus box_pairwise_cpu(const BoxPairwiseParams& p, ParallelFor parallel_for) {
  if (p.batch == 0 || p.n == 0 || p.m == 0) return {};
  // As the CUDA launcher: the op converts every other dtype to float32.
  if (p.dtype == DType::Float64) cpu::pairwise<double>(p, parallel_for);
  if (p.dtype == DType::Float32) cpu::pairwise<float>(p, parallel_for);
  return {};
}

CpuStatus box_loss_fwd_cpu(const BoxLossParams& p, ParallelFor parallel_for) {
  if (p.pairs > 0) {
    dtype_switch<cpu::LoopTypes>(p.dtype,
                                 [&](auto tag) { cpu::loss_forward<typename decltype(tag)::type>(p, parallel_for); });
  }
  return {};
}

CpuStatus box_loss_bwd_cpu(const BoxLossParams& p, ParallelFor parallel_for) {
  if (p.pairs > 0) {
    dtype_switch<cpu::LoopTypes>(p.dtype,
                                 [&](auto tag) { cpu::loss_backward<typename decltype(tag)::type>(p, parallel_for); });
  }
  return {};
}

}  // namespace lossext
