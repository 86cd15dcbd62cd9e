// The sigmoid cross-entropy family (BCE with logits, quality focal,
// varifocal) over blocks of contiguous rows on the CPU, free of torch headers
// (the entry points are compiled per x86 ISA level, see cpu/loops/vectorize.h).
// Each loop applies the per-element formulas of kernels/bce.h and nothing else.
#pragma once

#include <cstdint>

#include "kernels/bce.h"

namespace lossext {
namespace cpu {

// `rows` x `cols` logits `x` in the accumulate type, contiguous, with a dense
// target `t` of the same shape, or (quality focal) `label` and `score`, one
// of each a row. `w` and `pw` (optional) are read at r * rs + c * cs, r
// counted from the block's first row. `variant`: bce_variant(kind, exponent).
template <typename A>
struct BceRows {
  const A* x = nullptr;
  const A* t = nullptr;
  const int64_t* label = nullptr;
  const A* score = nullptr;
  const A* w = nullptr;
  int64_t w_rs = 0, w_cs = 0;
  const A* pw = nullptr;
  int64_t pw_rs = 0, pw_cs = 0;
  int64_t rows = 0, cols = 0;
  BceConfig<A> cfg{};
  int variant = 0;
};

// Forward. reduce: loss[r] = sum_c L_rc (in column order), else
// loss[r * cols + c] = L_rc.
void bce_rows_loss(const BceRows<float>& a, bool reduce, float* loss);
void bce_rows_loss(const BceRows<double>& a, bool reduce, double* loss);

// Backward: gx[r, c] = g[r * g_rs + c * g_cs] dL_rc/dx_rc, and, when gt is not
// null (BCE only), gt[r, c] = g[...] dL_rc/dt_rc.
void bce_rows_grad(const BceRows<float>& a, const float* g, int64_t g_rs, int64_t g_cs, float* gx, float* gt);
void bce_rows_grad(const BceRows<double>& a, const double* g, int64_t g_rs, int64_t g_cs, double* gx, double* gt);

}  // namespace cpu
}  // namespace lossext
