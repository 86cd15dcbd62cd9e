// Checks and params of the fused total variation, shared by CPU and CUDA.
#pragma once

#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "glue/common.h"
#include "kernels/total_variation_launch.h"

namespace lossext {
namespace glue {

struct TotalVariationCall {
  at::Tensor input, loss, grad_loss, grad_input;
  std::vector<int64_t> plane_shape;  // input's shape without the last two dims
  TotalVariationParams params;
};

// img: (*, H, W), floating. mean: each term divided by its own count.
inline TotalVariationCall total_variation_call(const at::Tensor& img, bool isotropic, bool mean, double beta,
                                               double eps) {
  TORCH_CHECK_VALUE(img.dim() >= 2, "img must have at least 2 dims (*, H, W), got shape ", img.sizes());
  to_dtype(img.scalar_type(), "img");
  TORCH_CHECK_VALUE(beta > 0.0 && std::isfinite(beta), "beta must be a finite number > 0, got ", beta);
  TORCH_CHECK_VALUE(eps >= 0.0 && std::isfinite(eps), "eps must be a finite number >= 0, got ", eps);
  TotalVariationCall call;
  call.input = img.contiguous();
  call.plane_shape.assign(img.sizes().begin(), img.sizes().end() - 2);
  TotalVariationParams& p = call.params;
  p.input = call.input.const_data_ptr();
  p.dtype = to_dtype(img.scalar_type(), "img");
  p.height = img.size(-2);
  p.width = img.size(-1);
  p.planes = p.height * p.width == 0 ? 0 : img.numel() / (p.height * p.width);
  p.isotropic = isotropic;
  p.beta = beta;
  p.eps = eps;
  p.power = beta == 1.0 ? TvPower::Sqrt : (beta == 2.0 ? TvPower::Square : TvPower::General);
  const int64_t h = p.height, w = p.width;
  // An empty term has no differences; its weight is irrelevant and set to 0.
  auto weight = [&](int64_t count) { return !mean ? 1.0 : (count > 0 ? 1.0 / double(count) : 0.0); };
  if (isotropic) {
    p.wy = p.wx = weight(std::max<int64_t>(h - 1, 0) * std::max<int64_t>(w - 1, 0));
  } else {
    p.wy = weight(std::max<int64_t>(h - 1, 0) * w);
    p.wx = weight(h * std::max<int64_t>(w - 1, 0));
  }
  return call;
}

// Per-plane loss in the accumulate type, zeros for planes with no pixels.
inline void alloc_total_variation_loss(TotalVariationCall& call) {
  const auto acc = call.input.options().dtype(accumulate_dtype(call.input.scalar_type()));
  call.loss = call.params.planes == 0 ? at::zeros(call.plane_shape, acc) : at::empty(call.plane_shape, acc);
  call.params.loss = call.loss.mutable_data_ptr();
}

inline void fill_total_variation_backward(TotalVariationCall& call, const at::Tensor& grad_loss) {
  check_same_device(call.input, "img", grad_loss, "grad_loss");
  TORCH_CHECK_VALUE(grad_loss.sizes() == at::IntArrayRef(call.plane_shape), "grad_loss must have shape ",
                    at::IntArrayRef(call.plane_shape), ", got ", grad_loss.sizes());
  bool broadcast = false;
  call.grad_loss = upstream(grad_loss, accumulate_dtype(call.input.scalar_type()), &broadcast);
  call.params.grad_loss = call.grad_loss.const_data_ptr();
  call.params.grad_loss_stride = broadcast ? 0 : 1;
  call.grad_input = at::empty(call.input.sizes(), call.input.options());
  call.params.grad_input = call.grad_input.mutable_data_ptr();
}

}  // namespace glue
}  // namespace lossext
