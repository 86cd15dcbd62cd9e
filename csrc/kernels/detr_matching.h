// The matching cost of DETR's and Deformable DETR's HungarianMatcher, one
// (query, target) entry at a time, shared by CPU and CUDA:
//   cost = w_bbox * L1(cxcywh) + w_class * class_cost + w_giou * (-GIoU(xyxy)).
// class_cost is -softmax(logits)[label] (DETR) or, with p = sigmoid(x) and x
// the logit of the target's class (Deformable DETR, DINO),
//   alpha (1-p)^gamma (-log(p + 1e-8)) - (1-alpha) p^gamma (-log(1-p + 1e-8)).
// GIoU is torchvision's / DETR's (no eps): a pair of zero-area boxes gives nan,
// as there.
#pragma once

#include "cpu/loops/parallel.h"
#include "kernels/box.h"
#include "kernels/common.h"
#include "kernels/layout.h"
#include "kernels/static_switch.h"

#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace lossext {

enum class MatchClassCost : int { Focal = 0, Softmax = 1 };
inline constexpr ValueList<MatchClassCost::Focal, MatchClassCost::Softmax> kMatchClassCosts{};

// A box in cxcywh with its xyxy corners and area, computed once per box.
template <typename T>
struct MatchBox {
  T cx, cy, w, h;
  Box<T> xyxy;
  T area;
};

template <typename T>
LOSSEXT_HD MatchBox<T> match_box(const T* v) {
  MatchBox<T> m{v[0], v[1], v[2], v[3], to_xyxy(BoxFmt::CXCYWH, Box<T>{v[0], v[1], v[2], v[3]}), T(0)};
  m.area = box_area(m.xyxy);
  return m;
}

LOSSEXT_HD float pow_(float x, float y) { return powf(x, y); }
LOSSEXT_HD double pow_(double x, double y) { return pow(x, y); }

// Deformable DETR's focal class cost of a logit x. 1 - p is computed as
// sigmoid(-x) rather than by the subtraction: the same value, without the
// cancellation that costs float32 most of its digits of log(1 - p + 1e-8)
// for confident logits. Both come from one exp(-|x|); gamma = 2 (every
// DETR-family config) is a product instead of a pow.
template <typename T>
LOSSEXT_HD T match_focal_cost(T x, T alpha, T gamma) {
  const T e = fast_exp(-abs_(x));
  const T r = T(1) / (T(1) + e);
  const T p = x >= T(0) ? r : e * r;
  const T q = x >= T(0) ? e * r : r;
  const T p_g = gamma == T(2) ? p * p : pow_(p, gamma);
  const T q_g = gamma == T(2) ? q * q : pow_(q, gamma);
  const T neg = (T(1) - alpha) * p_g * -fast_log(q + T(1e-8));
  const T pos = alpha * q_g * -fast_log(p + T(1e-8));
  return pos - neg;
}

// DETR's softmax class cost of a logit x of a row with log-sum-exp lse.
template <typename T>
LOSSEXT_HD T match_softmax_cost(T x, T lse) {
  return -fast_exp(x - lse);
}

// The box terms, w_bbox * L1 + w_giou * (-GIoU), added to w_class * class_cost in DETR's order.
template <typename T>
LOSSEXT_HD T match_cost(const MatchBox<T>& q, const MatchBox<T>& t, T class_cost, T w_class, T w_bbox, T w_giou) {
  const T l1 = abs_(q.cx - t.cx) + abs_(q.cy - t.cy) + abs_(q.w - t.w) + abs_(q.h - t.h);
  const T giou = box_pair_value<BoxPairKind::GIoU>(q.xyxy, q.area, T(0), t.xyxy, t.area, T(0), T(0));
  return w_bbox * l1 + w_class * class_cost + w_giou * -giou;
}

// ---- The contract between the torch op and the kernels of both devices.

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

// The entry points: the CUDA launcher and the CPU driver, same params. The
// CPU driver reports the flat (image, target) position of the first valid
// target whose label is out of range (bad_index_at).
#if defined(__CUDACC__) || defined(LOSSEXT_WITH_CUDA)
cudaError_t detr_matching_cost_cuda(const DetrMatchingParams& p, cudaStream_t stream);
#endif
CpuStatus detr_matching_cost_cpu(const DetrMatchingParams& p, ParallelFor parallel_for);

}  // namespace lossext
