// Device-side helpers shared by every lossext CUDA kernel: element loads and
// stores in any supported dtype, vectorised row access, group reductions, and
// the DType -> C++ type map. No torch header, by design.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "kernels/common.h"
#include "kernels/layout.h"
#include "kernels/static_switch.h"

namespace lossext {
namespace cuda {

template <typename T>
__device__ __forceinline__ acc_type<T> to_acc(T v) {
  return static_cast<acc_type<T>>(v);
}
template <>
__device__ __forceinline__ float to_acc<__half>(__half v) {
  return __half2float(v);
}
template <>
__device__ __forceinline__ float to_acc<__nv_bfloat16>(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

template <typename T>
__device__ __forceinline__ T from_acc(acc_type<T> v) {
  return static_cast<T>(v);
}
template <>
__device__ __forceinline__ __half from_acc<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_acc<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// VEC consecutive elements moved as one 16-byte (or smaller) transaction.
template <typename T, int VEC>
struct alignas(sizeof(T) * VEC) Packed {
  T v[VEC];
};

template <typename T, int VEC>
__device__ __forceinline__ void load_packed(const T* p, acc_type<T> (&out)[VEC]) {
  const Packed<T, VEC> pk = *reinterpret_cast<const Packed<T, VEC>*>(p);
#pragma unroll
  for (int i = 0; i < VEC; ++i) out[i] = to_acc(pk.v[i]);
}

template <typename T, int VEC>
__device__ __forceinline__ void store_packed(T* p, const acc_type<T> (&in)[VEC]) {
  Packed<T, VEC> pk;
#pragma unroll
  for (int i = 0; i < VEC; ++i) pk.v[i] = from_acc<T>(in[i]);
  *reinterpret_cast<Packed<T, VEC>*>(p) = pk;
}

// Elements per 16-byte transaction.
template <typename T>
__host__ __device__ constexpr int vec_width() {
  return static_cast<int>(16 / sizeof(T));
}

__device__ __forceinline__ float shfl_xor(float v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
__device__ __forceinline__ double shfl_xor(double v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
template <typename acc_t>
__device__ __forceinline__ SoftmaxState<acc_t> shfl_xor(const SoftmaxState<acc_t>& s, int m) {
  return {shfl_xor(s.max, m), shfl_xor(s.sum, m)};
}

struct SumOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct MergeOp {
  template <typename S>
  __device__ __forceinline__ S operator()(S a, const S& b) const {
    a.merge(b);
    return a;
  }
};

// All-reduce over the G threads that share a row. G is 1 (a thread per row),
// 32 (a warp per row) or a multiple of 32 equal to blockDim.x (a block per
// row, `scratch` holding at least G/32 values). Every thread gets the result.
template <int G, typename T, typename Op>
__device__ __forceinline__ T group_allreduce(T v, Op op, T* scratch) {
  if constexpr (G == 1) {
    return v;
  } else {
#pragma unroll
    for (int m = 16; m > 0; m >>= 1) v = op(v, shfl_xor(v, m));
    if constexpr (G > 32) {
      const int warp = threadIdx.x / 32;
      __syncthreads();  // the previous use of `scratch` is finished
      if (threadIdx.x % 32 == 0) scratch[warp] = v;
      __syncthreads();
      v = scratch[0];
#pragma unroll
      for (int w = 1; w < G / 32; ++w) v = op(v, scratch[w]);
    }
    return v;
  }
}

// The C++ element type of each DType in device code, for dtype_switch.
using CudaTypes = DTypeMap<float, double, __half, __nv_bfloat16>;

// Blocks for a grid-stride loop over `units` work units of `per_block` each.
inline unsigned int grid_for(int64_t units, int per_block) {
  int64_t blocks = (units + per_block - 1) / per_block;
  if (blocks < 1) blocks = 1;
  const int64_t cap = int64_t(1) << 20;  // grid-stride beyond this
  return static_cast<unsigned int>(blocks < cap ? blocks : cap);
}

}  // namespace cuda
}  // namespace lossext
