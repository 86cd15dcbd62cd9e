// Row walks for the row-wise kernels (cross-entropy, softmax focal): the ways
// the glue hands (N, C, d...) tensors to a kernel through a RowLayout, each
// laid out in its own exact-size buffer whose gaps hold nan (a kernel that
// read a gap would turn its row nan), and the template arguments a launch
// picked, read back from the instantiation's name.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "common.h"
#include "simt/runtime.h"

namespace cases {

enum class Walk {
  Dense,         // (N, C, D) contiguous; D = 1 is a plain (N, C) matrix
  Transposed,    // (N, C) view of a contiguous (C, N) tensor: stride_c = N
  ChannelsLast,  // (N, C, D) stored as (N, D, C): stride_c = 1 but inner = D
  PaddedRows,    // (N, C) rows C + 1 apart: each row contiguous, the row starts off the 16-byte grid
  Misaligned,    // (N, C) contiguous, starting one element past a 16-byte boundary
};

inline const char* walk_name(Walk w) {
  switch (w) {
    case Walk::Dense: return "dense";
    case Walk::Transposed: return "transposed";
    case Walk::ChannelsLast: return "channels_last";
    case Walk::PaddedRows: return "padded_rows";
    case Walk::Misaligned: return "misaligned";
  }
  return "?";
}

// Logical values v[row * C + c] of a (rows, C) problem, stored in `dtype` the
// way `walk` lays them out. value(r, c) is what the kernel reads there (after
// rounding to the dtype); ptr() is what the params get.
struct Walked {
  RowLayout L;
  int64_t lead = 0;  // elements before the walk's start (1 when misaligned)
  Typed mem;

  static RowLayout layout(Walk w, int64_t N, int64_t C, int64_t D) {
    RowLayout L;
    L.rows = N * D;
    L.classes = C;
    L.inner = D;
    switch (w) {
      case Walk::Dense:
      case Walk::Misaligned: L.stride_n = C * D, L.stride_c = D, L.stride_s = D > 1 ? 1 : 0; break;
      case Walk::Transposed: L.stride_n = 1, L.stride_c = N, L.stride_s = 0; break;
      case Walk::ChannelsLast: L.stride_n = D * C, L.stride_c = 1, L.stride_s = D > 1 ? C : 0; break;
      case Walk::PaddedRows: L.stride_n = C * D + 1, L.stride_c = D, L.stride_s = D > 1 ? 1 : 0; break;
    }
    return L;
  }
  static std::vector<double> spread(Walk w, int64_t N, int64_t C, int64_t D, const std::vector<double>& v) {
    const RowLayout L = layout(w, N, C, D);
    const int64_t lead = w == Walk::Misaligned ? 1 : 0;
    const int64_t span = w == Walk::PaddedRows ? N * L.stride_n : N * C * D;
    // Never empty: a problem with no rows still gets an element (never read),
    // which keeps the buffer's conversions away from null pointers.
    std::vector<double> m(size_t(std::max<int64_t>(lead + span, 1)), NAN);
    for (int64_t r = 0; r < L.rows; ++r)
      for (int64_t c = 0; c < C; ++c) m[size_t(lead + L.row_offset(r) + c * L.stride_c)] = v[size_t(r * C + c)];
    return m;
  }

  Walked(DType dtype, Walk w, int64_t N, int64_t C, int64_t D, const std::vector<double>& v)
      : L(layout(w, N, C, D)), lead(w == Walk::Misaligned ? 1 : 0), mem(dtype, spread(w, N, C, D, v)) {}
  double value(int64_t r, int64_t c) const { return mem.value[size_t(lead + L.row_offset(r) + c * L.stride_c)]; }
  template <class acc_t>
  std::vector<acc_t> row(int64_t r) const {
    std::vector<acc_t> x(size_t(L.classes));
    for (int64_t c = 0; c < L.classes; ++c) x[size_t(c)] = acc_t(value(r, c));
    return x;
  }
  void* ptr() { return mem.raw.p + lead * elem_size(mem.dtype); }
};

// A dense (N, C, D) gradient output in `dtype`, optionally starting one
// element past a 16-byte boundary; the element in front must stay unwritten.
struct GradOut {
  DType dtype;
  int64_t n, lead;
  Buf<unsigned char> buf;
  GradOut(DType d, int64_t count, bool misaligned)
      : dtype(d), n(count), lead(misaligned ? 1 : 0), buf(size_t(count + lead) * elem_size(d), elem_size(d)) {}
  void* ptr() { return buf.p + lead * elem_size(dtype); }
  std::vector<double> values() const { return read_typed(dtype, buf.p + lead * elem_size(dtype), size_t(n)); }
  size_t unwritten() const { return buf.unwritten(); }  // counts the lead element too
};

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// The integer template arguments at the end of an instantiation's name:
// "cross_entropy_index_fwd_kernel<float, 32, 4>" -> {32, 4}.
inline std::vector<int> trailing_ints(const simt::LaunchRecord& r) {
  const std::string n = simt::kernel_name(r.kernel);
  std::vector<int> out;
  size_t i = n.find('<');
  while (i != std::string::npos && i < n.size()) {
    const size_t j = n.find_first_of(",>", i + 1);
    if (j == std::string::npos) break;
    const std::string arg = n.substr(i + 1, j - i - 1);
    char* end = nullptr;
    const long v = std::strtol(arg.c_str(), &end, 10);
    if (end != arg.c_str() && *end == '\0') out.push_back(int(v));
    i = j;
  }
  return out;
}

}  // namespace cases
