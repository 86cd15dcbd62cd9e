// simt/runtime.h: the controls of the CUDA emulator (schedule, limits,
// error counts). Free of CUDA macros, so that host-side test code (which
// must not see simt.h's __CUDA_ARCH__) can include it.
#pragma once

#include <cstdint>

namespace simt {

enum class Schedule { Forward = 0, Reverse = 1, Random = 2 };
void set_schedule(Schedule s, uint64_t seed = 1);
Schedule schedule();
const char* schedule_name();
void set_arch(int sm);  // 80 or 90: shared-memory limits
// Largest grid the emulator runs as asked; a larger one is an error unless
// `clamp` is set, in which case every axis of the grid is cut to max_blocks
// (grid-stride kernels must still cover all their work: set_grid_limit(1, true)
// makes one block walk everything).
void set_grid_limit(unsigned long long max_blocks, bool clamp);
// A kernel that maps blockIdx to its work exactly (no grid-stride loop) would
// simply skip work under a clamped grid. The next launch (only that one) runs
// its whole grid whatever set_grid_limit says, and must be a launch of the
// kernel whose base name is `kernel_base` ("seg_stats_kernel"): anything else
// is an error. nullptr withdraws a declaration no launch consumed.
void exact_grid_next_launch(const char* kernel_base);
// Errors (barrier divergence, bad shuffle, launch-config violations) abort by
// default; with keep_going they are counted and execution continues.
void set_keep_going(bool on);
// Forgets per-kernel attributes (cudaFuncSetAttribute) and the sticky error,
// as a fresh process would have them: called before every case and schedule.
void reset_device();
long errors();
long launches();

// ---- coverage ------------------------------------------------------------------------------
// Every __global__ function instantiated in the program registers itself
// before main (tools: cu2cpp.py puts SIMT_KERNEL_ENTRY() at the top of each
// kernel body), so "which instantiations exist" and "which ran" are both known.
int kernel_count();
const char* kernel_name(int id);  // "seg_stats_kernel<float, SegActivation(1), true>"
const char* kernel_base(int id);  // "seg_stats_kernel"

// One finished launch, as a GPU would have run it.
struct LaunchRecord {
  int kernel;        // kernel_name(kernel); -1 if no thread entered the body
  const char* file;  // launch site
  int line;
  unsigned grid[3];  // as asked (before any --grid-cap)
  unsigned block[3];
  unsigned long dynamic_shared;  // bytes
  bool grid_capped;              // the emulator ran fewer blocks (grid-stride kernels walk more)
};
using LaunchObserver = void (*)(const LaunchRecord&);
void set_launch_observer(LaunchObserver observer);

}  // namespace simt
