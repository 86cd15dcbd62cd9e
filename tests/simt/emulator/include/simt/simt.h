// simt.h: run CUDA kernels on the CPU, for correctness checks only.
//
// Force-included (g++ -include simt/simt.h) into a .cu file that
// tools/cu2cpp.py has rewritten into plain C++ (launch syntax, __shared__
// declarations, __launch_bounds__). Every CUDA thread of a block is a fiber
// (ucontext) on one OS thread; __syncthreads and the warp intrinsics are
// barriers at which the scheduler switches fibers. Between two barriers a
// thread runs without interruption, in an order chosen by the schedule
// (forward, reverse or seeded random), so a missing barrier shows up as a
// schedule-dependent or wrong result. Shared memory is a fresh heap block per
// CUDA block, filled with 0xff bytes (NaN for floats), so AddressSanitizer
// sees its bounds and a read before any write reads NaN.
//
// Device math follows the __CUDA_ARCH__ branches of the sources (this header
// defines __CUDA_ARCH__), with host implementations of the intrinsics.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "simt/half.h"
#include "simt/runtime.h"

// ---- vector and runtime types -------------------------------------------------------
struct uint3 {
  unsigned int x, y, z;
};
struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return {x, y, z}; }
};

enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDeviceFunction = 98,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchOutOfResources = 701,
  cudaErrorLaunchFailure = 719,
};
typedef enum cudaError cudaError_t;
typedef struct CUstream_st* cudaStream_t;
enum cudaFuncAttribute {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
  cudaFuncAttributePreferredSharedMemoryCarveout = 9,
};
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};

// Built-in coordinates. One OS thread runs one block at a time, so the
// scheduler stores the running fiber's coordinates here before switching to it.
extern thread_local uint3 threadIdx;
extern thread_local uint3 blockIdx;
extern thread_local dim3 blockDim;
extern thread_local dim3 gridDim;
constexpr int warpSize = 32;

// ---- qualifiers ----------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)  // tools/cu2cpp.py turns it into a run-time check
#define __CUDA_ARCH__ 800       // the device branches of the sources (sm_80: the smallest shipped)

