// Parameters and CUDA launcher of the fused DETR matching cost.
#pragma once

#include "kernels/detr_matching.h"
#include "kernels/layout.h"

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace lossext {

// logits: (batch, queries, classes) dense, of `dtype`.
// boxes: (batch, queries, 4) and target_boxes: (batch, targets, 4), cxcywh,
// dense, in the accumulate type (float, double for float64 logits).
// labels: (batch, targets) int64; valid: (batch, targets) bool, the padding
// mask (only valid targets are read).
// cost: (batch, queries, targets) in the accumulate type, written whole: the
// matcher's cost for valid targets, 0 for padding. A valid target whose label
// is outside [0, classes) is never used as an index: its column is nan (the
// CPU op raises before anyone sees it).
struct DetrMatchingParams {
  const void* logits = nullptr;
  DType dtype = DType::Float32;
  const void* boxes = nullptr;
  const int64_t* labels = nullptr;
  const void* target_boxes = nullptr;
  const bool* valid = nullptr;
  int64_t batch = 0;
  int64_t queries = 0;
  int64_t classes = 0;
  int64_t targets = 0;
  MatchClassCost class_cost = MatchClassCost::Focal;
  double alpha = 0.25;
  double gamma = 2.0;
  double w_class = 1.0;
  double w_bbox = 1.0;
  double w_giou = 1.0;
  void* cost = nullptr;
};

// The tile of the cost matrix one CUDA block computes.
constexpr int64_t kMatchTileQueries = 32;
constexpr int64_t kMatchTileTargets = 32;

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
cudaError_t detr_matching_cost_cuda(const DetrMatchingParams& p, cudaStream_t stream);
#endif

}  // namespace lossext
