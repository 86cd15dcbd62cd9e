// The CPU side of kernels/divergence.cu: kl_div_fwd_cpu, kl_div_bwd_cpu,
// js_div_fwd_cpu and js_div_bwd_cpu over the params of kernels/divergence.h.
// The fixed chunks of kDivergenceChunk elements go to the injected
// parallel-for; each chunk runs through contiguous loops that apply the
// formulas of kernels/divergence.h and add nothing of their own. Float loops
// are compiled per ISA (target_clones) so that they vectorize on every x86-64;
// double loops are plain loops over libm. `log_target` is hoisted out of the
// loops so that each loop body is branch-free. Half and bfloat16 chunks are
// widened to float, their gradient narrowed back.
#include "cpu/loops/vectorize.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "cpu/loops/convert.h"
#include "cpu/loops/memory.h"
#include "kernels/divergence.h"

namespace lossext {
namespace cpu {
namespace {

template <typename T, bool LOG_TARGET>
LOSSEXT_ALWAYS_INLINE T kl_sum_impl(const T* x, const T* t, int64_t n) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += kl_div_term(x[i], t[i], LOG_TARGET);
  return s;
}

template <typename T, bool LOG_TARGET>
LOSSEXT_ALWAYS_INLINE T js_sum_impl(const T* x, const T* t, int64_t n, T beta) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += js_div_term(x[i], t[i], beta, LOG_TARGET);
  return s;
}

template <typename T, bool LOG_TARGET>
LOSSEXT_ALWAYS_INLINE void kl_grad_impl(const T* t, T g, T* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = kl_div_grad_input(t[i], g, LOG_TARGET);
}

template <typename T, bool LOG_TARGET>
LOSSEXT_ALWAYS_INLINE void js_grad_impl(const T* x, const T* t, T g, T* out, int64_t n, T beta) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = js_div_grad_input(x[i], t[i], beta, LOG_TARGET, g);
}

template <typename T>
LOSSEXT_ALWAYS_INLINE T kl_sum(const T* x, const T* t, int64_t n, bool log_target) {
  return log_target ? kl_sum_impl<T, true>(x, t, n) : kl_sum_impl<T, false>(x, t, n);
}
template <typename T>
LOSSEXT_ALWAYS_INLINE T js_sum(const T* x, const T* t, int64_t n, T beta, bool log_target) {
  return log_target ? js_sum_impl<T, true>(x, t, n, beta) : js_sum_impl<T, false>(x, t, n, beta);
}
template <typename T>
LOSSEXT_ALWAYS_INLINE void kl_grad(const T* t, T g, T* out, int64_t n, bool log_target) {
  log_target ? kl_grad_impl<T, true>(t, g, out, n) : kl_grad_impl<T, false>(t, g, out, n);
}
template <typename T>
LOSSEXT_ALWAYS_INLINE void js_grad(const T* x, const T* t, T g, T* out, int64_t n, T beta, bool log_target) {
  log_target ? js_grad_impl<T, true>(x, t, g, out, n, beta) : js_grad_impl<T, false>(x, t, g, out, n, beta);
}

}  // namespace

LOSSEXT_CPU_CLONES float kl_div_sum(const float* x, const float* t, int64_t n, bool log_target) {
  return kl_sum(x, t, n, log_target);
}
double kl_div_sum(const double* x, const double* t, int64_t n, bool log_target) { return kl_sum(x, t, n, log_target); }

LOSSEXT_CPU_CLONES float js_div_sum(const float* x, const float* t, int64_t n, float beta, bool log_target) {
  return js_sum(x, t, n, beta, log_target);
}
double js_div_sum(const double* x, const double* t, int64_t n, double beta, bool log_target) {
  return js_sum(x, t, n, beta, log_target);
}

LOSSEXT_CPU_CLONES void kl_div_grad(const float* t, float g, float* out, int64_t n, bool log_target) {
  kl_grad(t, g, out, n, log_target);
}
void kl_div_grad(const double* t, double g, double* out, int64_t n, bool log_target) {
  kl_grad(t, g, out, n, log_target);
}

LOSSEXT_CPU_CLONES void js_div_grad(const float* x, const float* t, float g, float* out, int64_t n, float beta,
                                    bool log_target) {
  js_grad(x, t, g, out, n, beta, log_target);
}
void js_div_grad(const double* x, const double* t, double g, double* out, int64_t n, double beta, bool log_target) {
  js_grad(x, t, g, out, n, beta, log_target);
}

