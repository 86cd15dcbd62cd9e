// CUDA kernels of the task-aligned assignment, the four passes described in
// kernels/task_aligned.h. Deterministic without atomics: the top-k is
// a maximum over distinct 64-bit keys (tal_key), every other result is a
// per-unit value or a maximum.
#include "kernels/cuda_common.cuh"
#include "kernels/task_aligned.h"

namespace lossext {
namespace cuda {
namespace {

constexpr int kTalSelectThreads = 128;
constexpr int kTalThreads = 256;
inline constexpr ValueList<OverlapKind::CIoU, OverlapKind::IoU> kOverlapKinds{};
// A thread's candidate list of the select kernel: small for ultralytics'
// usual k (10 or 13), the largest supported otherwise.
constexpr int kTalSmallTopk = 16;
inline constexpr ValueList<kTalSmallTopk, kTalMaxTopk> kTalListSizes{};

template <typename T>
__device__ __forceinline__ float score_at(const T* scores, int64_t b, int64_t a, int64_t label, int64_t A, int64_t C) {
  if (label < 0 || label >= C) return 0.0f;
  return float(to_acc(scores[(b * A + a) * C + label]));
}

struct FloatMaxOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return tal_max(a, b); }
};

// The maximum of one key per thread over the block, in every thread.
__device__ __forceinline__ uint64_t block_max_key(uint64_t key, uint64_t* scratch) {
#pragma unroll
  for (int m = 16; m > 0; m >>= 1) {
    const uint64_t other = __shfl_xor_sync(0xffffffffu, key, m);
    key = other > key ? other : key;
  }
  __syncthreads();  // the previous round's reads of scratch are done
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = key;
  __syncthreads();
  key = scratch[0];
#pragma unroll
  for (int w = 1; w < kTalSelectThreads / 32; ++w) key = scratch[w] > key ? scratch[w] : key;
  return key;
}

// Pass 1: a block per box. Each thread keeps the LIST best keys of its
// anchors (sorted, descending); then k rounds of a block maximum over the
// threads' heads pick the box's top-k in key order.
template <OverlapKind K, int LIST, typename T>
__global__ void __launch_bounds__(kTalSelectThreads)
    tal_select_kernel(const T* __restrict__ scores, const float* __restrict__ pred_boxes,
                      const float* __restrict__ anchors, const int64_t* __restrict__ labels,
                      const float* __restrict__ gt_boxes, const uint8_t* __restrict__ valid,
                      int32_t* __restrict__ positives, int64_t num_boxes, int64_t G, int64_t A, int64_t C, int64_t k,
                      float alpha, float beta, float min_side) {
  __shared__ uint64_t scratch[kTalSelectThreads / 32];
  __shared__ int32_t chosen[kTalMaxTopk];
  for (int64_t bg = blockIdx.x; bg < num_boxes; bg += gridDim.x) {
    int32_t* out = positives + bg * k;
    if (!valid[bg]) {
      for (int64_t j = threadIdx.x; j < k; j += blockDim.x) out[j] = -1;
      continue;
    }
    const int64_t b = bg / G;
    const float* gt = gt_boxes + bg * 4;
    const TalInsideBox inside = tal_inside_box(gt, min_side);
    const int64_t label = labels[bg];
    uint64_t list[LIST];
    int n = 0;
    for (int64_t a = threadIdx.x; a < A; a += blockDim.x) {
      float metric = 0.0f;
      if (tal_inside(inside, anchors[2 * a], anchors[2 * a + 1])) {
        const float overlap = tal_overlap<K>(gt, pred_boxes + (b * A + a) * 4);
        metric = tal_metric(score_at(scores, b, a, label, A, C), overlap, alpha, beta);
      }
      const uint64_t key = tal_key(metric, a);
      if (n == k && key <= list[n - 1]) continue;
      int j = n < k ? n++ : n - 1;  // insertion sort, dropping the smallest when full
      while (j > 0 && list[j - 1] < key) {
        list[j] = list[j - 1];
        --j;
      }
      list[j] = key;
    }
    int head = 0, taken = 0;
    for (int64_t r = 0; r < k; ++r) {
      const uint64_t mine = head < n ? list[head] : 0;
      const uint64_t top = block_max_key(mine, scratch);
      if (top == 0) break;  // fewer than k anchors in all (A < k is rejected by the adapter)
      if (mine == top) {    // keys are distinct: exactly one thread holds it
        ++head;
        const int64_t a = tal_key_anchor(top);
        chosen[r] = tal_inside(inside, anchors[2 * a], anchors[2 * a + 1]) ? int32_t(a) : -1;
      }
      ++taken;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      // The chosen anchors inside the box, in increasing anchor order.
      int m = 0;
      for (int r = 0; r < taken; ++r) {
        const int32_t a = chosen[r];
        if (a < 0) continue;
        int j = m++;
        while (j > 0 && out[j - 1] > a) {
          out[j] = out[j - 1];
          --j;
        }
        out[j] = a;
      }
      for (int64_t j = m; j < k; ++j) out[j] = -1;
    }
    __syncthreads();  // chosen is reused by the next box
  }
}

// Pass 2: a thread per anchor.
template <OverlapKind K, typename T>
__global__ void __launch_bounds__(kTalThreads)
    tal_resolve_kernel(const T* __restrict__ scores, const float* __restrict__ pred_boxes,
                       const float* __restrict__ anchors, const int64_t* __restrict__ labels,
                       const float* __restrict__ gt_boxes, const uint8_t* __restrict__ valid,
                       const int32_t* __restrict__ positives, int32_t* __restrict__ assigned,
                       float* __restrict__ anchor_metric, float* __restrict__ anchor_overlap, int64_t total, int64_t G,
                       int64_t A, int64_t C, int64_t k, float alpha, float beta, float min_side) {
  for (int64_t ba = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; ba < total; ba += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = ba / A, a = ba - b * A;
    const float x = anchors[2 * a], y = anchors[2 * a + 1];
    const float* pd = pred_boxes + ba * 4;
    int64_t count = 0, positive_box = 0, best_box = 0;
    float best_overlap = 0.0f;
    for (int64_t g = 0; g < G; ++g) {
      const int64_t bg = b * G + g;
      if (!valid[bg] || !tal_inside(tal_inside_box(gt_boxes + bg * 4, min_side), x, y)) continue;
      const float overlap = tal_overlap<K>(gt_boxes + bg * 4, pd);
      if (overlap > best_overlap) {  // the first box of the largest overlap, box 0 when all are 0
        best_overlap = overlap;
        best_box = g;
      }
      const int32_t* pos = positives + bg * k;
      for (int64_t j = 0; j < k && pos[j] >= 0 && pos[j] <= a; ++j) {
        if (pos[j] == a) {
          ++count;
          positive_box = g;
          break;
        }
      }
    }
    if (count == 0) {
      assigned[ba] = -1;
      anchor_metric[ba] = 0.0f;
      anchor_overlap[ba] = 0.0f;
      continue;
    }
    const int64_t g = count == 1 ? positive_box : best_box;
    const int64_t bg = b * G + g;
    float metric = 0.0f, overlap = 0.0f;
    if (valid[bg] && tal_inside(tal_inside_box(gt_boxes + bg * 4, min_side), x, y)) {
      overlap = tal_overlap<K>(gt_boxes + bg * 4, pd);
      metric = tal_metric(score_at(scores, b, a, labels[bg], A, C), overlap, alpha, beta);
    }
    assigned[ba] = int32_t(g);
    anchor_metric[ba] = metric;
    anchor_overlap[ba] = overlap;
  }
}

// Pass 3: a block per box, a maximum over the image's anchors.
__global__ void __launch_bounds__(kTalThreads)
    tal_box_max_kernel(const int32_t* __restrict__ assigned, const float* __restrict__ anchor_metric,
                       const float* __restrict__ anchor_overlap, float* __restrict__ box_max, int64_t num_boxes,
                       int64_t G, int64_t A) {
  __shared__ float scratch[kTalThreads / 32];
  for (int64_t bg = blockIdx.x; bg < num_boxes; bg += gridDim.x) {
    const int64_t b = bg / G, g = bg - b * G;
    float m = 0.0f, o = 0.0f;
    for (int64_t a = threadIdx.x; a < A; a += blockDim.x) {
      if (assigned[b * A + a] != g) continue;
      m = tal_max(m, anchor_metric[b * A + a]);
      o = tal_max(o, anchor_overlap[b * A + a]);
    }
    m = group_allreduce<kTalThreads>(m, FloatMaxOp{}, scratch);
    o = group_allreduce<kTalThreads>(o, FloatMaxOp{}, scratch);
    if (threadIdx.x == 0) {
      box_max[2 * bg] = m;
      box_max[2 * bg + 1] = o;
    }
  }
}

// Pass 4: a thread per target score; the thread of class 0 also writes the
// anchor's label, box, flag and index.
template <typename T>
__global__ void __launch_bounds__(kTalThreads)
    tal_targets_kernel(const int64_t* __restrict__ labels, const float* __restrict__ gt_boxes,
                       const int32_t* __restrict__ assigned, const float* __restrict__ anchor_metric,
                       const float* __restrict__ box_max, int64_t* __restrict__ target_labels,
                       float* __restrict__ target_boxes, T* __restrict__ target_scores, bool* __restrict__ fg_mask,
                       int64_t* __restrict__ target_gt_idx, int64_t total, int64_t G, int64_t A, int64_t C, float eps) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ba = i / C, c = i - ba * C, b = ba / A;
    const int32_t g_assigned = assigned[ba];
    const bool fg = g_assigned >= 0;
    const int64_t g = fg ? g_assigned : 0, bg = b * G + g;
    const int64_t label = labels[bg] > 0 ? labels[bg] : 0;
    float value = 0.0f;
    if (fg && c == label) value = tal_norm(anchor_metric[ba], box_max[2 * bg + 1], box_max[2 * bg], eps);
    target_scores[i] = from_acc<T>(value);
    if (c == 0) {
      target_labels[ba] = label;
      fg_mask[ba] = fg;
      target_gt_idx[ba] = g;
      for (int j = 0; j < 4; ++j) target_boxes[ba * 4 + j] = gt_boxes[bg * 4 + j];
    }
  }
}

}  // namespace
}  // namespace cuda

