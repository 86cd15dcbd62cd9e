// Helpers shared by the case files: typed buffers (float16 / bfloat16 through
// the CPU path's own conversions), read-back, rounding, tolerances and the
// per-case random generator. Host code: it sees the CPU build of the kernel
// headers (namespace lossext); kernels are reached through the simt_* entry
// points of dev_exports.cpp.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/convert.h"
#include "harness.h"
#include "kernels/layout.h"

#define SIMT_EXPORT(fn, P)                 \
  extern "C" int simt_##fn(const void* p); \
  extern "C" unsigned long simt_sizeof_##fn();
#include "dev_exports.inc"
#undef SIMT_EXPORT

namespace cases {

using namespace lossext;
using th::Buf;
using th::Ctx;

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::Float32: return "f32";
    case DType::Float64: return "f64";
    case DType::Float16: return "f16";
    case DType::BFloat16: return "bf16";
  }
  return "?";
}
inline bool is16(DType d) { return d == DType::Float16 || d == DType::BFloat16; }
inline size_t elem_size(DType d) { return d == DType::Float64 ? 8 : d == DType::Float32 ? 4 : 2; }

// Values in the logits' dtype, as raw bytes, plus the exact values they hold
// (widened with the CPU path's own float16/bfloat16 conversion).
struct Typed {
  DType dtype;
  Buf<unsigned char> raw;
  std::vector<double> value;
  Typed(DType d, const std::vector<double>& v) : dtype(d), raw(v.size() * elem_size(d), elem_size(d)), value(v.size()) {
    const size_t n = v.size();
    if (dtype == DType::Float64) {
      for (size_t i = 0; i < n; ++i) reinterpret_cast<double*>(raw.p)[i] = v[i], value[i] = v[i];
    } else {
      std::vector<float> f(n);
      for (size_t i = 0; i < n; ++i) f[i] = static_cast<float>(v[i]);
      if (dtype == DType::Float32) {
        if (n) std::memcpy(raw.p, f.data(), n * 4);  // f.data() may be null when empty
      } else {
        cpu::narrow_16bit(f.data(), 1, int64_t(n), dtype == DType::BFloat16, reinterpret_cast<uint16_t*>(raw.p),
                          int64_t(n));
        cpu::widen_16bit(reinterpret_cast<uint16_t*>(raw.p), int64_t(n), 1, int64_t(n), dtype == DType::BFloat16,
                         f.data());
      }
      for (size_t i = 0; i < n; ++i) value[i] = f[i];
    }
  }
  void* ptr() { return raw.p; }
};

// A device output in dtype d (raw bytes) read back as doubles.
inline std::vector<double> read_typed(DType d, const void* p, size_t n) {
  std::vector<double> out(n);
  if (d == DType::Float64) {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<const double*>(p)[i];
  } else if (d == DType::Float32) {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<const float*>(p)[i];
  } else {
    std::vector<float> f(n);
    cpu::widen_16bit(static_cast<const uint16_t*>(p), int64_t(n), 1, int64_t(n), d == DType::BFloat16, f.data());
    for (size_t i = 0; i < n; ++i) out[i] = f[i];
  }
  return out;
}
template <class T>
inline std::vector<double> to_double(const T* p, size_t n) {
  return std::vector<double>(p, p + n);
}
// Rounds reference values to what dtype d can hold (for outputs stored in d).
inline std::vector<double> round_to(DType d, std::vector<double> v) {
  if (!is16(d)) {
    if (d == DType::Float32)
      for (double& x : v) x = static_cast<float>(x);
    return v;
  }
  Typed t(d, v);
  return t.value;
}

// Tolerances: the device uses __expf / logf / log1pf / atanf where the CPU
// loops use their own polynomials; float16/bfloat16 outputs are one rounding
// apart at most.
// (Measured worst error / tolerance over the suite: below 0.2.)
inline double rtol_acc(DType d) { return d == DType::Float64 ? 1e-11 : 4e-6; }
inline double rtol_out(DType d) {
  return d == DType::Float64 ? 1e-11 : d == DType::Float32 ? 4e-6 : d == DType::Float16 ? 2e-3 : 1.6e-2;
}

inline std::mt19937_64 rng_for(const std::string& name) {
  std::seed_seq s(name.begin(), name.end());
  return std::mt19937_64(s);
}
inline double uniform(std::mt19937_64& r, double a, double b) {
  return std::uniform_real_distribution<double>(a, b)(r);
}

template <class acc_t>
struct Acc {
  // Accumulate-type buffer (what the kernels take for weights, statistics, upstream gradients).
  Buf<acc_t> b;
  explicit Acc(const std::vector<double>& v) : b(v.size()) {
    for (size_t i = 0; i < v.size(); ++i) b[i] = static_cast<acc_t>(v[i]);
  }
};

}  // namespace cases
