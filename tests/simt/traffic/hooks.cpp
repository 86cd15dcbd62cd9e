// hooks.cpp: the entry points that -fsanitize=thread code calls, defined here
// instead of by libtsan, so that every load and store of the emulated kernels
// reaches the traffic recorder (recorder.h). Built without instrumentation.
//
// Standard headers first: simt.h defines CUDA qualifiers such as __noinline__
// that the library headers would otherwise see.
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <unordered_map>

#include "recorder.h"
#include "simt/simt.h"

namespace traffic {
namespace {

constexpr uintptr_t kSector = 32;

struct Buffer {
  std::string name;
  uintptr_t begin = 0, end = 0;
  std::vector<uint8_t> touched;  // bit 0: read, bit 1: written (one byte of state per byte)
  uint64_t read = 0, written = 0;
};

// One access of one lane, kept until its block ends.
struct Access {
  uint32_t warp, site, occurrence;
  uint32_t buffer;
  uint64_t addr;
  uint32_t size;
  bool operator<(const Access& o) const {
    if (warp != o.warp) return warp < o.warp;
    if (site != o.site) return site < o.site;
    if (occurrence != o.occurrence) return occurrence < o.occurrence;
    if (addr != o.addr) return addr < o.addr;
    return size < o.size;
  }
};

struct Site {
  uintptr_t pc;
  bool write;
};

struct Recorder {
  std::vector<Buffer> buffers;
  std::vector<Site> sites;  // every instruction seen so far, by index
  std::unordered_map<uintptr_t, uint32_t> site_index;
  // The block being recorded: its accesses and, per (thread, site), how many
  // times the thread has executed the site.
  long block_launch = -1;
  uint64_t block_linear = 0;
  std::vector<Access> block_accesses;
  std::unordered_map<uint64_t, uint32_t> occurrences;
  // The launch being recorded, per site: requests, sectors, bytes.
  std::map<uint32_t, SiteTraffic> launch_sites;
  std::vector<LaunchTraffic> finished;
};

Recorder& R() {
  static Recorder* r = new Recorder;
  return *r;
}

uint32_t site_of(uintptr_t pc, bool write) {
  Recorder& r = R();
  auto it = r.site_index.find(pc);
  if (it != r.site_index.end()) return it->second;
  const uint32_t id = uint32_t(r.sites.size());
  r.sites.push_back({pc, write});
  r.site_index.emplace(pc, id);
  return id;
}

// Groups the block's accesses into warp-level requests (same warp, same
// instruction, same per-lane occurrence) and counts, per request, the
// distinct bytes it asks for (lanes reading the same bytes count once: a
// broadcast) and the distinct sectors they lie in.
void flush_block() {
  Recorder& r = R();
  std::vector<Access>& a = r.block_accesses;
  std::sort(a.begin(), a.end());
  uint64_t covered_end = 0, last_sector = 0, request_bytes = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const Access& x = a[i];
    SiteTraffic& s = r.launch_sites[x.site];
    const bool new_request =
        i == 0 || a[i - 1].warp != x.warp || a[i - 1].site != x.site || a[i - 1].occurrence != x.occurrence;
    const uint64_t end = x.addr + x.size, first_sector = x.addr / kSector, end_sector = (end - 1) / kSector;
    // Accesses of a request are sorted by address: the bytes and sectors not
    // yet covered by the ones before are new.
    uint64_t fresh_bytes = x.size, fresh_sectors = end_sector - first_sector + 1;
    if (new_request) {
      ++s.requests;
      request_bytes = 0;
    } else {
      fresh_bytes = end > covered_end ? end - std::max(x.addr, covered_end) : 0;
      const uint64_t from = std::max(first_sector, last_sector + 1);
      fresh_sectors = end_sector >= from ? end_sector - from + 1 : 0;
    }
    covered_end = new_request ? end : std::max(covered_end, end);
    last_sector = new_request ? end_sector : std::max(last_sector, end_sector);
    s.sectors += fresh_sectors;
    s.bytes += fresh_bytes;
    // The fewest sectors that could hold the request's bytes, counted when it ends.
    request_bytes += fresh_bytes;
    const bool last_of_request =
        i + 1 == a.size() || a[i + 1].warp != x.warp || a[i + 1].site != x.site || a[i + 1].occurrence != x.occurrence;
    if (last_of_request) s.ideal_sectors += (request_bytes + kSector - 1) / kSector;
    Buffer& b = r.buffers[x.buffer];
    (r.sites[x.site].write ? b.written : b.read) += fresh_bytes;
  }
  a.clear();
  r.occurrences.clear();
}

void record(const void* addr, size_t size, bool write, uintptr_t pc) {
  Recorder& r = R();
  const uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  if (size == 0) return;
  Buffer* buf = nullptr;
  for (Buffer& b : r.buffers) {
    if (a >= b.begin && a < b.end) {
      buf = &b;
      break;
    }
  }
  if (!buf) return;  // stack, shared memory, parameters: not global memory
  if (a + size > buf->end) {
    std::fprintf(stderr, "traffic: a %zu-byte access at offset %zu runs past the end of %s (%zu bytes)\n", size,
                 size_t(a - buf->begin), buf->name.c_str(), size_t(buf->end - buf->begin));
    std::abort();
  }
  uint8_t* t = buf->touched.data() + (a - buf->begin);
  const uint8_t bit = write ? 2 : 1;
  for (size_t i = 0; i < size; ++i) t[i] |= bit;

  // Which lane of which warp of which block, at which instruction.
  const uint64_t block = blockIdx.x + uint64_t(gridDim.x) * (blockIdx.y + uint64_t(gridDim.y) * blockIdx.z);
  const uint32_t thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const long launch = simt::launches();
  if (launch != r.block_launch || block != r.block_linear) {
    flush_block();
    r.block_launch = launch;
    r.block_linear = block;
  }
  const uint32_t site = site_of(pc, write);
  const uint32_t occurrence = r.occurrences[uint64_t(thread) << 32 | site]++;
  r.block_accesses.push_back({thread / 32, site, occurrence, uint32_t(buf - r.buffers.data()), a, uint32_t(size)});
}

void observe(const simt::LaunchRecord& rec) {
  Recorder& r = R();
  flush_block();
  r.block_launch = -1;
  LaunchTraffic L;
  L.kernel = rec.kernel >= 0 ? simt::kernel_name(rec.kernel) : "?";
  for (int i = 0; i < 3; ++i) L.grid[i] = rec.grid[i], L.block[i] = rec.block[i];
  for (Buffer& b : r.buffers) {
    BufferTraffic t;
    t.name = b.name;
    t.size = b.end - b.begin;
    t.read = b.read;
    t.written = b.written;
    for (uint8_t v : b.touched) {
      t.unique_read += v & 1;
      t.unique_written += v >> 1 & 1;
    }
    L.buffers.push_back(t);
    b.read = b.written = 0;
    std::fill(b.touched.begin(), b.touched.end(), uint8_t(0));
  }
  for (auto& s : r.launch_sites) {
    SiteTraffic t = s.second;
    t.pc = r.sites[s.first].pc;
    t.write = r.sites[s.first].write;
    L.sites.push_back(t);
  }
  r.launch_sites.clear();
  r.finished.push_back(std::move(L));
}

uint64_t sum_sites(const LaunchTraffic& L, bool write, uint64_t SiteTraffic::* field) {
  uint64_t n = 0;
  for (const SiteTraffic& s : L.sites)
    if (s.write == write) n += s.*field;
  return n;
}

}  // namespace

