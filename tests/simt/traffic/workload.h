// workload.h: one launcher call on buffers whose traffic is recorded, and
// what each of its launches must move at least (each input read once, each
// output written once).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/layout.h"
#include "recorder.h"

// The C entry points of every launcher (dev_exports.cpp, built like the kernels).
#define SIMT_EXPORT(fn, P)                 \
  extern "C" int simt_##fn(const void* p); \
  extern "C" unsigned long simt_sizeof_##fn();
#include "dev_exports.inc"
#undef SIMT_EXPORT

namespace traffic {

// A buffer a launch needs: all of it (bytes = 0), or `bytes` distinct bytes of it.
struct Need {
  std::string buffer;
  size_t bytes = 0;
};

// What one launch must read and write, and why it may move more.
struct Expect {
  std::vector<Need> reads, writes;
  std::string why;  // shown in the table's notes
};

// One row of the table: a launch and its measured traffic.
struct Row {
  std::string launcher, workload;
  LaunchTraffic traffic;
  uint64_t minimum = 0;
  std::string why;
  std::vector<std::string> problems;  // a broken measurement: the run fails
};

std::vector<Row>& rows();

// Buffers of one workload: 256-byte aligned like cudaMalloc's, watched by the
// recorder, freed (and unwatched) with the workload.
class Workload {
 public:
  explicit Workload(std::string name) : name_(std::move(name)) {
    std::seed_seq seed(name_.begin(), name_.end());  // inputs depend on the workload's name only
    rng_.seed(seed);
  }
  ~Workload() {
    unwatch_all();
    for (auto& b : bufs_) std::free(b.p);
  }
  Workload(const Workload&) = delete;
  Workload& operator=(const Workload&) = delete;

  template <class T>
  T* buf(const char* name, size_t count) {
    const size_t bytes = count * sizeof(T);
    void* p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
    std::memset(p, 0, bytes);
    bufs_.push_back({name, p, bytes});
    watch(name, p, bytes);
    return static_cast<T*>(p);
  }
  // count values of uniform(lo, hi).
  float* uniform(const char* name, size_t count, double lo, double hi) {
    float* p = buf<float>(name, count);
    std::uniform_real_distribution<double> d(lo, hi);
    for (size_t i = 0; i < count; ++i) p[i] = float(d(rng_));
    return p;
  }
  int64_t* indices(const char* name, size_t count, int64_t lo, int64_t hi) {
    int64_t* p = buf<int64_t>(name, count);
    std::uniform_int_distribution<int64_t> d(lo, hi);
    for (size_t i = 0; i < count; ++i) p[i] = d(rng_);
    return p;
  }
  std::mt19937_64& rng() { return rng_; }

  // Calls the launcher and records one row per launch it makes.
  void run(const char* launcher, const std::function<int()>& call, const std::vector<Expect>& expect);

 private:
  struct Alloc {
    std::string name;
    void* p;
    size_t bytes;
  };
  std::string name_;
  std::mt19937_64 rng_;
  std::vector<Alloc> bufs_;
};

// Every family's workloads, registered by its case file (tests/simt/cases/<x>.cpp,
// the part built with SIMT_TRAFFIC): TRAFFIC_WORKLOADS(fn) at namespace scope.
std::vector<void (*)()>& workloads();
struct RegisterWorkloads {
  explicit RegisterWorkloads(void (*fn)()) { workloads().push_back(fn); }
};
#define TRAFFIC_WORKLOADS(fn) static const ::traffic::RegisterWorkloads traffic_workloads_##fn(fn);

void run_workloads();  // every registered family's, in link order
int calibrate();       // calibration.cpp: the number of mismatches

// A dense (N, C, D) tensor walked as rows, as the torch ops pass it.
inline lossext::RowLayout rows_layout(int64_t n, int64_t c, int64_t d) {
  lossext::RowLayout L;
  L.rows = n * d;
  L.classes = c;
  L.inner = d;
  L.stride_n = c * d;
  L.stride_c = d;
  L.stride_s = d > 1 ? 1 : 0;
  return L;
}

// With a thread per row (classes strided, d > 1) the row's target logit is
// loaded again after the row loop, and neighbouring rows have different
// targets: that load is a gather.
inline constexpr const char* kTargetLogitGather =
    "a thread per row: x[y] is loaded again after the row loop, a gather across class rows (up to 32 "
    "sectors for 32 values) of a value the same thread has just loaded";

}  // namespace traffic
