// How every CUDA op runs its kernel launcher: on the current stream of the
// current device, a launch error raised as a torch error that names the op.
#pragma once

#include <c10/cuda/CUDAStream.h>
#include <c10/util/Exception.h>
#include <cuda_runtime_api.h>

namespace lossext {
namespace cuda {

template <typename Params>
inline void launch_checked(cudaError_t (*launcher)(const Params&, cudaStream_t), const Params& params, const char* op) {
  const cudaError_t err = launcher(params, c10::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, op, ": CUDA launch failed: ", cudaGetErrorString(err));
}

}  // namespace cuda
}  // namespace lossext