uint64_t LaunchTraffic::requests(bool write) const { return sum_sites(*this, write, &SiteTraffic::requests); }
uint64_t LaunchTraffic::sectors(bool write) const { return sum_sites(*this, write, &SiteTraffic::sectors); }
uint64_t LaunchTraffic::bytes(bool write) const { return sum_sites(*this, write, &SiteTraffic::bytes); }
uint64_t LaunchTraffic::ideal_sectors(bool write) const { return sum_sites(*this, write, &SiteTraffic::ideal_sectors); }

int watch(const char* name, const void* p, size_t bytes) {
  Buffer b;
  b.name = name;
  b.begin = reinterpret_cast<uintptr_t>(p);
  b.end = b.begin + bytes;
  b.touched.assign(bytes, 0);
  R().buffers.push_back(std::move(b));
  return int(R().buffers.size()) - 1;
}

void unwatch_all() { R().buffers.clear(); }

void start() { simt::set_launch_observer(observe); }

std::vector<LaunchTraffic> take() {
  std::vector<LaunchTraffic> out;
  out.swap(R().finished);
  return out;
}

std::string site_name(uintptr_t pc) {
  static std::map<uintptr_t, std::string> cache;
  auto it = cache.find(pc);
  if (it != cache.end()) return it->second;
  std::string name = "?";
  Dl_info info;
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0 && dladdr(reinterpret_cast<void*>(pc), &info) && info.dli_fbase) {
    exe[n] = 0;
    // pc - 1: inside the call instruction, whose line is the access's.
    char cmd[4200];
    std::snprintf(cmd, sizeof cmd, "addr2line -i -e '%s' 0x%lx", exe,
                  static_cast<unsigned long>(pc - 1 - reinterpret_cast<uintptr_t>(info.dli_fbase)));
    if (FILE* f = popen(cmd, "r")) {
      // Frames innermost first: keep the innermost one in a .cu file (the
      // kernel's own line rather than a shared load helper's).
      char line[4096];
      std::string first, cu;
      while (std::fgets(line, sizeof line, f)) {
        std::string s = line;
        s = s.substr(0, s.find_first_of(" \n"));
        s = s.substr(s.rfind('/') == std::string::npos ? 0 : s.rfind('/') + 1);
        if (first.empty()) first = s;
        if (cu.empty() && s.find(".cu:") != std::string::npos) cu = s;
      }
      pclose(f);
      name = !cu.empty() ? cu : !first.empty() ? first : name;
    }
  }
  cache[pc] = name;
  return name;
}

}  // namespace traffic

