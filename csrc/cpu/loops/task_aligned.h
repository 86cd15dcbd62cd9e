// CPU passes of the task-aligned assignment, the four passes of
// kernels/task_aligned.cu over the same params (kernels/task_aligned_launch.h)
// and the same math (kernels/task_aligned.h). Torch-free; each pass takes a
// range of its work units and knows nothing of threads, so the adapter splits
// the work. Every result is a per-unit value or a maximum, so it does not
// depend on the split.
#pragma once

#include <cstdint>

#include "kernels/task_aligned_launch.h"

namespace lossext {
namespace cpu {

// Pass 1 for boxes [first, last) of the flat (B, G) index: p.positives.
void tal_select_boxes(const TaskAlignedParams& p, int64_t first, int64_t last);
// Pass 2 for anchors [first, last) of the flat (B, A) index: p.assigned,
// p.anchor_metric, p.anchor_overlap.
void tal_resolve_anchors(const TaskAlignedParams& p, int64_t first, int64_t last);
// Pass 3 for images [first, last): p.box_max (one sweep over the image's
// anchors, where the CUDA kernel sweeps them once per box).
void tal_box_maxima(const TaskAlignedParams& p, int64_t first, int64_t last);
// Pass 4 for anchors [first, last) of the flat (B, A) index: the outputs.
void tal_write_targets(const TaskAlignedParams& p, int64_t first, int64_t last);

}  // namespace cpu
}  // namespace lossext
