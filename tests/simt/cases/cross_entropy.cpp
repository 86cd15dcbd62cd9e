// Cases: cross-entropy kernels against the CPU row loops (cpu/row_kernels.h).
#include "cpu/row_kernels.h"
#include "common.h"
#include "kernels/cross_entropy_launch.h"

namespace cases {
namespace {

// ---- cross-entropy, index targets ----------------------------------------------------------------
struct CeCase {
  DType dtype;
  int64_t N, C, D;
  bool transposed;  // 2-D input read through a transposed view (stride_c = N)
  bool weighted;
  double smoothing, z_loss;
};

template <class acc_t> void cross_entropy_index(Ctx& c, const CeCase& k) {
  auto rng = rng_for(c.name);
  const int64_t N = k.N, C = k.C, D = k.D, rows = N * D, n = N * C * D;
  std::vector<double> x(n), w(C);
  for (auto& v : x) v = uniform(rng, -5, 5);
  for (auto& v : w) v = uniform(rng, 0.5, 1.5);
  Buf<int64_t> y(rows);
  for (int64_t r = 0; r < rows; ++r) y[r] = std::uniform_int_distribution<int64_t>(0, C - 1)(rng);
  if (rows >= 3) y[0] = -100, y[2] = C;  // ignored, and out of range

  Typed X(k.dtype, x);
  RowLayout L;
  L.rows = rows;
  L.classes = C;
  L.inner = D;
  if (k.transposed) {  // memory holds (C, N); the kernel sees (N, C) with stride_c = N
    L.stride_n = 1;
    L.stride_c = N;
    L.stride_s = 0;
  } else {
    L.stride_n = C * D;
    L.stride_c = D;
    L.stride_s = D > 1 ? 1 : 0;
  }
  Acc<acc_t> W(w);
  double wsum = 0;
  for (double v : w) wsum += static_cast<acc_t>(v);
  Acc<acc_t> WS({wsum});
  CrossEntropyParams p;
  p.logits = X.ptr();
  p.dtype = k.dtype;
  p.layout = L;
  p.target_index = y.p;
  p.weight = k.weighted ? W.b.p : nullptr;
  p.weight_sum = k.weighted ? WS.b.p : nullptr;
  p.label_smoothing = k.smoothing;
  p.z_loss = k.z_loss;
  Buf<acc_t> loss(rows), lse(rows), roww(rows);
  p.loss = loss.p;
  p.lse = lse.p;
  p.row_weight = roww.p;
  if (int rc = simt_cross_entropy_index_fwd_cuda(&p)) return c.fail("forward launch returned %d", rc);
  if (loss.unwritten() || lse.unwritten()) c.fail("forward left outputs unwritten");
  c.add_digest(loss);
  c.add_digest(lse);

  // Reference: the CPU path's index_forward / index_backward (cpu/cross_entropy.cpp), serially.
  const acc_t* wa = k.weighted ? W.b.p : nullptr;
  const acc_t weight_sum = k.weighted ? WS.b[0] : acc_t(C);
  const acc_t s = acc_t(k.smoothing), z = acc_t(k.z_loss);
  std::vector<double> want_loss(rows), want_lse(rows);
  std::vector<std::vector<acc_t>> xrows(rows);
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<acc_t>& xr = xrows[r];
    xr.resize(C);
    for (int64_t cl = 0; cl < C; ++cl) xr[cl] = acc_t(X.value[L.row_offset(r) + cl * L.stride_c]);
    const int64_t yy = y[r];
    if (yy == -100 || yy < 0 || yy >= C) {
      want_loss[r] = want_lse[r] = yy == -100 ? 0.0 : NAN;
      continue;
    }
    const acc_t l = cpu::log_sum_exp(xr.data(), C);
    CrossEntropyIndexRow<acc_t> row;
    row.target_logit = xr[yy];
    row.target_weight = wa ? wa[yy] : acc_t(1);
    row.weight_sum = weight_sum;
    row.weighted_logits = s > acc_t(0) ? cpu::row_dot(xr.data(), wa, C) : acc_t(0);
    want_loss[r] = cross_entropy_index_loss(l, row, s, C, z);
    want_lse[r] = l;
  }
  th::compare(c, "loss", to_double(loss.p, rows), want_loss, rtol_acc(k.dtype), k.dtype == DType::Float64 ? 1e-12 : 2e-6);
  th::compare(c, "lse", to_double(lse.p, rows), want_lse, rtol_acc(k.dtype), k.dtype == DType::Float64 ? 1e-12 : 2e-6);