namespace {

enum class Kind { KL, JS };

// Elements [begin, end) of `base` as accumulate-type values: in place when T
// already is the accumulate type, else widened into `buf`.
template <typename T>
const acc_type<T>* chunk_values(const void* base, int64_t begin, int64_t end, std::vector<acc_type<T>>& buf) {
  const T* p = static_cast<const T*>(base) + begin;
  if constexpr (std::is_same_v<T, acc_type<T>>) {
    return p;
  } else {
    const int64_t n = end - begin;
    buf.resize(n);
    widen_16bit(reinterpret_cast<const uint16_t*>(p), n, 1, n, std::is_same_v<T, BFloat16>, buf.data());
    return buf.data();
  }
}

template <Kind K, typename T>
void forward(const DivergenceParams& p, ParallelFor parallel_for) {
  using acc_t = acc_type<T>;
  acc_t* partials = static_cast<acc_t*>(p.partials);
  const acc_t beta = static_cast<acc_t>(p.beta);
  parallel_for(0, divergence_chunks(p.numel), 1, [&](int64_t first, int64_t last) {
    std::vector<acc_t> xbuf, tbuf;
    for (int64_t chunk = first; chunk < last; ++chunk) {
      const int64_t begin = chunk * kDivergenceChunk;
      const int64_t end = std::min(begin + kDivergenceChunk, p.numel);
      const acc_t* x = chunk_values<T>(p.input, begin, end, xbuf);
      const acc_t* t = chunk_values<T>(p.target, begin, end, tbuf);
      partials[chunk] = K == Kind::KL ? kl_div_sum(x, t, end - begin, p.log_target)
                                      : js_div_sum(x, t, end - begin, beta, p.log_target);
    }
  });
}

template <Kind K, typename T>
void backward(const DivergenceParams& p, ParallelFor parallel_for) {
  using acc_t = acc_type<T>;
  const acc_t* grad_loss = static_cast<const acc_t*>(p.grad_loss);
  T* grad = static_cast<T*>(p.grad_input);
  advise_huge_pages(grad, size_t(p.numel) * sizeof(T));
  const acc_t beta = static_cast<acc_t>(p.beta);
  parallel_for(0, divergence_chunks(p.numel), 1, [&](int64_t first, int64_t last) {
    std::vector<acc_t> xbuf, tbuf, gbuf;
    for (int64_t chunk = first; chunk < last; ++chunk) {
      const int64_t begin = chunk * kDivergenceChunk;
      const int64_t end = std::min(begin + kDivergenceChunk, p.numel);
      const int64_t n = end - begin;
      const acc_t g = grad_loss[chunk * p.grad_loss_stride];
      T* out_chunk = grad + begin;
      // Straight into the output when it has the accumulate type, else into
      // a buffer narrowed below.
      acc_t* out;
      if constexpr (std::is_same_v<T, acc_t>) {
        out = out_chunk;
      } else {
        gbuf.resize(n);
        out = gbuf.data();
      }
      const acc_t* t = chunk_values<T>(p.target, begin, end, tbuf);
      if constexpr (K == Kind::KL) {
        // The KL gradient depends on the target alone.
        kl_div_grad(t, g, out, n, p.log_target);
      } else {
        const acc_t* x = chunk_values<T>(p.input, begin, end, xbuf);
        js_div_grad(x, t, g, out, n, beta, p.log_target);
      }
      if constexpr (!std::is_same_v<T, acc_t>) {
        narrow_16bit(out, 1, n, std::is_same_v<T, BFloat16>, reinterpret_cast<uint16_t*>(out_chunk), n);
      }
    }
  });
}

template <bool FORWARD, Kind K>
CpuStatus run(const DivergenceParams& p, ParallelFor parallel_for) {
  if (p.numel > 0) {
    dtype_switch<LoopTypes>(p.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (FORWARD) {
        forward<K, T>(p, parallel_for);
      } else {
        backward<K, T>(p, parallel_for);
      }
    });
  }
  return {};
}

}  // namespace
}  // namespace cpu

CpuStatus kl_div_fwd_cpu(const DivergenceParams& p, ParallelFor parallel_for) {
  return cpu::run<true, cpu::Kind::KL>(p, parallel_for);
}
CpuStatus kl_div_bwd_cpu(const DivergenceParams& p, ParallelFor parallel_for) {
  return cpu::run<false, cpu::Kind::KL>(p, parallel_for);
}
CpuStatus js_div_fwd_cpu(const DivergenceParams& p, ParallelFor parallel_for) {
  return cpu::run<true, cpu::Kind::JS>(p, parallel_for);
}
CpuStatus js_div_bwd_cpu(const DivergenceParams& p, ParallelFor parallel_for) {
  return cpu::run<false, cpu::Kind::JS>(p, parallel_for);
}

}  // namespace lossext
