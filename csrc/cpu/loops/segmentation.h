// Torch-free inner loops of the segmentation overlap statistics on the CPU
// (float and double; half and bfloat16 tiles are converted to float by the
// caller). They apply the per-pixel formulas of kernels/segmentation.h.
//
// Index targets (multiclass): logits of one sample are C rows of S pixels,
// the class stride S apart. A softmax per pixel would walk memory with stride
// S; instead a tile of up to kSegTile pixels is processed across all classes
// at once, so every inner loop runs over contiguous pixels and vectorizes.
// Dense targets (binary / multilabel): every (sample, class) row is
// independent and is walked contiguously.
#pragma once

#include <cstdint>

#include "kernels/segmentation.h"

namespace lossext {
namespace cpu {

constexpr int64_t kSegTile = 256;

// Index targets of a tile -> cls (class, or -1 when ignored) and valid (1, or
// 0 when ignored). Returns the offset of the first index outside [0, C) that
// is not ignore_index, or -1 when there is none.
int64_t seg_prepare_index(const int64_t* y, int64_t n, int64_t classes, bool has_ignore, int64_t ignore_index,
                          int32_t* cls, float* valid);
int64_t seg_prepare_index(const int64_t* y, int64_t n, int64_t classes, bool has_ignore, int64_t ignore_index,
                          int32_t* cls, double* valid);

// Adds one tile's sums to acc (3C + 2 values: TP[C], SP[C], ST[C], CE, valid).
// Row c of the tile starts at x + c * ldx; work holds C * n values.
void seg_index_tile_stats(const float* x, int64_t ldx, int64_t classes, int64_t n, const int32_t* cls,
                          const float* valid, SegActivation act, bool squared, bool with_ce, float smoothing,
                          float* work, double* acc);
void seg_index_tile_stats(const double* x, int64_t ldx, int64_t classes, int64_t n, const int32_t* cls,
                          const double* valid, SegActivation act, bool squared, bool with_ce, double smoothing,
                          double* work, double* acc);

// Gradient of one tile: A, B (C values each) are dL/dTP and dL/dSP of the
// tile's sample, g_ce the upstream gradient of its cross-entropy sum. Row c
// of the output starts at out + c * ldo.
void seg_index_tile_grad(const float* x, int64_t ldx, int64_t classes, int64_t n, const int32_t* cls,
                         const float* valid, SegActivation act, bool squared, const float* A, const float* B,
                         bool with_ce, float g_ce, float smoothing, float* work, float* out, int64_t ldo);
void seg_index_tile_grad(const double* x, int64_t ldx, int64_t classes, int64_t n, const int32_t* cls,
                         const double* valid, SegActivation act, bool squared, const double* A, const double* B,
                         bool with_ce, double g_ce, double smoothing, double* work, double* out, int64_t ldo);

// Dense targets: adds the sums of n contiguous elements of one (sample,
// class) row to sums = {TP, SP, ST, valid count}.
void seg_dense_row_stats(const float* x, const float* t, int64_t n, SegActivation act, bool squared, bool has_ignore,
                         float ignore, double* sums);
void seg_dense_row_stats(const double* x, const double* t, int64_t n, SegActivation act, bool squared, bool has_ignore,
                         double ignore, double* sums);

void seg_dense_row_grad(const float* x, const float* t, int64_t n, SegActivation act, bool squared, bool has_ignore,
                        float ignore, float A, float B, float* out);
void seg_dense_row_grad(const double* x, const double* t, int64_t n, SegActivation act, bool squared, bool has_ignore,
                        double ignore, double A, double B, double* out);

}  // namespace cpu
}  // namespace lossext
