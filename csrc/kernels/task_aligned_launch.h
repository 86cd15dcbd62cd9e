// Parameters and CUDA launcher of the fused task-aligned assignment.
//
// Four passes, each a CUDA kernel and a CPU loop (cpu/loops/task_aligned.h),
// over B images, A anchor points, G ground-truth boxes and C classes:
// 1. per box: the overlap and metric of the anchors inside it, and its top-k
//    over all A anchors (key order of kernels/task_aligned.h); the anchors of
//    the top-k that lie inside the box are its positives -> `positives`;
// 2. per anchor: the boxes whose positives hold it; several -> the box of
//    largest overlap -> `assigned`, with that pair's metric and overlap;
// 3. per box: the largest metric and overlap over the anchors assigned to it;
// 4. per anchor: labels, boxes, the foreground flag, the box index, and the
//    C target scores.
// Nothing of size B x G x A is stored: the passes hand over B x G x topk
// indices, B x A values and B x G maxima.
#pragma once

#include "kernels/layout.h"
#include "kernels/task_aligned.h"

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace lossext {

struct TaskAlignedParams {
  // Inputs, contiguous.
  const void* scores = nullptr;  // (B, A, C) of `dtype`: the predicted class probabilities
  DType dtype = DType::Float32;
  const float* pred_boxes = nullptr;  // (B, A, 4) xyxy
  const float* anchors = nullptr;     // (A, 2) anchor points
  const int64_t* labels = nullptr;    // (B, G) class of each box; a valid box's is in [0, C)
  const float* gt_boxes = nullptr;    // (B, G, 4) xyxy
  const uint8_t* valid = nullptr;     // (B, G) 1 for a real box, 0 for padding
  int64_t batch = 0, num_anchors = 0, classes = 0, boxes = 0;
  int64_t topk = 13;  // in [1, min(A, kTalMaxTopk)]
  float alpha = 1.0f, beta = 6.0f, eps = 1e-9f;
  float min_side = 16.0f;  // a valid box's sides below this are widened to it for the inside test
  OverlapKind overlap = OverlapKind::CIoU;

  // Pass 1 -> 2: (B, G, topk) the box's positives in increasing anchor
  // order, then -1 (all -1 for a padded box).
  int32_t* positives = nullptr;
  // Pass 2 -> 3, 4: (B, A) the anchor's box or -1 (background), and the
  // metric and overlap of that pair (0 when the anchor is not inside it).
  int32_t* assigned = nullptr;
  float* anchor_metric = nullptr;
  float* anchor_overlap = nullptr;
  // Pass 3 -> 4: (B, G, 2) the largest metric and overlap over the box's
  // assigned anchors (0 when it has none).
  float* box_max = nullptr;

  // Outputs (pass 4).
  int64_t* target_labels = nullptr;  // (B, A) the box's label (box 0's for background), clamped at 0
  float* target_boxes = nullptr;     // (B, A, 4) the box (box 0 for background)
  void* target_scores = nullptr;     // (B, A, C) of `dtype`: the normalised metric at the label, else 0
  bool* fg_mask = nullptr;           // (B, A)
  int64_t* target_gt_idx = nullptr;  // (B, A) the box index (0 for background)
};

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
cudaError_t task_aligned_assign_cuda(const TaskAlignedParams& p, cudaStream_t stream);
#endif

}  // namespace lossext
