// The torch ops of the fused total variation (kernels/total_variation.h):
// schemas, argument checks, allocation and params, one implementation for
// both devices.
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/total_variation.h"
#include "ops/common.h"

namespace lossext {
namespace ops {
namespace {

struct TotalVariationCall {
  at::Tensor input, loss, partial, grad_loss, grad_input;
  std::vector<int64_t> plane_shape;  // input's shape without the last two dims
  TotalVariationParams params;
};

// img: (*, H, W), floating. mean: each term divided by its own count.
TotalVariationCall total_variation_call(const at::Tensor& img, bool isotropic, bool mean, double beta, double eps) {
  TORCH_CHECK_VALUE(img.dim() >= 2, "img must have at least 2 dims (*, H, W), got shape ", img.sizes());
  TORCH_CHECK_VALUE(beta > 0.0 && std::isfinite(beta), "beta must be a finite number > 0, got ", beta);
  TORCH_CHECK_VALUE(eps >= 0.0 && std::isfinite(eps), "eps must be a finite number >= 0, got ", eps);
  TotalVariationCall call;
  TotalVariationParams& p = call.params;
  p.dtype = to_dtype(img.scalar_type(), "img");
  call.input = img.contiguous();
  call.plane_shape.assign(img.sizes().begin(), img.sizes().end() - 2);
  p.input = call.input.const_data_ptr();
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
  p.chunks = (h * w + kTvChunkPixels - 1) / kTvChunkPixels;
  return call;
}

at::Tensor total_variation_fwd(const at::Tensor& img, bool isotropic, bool mean, double beta, double eps) {
  TotalVariationCall call = total_variation_call(img, isotropic, mean, beta, eps);
  TotalVariationParams& p = call.params;
  // Per-plane loss in the accumulate type, zeros for planes with no pixels.
  const auto acc = img.options().dtype(accumulate_dtype(img.scalar_type()));
  if (p.planes == 0) return at::zeros(call.plane_shape, acc);
  call.loss = at::empty(call.plane_shape, acc);
  call.partial = at::empty({total_variation_partial_count(p, img.is_cuda())}, acc);
  p.loss = call.loss.mutable_data_ptr();
  p.partial = call.partial.mutable_data_ptr();
  run_kernel(img, LOSSEXT_ENTRY(total_variation_fwd), p);
  return call.loss;
}

at::Tensor total_variation_bwd(const at::Tensor& grad_loss, const at::Tensor& img, bool isotropic, bool mean,
                               double beta, double eps) {
  TotalVariationCall call = total_variation_call(img, isotropic, mean, beta, eps);
  TotalVariationParams& p = call.params;
  check_same_device(img, "img", grad_loss, "grad_loss");
  TORCH_CHECK_VALUE(grad_loss.sizes() == at::IntArrayRef(call.plane_shape), "grad_loss must have shape ",
                    at::IntArrayRef(call.plane_shape), ", got ", grad_loss.sizes());
  bool broadcast = false;
  call.grad_loss = upstream(grad_loss, accumulate_dtype(img.scalar_type()), &broadcast);
  p.grad_loss = call.grad_loss.const_data_ptr();
  p.grad_loss_stride = broadcast ? 0 : 1;
  call.grad_input = at::empty(call.input.sizes(), call.input.options());
  p.grad_input = call.grad_input.mutable_data_ptr();
  if (p.planes > 0) run_kernel(img, LOSSEXT_ENTRY(total_variation_bwd), p);
  return call.grad_input;
}

void register_total_variation(torch::Library& m) {
  m.impl("total_variation_fwd", &total_variation_fwd);
  m.impl("total_variation_bwd", &total_variation_bwd);
}

}  // namespace

// Total variation of img (*, H, W) per plane: loss of shape (*) in float32
// (float64 for float64 img); anisotropic (kornia) or isotropic over the
// (H-1) x (W-1) cells; mean: each term over its own count of differences.
TORCH_LIBRARY_FRAGMENT(lossext, m) {
  m.def("total_variation_fwd(Tensor img, bool isotropic, bool mean, float beta, float eps) -> Tensor", kPt2);
  m.def(
      "total_variation_bwd(Tensor grad_loss, Tensor img, bool isotropic, bool mean, float beta, float eps) "
      "-> Tensor",
      kPt2);
}

LOSSEXT_IMPL_CPU_AND_CUDA(register_total_variation)

}  // namespace ops
}  // namespace lossext
