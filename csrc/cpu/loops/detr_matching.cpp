// Definitions for detr_matching.h. Each query row: its log-sum-exp once (the
// softmax cost), then one entry per target; the targets' corners and areas
// are computed once per call.
#include "cpu/loops/vectorize.h"

#include <cmath>
#include <vector>

#include "cpu/loops/detr_matching.h"

namespace lossext {
namespace cpu {
namespace {

template <typename T>
LOSSEXT_ALWAYS_INLINE T row_lse(const T* x, int64_t n) {
  SoftmaxState<T> s = SoftmaxState<T>::empty();
  for (int64_t c = 0; c < n; ++c) s.add(x[c]);
  return s.log_sum_exp();
}

template <MatchClassCost KIND, typename T>
LOSSEXT_ALWAYS_INLINE void cost_rows(const MatchRows& m, const T* logits, const T* boxes, const int64_t* labels,
                                     const T* target_boxes, const bool* valid, T* cost) {
  const T alpha = T(m.alpha), gamma = T(m.gamma), wc = T(m.w_class), wb = T(m.w_bbox), wg = T(m.w_giou);
  std::vector<MatchBox<T>> tb(m.targets);
  for (int64_t j = 0; j < m.targets; ++j) tb[j] = match_box(target_boxes + 4 * j);
  for (int64_t i = 0; i < m.rows; ++i) {
    const T* x = logits + i * m.classes;
    const MatchBox<T> q = match_box(boxes + 4 * i);
    T lse = T(0);
    if constexpr (KIND == MatchClassCost::Softmax) lse = row_lse(x, m.classes);
    T* out = cost + i * m.targets;
    for (int64_t j = 0; j < m.targets; ++j) {
      const int64_t y = labels[j];
      if (!valid[j]) {
        out[j] = T(0);
      } else if (y < 0 || y >= m.classes) {
        out[j] = T(NAN);
      } else {
        T cls;
        if constexpr (KIND == MatchClassCost::Softmax) {
          cls = match_softmax_cost(x[y], lse);
        } else {
          cls = match_focal_cost(x[y], alpha, gamma);
        }
        out[j] = match_cost(q, tb[j], cls, wc, wb, wg);
      }
    }
  }
}

template <typename T>
LOSSEXT_ALWAYS_INLINE void dispatch(const MatchRows& m, const T* logits, const T* boxes, const int64_t* labels,
                                    const T* target_boxes, const bool* valid, T* cost) {
  static_switch(kMatchClassCosts, m.class_cost, [&](auto kind) LOSSEXT_INLINE_LAMBDA {
    cost_rows<decltype(kind)::value>(m, logits, boxes, labels, target_boxes, valid, cost);
  });
}

}  // namespace

LOSSEXT_CPU_CLONES void detr_cost_rows(const MatchRows& m, const float* logits, const float* boxes,
                                       const int64_t* labels, const float* target_boxes, const bool* valid,
                                       float* cost) {
  dispatch(m, logits, boxes, labels, target_boxes, valid, cost);
}
void detr_cost_rows(const MatchRows& m, const double* logits, const double* boxes, const int64_t* labels,
                    const double* target_boxes, const bool* valid, double* cost) {
  dispatch(m, logits, boxes, labels, target_boxes, valid, cost);
}

}  // namespace cpu
}  // namespace lossext
