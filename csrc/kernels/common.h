// Shared numerics for every lossext kernel, CPU and CUDA alike.
//
// Everything here is framework-free: it compiles under nvcc for the device and
// under the host compiler for the CPU kernels, so the CPU test suite exercises
// exactly the arithmetic the GPU runs.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define LOSSEXT_HD __host__ __device__ __forceinline__
#else
#define LOSSEXT_HD inline
#endif

// For the large per-element functions: the CPU loops only vectorize when all
// of them are inlined into the loop body, which plain `inline` leaves to the
// compiler's size heuristics (and target_clones makes it decline).
#if defined(__CUDACC__)
#define LOSSEXT_HD_INLINE __host__ __device__ __forceinline__
#elif defined(__GNUC__)
#define LOSSEXT_HD_INLINE inline __attribute__((always_inline))
#else
#define LOSSEXT_HD_INLINE inline
#endif

namespace lossext {

// Half and bfloat16 inputs accumulate in float; float64 stays float64 so that
// gradcheck sees full precision.
template <typename T>
struct AccumulateType {
  using type = float;
};
template <>
struct AccumulateType<double> {
  using type = double;
};
template <typename T>
using acc_type = typename AccumulateType<T>::type;

template <typename T>
LOSSEXT_HD T neg_infinity() {
  return -static_cast<T>(INFINITY);
}

// exp(x) for the hot loops.
// Device: the hardware exp2 path (__expf); its error is a couple of ulp for the
// arguments softmax feeds it (x - max <= 0).
// Host: a branch-free Cephes-style polynomial, so that gcc vectorizes the row
// loops that call it (std::exp is an opaque libm call and blocks that).
// Relative error below 1e-7 over the float range; exp(-inf) = 0, exp(nan) = nan.
constexpr float kExpLowest = -87.33654f;  // exp of anything below is flushed to 0
constexpr float kExpHighest = 88.72283f;  // and above is inf

// exp(x) for x in [kExpLowest, kExpHighest] (or nan): 2^n exp(r), r = x - n ln 2.
// The polynomials are evaluated in Estrin's scheme (powers of r in parallel
// with pairs of coefficients) rather than Horner's: the same accuracy with
// half the dependency chain, which is what bounds the vectorized loops (an
// iteration is one long chain; the out-of-order window holds few of them).
LOSSEXT_HD_INLINE float exp_in_range(float x) {
  const float n = std::nearbyint(x * 1.44269504088896341f);
  // ln2 split in two so that r = x - n ln2 is exact to float precision.
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  const float r2 = r * r;
  const float a = 1.9875691500e-4f * r + 1.3981999507e-3f;
  const float b = 8.3334519073e-3f * r + 4.1665795894e-2f;
  const float c = 1.6666665459e-1f * r + 5.0000001201e-1f;
  const float y = (a * (r2 * r2) + (b * r2 + c)) * r2 + r + 1.0f;
  // A nan x gives a nan y through r; its exponent is taken as 0, because a
  // float-to-int conversion of nan is undefined behaviour (and the shift is
  // done unsigned, since shifting a negative int is too). Both are selects,
  // so the vectorized loops stay branch-free.
  const float n_finite = n == n ? n : 0.0f;
  const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(n_finite) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return y * scale;
}

LOSSEXT_HD float fast_exp(float x) {
#if defined(__CUDA_ARCH__)
  return __expf(x);
#else
  float xc = x < kExpLowest ? kExpLowest : x;
  xc = xc > kExpHighest ? kExpHighest : xc;
  float out = exp_in_range(xc);
  out = x < kExpLowest ? 0.0f : out;
  out = x > kExpHighest ? static_cast<float>(INFINITY) : out;
  return out;
#endif
}

// exp(x) for x <= 0 (or nan), e.g. exp(-|x|): fast_exp without the overflow
// arm, which saves the hot sigmoid loops a third of the range handling.
LOSSEXT_HD_INLINE float exp_nonpositive(float x) {
#if defined(__CUDA_ARCH__)
  return __expf(x);
#else
  const bool under = x < kExpLowest;
  const float out = exp_in_range(under ? kExpLowest : x);
  return under ? 0.0f : out;
#endif
}
LOSSEXT_HD_INLINE double exp_nonpositive(double x) { return exp(x); }

LOSSEXT_HD double fast_exp(double x) { return exp(x); }

// ---- logarithms for the hot loops --------------------------------------------
// Device: logf / log1pf. Host float: Cephes' logf polynomial, branch-free so
// that gcc vectorizes the loops that call it (std::log is an opaque libm call);
// relative error ~1e-7. Every select computes both arms, which is what lets
// gcc if-convert (see cpu/vectorize.h).

// log(2^k (1 + m)) for m in [sqrt(1/2) - 1, sqrt(2) - 1], k an integer as a
// float: the core shared by every host log below. ln 2 is split in two so that
// k ln 2 adds no rounding of its own.
LOSSEXT_HD_INLINE float log_reduced(float m, float k) {
  const float z = m * m;
  const float z2 = z * z;
  // Cephes' degree-8 polynomial in m, in Estrin's scheme (see exp_in_range).
  const float q0 = -2.4999993993e-1f * m + 3.3333331174e-1f;
  const float q1 = -1.6668057665e-1f * m + 2.0000714765e-1f;
  const float q2 = -1.2420140846e-1f * m + 1.4249322787e-1f;
  const float q3 = -1.1514610310e-1f * m + 1.1676998740e-1f;
  const float poly = 7.0376836292e-2f * (z2 * z2) + ((q3 * z + q2) * z2 + (q1 * z + q0));
  float y = poly * (m * z);
  y += -2.12194440e-4f * k;
  y += -0.5f * z;
  return m + y + 0.693359375f * k;
}

// log(x) for finite x > 0, subnormals included (no special values).
LOSSEXT_HD_INLINE float log_positive(float x) {
#if defined(__CUDA_ARCH__)
  return logf(x);
#else
  const bool tiny = x < 1.17549435e-38f;       // subnormal: exponent field 0
  const float xs = tiny ? x * 8388608.0f : x;  // * 2^23 brings it into range
  uint32_t bits;
  std::memcpy(&bits, &xs, sizeof(bits));
  int32_t e = static_cast<int32_t>((bits >> 23) & 0xffu) - 126;
  e -= tiny ? 23 : 0;
  const uint32_t mbits = (bits & 0x007fffffu) | 0x3f000000u;  // mantissa in [0.5, 1)
  float m;
  std::memcpy(&m, &mbits, sizeof(m));
  const bool low = m < 0.707106781186547524f;
  e -= low ? 1 : 0;
  m = low ? m + m - 1.0f : m - 1.0f;
  return log_reduced(m, static_cast<float>(e));
#endif
}
LOSSEXT_HD_INLINE double log_positive(double x) { return log(x); }

// log(x) with IEEE special values: log(0) = -inf, log(<0) = nan,
// log(inf) = inf, log(nan) = nan.
LOSSEXT_HD_INLINE float fast_log(float x) {
  float r = log_positive(x);  // logf on the device: special values included
#if !defined(__CUDA_ARCH__)
  r = x == 0.0f ? -static_cast<float>(INFINITY) : r;
  r = x < 0.0f ? static_cast<float>(NAN) : r;
  r = x == static_cast<float>(INFINITY) ? x : r;
  r = x != x ? x : r;
#endif
  return r;
}
LOSSEXT_HD_INLINE double fast_log(double x) { return log(x); }

// log(1 + e) for e in [0, 1] (or nan), e.g. log1p(exp(-|x|)) in softplus and
// the sigmoid losses. 1 + e is never formed: below e = sqrt(2) - 1 the
// reduced argument is e itself (exact, so tiny e keeps full relative
// precision); above, log(1 + e) = ln 2 + log(1 + (e - 1) / 2), whose argument
// is exact for e >= 1/2 and off by at most 2^-26 below. No division.
LOSSEXT_HD_INLINE float log1p_unit(float e) {
#if defined(__CUDA_ARCH__)
  return log1pf(e);
#else
  const bool high = e > 0.414213562373095049f;
  const float m_high = (e - 1.0f) * 0.5f;
  return log_reduced(high ? m_high : e, high ? 1.0f : 0.0f);
#endif
}
LOSSEXT_HD_INLINE double log1p_unit(double e) { return log1p(e); }

LOSSEXT_HD float abs_(float x) { return fabsf(x); }
LOSSEXT_HD double abs_(double x) { return fabs(x); }

LOSSEXT_HD float log_(float x) { return logf(x); }
LOSSEXT_HD double log_(double x) { return log(x); }

// Running (max, sum of exp(x - max)) pair: the state of a one-pass softmax.
// Merging two states is associative, which lets threads, warps and blocks each
// fold their share and combine at the end.
template <typename acc_t>
struct SoftmaxState {
  acc_t max;
  acc_t sum;

