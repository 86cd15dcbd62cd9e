// Row loops of the total variation for the CPU op: torch-free, so that the
// float versions are compiled per ISA (target_clones) and vectorize. They
// apply the formulas of kernels/total_variation.h to one image row; `prev`
// and `next` are the rows above and below, or null at the plane's edge.
#pragma once

#include <cstdint>

#include "kernels/total_variation.h"

namespace lossext {
namespace cpu {

// out[0] = sum_j |next[j] - row[j]| (0 without next), out[1] = sum_j |row[j+1] - row[j]|.
void tv_aniso_row_sums(const float* row, const float* next, int64_t width, float* out);
void tv_aniso_row_sums(const double* row, const double* next, int64_t width, double* out);

// Sum of the isotropic values of the cells whose top-left pixel is in row (needs next).
float tv_iso_row_sum(const float* row, const float* next, int64_t width, TvPower power, float beta, float eps);
double tv_iso_row_sum(const double* row, const double* next, int64_t width, TvPower power, double beta, double eps);

// out[j] = g * d TV / d row[j]; weights as in TotalVariationParams.
void tv_aniso_row_grad(const float* prev, const float* row, const float* next, int64_t width, float wy, float wx,
                       float g, float* out);
void tv_aniso_row_grad(const double* prev, const double* row, const double* next, int64_t width, double wy, double wx,
                       double g, double* out);
void tv_iso_row_grad(const float* prev, const float* row, const float* next, int64_t width, TvPower power, float beta,
                     float eps, float g, float* out);
void tv_iso_row_grad(const double* prev, const double* row, const double* next, int64_t width, TvPower power,
                     double beta, double eps, double g, double* out);

}  // namespace cpu
}  // namespace lossext
