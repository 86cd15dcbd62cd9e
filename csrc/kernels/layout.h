// How a kernel walks the rows of a class-major tensor without copying it.
//
// A loss over classes sees its input as `rows` independent rows of C values.
// For (N, C) logits a row is a sample; for (N, C, d1, ..., dk) logits a row is a
// (sample, position) pair whose classes sit `D = d1*...*dk` elements apart.
// Both layouts, and transposed or sliced 2-D inputs, are described by three
// strides, so no kernel ever needs a transposed copy of its input.
#pragma once

#include "kernels/common.h"

namespace lossext {

struct RowLayout {
  int64_t rows = 0;      // N * D
  int64_t classes = 0;   // C
  int64_t inner = 1;     // D: positions per sample (1 for 2-D input)
  int64_t stride_n = 0;  // elements between samples
  int64_t stride_c = 0;  // elements between classes of one row
  int64_t stride_s = 0;  // elements between positions of one sample

  LOSSEXT_HD int64_t row_offset(int64_t row) const {
    const int64_t n = row / inner;
    const int64_t s = row - n * inner;
    return n * stride_n + s * stride_s;
  }

  // Offset of (row, class) in a dense (N, C, D) tensor of this shape: where
  // gradients are written.
  LOSSEXT_HD int64_t dense_row_offset(int64_t row) const {
    const int64_t n = row / inner;
    const int64_t s = row - n * inner;
    return n * classes * inner + s;
  }
  LOSSEXT_HD int64_t dense_stride_c() const { return inner; }
};

// An optional class index to skip (ignore_index): torch's cross entropy
// always has one (-100 by default), other peers (smp, MONAI) make it optional.
// Every params struct carries it this way; the op fills it from `int? ignore_index`.
struct IgnoreIndex {
  bool active = false;
  int64_t value = -100;

  LOSSEXT_HD bool matches(int64_t target) const { return active && target == value; }
};

// Element types a launcher accepts; the torch glue maps ScalarType onto these.
enum class DType : int { Float32 = 0, Float64 = 1, Float16 = 2, BFloat16 = 3 };

}  // namespace lossext
