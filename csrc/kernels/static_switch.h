// Run-time values turned into compile-time constants, so that a kernel is
// compiled once per value of its switches and its loops carry no branch on them.
// Every family's launchers (CUDA) and loops (CPU) choose their template
// arguments through these; torch-free, valid for nvcc and g++.
//
//   static_switch(kGammaKinds, p.gamma_kind, [&](auto kind) {
//     kernel<decltype(kind)::value><<<...>>>(p);
//   });
//   dtype_switch<CudaTypes>(p.dtype, [&](auto tag) { using T = typename decltype(tag)::type; ... });
//
// The value lists are named once, beside their enum (kGammaKinds in
// kernels/focal.h, kBoxFmts in kernels/box.h, ...), so the CPU and CUDA sides
// instantiate the same set.
#pragma once

#include <type_traits>

#include "kernels/layout.h"

// For the lambdas handed to a switch inside a CPU target_clones function: an
// always-inline body is compiled for the clone's ISA, an outlined one for the
// baseline ISA only.
#if defined(__GNUC__) && !defined(__CUDACC__)
#define LOSSEXT_INLINE_LAMBDA __attribute__((always_inline))
#else
#define LOSSEXT_INLINE_LAMBDA
#endif

#if defined(__GNUC__) && !defined(__CUDACC__)
#define LOSSEXT_SWITCH_INLINE inline __attribute__((always_inline))
#else
#define LOSSEXT_SWITCH_INLINE inline
#endif

namespace lossext {

template <auto V>
using Constant = std::integral_constant<decltype(V), V>;

// The values a switch may take, in order; the last one also stands for any
// value outside the list (the `default:` of a hand-written switch).
template <auto... Vs>
struct ValueList {};

inline constexpr ValueList<false, true> kBools{};
inline constexpr ValueList<DType::Float32, DType::Float64, DType::Float16, DType::BFloat16> kDTypes{};

// f(Constant<V>{}) for the first V of the list equal to `value` (the last V
// when none is); returns what f returns.
template <auto First, auto... Rest, typename T, typename F>
LOSSEXT_SWITCH_INLINE decltype(auto) static_switch(ValueList<First, Rest...>, T value, F&& f) {
  if constexpr (sizeof...(Rest) == 0) {
    (void)value;
    return f(Constant<First>{});
  } else {
    if (value == First) return f(Constant<First>{});
    return static_switch(ValueList<Rest...>{}, value, static_cast<F&&>(f));
  }
}

// A C++ type handed to a switch's body: `typename decltype(tag)::type`.
template <typename T>
struct TypeTag {
  using type = T;
};

// The C++ element type of each DType on one side: CUDA uses __half and
// __nv_bfloat16 (kernels/cuda_common.cuh), the CPU entry points the storage
// types cpu::Half and cpu::BFloat16 (cpu/convert.h), computing 16-bit
// inputs in float after a conversion.
template <typename F32, typename F64, typename F16, typename BF16>
struct DTypeMap {
  template <DType D>
  using type = std::conditional_t<
      D == DType::Float64, F64,
      std::conditional_t<D == DType::Float16, F16, std::conditional_t<D == DType::BFloat16, BF16, F32>>>;
};

// f(TypeTag<Map::type<dtype>>{}); returns what f returns.
template <typename Map, typename F>
LOSSEXT_SWITCH_INLINE decltype(auto) dtype_switch(DType dtype, F&& f) {
  return static_switch(kDTypes, dtype, [&](auto d) LOSSEXT_INLINE_LAMBDA -> decltype(auto) {
    return f(TypeTag<typename Map::template type<decltype(d)::value>>{});
  });
}

}  // namespace lossext
