// CPU implementation of the KL / JS divergence ops: chunks in parallel
// (at::parallel_for), each chunk through the vectorized loops of
// loops/divergence.h. Half and bfloat16 chunks are widened to float first.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <type_traits>
#include <vector>

#include "cpu/dispatch.h"
#include "cpu/loops/divergence.h"
#include "cpu/loops/memory.h"
#include "glue/divergence.h"

namespace lossext {
namespace cpu {
namespace {

using glue::DivergenceCall;

enum class Kind { KL, JS };

// [begin, end) of `base` as accumulate-type values: in place when T already is
// the accumulate type, else widened into `buf`.
template <typename T>
const acc_type<T>* chunk_values(const void* base, int64_t begin, int64_t end, std::vector<acc_type<T>>& buf) {
  const T* p = static_cast<const T*>(base) + begin;
  if constexpr (std::is_same_v<T, acc_type<T>>) {
    return p;
  } else {
    buf.resize(end - begin);
    for (int64_t i = 0; i < end - begin; ++i) buf[i] = static_cast<acc_type<T>>(p[i]);
    return buf.data();
  }
}

// Where a chunk's gradient is computed: straight into the output when it has
// the accumulate type, else into `buf` (narrowed by the caller).
template <typename T>
acc_type<T>* out_values(T* out, int64_t n, std::vector<acc_type<T>>& buf) {
  if constexpr (std::is_same_v<T, acc_type<T>>) {
    return out;
  } else {
    buf.resize(n);
    return buf.data();
  }
}

template <Kind K, typename T>
void forward(const DivergenceParams& p) {
  using acc_t = acc_type<T>;
  acc_t* partials = static_cast<acc_t*>(p.partials);
  const acc_t beta = static_cast<acc_t>(p.beta);
  at::parallel_for(0, divergence_chunks(p.numel), 1, [&](int64_t first, int64_t last) {
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
void backward(const DivergenceParams& p) {
  using acc_t = acc_type<T>;
  const acc_t* grad_partials = static_cast<const acc_t*>(p.grad_partials);
  const acc_t beta = static_cast<acc_t>(p.beta);
  at::parallel_for(0, divergence_chunks(p.numel), 1, [&](int64_t first, int64_t last) {
    std::vector<acc_t> xbuf, tbuf, gbuf;
    for (int64_t chunk = first; chunk < last; ++chunk) {
      const int64_t begin = chunk * kDivergenceChunk;
      const int64_t end = std::min(begin + kDivergenceChunk, p.numel);
      const int64_t n = end - begin;
      T* out = static_cast<T*>(p.grad_input) + begin;
      acc_t* g = out_values<T>(out, n, gbuf);
      const acc_t* t = chunk_values<T>(p.target, begin, end, tbuf);
      if constexpr (K == Kind::KL) {
        // The KL gradient depends on the target alone.
        kl_div_grad(t, grad_partials[chunk], g, n, p.log_target);
      } else {
        const acc_t* x = chunk_values<T>(p.input, begin, end, xbuf);
        js_div_grad(x, t, grad_partials[chunk], g, n, beta, p.log_target);
      }
      if constexpr (!std::is_same_v<T, acc_t>) {
        store_from_acc<T>(g, n, out, 1);
      }
    }
  });
}

template <Kind K>
at::Tensor fwd(const at::Tensor& input, const at::Tensor& target, bool log_target, double beta) {
  DivergenceCall call = glue::divergence_forward_call(input, target, log_target, beta);
  dtype_switch<CpuTypes>(call.params.dtype, [&](auto tag) { forward<K, typename decltype(tag)::type>(call.params); });
  return call.partials;
}

template <Kind K>
at::Tensor bwd(const at::Tensor& grad_partials, const at::Tensor& input, const at::Tensor& target, bool log_target,
               double beta) {
  DivergenceCall call = glue::divergence_backward_call(grad_partials, input, target, log_target, beta);
  advise_huge_pages(call.grad_input.data_ptr(), call.grad_input.nbytes());
  dtype_switch<CpuTypes>(call.params.dtype, [&](auto tag) { backward<K, typename decltype(tag)::type>(call.params); });
  return call.grad_input;
}

at::Tensor kl_div_fwd_cpu(const at::Tensor& input, const at::Tensor& target, bool log_target) {
  return fwd<Kind::KL>(input, target, log_target, 0.5);
}
at::Tensor kl_div_bwd_cpu(const at::Tensor& grad_partials, const at::Tensor& input, const at::Tensor& target,
                          bool log_target) {
  return bwd<Kind::KL>(grad_partials, input, target, log_target, 0.5);
}
at::Tensor js_div_fwd_cpu(const at::Tensor& input, const at::Tensor& target, double beta, bool log_target) {
  return fwd<Kind::JS>(input, target, log_target, beta);
}
at::Tensor js_div_bwd_cpu(const at::Tensor& grad_partials, const at::Tensor& input, const at::Tensor& target,
                          double beta, bool log_target) {
  return bwd<Kind::JS>(grad_partials, input, target, log_target, beta);
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CPU, m) {
  m.impl("kl_div_fwd", &kl_div_fwd_cpu);
  m.impl("kl_div_bwd", &kl_div_bwd_cpu);
  m.impl("js_div_fwd", &js_div_fwd_cpu);
  m.impl("js_div_bwd", &js_div_bwd_cpu);
}

}  // namespace cpu
}  // namespace lossext
