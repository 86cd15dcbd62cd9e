// calibration.cpp: the recorder against access patterns whose traffic is
// known (calibration_kernels.cu): a coalesced copy, a strided gather, a misaligned
// copy, a broadcast, 16-byte packets, a repeated load, and shared memory plus
// stack, which must not count. Every number must come out exactly.
#include <cstdio>
#include <string>

#include "workload.h"

extern "C" {
void calibration_gather(const float* in, float* out, int n, int stride, int offset);
void calibration_broadcast(const float* in, float* out, int n);
void calibration_packets(const void* in, void* out, int n);
void calibration_twice(const float* in, float* out, int n);
void calibration_through_shared(const float* in, float* out, int n);
}

namespace traffic {
namespace {

constexpr int kN = 4096;              // elements (floats, or 16-byte packets)
constexpr uint64_t kWarps = kN / 32;  // one request per warp and instruction
constexpr uint64_t kBytes = kN * 4;

struct Want {
  uint64_t ld_requests, ld_sectors, ld_ideal, ld_bytes;
  uint64_t st_requests, st_sectors, st_ideal, st_bytes;
  uint64_t unique;  // distinct bytes read + distinct bytes written
};

// The one launch made since the last take() against `want`; returns the mismatches.
int check(const char* pattern, const Want& want) {
  const std::vector<LaunchTraffic> launches = take();
  if (launches.size() != 1) {
    std::printf("calibration %s: %zu launches, want 1\n", pattern, launches.size());
    return 1;
  }
  const LaunchTraffic& t = launches[0];
  uint64_t unique = 0;
  for (const BufferTraffic& b : t.buffers) unique += b.unique_read + b.unique_written;
  const struct {
    const char* what;
    uint64_t got, want;
  } fields[] = {
      {"load requests", t.requests(false), want.ld_requests},
      {"load sectors", t.sectors(false), want.ld_sectors},
      {"load ideal sectors", t.ideal_sectors(false), want.ld_ideal},
      {"load bytes", t.bytes(false), want.ld_bytes},
      {"store requests", t.requests(true), want.st_requests},
      {"store sectors", t.sectors(true), want.st_sectors},
      {"store ideal sectors", t.ideal_sectors(true), want.st_ideal},
      {"store bytes", t.bytes(true), want.st_bytes},
      {"unique bytes", unique, want.unique},
  };
  int bad = 0;
  for (const auto& f : fields) {
    if (f.got == f.want) continue;
    std::printf("calibration %s: %s %llu, want %llu\n", pattern, f.what, (unsigned long long)f.got,
                (unsigned long long)f.want);
    ++bad;
  }
  return bad;
}

}  // namespace

int calibrate() {
  int bad = 0;
  // A coalesced copy: a warp moves 128 bytes, 4 sectors, per instruction.
  const Want copy{kWarps, 4 * kWarps, 4 * kWarps, kBytes, kWarps, 4 * kWarps, 4 * kWarps, kBytes, 2 * kBytes};
  {
    Workload w("calibration: copy");
    const float* in = w.uniform("in", kN, 0, 1);
    float* out = w.buf<float>("out", kN);
    calibration_gather(in, out, kN, 1, 0);
    bad += check("copy", copy);
  }
  {
    // Stride 8 floats: every lane in its own sector, 32 a request.
    Workload w("calibration: strided");
    const float* in = w.uniform("in", kN * 8, 0, 1);
    float* out = w.buf<float>("out", kN);
    calibration_gather(in, out, kN, 8, 0);
    bad +=
        check("strided", {kWarps, 32 * kWarps, 4 * kWarps, kBytes, kWarps, 4 * kWarps, 4 * kWarps, kBytes, 2 * kBytes});
  }
  {
    // Shifted by one float: 128 bytes over 5 sectors.
    Workload w("calibration: misaligned");
    const float* in = w.uniform("in", kN + 1, 0, 1);
    float* out = w.buf<float>("out", kN);
    calibration_gather(in, out, kN, 1, 1);
    bad += check("misaligned",
                 {kWarps, 5 * kWarps, 4 * kWarps, kBytes, kWarps, 4 * kWarps, 4 * kWarps, kBytes, 2 * kBytes});
  }
  {
    // One value for all: 4 bytes, 1 sector a request.
    Workload w("calibration: broadcast");
    const float* in = w.uniform("in", 1, 0, 1);
    float* out = w.buf<float>("out", kN);
    calibration_broadcast(in, out, kN);
    bad += check("broadcast", {kWarps, kWarps, kWarps, 4 * kWarps, kWarps, 4 * kWarps, 4 * kWarps, kBytes, 4 + kBytes});
  }
  {
    // 16 bytes a lane: 512 bytes, 16 sectors a request.
    Workload w("calibration: packets");
    const float* in = w.uniform("in", 4 * kN, 0, 1);
    float* out = w.buf<float>("out", 4 * kN);
    calibration_packets(in, out, kN);
    bad += check("packets", {kWarps, 16 * kWarps, 16 * kWarps, 4 * kBytes, kWarps, 16 * kWarps, 16 * kWarps, 4 * kBytes,
                             8 * kBytes});
  }
  {
    // Two loads of each element: twice the requests, the same distinct bytes.
    Workload w("calibration: twice");
    const float* in = w.uniform("in", kN, 0, 1);
    float* out = w.buf<float>("out", kN);
    calibration_twice(in, out, kN);
    bad += check("twice",
                 {2 * kWarps, 8 * kWarps, 8 * kWarps, 2 * kBytes, kWarps, 4 * kWarps, 4 * kWarps, kBytes, 2 * kBytes});
  }
  {
    // Staged through shared memory and a stack array: only the copy counts.
    Workload w("calibration: through shared memory");
    const float* in = w.uniform("in", kN, 0, 1);
    float* out = w.buf<float>("out", kN);
    calibration_through_shared(in, out, kN);
    bad += check("through shared memory", copy);
  }
  std::printf("calibration: %s\n", bad ? "FAILED" : "7 access patterns measured exactly");
  return bad;
}

}  // namespace traffic
