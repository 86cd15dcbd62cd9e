// CPU implementation of the fused DETR matching cost: (image, block of
// queries) units in parallel (at::parallel_for) through the loops of
// loops/detr_matching.h; 16-bit logits are widened to float per block. A valid
// target whose label is outside [0, C) raises an IndexError first.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <vector>

#include "cpu/dispatch.h"
#include "cpu/loops/detr_matching.h"
#include "glue/detr_matching.h"

namespace lossext {
namespace cpu {
namespace {

constexpr int64_t kQueryBlock = 64;

template <typename T>
void run(const DetrMatchingParams& p) {
  using acc_t = acc_type<T>;
  const int64_t blocks = (p.queries + kQueryBlock - 1) / kQueryBlock;
  at::parallel_for(0, p.batch * blocks, 1, [&](int64_t first, int64_t last) {
    std::vector<acc_t> buf;
    for (int64_t u = first; u < last; ++u) {
      const int64_t b = u / blocks, q0 = (u % blocks) * kQueryBlock;
      MatchRows m{p.class_cost, std::min(kQueryBlock, p.queries - q0),
                  p.classes,    p.targets,
                  p.alpha,      p.gamma,
                  p.w_class,    p.w_bbox,
                  p.w_giou};
      const int64_t row = b * p.queries + q0;
      const acc_t* x = as_acc(static_cast<const T*>(p.logits) + row * p.classes, m.rows * p.classes, 1, buf);
      detr_cost_rows(m, x, static_cast<const acc_t*>(p.boxes) + row * 4, p.labels + b * p.targets,
                     static_cast<const acc_t*>(p.target_boxes) + b * p.targets * 4, p.valid + b * p.targets,
                     static_cast<acc_t*>(p.cost) + row * p.targets);
    }
  });
}

at::Tensor detr_matching_cost_cpu(const at::Tensor& logits, const at::Tensor& boxes, const at::Tensor& target_labels,
                                  const at::Tensor& target_boxes, const at::Tensor& target_mask, int64_t class_cost,
                                  double alpha, double gamma, double w_class, double w_bbox, double w_giou) {
  glue::DetrMatchingCall call = glue::detr_matching_call(logits, boxes, target_labels, target_boxes, target_mask,
                                                         class_cost, alpha, gamma, w_class, w_bbox, w_giou);
  const DetrMatchingParams& p = call.params;
  for (int64_t k = 0; k < p.batch * p.targets; ++k) {
    TORCH_CHECK_INDEX(!p.valid[k] || (p.labels[k] >= 0 && p.labels[k] < p.classes), "target_labels contains ",
                      p.labels[k], " (image ", k / std::max<int64_t>(p.targets, 1), ", target ",
                      k % std::max<int64_t>(p.targets, 1), "), outside [0, ", p.classes, ")");
  }
  if (p.batch * p.queries * p.targets > 0)
    dtype_switch<CpuTypes>(p.dtype, [&](auto tag) { run<typename decltype(tag)::type>(p); });
  return call.cost;
}

}  // namespace

TORCH_LIBRARY_IMPL(lossext, CPU, m) { m.impl("detr_matching_cost", &detr_matching_cost_cpu); }

}  // namespace cpu
}  // namespace lossext
