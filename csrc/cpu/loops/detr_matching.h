// Loops of the DETR matching cost for the CPU op: torch-free, the float
// version compiled per ISA (target_clones). They apply
// kernels/detr_matching.h to one image's block of queries.
#pragma once

#include <cstdint>

#include "kernels/detr_matching.h"

namespace lossext {
namespace cpu {

// The cost rows of `rows` queries of one image against its `targets` targets.
// logits: rows x classes accumulate-type values (dense); boxes: rows x 4 and
// target_boxes: targets x 4 (cxcywh); labels / valid: targets entries. cost:
// rows x targets, 0 for a target that is not valid, nan for a valid one
// whose label is outside [0, classes).
struct MatchRows {
  MatchClassCost class_cost;
  int64_t rows, classes, targets;
  double alpha, gamma, w_class, w_bbox, w_giou;
};
void detr_cost_rows(const MatchRows& m, const float* logits, const float* boxes, const int64_t* labels,
                    const float* target_boxes, const bool* valid, float* cost);
void detr_cost_rows(const MatchRows& m, const double* logits, const double* boxes, const int64_t* labels,
                    const double* target_boxes, const bool* valid, double* cost);

}  // namespace cpu
}  // namespace lossext
