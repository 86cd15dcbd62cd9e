// Torch-facing helpers shared by the CPU and CUDA glue of every family:
// dtype mapping, the row walk of a class-major tensor, argument checks.
#pragma once

#include <algorithm>
#include <vector>

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>
#include <c10/util/Optional.h>

#include "kernels/layout.h"

namespace lossext {
namespace glue {

inline DType to_dtype(at::ScalarType t, const char* arg) {
  switch (t) {
    case at::kFloat: return DType::Float32;
    case at::kDouble: return DType::Float64;
    case at::kHalf: return DType::Float16;
    case at::kBFloat16: return DType::BFloat16;
    default: TORCH_CHECK_TYPE(false, arg, " must be float16, bfloat16, float32 or float64, got ", t);
  }
}

// Shape of the per-row outputs of (N, C, d...) logits: (N, d...), the class dim dropped.
inline std::vector<int64_t> row_shape(const at::Tensor& logits) {
  std::vector<int64_t> shape(logits.sizes().begin(), logits.sizes().end());
  shape.erase(shape.begin() + 1);
  return shape;
}

// Statistics, weights and per-row outputs: float, or double for float64 input.
inline at::ScalarType accumulate_dtype(at::ScalarType t) { return t == at::kDouble ? at::kDouble : at::kFloat; }

// True when dims 2.. of x can be walked with a single stride (any dense
// layout of them does); only then can the kernels read x in place.
inline bool inner_dims_collapse(const at::Tensor& x) {
  int64_t expected = -1;
  for (int64_t d = x.dim() - 1; d >= 2; --d) {
    if (x.size(d) == 1) continue;
    if (expected != -1 && x.stride(d) != expected) return false;
    expected = x.stride(d) * x.size(d);
  }
  return true;
}

// x viewed as (N, C, D); x must satisfy inner_dims_collapse.
inline RowLayout class_rows(const at::Tensor& x) {
  RowLayout L;
  const int64_t n = x.size(0);
  L.classes = x.size(1);
  L.inner = 1;
  L.stride_s = 0;
  for (int64_t d = x.dim() - 1; d >= 2; --d) {
    if (x.size(d) != 1 && L.stride_s == 0) L.stride_s = x.stride(d);
    L.inner *= x.size(d);
  }
  L.rows = n * L.inner;
  L.stride_n = x.stride(0);
  L.stride_c = x.stride(1);
  return L;
}

// The tensor to hand to a kernel: x itself when its layout can be walked in
// place, a dense copy otherwise (only exotic strides of the dims past C).
inline at::Tensor walkable(const at::Tensor& x) { return inner_dims_collapse(x) ? x : x.contiguous(); }

inline void check_same_device(const at::Tensor& a, const char* a_name, const at::Tensor& b, const char* b_name) {
  TORCH_CHECK(a.device() == b.device(), b_name, " is on ", b.device(), " but ", a_name, " is on ", a.device(),
              "; they must be on the same device");
}

// Per-class weights as a dense accumulate-type vector, checked against C.
inline at::Tensor class_weight(const c10::optional<at::Tensor>& weight, const at::Tensor& input, int64_t classes) {
  if (!weight.has_value() || !weight->defined()) return at::Tensor();
  const at::Tensor& w = *weight;
  check_same_device(input, "input", w, "weight");
  TORCH_CHECK_VALUE(w.dim() == 1 && w.size(0) == classes, "weight must be a 1-D tensor of length C = ", classes,
                    ", got shape ", w.sizes());
  TORCH_CHECK_TYPE(at::isFloatingType(w.scalar_type()), "weight must be a floating tensor, got ", w.scalar_type());
  return w.to(accumulate_dtype(input.scalar_type())).contiguous();
}

// The upstream gradient read in place when it is one value broadcast (all
// strides 0, what a 'sum' or 'mean' reduction hands back), else made dense.
inline at::Tensor upstream(const at::Tensor& grad_loss, at::ScalarType acc, bool* broadcast) {
  at::Tensor g = grad_loss.to(acc);
  *broadcast = g.numel() > 0 && std::all_of(g.strides().begin(), g.strides().end(), [](int64_t s) { return s == 0; });
  return *broadcast ? g : g.contiguous();
}

}  // namespace glue
}  // namespace lossext
