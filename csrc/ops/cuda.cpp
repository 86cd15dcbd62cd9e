// The CUDA half of ops/common.h's run_kernel: the current stream and the
// launch check. Built only with CUDA; the one file of the torch ops that
// includes c10/cuda.
#if defined(LOSSEXT_WITH_CUDA)
#include <c10/cuda/CUDAStream.h>
#include <c10/util/Exception.h>

#include "ops/common.h"

namespace lossext {
namespace ops {

cudaStream_t current_cuda_stream() { return c10::cuda::getCurrentCUDAStream(); }

void check_cuda_launch(cudaError_t err, const char* op) {
  TORCH_CHECK(err == cudaSuccess, op, ": CUDA launch failed: ", cudaGetErrorString(err));
}

}  // namespace ops
}  // namespace lossext
#endif