  LOSSEXT_HD static SoftmaxState empty() { return {neg_infinity<acc_t>(), acc_t(0)}; }

  // The x == max test keeps (-inf) - (-inf) = nan out: an all -inf row keeps
  // max = -inf and ends with lse = -inf, as torch's logsumexp does. A nan
  // input never wins the comparison and poisons `sum`, so it reaches the loss.
  LOSSEXT_HD void add(acc_t x) {
    if (x > max) {
      sum = sum * fast_exp(max - x) + acc_t(1);
      max = x;
    } else {
      sum += (x == max) ? acc_t(1) : fast_exp(x - max);
    }
  }

  // N values at once: one rescale of `sum` per chunk instead of one per value.
  template <int N>
  LOSSEXT_HD void add_chunk(const acc_t (&v)[N]) {
    acc_t m = v[0];
    for (int i = 1; i < N; ++i) m = v[i] > m ? v[i] : m;
    if (m > max) {
      sum *= fast_exp(max - m);
      max = m;
    }
    for (int i = 0; i < N; ++i) sum += (v[i] == max) ? acc_t(1) : fast_exp(v[i] - max);
  }

  LOSSEXT_HD void merge(const SoftmaxState& o) {
    if (o.max > max) {
      sum = sum * fast_exp(max - o.max) + o.sum;
      max = o.max;
    } else {
      sum += (o.max == max) ? o.sum : o.sum * fast_exp(o.max - max);
    }
  }

  // log(sum_c exp(x_c)); -inf for an all -inf row, nan if any input was nan.
  LOSSEXT_HD acc_t log_sum_exp() const { return max + log_(sum); }
};

}  // namespace lossext
