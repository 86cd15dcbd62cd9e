// Row loops of the distribution focal loss for the CPU op: torch-free, the
// float versions compiled per ISA (target_clones). They apply
// kernels/distribution_focal.h to `rows` dense rows of `bins` accumulate-type
// logits; the op hands them blocks of rows and widens 16-bit input first.
#pragma once

#include <cstdint>

#include "kernels/distribution_focal.h"

namespace lossext {
namespace cpu {

// loss[i], lse[i] of each row (loss nan for an invalid label); returns the
// first row whose label is invalid, or -1.
int64_t dfl_fwd_rows(const float* pred, const float* label, int64_t rows, int64_t bins, float* loss, float* lse);
int64_t dfl_fwd_rows(const double* pred, const double* label, int64_t rows, int64_t bins, double* loss, double* lse);

// grad[i, c] = grad_loss[i * grad_stride] * d loss[i] / d pred[i, c]; nan rows for invalid labels.
void dfl_bwd_rows(const float* pred, const float* label, const float* lse, const float* grad_loss, int64_t grad_stride,
                  int64_t rows, int64_t bins, float* grad);
void dfl_bwd_rows(const double* pred, const double* label, const double* lse, const double* grad_loss,
                  int64_t grad_stride, int64_t rows, int64_t bins, double* grad);

}  // namespace cpu
}  // namespace lossext
