// Kernels whose traffic is known by construction, built like the lossext
// kernels (cu2cpp.py, -fsanitize=thread): calibration.cpp checks that the
// recorder measures exactly what each access pattern implies.
#include <cuda_runtime.h>

namespace calibration {

struct alignas(16) Float4 {
  float v[4];
};

// out[i] = in[i * stride + offset]: stride 1 is a coalesced copy.
__global__ void gather(const float* in, float* out, int n, int stride, int offset) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = in[i * stride + offset];
}

// Every thread reads in[0].
__global__ void broadcast(const float* in, float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = in[0];
}

// 16 bytes a thread.
__global__ void packets(const Float4* in, Float4* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = in[i];
}

// Each element read twice, in two passes of the same thread.
__global__ void twice(const float* in, float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    const volatile float* v = in;
    const float a = v[i];
    const float b = v[i];
    out[i] = a + b;
  }
}

// Shared memory and the stack are not global memory: neither is counted.
__global__ void through_shared(const float* in, float* out, int n) {
  __shared__ float tile[256];
  volatile float local[2];
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  tile[threadIdx.x] = i < n ? in[i] : 0.0f;
  __syncthreads();
  local[0] = tile[blockDim.x - 1 - threadIdx.x];
  if (i < n) out[i] = local[0];
}

}  // namespace calibration

extern "C" void calibration_gather(const float* in, float* out, int n, int stride, int offset) {
  calibration::gather<<<(n + 255) / 256, 256>>>(in, out, n, stride, offset);
}
extern "C" void calibration_broadcast(const float* in, float* out, int n) {
  calibration::broadcast<<<(n + 255) / 256, 256>>>(in, out, n);
}
extern "C" void calibration_packets(const void* in, void* out, int n) {
  calibration::packets<<<(n + 255) / 256, 256>>>(static_cast<const calibration::Float4*>(in),
                                                 static_cast<calibration::Float4*>(out), n);
}
extern "C" void calibration_twice(const float* in, float* out, int n) {
  calibration::twice<<<(n + 255) / 256, 256>>>(in, out, n);
}
extern "C" void calibration_through_shared(const float* in, float* out, int n) {
  calibration::through_shared<<<(n + 255) / 256, 256>>>(in, out, n);
}