  // Backward: the device from its own lse (as the glue does), the reference from its own.
  std::vector<double> gl(rows);
  for (auto& v : gl) v = uniform(rng, -2, 2);
  Acc<acc_t> G(gl);
  p.grad_loss = G.b.p;
  p.grad_loss_stride = 1;
  Buf<unsigned char> grad(n * elem_size(k.dtype), elem_size(k.dtype));
  p.grad_logits = grad.p;
  if (int rc = simt_cross_entropy_index_bwd_cuda(&p)) return c.fail("backward launch returned %d", rc);
  c.add_digest(grad);
  std::vector<double> want(n);
  std::vector<acc_t> g(C);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t yy = y[r];
    if (yy == -100 || yy < 0 || yy >= C) {
      std::fill(g.begin(), g.end(), yy == -100 ? acc_t(0) : acc_t(NAN));
    } else {
      const acc_t l = acc_t(want_lse[r]);
      const acc_t tw = wa ? wa[yy] : acc_t(1);
      const CrossEntropyIndexGrad<acc_t> kk = cross_entropy_index_grad_coeffs(G.b[r], l, tw, weight_sum, s, C, z);
      cpu::cross_entropy_index_grad_row(xrows[r].data(), g.data(), C, l, kk, wa);
      g[yy] = cross_entropy_index_grad(kk, fast_exp(xrows[r][yy] - l), true, tw);
    }
    for (int64_t cl = 0; cl < C; ++cl) want[L.dense_row_offset(r) + cl * L.dense_stride_c()] = g[cl];
  }
  th::compare(c, "grad", read_typed(k.dtype, grad.p, n), round_to(k.dtype, want), rtol_out(k.dtype),
              k.dtype == DType::Float64 ? 1e-12 : is16(k.dtype) ? 2e-3 : 2e-7);
}

void register_cross_entropy() {
  const DType dtypes[] = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16};
  // (N, C, D, transposed): a thread a row (D > 1, transposed), a warp a row
  // (C <= 2048, packed loads when C fits), a block of 256 / 512 a row.
  const CeCase shapes[] = {
      {DType::Float32, 6, 7, 1, false, false, 0, 0},    {DType::Float32, 5, 40, 1, false, true, 0.1, 0},
      {DType::Float32, 4, 9, 3, false, true, 0.05, 1e-3}, {DType::Float32, 7, 5, 1, true, false, 0, 0},
      {DType::Float32, 3, 2100, 1, false, true, 0.1, 1e-4}, {DType::Float32, 3, 2101, 1, false, false, 0, 0},
      {DType::Float32, 3, 16400, 1, false, true, 0.2, 0},
  };
  for (DType d : dtypes)
    for (CeCase k : shapes) {
      k.dtype = d;
      char name[160];
      std::snprintf(name, sizeof name, "cross_entropy_index/%s/N%lld_C%lld_D%lld%s%s/s=%g/z=%g", dtype_name(d),
                    (long long)k.N, (long long)k.C, (long long)k.D, k.transposed ? "/transposed" : "",
                    k.weighted ? "/weighted" : "", k.smoothing, k.z_loss);
      th::add(name, [k](Ctx& c) {
        if (k.dtype == DType::Float64) cross_entropy_index<double>(c, k);
        else cross_entropy_index<float>(c, k);
      });
    }
}

}  // namespace

TH_CASES(register_cross_entropy);

}  // namespace cases
