// A small test harness for the emulated kernels: exact-size buffers (ASan
// redzones right behind the last element) prefilled with a NaN sentinel that
// no kernel writes, tolerant comparison with a reference, and a digest of the
// outputs, which must not depend on the schedule the emulator runs.
#pragma once

#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "simt/runtime.h"

namespace th {

inline uint64_t sentinel_bits(size_t elem) {
  if (elem == 2) return 0x7fa5u;  // NaN as float16 and as bfloat16
  if (elem == 4) return 0x7fa5a5a5u;
  return 0x7ff5a5a5a5a5a5a5ull;
}

// n elements of T in a malloc block of exactly n * sizeof(T) bytes. A byte
// buffer standing for a dtype chosen at run time gives that dtype's size as
// `elem`, for the sentinel.
template <class T>
struct Buf {
  T* p = nullptr;
  size_t n = 0;
  size_t elem = sizeof(T);
  explicit Buf(size_t count = 0, size_t elem_bytes = sizeof(T)) : n(count), elem(elem_bytes) {
    p = static_cast<T*>(std::malloc(count ? count * sizeof(T) : 1));
    fill_sentinel();
  }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  ~Buf() { std::free(p); }
  void fill_sentinel() {
    const uint64_t s = sentinel_bits(elem);
    const size_t bytes = n * sizeof(T);
    for (size_t i = 0; i + elem <= bytes; i += elem) std::memcpy(reinterpret_cast<char*>(p) + i, &s, elem);
  }
  // Elements no kernel wrote.
  size_t unwritten() const {
    const uint64_t s = sentinel_bits(elem);
    const size_t bytes = n * sizeof(T);
    size_t k = 0;
    for (size_t i = 0; i + elem <= bytes; i += elem)
      k += std::memcmp(reinterpret_cast<const char*>(p) + i, &s, elem) == 0;
    return k;
  }
  T& operator[](size_t i) { return p[i]; }
  const T& operator[](size_t i) const { return p[i]; }
};

struct Ctx {
  std::string name;
  int failures = 0;
  uint64_t digest = 1469598103934665603ull;
  void fail(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (failures < 8) std::printf("    [%s] %s: %s\n", simt::schedule_name(), name.c_str(), buf);
    ++failures;
  }
  void add_digest(const void* data, size_t bytes) {
    const unsigned char* b = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < bytes; ++i) digest = (digest ^ b[i]) * 1099511628211ull;
  }
  template <class T>
  void add_digest(const Buf<T>& b) {
    add_digest(b.p, b.n * sizeof(T));
  }
};

// got[i] against want[i]: |got - want| <= atol + rtol |want|, nan where nan, inf where inf.
inline void compare(Ctx& c, const char* what, const std::vector<double>& got, const std::vector<double>& want,
                    double rtol, double atol) {
  if (got.size() != want.size()) return c.fail("%s: %zu values, want %zu", what, got.size(), want.size());
  int shown = 0, bad = 0;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    bool ok;
    if (std::isnan(w) || std::isnan(g))
      ok = std::isnan(w) && std::isnan(g);
    else if (std::isinf(w) || std::isinf(g))
      ok = g == w;
    else {
      const double err = std::fabs(g - w), tol = atol + rtol * std::fabs(w);
      ok = err <= tol;
      if (tol > 0) worst = std::max(worst, err / tol);
    }
    if (!ok) {
      ++bad;
      if (shown++ < 3) c.fail("%s[%zu] = %.9g, want %.9g", what, i, g, w);
    }
  }
  if (bad > 3) c.fail("%s: %d of %zu values differ", what, bad, got.size());
  static const bool verbose = std::getenv("TH_VERBOSE") != nullptr;
  if (verbose)
    std::printf("    %s %s: worst error / tolerance %.3g over %zu values\n", c.name.c_str(), what, worst, got.size());
}

struct Case {
  std::string name;
  std::function<void(Ctx&)> run;
};
inline std::vector<Case>& registry() {
  static std::vector<Case> r;
  return r;
}
inline void add(std::string name, std::function<void(Ctx&)> fn) {
  registry().push_back({std::move(name), std::move(fn)});
}

// A run-time branch of a launcher that no template argument tells apart (a
// block size picked from the class count, opted-in shared memory, ...): the
// coverage check fails unless some case makes a launch of `kernel` (its base
// name) for which `hit` holds.
struct Branch {
  std::string kernel, what;
  std::function<bool(const simt::LaunchRecord&)> hit;
};
inline std::vector<Branch>& branches() {
  static std::vector<Branch> b;
  return b;
}
inline void expect_branch(std::string kernel, std::string what, std::function<bool(const simt::LaunchRecord&)> hit) {
  branches().push_back({std::move(kernel), std::move(what), std::move(hit)});
}

// Declares that the first launch made inside this scope is of `kernel`, which
// maps blockIdx to its work exactly: that launch runs its whole grid even
// under --grid-cap (see simt::exact_grid_next_launch); later launches of the
// scope stay capped. The declaration ends with the scope.
struct ExactGridLaunch {
  explicit ExactGridLaunch(const char* kernel) { simt::exact_grid_next_launch(kernel); }
  ~ExactGridLaunch() { simt::exact_grid_next_launch(nullptr); }
  ExactGridLaunch(const ExactGridLaunch&) = delete;
  ExactGridLaunch& operator=(const ExactGridLaunch&) = delete;
};

// Each case file registers its cases (and branches) once: TH_CASES(register_focal);
struct Registrar {
  explicit Registrar(void (*fn)()) { fn(); }
};
#define TH_CASES(fn) static const ::th::Registrar th_registrar_##fn(fn)

}  // namespace th
