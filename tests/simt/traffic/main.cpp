// The global-memory traffic of every lossext CUDA kernel, measured on the
// emulator (recorder.h says how): runs the workloads the case files register and
// prints one table row per launch, as markdown.
//
//   measure_traffic [--markdown FILE]
//
// Fails (exit 1) when a measurement is not sound: the recorder misreads an
// access pattern of known traffic (calibration.cpp), a launcher fails, makes
// other launches than the workload expects, never reads a needed input byte,
// never writes an output byte, or writes a buffer that is not an output.
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "kernel_headers.inc"  // every csrc/kernels header that declares a launcher (launchers.py)
#include "simt/runtime.h"
#include "workload.h"

namespace {

using traffic::LaunchTraffic;
using traffic::Row;

// Thresholds of the table's flags.
constexpr double kMaxRatio = 1.25;      // bytes moved / minimum
constexpr double kMinCoalescing = 0.5;  // fewest sectors possible / sectors touched
constexpr uint64_t kMinFlagged = 4096;  // launches that must move fewer bytes are not flagged

std::string bytes_text(double b) {
  char buf[32];
  if (b >= 1024.0 * 1024.0)
    std::snprintf(buf, sizeof buf, "%.2f MiB", b / (1024.0 * 1024.0));
  else if (b >= 1024.0)
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  else
    std::snprintf(buf, sizeof buf, "%.0f B", b);
  return buf;
}

std::string fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string launch_shape(const LaunchTraffic& t) {
  auto dims = [](const unsigned (&d)[3]) {
    std::string s = std::to_string(d[0]);
    if (d[1] > 1 || d[2] > 1) s += "x" + std::to_string(d[1]);
    if (d[2] > 1) s += "x" + std::to_string(d[2]);
    return s;
  };
  return dims(t.grid) + " × " + dims(t.block);
}

// Coalescing: the fewest sectors that could hold each request's bytes / the
// sectors it touched, over all requests of the launch.
double coalescing(const LaunchTraffic& t) {
  const double sectors = double(t.sectors(false) + t.sectors(true));
  return sectors ? double(t.ideal_sectors(false) + t.ideal_sectors(true)) / sectors : 1.0;
}

std::string per_request(const LaunchTraffic& t, bool write) {
  const uint64_t r = t.requests(write);
  return r ? fixed(double(t.sectors(write)) / double(r), 1) : "–";
}

uint64_t total(const LaunchTraffic& t, bool write) {
  uint64_t n = 0;
  for (const auto& b : t.buffers) n += write ? b.written : b.read;
  return n;
}

uint64_t unique(const LaunchTraffic& t) {
  uint64_t n = 0;
  for (const auto& b : t.buffers) n += b.unique_read + b.unique_written;
  return n;
}

// Measured facts behind a row: buffers moved more than once, the least
// coalesced instruction; then the workload's explanation.
std::string notes(const Row& r) {
  const LaunchTraffic& t = r.traffic;
  std::string out;
  auto add = [&](const std::string& s) { out += (out.empty() ? "" : "; ") + s; };
  const double ratio = r.minimum ? double(total(t, false) + total(t, true)) / double(r.minimum) : 0;
  if (r.minimum >= kMinFlagged && ratio > kMaxRatio) add("**> " + fixed(kMaxRatio, 2) + "x**");
  if (r.minimum >= kMinFlagged && coalescing(t) < kMinCoalescing) add("**uncoalesced**");
  // Buffers requested more than once, where the repeats are at least 1% of the launch's traffic.
  const double moved = double(total(t, false) + total(t, true));
  for (const auto& b : t.buffers) {
    if (b.unique_read && double(b.read - b.unique_read) > 0.01 * moved)
      add(b.name + " read " + fixed(double(b.read) / double(b.unique_read), 2) + "x");
    if (b.unique_written && double(b.written - b.unique_written) > 0.01 * moved)
      add(b.name + " written " + fixed(double(b.written) / double(b.unique_written), 2) + "x");
  }
  // The instruction that touches the most sectors beyond the fewest possible,
  // when those are worth 10% of the launch's traffic.
  const traffic::SiteTraffic* worst = nullptr;
  uint64_t worst_excess = 0;
  for (const auto& s : t.sites)
    if (s.sectors - s.ideal_sectors > worst_excess) worst = &s, worst_excess = s.sectors - s.ideal_sectors;
  if (worst && r.minimum >= kMinFlagged && 32.0 * double(worst_excess) > 0.1 * moved)
    add(std::string(worst->write ? "store" : "load") + " at " + traffic::site_name(worst->pc) + ": " +
        fixed(double(worst->sectors) / double(worst->requests), 1) + " sectors/request for " +
        fixed(double(worst->bytes) / double(worst->requests), 0) + " bytes");
  if (!r.why.empty()) add(r.why);
  return out;
}

std::string table(const std::vector<Row>& rows) {
  std::string md =
      "| launcher | kernel | workload | grid × block | read | written | minimum | ratio | unique | "
      "ld sectors/req | st sectors/req | coalescing | notes |\n"
      "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
  for (const Row& r : rows) {
    const LaunchTraffic& t = r.traffic;
    const uint64_t rd = total(t, false), wr = total(t, true);
    std::string kernel = t.kernel;
    md += "| " + r.launcher + " | `" + kernel + "` | " + r.workload + " | " + launch_shape(t) + " | " +
          bytes_text(double(rd)) + " | " + bytes_text(double(wr)) + " | " + bytes_text(double(r.minimum)) + " | " +
          (r.minimum ? fixed(double(rd + wr) / double(r.minimum), 2) : "–") + " | " + bytes_text(double(unique(t))) +
          " | " + per_request(t, false) + " | " + per_request(t, true) + " | " + fixed(100.0 * coalescing(t), 0) +
          "% | " + notes(r) + " |\n";
  }
  return md;
}

const char* kPreamble =
    "# Global-memory traffic of the CUDA kernels (SIMT tier)\n"
    "\n"
    "Written by `make -C tests/simt traffic` (tests/simt/traffic). Every launcher of csrc/kernels runs on the\n"
    "CPU emulator, its device code built with `-fsanitize=thread` and linked against a recorder instead of the\n"
    "TSan runtime, so that every load and store reaches a hook; accesses to the launch's global buffers are\n"
    "kept (shared memory and stacks are not), tagged with block, warp, lane and instruction. The recorder is\n"
    "calibrated on kernels of known traffic (coalesced, strided, misaligned, broadcast, 16-byte, repeated,\n"
    "through shared memory), which it must measure exactly. Inputs: float32 (and one bfloat16\n"
    "cross-entropy), contiguous, a broadcast (stride 0) upstream gradient where 'mean' / 'sum' gives one,\n"
    "buffers 256-byte aligned as cudaMalloc's. These are counts, not timings, and do not depend on the GPU;\n"
    "caches are not modelled.\n"
    "\n"
    "- A **request** is what one warp asks of memory at one instruction: the accesses of its lanes at the same\n"
    "  instruction and the same per-lane occurrence (the k-th time each lane runs it), as in lockstep.\n"
    "- **read / written**: bytes requested, each request counting the distinct bytes its lanes ask for (a value\n"
    "  all lanes of a warp read, a broadcast, counts once per warp). **minimum**: each needed input read once\n"
    "  and each output written once. **ratio** = (read + written) / minimum. **unique**: distinct bytes read\n"
    "  plus distinct bytes written, the DRAM traffic with perfect caching.\n"
    "- **sectors/req**: 32-byte sectors per request. A full warp of 4-byte accesses needs 4, of 16-byte\n"
    "  packets 16; 32 is fully uncoalesced 4-byte access; a broadcast or a value one lane writes costs 1.\n"
    "  **coalescing**: the fewest sectors that could hold each request's bytes / the sectors it touched, over\n"
    "  all requests of the launch (100%: every request as compact as its bytes allow).\n"
    "- Flags and notes on launches that must move at least 4 KiB: **> 1.25x** (ratio above 1.25) and\n"
    "  **uncoalesced** (coalescing below 50%); the notes name the buffers requested more than once (when the\n"
    "  repeats are 1% of the launch's traffic or more), the least coalesced instruction (when its extra\n"
    "  sectors are worth 10% of the traffic or more), and why.\n"
    "\n";

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const char* markdown = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--markdown" && i + 1 < argc)
      markdown = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--markdown FILE]\n", argv[0]);
      return 2;
    }
  }
  // The host and device builds of the params structs must agree.
