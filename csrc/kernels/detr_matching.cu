// CUDA kernel of the DETR matching cost, the math of kernels/detr_matching.h.
// A block computes a tile of 32 queries x 32 targets of one image: it stages
// the tile's boxes (with corners and areas) and, for the softmax cost, each
// query's log-sum-exp (a warp per query) in shared memory, then each thread
// writes four entries; consecutive threads write consecutive targets.
// No gradient: the matcher runs under no_grad.
#include "kernels/cuda_common.cuh"
#include "kernels/detr_matching.h"

namespace lossext {
namespace cuda {
namespace {

constexpr int kMatchThreads = 256;
constexpr int kTq = static_cast<int>(kMatchTileQueries);
constexpr int kTt = static_cast<int>(kMatchTileTargets);
static_assert(kTt == 32 && kMatchThreads % kTt == 0, "a warp spans the targets of a tile");

template <MatchClassCost KIND, typename T>
__global__ void __launch_bounds__(kMatchThreads)
    detr_cost_kernel(const T* __restrict__ logits, const acc_type<T>* __restrict__ boxes,
                     const int64_t* __restrict__ labels, const acc_type<T>* __restrict__ target_boxes,
                     const bool* __restrict__ valid, int64_t batch, int64_t queries, int64_t classes, int64_t targets,
                     acc_type<T> alpha, acc_type<T> gamma, acc_type<T> w_class, acc_type<T> w_bbox, acc_type<T> w_giou,
                     acc_type<T>* __restrict__ cost) {
  using acc_t = acc_type<T>;
  __shared__ MatchBox<acc_t> qbox[kTq];
  __shared__ MatchBox<acc_t> tbox[kTt];
  __shared__ int64_t tlabel[kTt];  // -1: padding; -2: a label outside [0, classes)
  __shared__ acc_t qlse[kTq];
  const int64_t qtiles = (queries + kTq - 1) / kTq, ttiles = (targets + kTt - 1) / kTt;
  const int64_t units = batch * qtiles * ttiles;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int64_t unit = blockIdx.x; unit < units; unit += gridDim.x) {
    const int64_t b = unit / (qtiles * ttiles), rest = unit - b * qtiles * ttiles;
    const int64_t q0 = (rest / ttiles) * kTq, t0 = (rest % ttiles) * kTt;
    __syncthreads();  // the previous tile's readers are done with shared memory
    if (threadIdx.x < kTq) {
      const int64_t q = min(q0 + threadIdx.x, queries - 1);
      qbox[threadIdx.x] = match_box(boxes + (b * queries + q) * 4);
    } else if (threadIdx.x < kTq + kTt) {
      const int j = threadIdx.x - kTq;
      const int64_t t = min(t0 + j, targets - 1), k = b * targets + t;
      tbox[j] = match_box(target_boxes + k * 4);
      const int64_t y = labels[k];
      tlabel[j] = t0 + j >= targets || !valid[k] ? -1 : (y >= 0 && y < classes ? y : -2);
    }
    if constexpr (KIND == MatchClassCost::Softmax) {
      for (int i = warp; i < kTq; i += kMatchThreads / 32) {
        const int64_t q = min(q0 + i, queries - 1);
        const T* x = logits + (b * queries + q) * classes;
        SoftmaxState<acc_t> s = SoftmaxState<acc_t>::empty();
        for (int64_t c = lane; c < classes; c += 32) s.add(to_acc(x[c]));
        s = group_allreduce<32>(s, MergeOp{}, static_cast<SoftmaxState<acc_t>*>(nullptr));
        if (lane == 0) qlse[i] = s.log_sum_exp();
      }
    }
    __syncthreads();
    const int j = threadIdx.x % kTt;
    const int64_t t = t0 + j;
    if (t >= targets) continue;
    const int64_t y = tlabel[j];
    for (int i = threadIdx.x / kTt; i < kTq; i += kMatchThreads / kTt) {
      const int64_t q = q0 + i;
      if (q >= queries) break;
      acc_t v = acc_t(0);
      if (y == -2) {
        v = acc_t(NAN);
      } else if (y >= 0) {
        const acc_t x = to_acc(logits[(b * queries + q) * classes + y]);
        acc_t cls;
        if constexpr (KIND == MatchClassCost::Softmax) {
          cls = match_softmax_cost(x, qlse[i]);
        } else {
          cls = match_focal_cost(x, alpha, gamma);
        }
        v = match_cost(qbox[i], tbox[j], cls, w_class, w_bbox, w_giou);
      }
      cost[(b * queries + q) * targets + t] = v;
    }
  }
}

}  // namespace
}  // namespace cuda

cudaError_t detr_matching_cost_cuda(const DetrMatchingParams& p, cudaStream_t stream) {
  if (p.batch == 0 || p.queries == 0 || p.targets == 0) return cudaSuccess;
  return dtype_switch<cuda::CudaTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using acc_t = acc_type<T>;
    return static_switch(kMatchClassCosts, p.class_cost, [&](auto kind) {
      const int64_t units = p.batch * ((p.queries + kMatchTileQueries - 1) / kMatchTileQueries) *
                            ((p.targets + kMatchTileTargets - 1) / kMatchTileTargets);
      cuda::detr_cost_kernel<decltype(kind)::value, T><<<cuda::grid_for(units, 1), cuda::kMatchThreads, 0, stream>>>(
          static_cast<const T*>(p.logits), static_cast<const acc_t*>(p.boxes), p.labels,
          static_cast<const acc_t*>(p.target_boxes), p.valid, p.batch, p.queries, p.classes, p.targets,
          static_cast<acc_t>(p.alpha), static_cast<acc_t>(p.gamma), static_cast<acc_t>(p.w_class),
          static_cast<acc_t>(p.w_bbox), static_cast<acc_t>(p.w_giou), static_cast<acc_t*>(p.cost));
      return cudaGetLastError();
    });
  });
}

}  // namespace lossext
