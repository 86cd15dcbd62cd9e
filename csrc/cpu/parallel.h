// How a CPU entry point (`<x>_fwd_cpu(params, parallel_for)`) spreads its work
// over threads: the caller injects the parallel-for. The torch op passes one
// over at::parallel_for (ops/common.h), the SIMT tier and tools pass
// serial_for, so the loops stay torch-free and the same entry point runs in
// every harness. Entry points combine per-range partial results in a fixed
// order, so their results never depend on how the range was split.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

namespace lossext {

// body(first, last) for sub-ranges covering [begin, end), each of at least
// `grain` items where possible, possibly on several threads at once.
using RangeBody = std::function<void(int64_t first, int64_t last)>;
using ParallelFor = void (*)(int64_t begin, int64_t end, int64_t grain, const RangeBody& body);

inline void serial_for(int64_t begin, int64_t end, int64_t grain, const RangeBody& body) {
  (void)grain;
  if (begin < end) body(begin, end);
}

// What a CPU entry point reports that a CUDA kernel cannot (it would need a
// host sync): the flat position of the first class index outside its valid
// range, which the torch op raises as an IndexError.
struct CpuStatus {
  int64_t bad_index_at = -1;
};

// The lowest bad position offered by any thread of a parallel loop: the
// lowest, so that the report does not depend on how the range was split.
class FirstBadIndex {
 public:
  void offer(int64_t at) {
    int64_t seen = at_.load();
    while ((seen < 0 || at < seen) && !at_.compare_exchange_weak(seen, at)) {
    }
  }
  CpuStatus status() const { return CpuStatus{at_.load()}; }

 private:
  std::atomic<int64_t> at_{-1};
};

}  // namespace lossext
