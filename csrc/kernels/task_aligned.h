// Math of the task-aligned assignment (TOOD; ultralytics' TaskAlignedAssigner),
// shared by the CPU loops and the CUDA kernels. Everything is float; the
// operations and their order are ultralytics' (select_candidates_in_gts,
// bbox_iou with CIoU, the metric score^alpha * overlap^beta), so that the
// CPU results equal torch's eager ones up to the rounding of atan and pow.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/common.h"

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

}  // namespace lossext