// ---- the instrumentation's entry points ------------------------------------------------------
#define TRAFFIC_HOOK(kind, n, write)                                                           \
  extern "C" __attribute__((noinline)) void __tsan_##kind##n(void* addr) {                     \
    traffic::record(addr, n, write, reinterpret_cast<uintptr_t>(__builtin_return_address(0))); \
  }
extern "C" {
void __tsan_init() {}
void __tsan_func_entry(void*) {}
void __tsan_func_exit() {}
}
TRAFFIC_HOOK(read, 1, false)
TRAFFIC_HOOK(read, 2, false)
TRAFFIC_HOOK(read, 4, false)
TRAFFIC_HOOK(read, 8, false)
TRAFFIC_HOOK(read, 16, false)
TRAFFIC_HOOK(write, 1, true)
TRAFFIC_HOOK(write, 2, true)
TRAFFIC_HOOK(write, 4, true)
TRAFFIC_HOOK(write, 8, true)
TRAFFIC_HOOK(write, 16, true)
TRAFFIC_HOOK(unaligned_read, 1, false)
TRAFFIC_HOOK(unaligned_read, 2, false)
TRAFFIC_HOOK(unaligned_read, 4, false)
TRAFFIC_HOOK(unaligned_read, 8, false)
TRAFFIC_HOOK(unaligned_read, 16, false)
TRAFFIC_HOOK(unaligned_write, 1, true)
TRAFFIC_HOOK(unaligned_write, 2, true)
TRAFFIC_HOOK(unaligned_write, 4, true)
TRAFFIC_HOOK(unaligned_write, 8, true)
TRAFFIC_HOOK(unaligned_write, 16, true)
#undef TRAFFIC_HOOK
extern "C" __attribute__((noinline)) void __tsan_read_range(void* addr, unsigned long size) {
  traffic::record(addr, size, false, reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
}
extern "C" __attribute__((noinline)) void __tsan_write_range(void* addr, unsigned long size) {
  traffic::record(addr, size, true, reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
}
