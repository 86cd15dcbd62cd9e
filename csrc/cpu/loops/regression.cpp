// The CPU side of kernels/regression.cu: regression_fwd_cpu and
// regression_bwd_cpu over the params of kernels/regression.h. Elements go to
// the injected parallel-for; each is independent, so the results do not
// depend on how the range is split. Half and bfloat16 elements are widened to
// float a chunk at a time and narrowed back, as the CUDA kernels compute them
// in float: both sides give the same bits.
// vectorize.h's no-trapping-math lets the selects of kernels/regression.h
// (one arm divides) if-convert, so the loops vectorize.
#include "cpu/loops/vectorize.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "cpu/loops/convert.h"
#include "cpu/loops/memory.h"
#include "kernels/regression.h"

namespace lossext {
namespace cpu {
namespace {

template <RegressionKind kind, typename T>
LOSSEXT_ALWAYS_INLINE void loss_loop(const T* __restrict__ x, const T* __restrict__ y, T* __restrict__ out, int64_t n,
                                     T param) {
  for (int64_t i = 0; i < n; ++i) out[i] = regression_loss<kind>(x[i] - y[i], param);
}

// The upstream gradient per element, or one broadcast value (a separate loop,
// so that neither reads it with a run-time stride).
template <RegressionKind kind, typename T>
LOSSEXT_ALWAYS_INLINE void grad_loop(const T* __restrict__ g, int64_t gs, const T* __restrict__ x,
                                     const T* __restrict__ y, T* __restrict__ out, int64_t n, T param) {
  if (gs == 0) {
    const T g0 = g[0];
    for (int64_t i = 0; i < n; ++i) out[i] = g0 * regression_grad<kind>(x[i] - y[i], param);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = g[i] * regression_grad<kind>(x[i] - y[i], param);
  }
}

// The switch bodies are always-inline lambdas, compiled for each clone's ISA.
template <typename T>
LOSSEXT_ALWAYS_INLINE void loss_typed(const T* x, const T* y, T* out, int64_t n, RegressionKind kind, T param) {
  static_switch(kRegressionKinds, kind,
                [&](auto k) LOSSEXT_INLINE_LAMBDA { loss_loop<decltype(k)::value>(x, y, out, n, param); });
}

template <typename T>
LOSSEXT_ALWAYS_INLINE void grad_typed(const T* g, int64_t gs, const T* x, const T* y, T* out, int64_t n,
                                      RegressionKind kind, T param) {
  static_switch(kRegressionKinds, kind,
                [&](auto k) LOSSEXT_INLINE_LAMBDA { grad_loop<decltype(k)::value>(g, gs, x, y, out, n, param); });
}

LOSSEXT_CPU_CLONES void loss_float(const float* x, const float* y, float* out, int64_t n, RegressionKind kind,
                                   float param) {
  loss_typed(x, y, out, n, kind, param);
}
LOSSEXT_CPU_CLONES void loss_double(const double* x, const double* y, double* out, int64_t n, RegressionKind kind,
                                    double param) {
  loss_typed(x, y, out, n, kind, param);
}
LOSSEXT_CPU_CLONES void grad_float(const float* g, int64_t gs, const float* x, const float* y, float* out, int64_t n,
                                   RegressionKind kind, float param) {
  grad_typed(g, gs, x, y, out, n, kind, param);
}
LOSSEXT_CPU_CLONES void grad_double(const double* g, int64_t gs, const double* x, const double* y, double* out,
                                    int64_t n, RegressionKind kind, double param) {
  grad_typed(g, gs, x, y, out, n, kind, param);
}

void loss_acc(const float* x, const float* y, float* out, int64_t n, RegressionKind kind, double param) {
  loss_float(x, y, out, n, kind, static_cast<float>(param));
}
void loss_acc(const double* x, const double* y, double* out, int64_t n, RegressionKind kind, double param) {
  loss_double(x, y, out, n, kind, param);
}
void grad_acc(const float* g, int64_t gs, const float* x, const float* y, float* out, int64_t n, RegressionKind kind,
              double param) {
  grad_float(g, gs, x, y, out, n, kind, static_cast<float>(param));
}
void grad_acc(const double* g, int64_t gs, const double* x, const double* y, double* out, int64_t n,
              RegressionKind kind, double param) {
  grad_double(g, gs, x, y, out, n, kind, param);
}

// Elements per parallel task, and per chunk of widened 16-bit values (small
// enough that the chunk stays in L1 between conversion, math and narrowing).
constexpr int64_t kGrain = 32768;
constexpr int64_t kChunk = 2048;

template <typename T>
constexpr bool kBf16 = std::is_same_v<T, BFloat16>;

template <typename T>
void widen(const T* src, int64_t n, float* dst) {
  widen_16bit(reinterpret_cast<const uint16_t*>(src), n, 1, n, kBf16<T>, dst);
}

template <typename T>
void narrow(const float* src, int64_t n, T* dst) {
  narrow_16bit(src, 1, n, kBf16<T>, reinterpret_cast<uint16_t*>(dst), n);
}

template <typename T>
void forward(const RegressionParams& p, ParallelFor parallel_for) {
  const T* x = static_cast<const T*>(p.input);
  const T* y = static_cast<const T*>(p.target);
  T* out = static_cast<T*>(p.loss);
  advise_huge_pages(out, size_t(p.numel) * sizeof(T));
  parallel_for(0, p.numel, kGrain, [&](int64_t first, int64_t last) {
    if constexpr (std::is_same_v<T, acc_type<T>>) {
      loss_acc(x + first, y + first, out + first, last - first, p.kind, p.param);
    } else {
      std::vector<float> buf(3 * kChunk);
      float *xs = buf.data(), *ys = xs + kChunk, *os = ys + kChunk;
      for (int64_t c = first; c < last; c += kChunk) {
        const int64_t n = std::min(kChunk, last - c);
        widen(x + c, n, xs);
        widen(y + c, n, ys);
        loss_acc(xs, ys, os, n, p.kind, p.param);
        narrow(os, n, out + c);
      }
    }
  });
}

template <typename T>
void backward(const RegressionParams& p, ParallelFor parallel_for) {
  using acc_t = acc_type<T>;
  const T* x = static_cast<const T*>(p.input);
  const T* y = static_cast<const T*>(p.target);
  const acc_t* g = static_cast<const acc_t*>(p.grad_loss);
  const int64_t gs = p.grad_loss_stride;
  T* out = static_cast<T*>(p.grad_input);
  advise_huge_pages(out, size_t(p.numel) * sizeof(T));
  parallel_for(0, p.numel, kGrain, [&](int64_t first, int64_t last) {
    if constexpr (std::is_same_v<T, acc_t>) {
      grad_acc(g + first * gs, gs, x + first, y + first, out + first, last - first, p.kind, p.param);
    } else {
      std::vector<float> buf(3 * kChunk);
      float *xs = buf.data(), *ys = xs + kChunk, *os = ys + kChunk;
      for (int64_t c = first; c < last; c += kChunk) {
        const int64_t n = std::min(kChunk, last - c);
        widen(x + c, n, xs);
        widen(y + c, n, ys);
        grad_acc(g + c * gs, gs, xs, ys, os, n, p.kind, p.param);
        narrow(os, n, out + c);
      }
    }
  });
}

}  // namespace
}  // namespace cpu

CpuStatus regression_fwd_cpu(const RegressionParams& p, ParallelFor parallel_for) {
  if (p.numel > 0) {
    dtype_switch<cpu::LoopTypes>(p.dtype,
                                 [&](auto tag) { cpu::forward<typename decltype(tag)::type>(p, parallel_for); });
  }
  return {};
}

CpuStatus regression_bwd_cpu(const RegressionParams& p, ParallelFor parallel_for) {
  if (p.numel > 0) {
    dtype_switch<cpu::LoopTypes>(p.dtype,
                                 [&](auto tag) { cpu::backward<typename decltype(tag)::type>(p, parallel_for); });
  }
  return {};
}

}  // namespace lossext