#define SIMT_EXPORT(fn, P)                                                                             \
  if (simt_sizeof_##fn() != sizeof(lossext::P)) {                                                      \
    std::printf("layout mismatch: %s %lu vs %zu bytes\n", #P, simt_sizeof_##fn(), sizeof(lossext::P)); \
    return 2;                                                                                          \
  }
#include "dev_exports.inc"
#undef SIMT_EXPORT
  simt::set_schedule(simt::Schedule::Forward);
  traffic::start();
  const int miscalibrated = traffic::calibrate();
  traffic::run_workloads();

  const std::vector<Row>& rows = traffic::rows();
  const std::string md = table(rows);
  std::printf("%s", md.c_str());
  int problems = miscalibrated;
  // Every kernel the launchers instantiate has a measured launch (a new
  // kernel needs a workload); calibration_kernels.cu's are checked apart.
  std::set<std::string> measured, missing;
  for (const Row& r : rows) measured.insert(r.traffic.kernel.substr(0, r.traffic.kernel.find('<')));
  for (int id = 0; id < simt::kernel_count(); ++id) {
    const std::string base = simt::kernel_base(id);
    if (!measured.count(base) && base.rfind("calibration::", 0) != 0) missing.insert(base);
  }
  for (const std::string& k : missing) {
    std::printf("FAIL %s: no workload launches it (the SIMT_TRAFFIC part of its tests/simt/cases file)\n", k.c_str());
    ++problems;
  }
  for (const Row& r : rows)
    for (const std::string& p : r.problems) {
      std::printf("FAIL %s (%s, %s): %s\n", r.launcher.c_str(), r.traffic.kernel.c_str(), r.workload.c_str(),
                  p.c_str());
      ++problems;
    }
  if (markdown && !problems) {  // a broken measurement leaves the previous table alone
    FILE* f = std::fopen(markdown, "w");
    if (!f) {
      std::perror(markdown);
      return 1;
    }
    std::fputs(kPreamble, f);
    std::fputs(md.c_str(), f);
    std::fclose(f);
    std::printf("wrote %s\n", markdown);
  }
  std::printf("%zu launches measured, %d problems\n", rows.size(), problems);
  return problems ? 1 : 0;
}
