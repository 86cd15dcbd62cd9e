// Math of the task-aligned assignment (TOOD; ultralytics' TaskAlignedAssigner),
// shared by the CPU loops and the CUDA kernels. Everything is float; the
// operations and their order are ultralytics' (select_candidates_in_gts,
// bbox_iou with CIoU, the metric score^alpha * overlap^beta), so that the
// CPU results equal torch's eager ones up to the rounding of atan and pow.
//
// Four passes, each a CUDA kernel and a CPU loop (cpu/loops/task_aligned.cpp),
// over B images, A anchor points, G ground-truth boxes and C classes:
// 1. per box: the overlap and metric of the anchors inside it, and its top-k
//    over all A anchors (in tal_key order, below); the anchors of
//    the top-k that lie inside the box are its positives -> `positives`;
// 2. per anchor: the boxes whose positives hold it; several -> the box of
//    largest overlap -> `assigned`, with that pair's metric and overlap;
// 3. per box: the largest metric and overlap over the anchors assigned to it;
// 4. per anchor: labels, boxes, the foreground flag, the box index, and the
//    C target scores.
// Nothing of size B x G x A is stored: the passes hand over B x G x topk
// indices, B x A values and B x G maxima.
#pragma once

#include <cstdint>
#include <cstring>

#include "cpu/loops/parallel.h"
#include "kernels/common.h"
#include "kernels/layout.h"

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace lossext {

// The overlap of a (ground truth, prediction) pair: CIoU (ultralytics'
// default) or plain IoU, clamped at 0 either way.
enum class OverlapKind : int { CIoU = 0, IoU = 1 };

// select_candidates_in_gts' margin: an anchor point is inside a box when it
// is more than this from each side.
constexpr float kTalInsideMargin = 1e-9f;
// bbox_iou's eps.
constexpr float kTalIouEps = 1e-7f;
// The largest top-k a box keeps (the CUDA kernel holds a thread's best
// candidates in a fixed array of this size).
constexpr int kTalMaxTopk = 64;

// A box's sides as select_candidates_in_gts sees them: xyxy -> centre and
// size, sides below min_side set to it, back to xyxy (the round trip is
// kept even for large sides: it is what ultralytics compares against).
struct TalInsideBox {
  float x1, y1, x2, y2;
};

LOSSEXT_HD TalInsideBox tal_inside_box(const float* box, float min_side) {
  const float cx = (box[0] + box[2]) / 2, cy = (box[1] + box[3]) / 2;
  float w = box[2] - box[0], h = box[3] - box[1];
  w = w < min_side ? min_side : w;
  h = h < min_side ? min_side : h;
  const float hw = w / 2, hh = h / 2;
  return {cx - hw, cy - hh, cx + hw, cy + hh};
}

LOSSEXT_HD bool tal_inside(const TalInsideBox& b, float x, float y) {
  return x - b.x1 > kTalInsideMargin && y - b.y1 > kTalInsideMargin && b.x2 - x > kTalInsideMargin &&
         b.y2 - y > kTalInsideMargin;
}

LOSSEXT_HD float tal_max(float a, float b) { return a > b ? a : b; }
LOSSEXT_HD float tal_min(float a, float b) { return a < b ? a : b; }

// max(CIoU(gt, pd), 0) or max(IoU(gt, pd), 0), both xyxy, as ultralytics'
// bbox_iou(gt, pd, xywh=False, CIoU=True).clamp_(0).
template <OverlapKind K>
LOSSEXT_HD float tal_overlap(const float* gt, const float* pd) {
  const float w1 = gt[2] - gt[0], h1 = gt[3] - gt[1] + kTalIouEps;
  const float w2 = pd[2] - pd[0], h2 = pd[3] - pd[1] + kTalIouEps;
  const float iw = tal_min(gt[2], pd[2]) - tal_max(gt[0], pd[0]);
  const float ih = tal_min(gt[3], pd[3]) - tal_max(gt[1], pd[1]);
  const float inter = (iw > 0.0f ? iw : 0.0f) * (ih > 0.0f ? ih : 0.0f);
  const float union_ = w1 * h1 + w2 * h2 - inter + kTalIouEps;
  float overlap = inter / union_;
  if constexpr (K == OverlapKind::CIoU) {
    const float cw = tal_max(gt[2], pd[2]) - tal_min(gt[0], pd[0]);
    const float ch = tal_max(gt[3], pd[3]) - tal_min(gt[1], pd[1]);
    const float c2 = cw * cw + ch * ch + kTalIouEps;
    const float dx = pd[0] + pd[2] - gt[0] - gt[2];
    const float dy = pd[1] + pd[3] - gt[1] - gt[3];
    const float rho2 = (dx * dx + dy * dy) / 4;
    const float d = atanf(w2 / h2) - atanf(w1 / h1);
    const float v = 0.405284734569351f * (d * d);  // 4 / pi^2
    const float alpha = v / (1.0f - overlap + v + kTalIouEps);
    overlap = overlap - (rho2 / c2 + v * alpha);
  }
  return overlap > 0.0f ? overlap : 0.0f;
}

// score^alpha * overlap^beta; pow(x, 1) is x itself, as torch's pow.
LOSSEXT_HD float tal_metric(float score, float overlap, float alpha, float beta) {
  const float s = alpha == 1.0f ? score : powf(score, alpha);
  const float o = beta == 1.0f ? overlap : powf(overlap, beta);
  return s * o;
}

// The order of a box's top-k: larger metric first, then lower anchor index.
// One 64-bit key per anchor makes that a plain integer maximum: the metric's
// bits (a float >= 0 orders as its bit pattern) above the reversed index.
// Keys are distinct, so the selection does not depend on the visiting order.
LOSSEXT_HD uint64_t tal_key(float metric, int64_t anchor) {
  uint32_t bits;
  memcpy(&bits, &metric, sizeof(bits));
  return (uint64_t(bits) << 32) | uint64_t(0xffffffffu - uint32_t(anchor));
}
LOSSEXT_HD int64_t tal_key_anchor(uint64_t key) { return int64_t(0xffffffffu - uint32_t(key & 0xffffffffu)); }

// ultralytics' normalised metric of a positive anchor: metric * (the box's
// largest overlap) / (the box's largest metric + eps), maxima over the box's
// final positives.
LOSSEXT_HD float tal_norm(float metric, float box_max_overlap, float box_max_metric, float eps) {
  return metric * box_max_overlap / (box_max_metric + eps);
}

// The whole contract between the op and both devices' passes. A scratch
// field is written by one pass and read by the later ones.
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

// Both devices' entry points: the four passes, writing the scratch and the outputs.
#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
cudaError_t task_aligned_assign_cuda(const TaskAlignedParams& p, cudaStream_t stream);
#endif
CpuStatus task_aligned_assign_cpu(const TaskAlignedParams& p, ParallelFor parallel_for);

}  // namespace lossext
