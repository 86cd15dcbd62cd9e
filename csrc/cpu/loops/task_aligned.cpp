// The CPU entry point of the task-aligned assignment: the four passes of
// kernels/task_aligned.cu over the same params and math, each split over its
// work units by the injected parallel-for (every result is a per-unit value
// or a maximum, so it does not depend on the split). Scalar code: the work
// per (box, anchor) is an inside test, and the overlap math runs only for
// the anchors inside a box, so there is nothing worth vectorizing; the passes
// mirror the CUDA kernels step for step instead, which is what the SIMT
// cases compare.
#include "cpu/loops/vectorize.h"

#include <algorithm>
#include <vector>

#include "cpu/loops/convert.h"
#include "cpu/loops/memory.h"
#include "kernels/task_aligned.h"

namespace lossext {
namespace cpu {
namespace {

float load_score(const TaskAlignedParams& p, int64_t i) {
  switch (p.dtype) {
    case DType::Float64: return float(static_cast<const double*>(p.scores)[i]);
    case DType::Float16:
    case DType::BFloat16: {
      float v;
      widen_16bit(static_cast<const uint16_t*>(p.scores) + i, 1, 1, 1, p.dtype == DType::BFloat16, &v);
      return v;
    }
    default: return static_cast<const float*>(p.scores)[i];
  }
}

// n floats stored as the scores' dtype at element offset i of target_scores.
void store_scores(const TaskAlignedParams& p, int64_t i, const float* v, int64_t n) {
  switch (p.dtype) {
    case DType::Float64: {
      double* out = static_cast<double*>(p.target_scores) + i;
      for (int64_t c = 0; c < n; ++c) out[c] = v[c];
      return;
    }
    case DType::Float16:
    case DType::BFloat16:
      narrow_16bit(v, 1, n, p.dtype == DType::BFloat16, static_cast<uint16_t*>(p.target_scores) + i, n);
      return;
    default: std::copy(v, v + n, static_cast<float*>(p.target_scores) + i);
  }
}

float overlap_of(const TaskAlignedParams& p, const float* gt, const float* pd) {
  return p.overlap == OverlapKind::IoU ? tal_overlap<OverlapKind::IoU>(gt, pd) : tal_overlap<OverlapKind::CIoU>(gt, pd);
}

// The score of the box's class at anchor a; 0 for a label outside [0, C)
// (the adapter rejects those before; the CUDA kernels cannot).
float score_of(const TaskAlignedParams& p, int64_t b, int64_t a, int64_t label) {
  if (label < 0 || label >= p.classes) return 0.0f;
  return load_score(p, (b * p.num_anchors + a) * p.classes + label);
}

// Pass 1 for boxes [first, last) of the flat (B, G) index: p.positives.
void tal_select_boxes(const TaskAlignedParams& p, int64_t first, int64_t last) {
  const int64_t A = p.num_anchors, k = p.topk;
  std::vector<uint64_t> best;  // the k largest keys so far, descending
  best.reserve(k + 1);
  for (int64_t bg = first; bg < last; ++bg) {
    int32_t* out = p.positives + bg * k;
    std::fill(out, out + k, -1);
    if (!p.valid[bg]) continue;
    const int64_t b = bg / p.boxes;
    const float* gt = p.gt_boxes + bg * 4;
    const TalInsideBox inside = tal_inside_box(gt, p.min_side);
    const int64_t label = p.labels[bg];
    best.clear();
    for (int64_t a = 0; a < A; ++a) {
      float metric = 0.0f;
      if (tal_inside(inside, p.anchors[2 * a], p.anchors[2 * a + 1])) {
        const float overlap = overlap_of(p, gt, p.pred_boxes + (b * A + a) * 4);
        metric = tal_metric(score_of(p, b, a, label), overlap, p.alpha, p.beta);
      }
      const uint64_t key = tal_key(metric, a);
      if (int64_t(best.size()) == k && key <= best.back()) continue;
      best.insert(std::upper_bound(best.begin(), best.end(), key, [](uint64_t x, uint64_t y) { return x > y; }), key);
      if (int64_t(best.size()) > k) best.pop_back();
    }
    // The top-k anchors that lie inside the box, in increasing anchor order.
    int64_t n = 0;
    for (uint64_t key : best) {
      const int64_t a = tal_key_anchor(key);
      if (tal_inside(inside, p.anchors[2 * a], p.anchors[2 * a + 1])) out[n++] = int32_t(a);
    }
    std::sort(out, out + n);
  }
}

// Pass 2 for anchors [first, last) of the flat (B, A) index: p.assigned,
// p.anchor_metric, p.anchor_overlap.
void tal_resolve_anchors(const TaskAlignedParams& p, int64_t first, int64_t last) {
  const int64_t A = p.num_anchors, G = p.boxes, k = p.topk;
  for (int64_t ba = first; ba < last; ++ba) {
    const int64_t b = ba / A, a = ba - b * A;
    const float x = p.anchors[2 * a], y = p.anchors[2 * a + 1];
    const float* pd = p.pred_boxes + ba * 4;
    int64_t count = 0, positive_box = 0, best_box = 0;
    float best_overlap = 0.0f;
    for (int64_t g = 0; g < G; ++g) {
      const int64_t bg = b * G + g;
      if (!p.valid[bg] || !tal_inside(tal_inside_box(p.gt_boxes + bg * 4, p.min_side), x, y)) continue;
      const float overlap = overlap_of(p, p.gt_boxes + bg * 4, pd);
      if (overlap > best_overlap) {  // the first box of the largest overlap, box 0 when all are 0
        best_overlap = overlap;
        best_box = g;
      }
      const int32_t* pos = p.positives + bg * k;
      for (int64_t j = 0; j < k && pos[j] >= 0 && pos[j] <= a; ++j) {
        if (pos[j] == a) {
          ++count;
          positive_box = g;
          break;
        }
      }
    }
    if (count == 0) {
      p.assigned[ba] = -1;
      p.anchor_metric[ba] = 0.0f;
      p.anchor_overlap[ba] = 0.0f;
      continue;
    }
    const int64_t g = count == 1 ? positive_box : best_box;
    const int64_t bg = b * G + g;
    float metric = 0.0f, overlap = 0.0f;
    if (p.valid[bg] && tal_inside(tal_inside_box(p.gt_boxes + bg * 4, p.min_side), x, y)) {
      overlap = overlap_of(p, p.gt_boxes + bg * 4, pd);
      metric = tal_metric(score_of(p, b, a, p.labels[bg]), overlap, p.alpha, p.beta);
    }
    p.assigned[ba] = int32_t(g);
    p.anchor_metric[ba] = metric;
    p.anchor_overlap[ba] = overlap;
  }
}

// Pass 3 for images [first, last): p.box_max (one sweep over the image's
// anchors, where the CUDA kernel sweeps them once per box).
void tal_box_maxima(const TaskAlignedParams& p, int64_t first, int64_t last) {
  const int64_t A = p.num_anchors, G = p.boxes;
  for (int64_t b = first; b < last; ++b) {
    float* box_max = p.box_max + b * G * 2;
    std::fill(box_max, box_max + G * 2, 0.0f);
    for (int64_t a = 0; a < A; ++a) {
      const int32_t g = p.assigned[b * A + a];
      if (g < 0) continue;
      box_max[2 * g] = tal_max(box_max[2 * g], p.anchor_metric[b * A + a]);
      box_max[2 * g + 1] = tal_max(box_max[2 * g + 1], p.anchor_overlap[b * A + a]);
    }
  }
}

// Pass 4 for anchors [first, last) of the flat (B, A) index: the outputs.
void tal_write_targets(const TaskAlignedParams& p, int64_t first, int64_t last) {
  const int64_t A = p.num_anchors, G = p.boxes, C = p.classes;
  std::vector<float> row(C);
  for (int64_t ba = first; ba < last; ++ba) {
    const int64_t b = ba / A;
    const int32_t assigned = p.assigned[ba];
    const bool fg = assigned >= 0;
    const int64_t g = fg ? assigned : 0, bg = b * G + g;
    const int64_t label = std::max<int64_t>(p.labels[bg], 0);
    p.target_labels[ba] = label;
    p.fg_mask[ba] = fg;
    p.target_gt_idx[ba] = g;
    std::copy(p.gt_boxes + bg * 4, p.gt_boxes + bg * 4 + 4, p.target_boxes + ba * 4);
    std::fill(row.begin(), row.end(), 0.0f);
    if (fg && label < C) row[label] = tal_norm(p.anchor_metric[ba], p.box_max[2 * bg + 1], p.box_max[2 * bg], p.eps);
    store_scores(p, ba * C, row.data(), C);
  }
}

}  // namespace
}  // namespace cpu

CpuStatus task_aligned_assign_cpu(const TaskAlignedParams& p, ParallelFor parallel_for) {
  if (p.boxes == 0 || p.batch == 0 || p.num_anchors == 0 || p.classes == 0) return {};
  const int64_t boxes = p.batch * p.boxes, anchors = p.batch * p.num_anchors;
  // The (B, A, C) scores are the one large output: fault it in huge pages.
  cpu::advise_huge_pages(p.target_scores, size_t(anchors * p.classes) * (p.dtype == DType::Float64   ? 8
                                                                         : p.dtype == DType::Float32 ? 4
                                                                                                     : 2));
  // A box scans every anchor; an anchor scans every box (and writes a row of C scores).
  parallel_for(0, boxes, 1, [&](int64_t first, int64_t last) { cpu::tal_select_boxes(p, first, last); });
  parallel_for(0, anchors, 256, [&](int64_t first, int64_t last) { cpu::tal_resolve_anchors(p, first, last); });
  parallel_for(0, p.batch, 1, [&](int64_t first, int64_t last) { cpu::tal_box_maxima(p, first, last); });
  parallel_for(0, anchors, 256, [&](int64_t first, int64_t last) { cpu::tal_write_targets(p, first, last); });
  return {};
}

}  // namespace lossext