cudaError_t task_aligned_assign_cuda(const TaskAlignedParams& p, cudaStream_t stream) {
  const int64_t num_boxes = p.batch * p.boxes, num_anchors = p.batch * p.num_anchors;
  if (num_anchors == 0 || p.boxes == 0 || p.classes == 0) return cudaSuccess;
  return dtype_switch<cuda::CudaTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* scores = static_cast<const T*>(p.scores);
    return static_switch(cuda::kOverlapKinds, p.overlap, [&](auto kind) {
      constexpr OverlapKind K = decltype(kind)::value;
      const int list_size = p.topk <= cuda::kTalSmallTopk ? cuda::kTalSmallTopk : kTalMaxTopk;
      cudaError_t err = static_switch(cuda::kTalListSizes, list_size, [&](auto list) {
        cuda::tal_select_kernel<K, decltype(list)::value, T>
            <<<cuda::grid_for(num_boxes, 1), cuda::kTalSelectThreads, 0, stream>>>(
                scores, p.pred_boxes, p.anchors, p.labels, p.gt_boxes, p.valid, p.positives, num_boxes, p.boxes,
                p.num_anchors, p.classes, p.topk, p.alpha, p.beta, p.min_side);
        return cudaGetLastError();
      });
      if (err != cudaSuccess) return err;
      cuda::tal_resolve_kernel<K, T><<<cuda::grid_for(num_anchors, cuda::kTalThreads), cuda::kTalThreads, 0, stream>>>(
          scores, p.pred_boxes, p.anchors, p.labels, p.gt_boxes, p.valid, p.positives, p.assigned, p.anchor_metric,
          p.anchor_overlap, num_anchors, p.boxes, p.num_anchors, p.classes, p.topk, p.alpha, p.beta, p.min_side);
      err = cudaGetLastError();
      if (err != cudaSuccess) return err;
      cuda::tal_box_max_kernel<<<cuda::grid_for(num_boxes, 1), cuda::kTalThreads, 0, stream>>>(
          p.assigned, p.anchor_metric, p.anchor_overlap, p.box_max, num_boxes, p.boxes, p.num_anchors);
      err = cudaGetLastError();
      if (err != cudaSuccess) return err;
      const int64_t total = num_anchors * p.classes;
      cuda::tal_targets_kernel<T><<<cuda::grid_for(total, cuda::kTalThreads), cuda::kTalThreads, 0, stream>>>(
          p.labels, p.gt_boxes, p.assigned, p.anchor_metric, p.box_max, p.target_labels, p.target_boxes,
          static_cast<T*>(p.target_scores), p.fg_mask, p.target_gt_idx, total, p.boxes, p.num_anchors, p.classes,
          p.eps);
      return cudaGetLastError();
    });
  });
}

}  // namespace lossext