namespace simt {

[[noreturn]] void fatal(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

void launch(const void* kernel, dim3 grid, dim3 block, size_t shmem, const char* file, int line, void (*body)(void*),
            void* ctx);
void syncthreads(const char* file, int line);
enum class Op : int { ShflIdx, ShflXor, ShflUp, ShflDown, Ballot, All, Any, SyncWarp };
uint64_t warp_op(const char* file, int line, Op op, unsigned mask, uint64_t value, int arg, int width);
unsigned active_mask();
void* shared_static(const char* tag, size_t size, size_t align);
void* shared_dynamic(size_t align);
void check_launch_bounds(unsigned max_threads, const char* kernel);
int register_kernel(const char* mangled_tag);
void kernel_entered(int id);

// One id per kernel instantiation: Tag is a class local to the kernel body,
// so a distinct type (and mangled name) for every template instantiation;
// the static member is initialised before main wherever it is instantiated.
template <class Tag>
struct KernelId {
  static inline const int id = register_kernel(typeid(Tag).name());
};
cudaError_t func_set_attribute(const void* kernel, cudaFuncAttribute attr, int value);
cudaError_t take_last_error(bool clear);

// ---- launch: `k<<<g, b, s, st>>>(args)` is rewritten to
// `k ->* ::simt::launch_config(__FILE__, __LINE__, g, b, s, st)(args)`.
template <class... A>
struct BoundLaunch {
  const char* file;
  int line;
  dim3 grid, block;
  size_t shmem;
  std::tuple<A...> args;
};
struct LaunchConfig {
  const char* file;
  int line;
  dim3 grid, block;
  size_t shmem;
  template <class... A>
  BoundLaunch<std::decay_t<A>...> operator()(A&&... a) const {
    return {file, line, grid, block, shmem, std::tuple<std::decay_t<A>...>(std::forward<A>(a)...)};
  }
};
inline LaunchConfig launch_config(const char* file, int line, dim3 grid, dim3 block, size_t shmem = 0,
                                  cudaStream_t = nullptr) {
  return {file, line, grid, block, shmem};
}
template <class... P, class... A>
void run_launch(void (*kernel)(P...), BoundLaunch<A...>& b) {
  static_assert(sizeof...(P) == sizeof...(A), "kernel launched with the wrong number of arguments");
  struct Ctx {
    void (*k)(P...);
    std::tuple<A...>* args;
  } ctx{kernel, &b.args};
  // Each CUDA thread converts the launch arguments to the kernel's parameters,
  // as a call would (by value: every thread has its own copy).
  launch(
      reinterpret_cast<const void*>(kernel), b.grid, b.block, b.shmem, b.file, b.line,
      [](void* v) {
        Ctx* c = static_cast<Ctx*>(v);
        std::apply(c->k, *c->args);
      },
      &ctx);
}
template <class... P, class... A>
void operator->*(void (*kernel)(P...), BoundLaunch<A...>&& b) {
  run_launch(kernel, b);
}
// A kernel template whose arguments nvcc deduces from the launch arguments
// (`k<Kind><<<...>>>(x)` for k<Kind, T>): the parameter types are taken from
// the arguments and the kernel is resolved against them.
template <class... A>
void operator->*(void (*kernel)(A...), BoundLaunch<A...>&& b) {
  run_launch(kernel, b);
}

// ---- shared memory: `__shared__ T x[N];` is rewritten to
// `auto& x = ::simt::shared<T[N]>("file:line:x", alignof(T[N]));`
template <class A>
A& shared(const char* tag, size_t align = alignof(A)) {
  static_assert(std::is_trivially_default_constructible<std::remove_all_extents_t<A>>::value,
                "__shared__ variables must be trivially constructible");
  return *static_cast<A*>(shared_static(tag, sizeof(A), align < alignof(A) ? alignof(A) : align));
}

// ---- warp intrinsics ------------------------------------------------------------------
template <class T>
uint64_t to_u64(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of an unsupported type");
  uint64_t u = 0;
  std::memcpy(&u, &v, sizeof(T));
  return u;
}
template <class T>
T from_u64(uint64_t u) {
  T v;
  std::memcpy(&v, &u, sizeof(T));
  return v;
}
template <class T>
T shfl(const char* f, int l, Op op, unsigned mask, T v, int arg, int width = warpSize) {
  return from_u64<T>(warp_op(f, l, op, mask, to_u64(v), arg, width));
}

inline void syncwarp(const char* f, int l, unsigned mask = 0xffffffffu) {
  (void)warp_op(f, l, Op::SyncWarp, mask, 0, 0, warpSize);
}

}  // namespace simt

// Put by cu2cpp.py at the top of every kernel body.
#define SIMT_KERNEL_ENTRY()  \
  struct simt_kernel_tag {}; \
  ::simt::kernel_entered(::simt::KernelId<simt_kernel_tag>::id)

#define __syncthreads() ::simt::syncthreads(__FILE__, __LINE__)
#define __syncwarp(...) ::simt::syncwarp(__FILE__, __LINE__, ##__VA_ARGS__)
#define __shfl_sync(mask, v, ...) ::simt::shfl(__FILE__, __LINE__, ::simt::Op::ShflIdx, mask, v, __VA_ARGS__)
#define __shfl_xor_sync(mask, v, ...) ::simt::shfl(__FILE__, __LINE__, ::simt::Op::ShflXor, mask, v, __VA_ARGS__)
#define __shfl_up_sync(mask, v, ...) ::simt::shfl(__FILE__, __LINE__, ::simt::Op::ShflUp, mask, v, __VA_ARGS__)
#define __shfl_down_sync(mask, v, ...) ::simt::shfl(__FILE__, __LINE__, ::simt::Op::ShflDown, mask, v, __VA_ARGS__)
#define __ballot_sync(mask, pred) \
  static_cast<unsigned>(::simt::warp_op(__FILE__, __LINE__, ::simt::Op::Ballot, mask, (pred) ? 1 : 0, 0, 32))
#define __all_sync(mask, pred) \
  static_cast<int>(::simt::warp_op(__FILE__, __LINE__, ::simt::Op::All, mask, (pred) ? 1 : 0, 0, 32))
#define __any_sync(mask, pred) \
  static_cast<int>(::simt::warp_op(__FILE__, __LINE__, ::simt::Op::Any, mask, (pred) ? 1 : 0, 0, 32))
#define __activemask() ::simt::active_mask()

// ---- runtime API subset ---------------------------------------------------------------------
inline cudaError_t cudaGetLastError() { return simt::take_last_error(true); }
inline cudaError_t cudaPeekAtLastError() { return simt::take_last_error(false); }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
const char* cudaGetErrorString(cudaError_t e);
template <class F>
cudaError_t cudaFuncSetAttribute(F* kernel, cudaFuncAttribute attr, int value) {
  return simt::func_set_attribute(reinterpret_cast<const void*>(kernel), attr, value);
}

// ---- device functions -----------------------------------------------------------------------
// __expf is ex2.approx(x * log2(e)) on the device: the product is rounded to
// float first (the main error for large |x|), results that are subnormal are
// flushed to zero (.ftz).
inline float __expf(float x) {
  const float r = std::exp2(x * 1.4426950408889634f);
  return std::fabs(r) < 1.17549435e-38f ? 0.0f : r;
}
inline float __logf(float x) { return std::log2(x) * 0.6931471805599453f; }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float __int_as_float(int v) {
  float f;
  std::memcpy(&f, &v, 4);
  return f;
}
inline int __float_as_int(float f) {
  int v;
  std::memcpy(&v, &f, 4);
  return v;
}
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
template <class T>
inline T __ldg(const T* p) {
  return *p;
}
#define SIMT_MINMAX(T)                             \
  inline T min(T a, T b) { return a < b ? a : b; } \
  inline T max(T a, T b) { return a > b ? a : b; }
SIMT_MINMAX(int)
SIMT_MINMAX(unsigned int)
SIMT_MINMAX(long)
SIMT_MINMAX(unsigned long)
SIMT_MINMAX(long long)
SIMT_MINMAX(unsigned long long)
#undef SIMT_MINMAX
// On the device min/max of floating point are fminf/fmaxf: a nan argument is dropped.
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }

