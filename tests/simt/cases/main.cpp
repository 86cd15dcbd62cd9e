// Runs lossext's CUDA kernels (emulated by simt) on small inputs and compares
// them with the torch-free CPU loops of csrc/cpu/loops, under several thread
// schedules; then prints which kernel instantiations and launcher branches the
// cases reached, and fails if one was never reached.
//
//   test_kernels [--filter SUBSTRING] [--schedules forward,reverse,random] [--grid-cap N] [--list]
//                [--no-coverage]
//
// --grid-cap N runs at most N blocks along each grid axis: the grid-stride
// loops then walk several rows / tiles / elements per block, which small
// inputs never do otherwise. A launch of a kernel that maps blockIdx to its
// work exactly keeps its whole grid: its case declares it (th::ExactGridLaunch).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common.h"
#include "harness.h"
#include "kernel_headers.inc"  // every csrc/kernels header that declares a launcher (launchers.py)
#include "simt/runtime.h"

namespace {

// The __global__ functions csrc/kernels defines (cu2cpp.py lists them).
const char* const kKernelNames[] = {
#include "kernel_names.inc"
};

struct Coverage {
  std::string current_case;
  std::map<int, std::set<std::string>> by_kernel;     // instantiation id -> cases
  std::map<size_t, std::set<std::string>> by_branch;  // index into th::branches() -> cases
};
Coverage& coverage() {
  static Coverage c;
  return c;
}

void observe(const simt::LaunchRecord& r) {
  Coverage& c = coverage();
  if (r.kernel < 0) return;
  c.by_kernel[r.kernel].insert(c.current_case);
  const std::string base = simt::kernel_base(r.kernel);
  const auto& bs = th::branches();
  for (size_t i = 0; i < bs.size(); ++i)
    if (bs[i].kernel == base && bs[i].hit(r)) c.by_branch[i].insert(c.current_case);
}

std::string cases_text(const std::set<std::string>& s) {
  if (s.empty()) return "NO CASE";
  std::string out = std::to_string(s.size()) + (s.size() == 1 ? " case  " : " cases  ") + *s.begin();
  return out;
}

// Prints the table; returns the number of gaps (an instantiation, a kernel or
// a declared branch that no case reached).
int report_coverage() {
  Coverage& c = coverage();
  std::map<std::string, std::vector<int>> kernels;  // base name -> instantiation ids
  for (int id = 0; id < simt::kernel_count(); ++id) kernels[simt::kernel_base(id)].push_back(id);
  int gaps = 0;
  std::printf("\ncoverage: kernel instantiation / launcher branch -> cases (first case shown)\n");
  for (const char* name : kKernelNames) {
    if (!kernels.count(name)) {
      std::printf("  %-60s NOT INSTANTIATED by any launcher\n", name);
      ++gaps;
    }
  }
  size_t instantiations = 0;
  for (const auto& k : kernels) {
    std::printf("  %s\n", k.first.c_str());
    for (int id : k.second) {
      ++instantiations;
      const std::string full = simt::kernel_name(id);
      const std::string args = full.size() > k.first.size() ? full.substr(k.first.size()) : "";
      const auto it = c.by_kernel.find(id);
      const std::set<std::string> none;
      const auto& s = it == c.by_kernel.end() ? none : it->second;
      gaps += s.empty();
      std::printf("    %-56s %s\n", args.c_str(), cases_text(s).c_str());
    }
    const auto& bs = th::branches();
    for (size_t i = 0; i < bs.size(); ++i) {
      if (bs[i].kernel != k.first) continue;
      const auto it = c.by_branch.find(i);
      const std::set<std::string> none;
      const auto& s = it == c.by_branch.end() ? none : it->second;
      gaps += s.empty();
      std::printf("    [branch] %-47s %s\n", bs[i].what.c_str(), cases_text(s).c_str());
    }
  }
  for (const auto& b : th::branches())
    if (!kernels.count(b.kernel)) {
      std::printf("  [branch] %s: %s names a kernel that does not exist\n", b.kernel.c_str(), b.what.c_str());
      ++gaps;
    }
  std::printf("coverage: %zu kernels, %zu instantiations, %zu launcher branches; %d not reached\n",
              sizeof(kKernelNames) / sizeof(kKernelNames[0]), instantiations, th::branches().size(), gaps);
  return gaps;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::string filter;
  std::vector<simt::Schedule> schedules = {simt::Schedule::Forward, simt::Schedule::Reverse, simt::Schedule::Random};
  bool list = false, check_coverage = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--filter" && i + 1 < argc)
      filter = argv[++i];
    else if (a == "--list")
      list = true;
    else if (a == "--no-coverage")
      check_coverage = false;
    else if (a == "--grid-cap" && i + 1 < argc)
      simt::set_grid_limit(std::strtoull(argv[++i], nullptr, 10), true);
    else if (a == "--schedules" && i + 1 < argc) {
      schedules.clear();
      std::string v = argv[++i];
      for (size_t start = 0; start <= v.size();) {
        const size_t end = std::min(v.find(',', start), v.size());
        const std::string name = v.substr(start, end - start);
        if (name == "forward")
          schedules.push_back(simt::Schedule::Forward);
        else if (name == "reverse")
          schedules.push_back(simt::Schedule::Reverse);
        else if (name == "random")
          schedules.push_back(simt::Schedule::Random);
        else {
          std::fprintf(stderr, "unknown schedule '%s' (forward, reverse, random)\n", name.c_str());
          return 2;
        }
        start = end + 1;
      }
    } else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
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
  simt::set_launch_observer(observe);
  int passed = 0, failed = 0;
  for (auto& tc : th::registry()) {
    if (!filter.empty() && tc.name.find(filter) == std::string::npos) continue;
    if (list) {
      std::printf("%s\n", tc.name.c_str());
      continue;
    }
    coverage().current_case = tc.name;
    bool ok = true;
    uint64_t first_digest = 0;
    for (size_t s = 0; s < schedules.size(); ++s) {
      simt::set_schedule(schedules[s], 7 + s);
      simt::reset_device();
      th::Ctx c;
      c.name = tc.name;
      tc.run(c);
      if (c.failures) ok = false;
      if (s == 0)
        first_digest = c.digest;
      else if (c.digest != first_digest) {
        std::printf("    [%s] %s: outputs differ bitwise from the first schedule's (a race between threads?)\n",
                    simt::schedule_name(), tc.name.c_str());
        ok = false;
      }
    }
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", tc.name.c_str());
    (ok ? passed : failed)++;
  }
  if (list) return 0;
  // The coverage check applies to the whole suite only.
  if (filter.empty() && check_coverage && report_coverage() > 0) {
    std::printf("coverage: a kernel instantiation or launcher branch has no case (see NO CASE above)\n");
    ++failed;
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
