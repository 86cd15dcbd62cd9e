// CPU pair loops of the box IoU family (float32 and float64 boxes), free of
// torch headers. Each call handles a range of pairs (or of matrix rows), so
// the torch-side caller splits the work with at::parallel_for.
#pragma once

#include <cstdint>

#include "kernels/box_launch.h"

namespace lossext {
namespace cpu {

// Pairs [begin, end) of p: loss (fwd) or both gradients (bwd).
void box_loss_fwd_range(const BoxLossParams& p, int64_t begin, int64_t end);
void box_loss_bwd_range(const BoxLossParams& p, int64_t begin, int64_t end);

// Rows [begin, end) of the (batch * n, m) pairwise matrix.
void box_pairwise_rows(const BoxPairwiseParams& p, int64_t begin, int64_t end);

}  // namespace cpu
}  // namespace lossext