// Atomics. Fibers never switch inside one, so a plain read-modify-write would
// do; they are real atomic operations so that ThreadSanitizer sees them as
// such (a correct atomicAdd from many threads is not a race).
template <class T>
inline T simt_atomic_update(T* p, T (*f)(T, T), T v) {
  static_assert(sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8, "atomic of an unsupported size");
  using U = std::conditional_t<sizeof(T) == 2, uint16_t, std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>;
  U* u = reinterpret_cast<U*>(p);
  U old_bits = __atomic_load_n(u, __ATOMIC_RELAXED);
  for (;;) {
    T old;
    std::memcpy(&old, &old_bits, sizeof(T));
    const T next = f(old, v);
    U next_bits;
    std::memcpy(&next_bits, &next, sizeof(T));
    if (__atomic_compare_exchange_n(u, &old_bits, next_bits, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return old;
  }
}
template <class T>
inline T atomicAdd(T* p, T v) {
  return simt_atomic_update<T>(p, [](T a, T b) { return T(a + b); }, v);
}
template <class T>
inline T atomicSub(T* p, T v) {
  return simt_atomic_update<T>(p, [](T a, T b) { return T(a - b); }, v);
}
template <class T>
inline T atomicExch(T* p, T v) {
  return simt_atomic_update<T>(p, [](T, T b) { return b; }, v);
}
template <class T>
inline T atomicMax(T* p, T v) {
  return simt_atomic_update<T>(p, [](T a, T b) { return a > b ? a : b; }, v);
}
template <class T>
inline T atomicMin(T* p, T v) {
  return simt_atomic_update<T>(p, [](T a, T b) { return a < b ? a : b; }, v);
}
template <class T>
inline T atomicAnd(T* p, T v) {
  return simt_atomic_update<T>(p, [](T a, T b) { return T(a & b); }, v);
}
template <class T>
inline T atomicOr(T* p, T v) {
  return simt_atomic_update<T>(p, [](T a, T b) { return T(a | b); }, v);
}
template <class T>
inline T atomicCAS(T* p, T cmp, T v) {
  __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return cmp;
}
inline void __threadfence() {}
inline void __threadfence_block() {}
