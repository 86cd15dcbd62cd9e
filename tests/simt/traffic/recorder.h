// recorder.h: the global-memory traffic of emulated kernel launches.
//
// The device objects are built with -fsanitize=thread, so the compiler puts a
// call to __tsan_read<N> / __tsan_write<N> before every load and store; the
// traffic binary links hooks.cpp in place of the TSan runtime. A hook keeps
// an access only when its address lies inside a buffer registered with
// watch() (global memory: shared memory and stacks are never registered) and
// tags it with the running CUDA thread (the emulator's threadIdx / blockIdx)
// and the instruction that made it (the hook's return address).
//
// The accesses of the lanes of one warp at the same instruction and the same
// per-lane occurrence (the k-th time each lane executes it) form one request,
// as a warp executing in lockstep would issue it. Per launch the recorder
// reports, per buffer, the bytes the requests asked for and the bytes touched
// at least once, and per instruction the requests, their bytes, the 32-byte
// sectors those lie in and the fewest sectors that could hold them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace traffic {

// Starts counting accesses to [p, p + bytes); returns the buffer's id.
int watch(const char* name, const void* p, size_t bytes);
// Forgets every buffer (call between workloads, once their launches are taken).
void unwatch_all();

struct BufferTraffic {
  std::string name;
  size_t size = 0;
  // Bytes the warps requested: per request, the distinct bytes its lanes
  // asked for (a value every lane reads, a broadcast, counts once).
  uint64_t read = 0, written = 0;
  uint64_t unique_read = 0, unique_written = 0;  // distinct bytes
};

struct SiteTraffic {
  uintptr_t pc = 0;  // return address of the hook: just after the instrumented access
  bool write = false;
  uint64_t requests = 0, sectors = 0, bytes = 0;  // bytes: distinct per request
  uint64_t ideal_sectors = 0;                     // the fewest sectors that could hold each request's bytes
};

struct LaunchTraffic {
  std::string kernel;  // instantiation, e.g. "sigmoid_focal_bwd_kernel<float, GammaKind(2), false>"
  unsigned grid[3] = {1, 1, 1}, block[3] = {1, 1, 1};
  std::vector<BufferTraffic> buffers;  // indexed by watch() id
  std::vector<SiteTraffic> sites;      // instructions that touched a watched buffer
  uint64_t requests(bool write) const;
  uint64_t sectors(bool write) const;
  uint64_t bytes(bool write) const;
  uint64_t ideal_sectors(bool write) const;
};

// Installs the launch observer; call once before the first launch.
void start();
// The launches that finished since the last call.
std::vector<LaunchTraffic> take();
// "file.cu:123" for an instruction (the outermost frame of csrc/kernels, from
// the debug information of the running binary), or "?".
std::string site_name(uintptr_t pc);

}  // namespace traffic
