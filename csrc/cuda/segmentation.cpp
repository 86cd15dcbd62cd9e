// CUDA implementation of the segmentation statistics ops: the shared glue
// fills the params, the launchers in kernels/segmentation.cu run on the
// current stream. The forward's per-block partial sums live in a workspace
// from the caching allocator.
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "cuda/launch.h"
#include "glue/segmentation.h"

namespace lossext {
namespace cuda {
namespace {

// Out-of-range class indices are not reported (that would need a sync): the
// kernels never dereference them and make the sums and gradient nan.
std::tuple<at::Tensor, at::Tensor> seg_stats_fwd_cuda_op(const at::Tensor& input, const at::Tensor& target,
                                                         int64_t activation, int64_t ignore_index, bool has_ignore,
                                                         bool squared, bool with_ce, double label_smoothing) {
  c10::cuda::CUDAGuard guard(input.device());
  auto call = glue::seg_call(input, target, activation, ignore_index, has_ignore, squared, with_ce, label_smoothing);
  glue::seg_alloc_forward(call);
  TORCH_CHECK_VALUE(seg_cuda_threads(call.params.classes, call.params.dtype) > 0,
                    "seg_stats_fwd: ", call.params.classes,
                    " classes is more than the CUDA kernel holds in shared memory");
  at::Tensor workspace = at::empty({seg_cuda_workspace_bytes(call.params)}, input.options().dtype(at::kByte));
  call.params.workspace = workspace.mutable_data_ptr();
  launch_checked(seg_stats_fwd_cuda, call.params, "seg_stats_fwd");
  return {call.stats, call.extras};
}

at::Tensor seg_stats_bwd_cuda_op(const at::Tensor& grad_stats, const at::Tensor& grad_extras, const at::Tensor& input,
                                 const at::Tensor& target, int64_t activation, int64_t ignore_index, bool has_ignore,
                                 bool squared, bool with_ce, double label_smoothing) {
  c10::cuda::CUDAGuard guard(input.device());
  auto call = glue::seg_call(input, target, activation, ignore_index, has_ignore, squared, with_ce, label_smoothing);
  glue::seg_fill_backward(call, grad_stats, grad_extras);
  launch_checked(seg_stats_bwd_cuda, call.params, "seg_stats_bwd");
  return call.grad_logits;
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CUDA, m) {
  m.impl("seg_stats_fwd", &seg_stats_fwd_cuda_op);
  m.impl("seg_stats_bwd", &seg_stats_bwd_cuda_op);
}

}  // namespace cuda
}  // namespace lossext
