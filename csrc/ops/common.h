// What every torch op of lossext (csrc/ops/<x>.cpp) shares: the dtype map,
// argument checks, the row walk of a class-major tensor, and the two pieces
// that differ between devices, hidden behind one call:
//
//   run_kernel(img, LOSSEXT_ENTRY(total_variation_fwd), call.params);
//
// runs total_variation_fwd_cpu under at::parallel_for for a CPU tensor, or
// total_variation_fwd_cuda on the current stream of the tensor's device for
// a CUDA one; and
//
//   LOSSEXT_IMPL_CPU_AND_CUDA(register_total_variation)
//
// registers one device-generic implementation of each op for both devices.
//
// The allocation rule: every tensor an op returns or hands to a kernel
// (outputs, dense copies, scratch) is allocated here, in the op, with
// at::empty on the op's device; kernels and CPU entry points allocate nothing
// that outlives one parallel range.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/core/DeviceGuard.h>
#include <c10/util/Exception.h>
#include <c10/util/Optional.h>
#include <torch/library.h>

#include "cpu/loops/parallel.h"
#include "kernels/layout.h"

#if defined(LOSSEXT_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace lossext {
namespace ops {

// Every schema carries the pt2-compliant tag (the ops are functional and
// have fake kernels), so torch.compile and export take them as they are.
inline const std::vector<at::Tag> kPt2 = {at::Tag::pt2_compliant_tag};

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

// `int? ignore_index` of a schema.
inline IgnoreIndex ignore_index_of(const c10::optional<int64_t>& ignore_index) {
  IgnoreIndex ig;
  ig.active = ignore_index.has_value();
  if (ig.active) ig.value = *ignore_index;
  return ig;
}

// The IndexError of a CPU entry point that found a class index outside
// [lowest, classes) and not ignore_index (target: the int64 CPU tensor the
// entry read, contiguous). CUDA kernels cannot report it without a host sync.
inline void raise_if_bad_index(const CpuStatus& status, const at::Tensor& target, int64_t lowest, int64_t classes,
                               const IgnoreIndex& ignore) {
  const int64_t at = status.bad_index_at;
  if (at < 0) return;
  TORCH_CHECK_INDEX(false, "target contains class index ", target.const_data_ptr<int64_t>()[at], " (at flat position ",
                    at, "), outside [", lowest, ", ", classes, ")",
                    ignore.active ? " and not ignore_index (" + std::to_string(ignore.value) + ")"
                                  : std::string(" (no ignore_index given)"));
}

// ---- Running an entry point on the tensor's device.

// The CPU entry points' parallel-for: at::parallel_for (OpenMP or torch's pool).
inline void at_parallel_for(int64_t begin, int64_t end, int64_t grain, const RangeBody& body) {
  at::parallel_for(begin, end, grain, [&](int64_t first, int64_t last) { body(first, last); });
}

#if defined(LOSSEXT_WITH_CUDA)
template <typename Params>
using CudaEntry = cudaError_t (*)(const Params&, cudaStream_t);
// Defined in ops/cuda.cpp, the only file that includes c10/cuda.
cudaStream_t current_cuda_stream();
void check_cuda_launch(cudaError_t err, const char* op);
#define LOSSEXT_CUDA_ENTRY(name) name##_cuda
#define LOSSEXT_IF_CUDA(...) __VA_ARGS__
#else
template <typename Params>
using CudaEntry = std::nullptr_t;
#define LOSSEXT_CUDA_ENTRY(name) nullptr
#define LOSSEXT_IF_CUDA(...)
#endif

// The op name and both entry points of a pass: LOSSEXT_ENTRY(total_variation_fwd).
#define LOSSEXT_ENTRY(name) #name, name##_cpu, LOSSEXT_CUDA_ENTRY(name)

// Runs the pass on the device of `on`: the CPU entry under at::parallel_for
// (its status returned, for the op to raise what it found), or the CUDA
// launcher on the current stream of on's device (a launch error raised here).
template <typename Params>
CpuStatus run_kernel(const at::Tensor& on, const char* op, CpuStatus (*cpu)(const Params&, ParallelFor),
                     CudaEntry<Params> cuda, const Params& params) {
  if (on.is_cpu()) return cpu(params, &at_parallel_for);
#if defined(LOSSEXT_WITH_CUDA)
  if (on.is_cuda()) {
    const c10::DeviceGuard guard(on.device());
    check_cuda_launch(cuda(params, current_cuda_stream()), op);
    return {};
  }
#else
  (void)cuda;
#endif
  TORCH_CHECK(false, op, ": lossext has no kernel for device ", on.device());
}

// Registers the same device-generic implementations (register_fn(m) calls
// m.impl for each op) for CPU and, when built with CUDA, for CUDA.
#define LOSSEXT_IMPL_CPU_AND_CUDA(register_fn)            \
  TORCH_LIBRARY_IMPL(lossext, CPU, m) { register_fn(m); } \
  LOSSEXT_IF_CUDA(TORCH_LIBRARY_IMPL(lossext, CUDA, m) { register_fn(m); })

}  // namespace ops
}  // namespace lossext
