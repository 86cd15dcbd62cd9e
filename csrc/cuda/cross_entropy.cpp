// CUDA implementation of the cross-entropy ops: the shared glue fills the
// params, the launchers in kernels/cross_entropy.cu run on the current stream.
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "cuda/launch.h"
#include "glue/cross_entropy.h"

namespace lossext {
namespace cuda {
namespace {

using glue::CrossEntropyCall;

// An out-of-range class index cannot be reported without a device sync: the
// kernel never dereferences it and marks the row (loss, lse, weight and
// gradient) nan instead. See README, "Conventions".
std::tuple<at::Tensor, at::Tensor, at::Tensor> cross_entropy_index_fwd_cuda_op(const at::Tensor& logits,
                                                                               const at::Tensor& target,
                                                                               const c10::optional<at::Tensor>& weight,
                                                                               int64_t ignore_index,
                                                                               double label_smoothing, double z_loss) {
  c10::cuda::CUDAGuard guard(logits.device());
  CrossEntropyCall call = glue::index_forward_call(logits, target, weight, ignore_index, label_smoothing, z_loss);
  launch_checked(cross_entropy_index_fwd_cuda, call.params, "cross_entropy_index_fwd");
  return {call.loss, call.lse, call.aux};
}

at::Tensor cross_entropy_index_bwd_cuda_op(const at::Tensor& grad_loss, const at::Tensor& logits,
                                           const at::Tensor& target, const c10::optional<at::Tensor>& weight,
                                           const at::Tensor& lse, int64_t ignore_index, double label_smoothing,
                                           double z_loss) {
  c10::cuda::CUDAGuard guard(logits.device());
  CrossEntropyCall call =
      glue::index_backward_call(grad_loss, logits, target, weight, lse, ignore_index, label_smoothing, z_loss);
  launch_checked(cross_entropy_index_bwd_cuda, call.params, "cross_entropy_index_bwd");
  return call.grad_logits;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> cross_entropy_prob_fwd_cuda_op(const at::Tensor& logits,
                                                                              const at::Tensor& target,
                                                                              const c10::optional<at::Tensor>& weight,
                                                                              double label_smoothing, double z_loss) {
  c10::cuda::CUDAGuard guard(logits.device());
  CrossEntropyCall call = glue::prob_forward_call(logits, target, weight, label_smoothing, z_loss);
  launch_checked(cross_entropy_prob_fwd_cuda, call.params, "cross_entropy_prob_fwd");
  return {call.loss, call.lse, call.aux};
}

at::Tensor cross_entropy_prob_bwd_cuda_op(const at::Tensor& grad_loss, const at::Tensor& logits,
                                          const at::Tensor& target, const c10::optional<at::Tensor>& weight,
                                          const at::Tensor& lse, const at::Tensor& target_mass, double label_smoothing,
                                          double z_loss) {
  c10::cuda::CUDAGuard guard(logits.device());
  CrossEntropyCall call =
      glue::prob_backward_call(grad_loss, logits, target, weight, lse, target_mass, label_smoothing, z_loss);
  launch_checked(cross_entropy_prob_bwd_cuda, call.params, "cross_entropy_prob_bwd");
  return call.grad_logits;
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CUDA, m) {
  m.impl("cross_entropy_index_fwd", &cross_entropy_index_fwd_cuda_op);
  m.impl("cross_entropy_index_bwd", &cross_entropy_index_bwd_cuda_op);
  m.impl("cross_entropy_prob_fwd", &cross_entropy_prob_fwd_cuda_op);
  m.impl("cross_entropy_prob_bwd", &cross_entropy_prob_bwd_cuda_op);
}

}  // namespace cuda
}  // namespace lossext
