// The CPU side of kernels/detr_matching.cu: detr_matching_cost_cpu over the
// params of kernels/detr_matching.h. (image, block of queries) units go to the
// injected parallel-for; 16-bit logits are widened to float per block. Each
// query row: its log-sum-exp once (the softmax cost), then one entry per
// target; the targets' corners and areas are computed once per unit.
#include "cpu/loops/vectorize.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "cpu/loops/convert.h"
#include "kernels/detr_matching.h"

namespace lossext {
namespace cpu {

// One image's block of `rows` queries against its `targets` targets.
// logits: rows x classes accumulate-type values (dense); boxes: rows x 4 and
// target_boxes: targets x 4 (cxcywh); labels / valid: targets entries. cost:
// rows x targets.
struct MatchRows {
  MatchClassCost class_cost;
  int64_t rows, classes, targets;
  double alpha, gamma, w_class, w_bbox, w_giou;
};

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

namespace {

constexpr int64_t kQueryBlock = 64;

template <typename T>
void run(const DetrMatchingParams& p, ParallelFor parallel_for) {
  using acc_t = acc_type<T>;
  const int64_t blocks = (p.queries + kQueryBlock - 1) / kQueryBlock;
  parallel_for(0, p.batch * blocks, 1, [&](int64_t first, int64_t last) {
    std::vector<acc_t> buf;
    for (int64_t u = first; u < last; ++u) {
      const int64_t b = u / blocks, q0 = (u % blocks) * kQueryBlock;
      const MatchRows m{p.class_cost, std::min(kQueryBlock, p.queries - q0),
                        p.classes,    p.targets,
                        p.alpha,      p.gamma,
                        p.w_class,    p.w_bbox,
                        p.w_giou};
      const int64_t row = b * p.queries + q0;
      const T* x = static_cast<const T*>(p.logits) + row * p.classes;
      const acc_t* xa;
      if constexpr (std::is_same_v<T, acc_t>) {
        xa = x;
      } else {
        const int64_t n = m.rows * p.classes;
        buf.resize(n);
        widen_16bit(reinterpret_cast<const uint16_t*>(x), n, 1, n, std::is_same_v<T, BFloat16>, buf.data());
        xa = buf.data();
      }
      detr_cost_rows(m, xa, static_cast<const acc_t*>(p.boxes) + row * 4, p.labels + b * p.targets,
                     static_cast<const acc_t*>(p.target_boxes) + b * p.targets * 4, p.valid + b * p.targets,
                     static_cast<acc_t*>(p.cost) + row * p.targets);
    }
  });
}

}  // namespace
}  // namespace cpu

CpuStatus detr_matching_cost_cpu(const DetrMatchingParams& p, ParallelFor parallel_for) {
  CpuStatus status;
  for (int64_t k = 0; k < p.batch * p.targets; ++k) {
    if (p.valid[k] && (p.labels[k] < 0 || p.labels[k] >= p.classes)) {
      status.bad_index_at = k;
      break;
    }
  }
  if (p.batch * p.queries * p.targets > 0) {
    dtype_switch<cpu::LoopTypes>(p.dtype, [&](auto tag) { cpu::run<typename decltype(tag)::type>(p, parallel_for); });
  }
  return status;
}

}  // namespace lossext
