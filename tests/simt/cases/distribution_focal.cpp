// Cases: distribution focal loss (dfl_fwd_kernel with a thread or a warp per
// row, dfl_bwd_kernel) against the CPU entry points
// distribution_focal_{fwd,bwd}_cpu fed the same params (serially).
#include <cmath>

#include "common.h"
#include "kernels/distribution_focal.h"

namespace cases {
namespace {

struct DflCase {
  DType dtype;
  int64_t rows, bins;
  bool bad_labels = false;  // nan, negative and past-the-end labels: nan rows, nothing read out of bounds
  bool broadcast = false;   // one upstream gradient for every row (grad_loss_stride 0)
};

template <class acc_t>
void dfl(Ctx& c, const DflCase& k) {
  auto rng = rng_for(c.name);
  const int64_t R = k.rows, B = k.bins, n = R * B;
  std::vector<double> x(n), y(R);
  for (auto& v : x) v = uniform(rng, -6, 6);
  for (auto& v : y) v = uniform(rng, 0, double(B - 1));
  // Labels on a bin, on the first and on the last bin (the last interval's limit).
  for (int64_t i = 0; i < R; i += 5) y[i] = std::floor(y[i]);
  if (R > 1) y[1] = double(B - 1);
  if (R > 2) y[2] = 0;
  if (k.bad_labels && R > 6) {
    y[3] = NAN;
    y[4] = -0.25;
    y[5] = double(B - 1) + 0.5;
    y[6] = double(B + 40);
  }
  Typed X(k.dtype, x);
  Acc<acc_t> Y(y);
  DistributionFocalParams p;
  p.pred = X.ptr();
  p.dtype = k.dtype;
  p.label = Y.b.p;
  p.rows = R;
  p.bins = B;
  Buf<acc_t> loss(R), lse(R);
  p.loss = loss.p;
  p.lse = lse.p;
  const long before = simt::launches();
  if (int rc = simt_distribution_focal_fwd_cuda(&p)) return c.fail("forward launch returned %d", rc);
  if (simt::launches() - before != (R ? 1 : 0)) c.fail("forward made the wrong number of launches");
  if (loss.unwritten() || lse.unwritten()) c.fail("forward left outputs unwritten");
  c.add_digest(loss);
  c.add_digest(lse);

  std::vector<double> gl(std::max<int64_t>(R, 1));
  for (auto& v : gl) v = uniform(rng, -2, 2);
  Acc<acc_t> G(gl);
  p.grad_loss = G.b.p;
  p.grad_loss_stride = k.broadcast ? 0 : 1;
  p.saved_lse = lse.p;
  Buf<unsigned char> grad(n * elem_size(k.dtype), elem_size(k.dtype));
  p.grad_pred = grad.p;
  const long before_bwd = simt::launches();
  if (int rc = simt_distribution_focal_bwd_cuda(&p)) return c.fail("backward launch returned %d", rc);
  if (simt::launches() - before_bwd != (R ? 1 : 0)) c.fail("backward made the wrong number of launches");
  if (grad.unwritten()) c.fail("backward left %zu gradients unwritten", grad.unwritten());
  c.add_digest(grad);
  if (R == 0) return;

  // Reference: the CPU entry points on the same inputs; the backward fed the device's lse.
  DistributionFocalParams r = p;
  std::vector<acc_t> want_loss(R), want_lse(R);
  Buf<unsigned char> want_grad(n * elem_size(k.dtype), elem_size(k.dtype));
  r.loss = want_loss.data();
  r.lse = want_lse.data();
  r.grad_pred = want_grad.p;
  const int64_t bad = distribution_focal_fwd_cpu(r, serial_for).bad_index_at;
  if (bad != (k.bad_labels && R > 6 ? 3 : -1)) c.fail("the CPU entry reported bad row %lld", (long long)bad);
  distribution_focal_bwd_cpu(r, serial_for);
  const bool dbl = k.dtype == DType::Float64;
  th::compare(c, "lse", to_double(lse.p, R), to_double(want_lse.data(), R), rtol_acc(k.dtype), dbl ? 1e-12 : 1e-6);
  th::compare(c, "loss", to_double(loss.p, R), to_double(want_loss.data(), R), rtol_acc(k.dtype), dbl ? 1e-12 : 1e-5);
  // A gradient element is g ((wl + wr) p - w): its error follows |g|, not the result.
  const double atol = dbl ? 1e-13 : 2 * 4e-6 + (k.dtype == DType::Float16 ? std::ldexp(1.0, -24) : 0.0);
  th::compare(c, "grad", read_typed(k.dtype, grad.p, n), read_typed(k.dtype, want_grad.p, n), rtol_out(k.dtype), atol);
}

void add_case(const DflCase& k) {
  char name[160];
  std::snprintf(name, sizeof name, "distribution_focal/%s/R%lld_B%lld%s%s", dtype_name(k.dtype), (long long)k.rows,
                (long long)k.bins, k.bad_labels ? "/bad_labels" : "", k.broadcast ? "/broadcast" : "");
  th::add(name, [k](Ctx& c) {
    if (k.dtype == DType::Float64)
      dfl<double>(c, k);
    else
      dfl<float>(c, k);
  });
}

void register_distribution_focal() {
  const DType dtypes[] = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16};
  for (DType d : dtypes) {
    add_case({d, 300, 16});             // YOLOv8's bins, a thread per row, two blocks
    add_case({d, 37, 17, true});        // mmdet's, bad labels
    add_case({d, 9, 40, false, true});  // a warp per row (more bins than lanes)
    add_case({d, 20, 32, true});        // the largest thread-per-row width
  }
  add_case({DType::Float32, 70, 33, true, true});  // several blocks of warp rows
  add_case({DType::Float32, 1, 2});                // the smallest row
  add_case({DType::Float64, 0, 17});               // no rows: no launch
  th::expect_branch("dfl_fwd_kernel", "several blocks (grid > 1)",
                    [](const simt::LaunchRecord& r) { return r.grid[0] > 1; });
}

}  // namespace

TH_CASES(register_distribution_focal);

}  // namespace cases

#if defined(SIMT_TRAFFIC)
// ---- The memory-traffic workloads of these kernels (make -C tests/simt traffic): YOLOv8's 16
// bins (a thread per row) and 40 bins (a warp per row), float32, as the torch op passes them.
#include "traffic/workload.h"

namespace traffic {
namespace {

using namespace lossext;

void dfl(int64_t rows, int64_t bins) {
  Workload w(std::to_string(rows) + "x" + std::to_string(bins) + " f32");
  DistributionFocalParams p;
  p.dtype = DType::Float32;
  p.rows = rows;
  p.bins = bins;
  p.pred = w.uniform("pred", rows * bins, -4, 4);
  p.label = w.uniform("label", rows, 0, double(bins - 1));
  p.loss = w.buf<float>("loss", rows);
  p.lse = w.buf<float>("lse", rows);
  const bool thread_rows = bins <= kDflThreadRowBins;
  w.run("distribution_focal_fwd_cuda", [&] { return simt_distribution_focal_fwd_cuda(&p); },
        {{{{"pred"}, {"label"}},
          {{"loss"}, {"lse"}},
          thread_rows ? "a thread per row: a warp's loads of one bin are a row (64 bytes for 16 float bins) apart, "
                        "so each load instruction touches 32 sectors; the row's later bins hit L1, and the two "
                        "logits at the label are loaded again after the row loop (L1), unique = minimum"
                      : "a warp per row: coalesced loads of the row; lane 0 loads the two logits at the label "
                        "again after the reduction (L1), unique = minimum"}});
  p.saved_lse = p.lse;
  p.grad_loss = w.uniform("grad_loss", 1, 0.5, 1);
  p.grad_loss_stride = 0;
  p.grad_pred = w.buf<float>("grad_pred", rows * bins);
  w.run("distribution_focal_bwd_cuda", [&] { return simt_distribution_focal_bwd_cuda(&p); },
        {{{{"pred"}, {"label"}, {"lse"}, {"grad_loss"}},
          {{"grad_pred"}},
          "a thread per element: the row's label and lse are loaded by every thread of the row (the same "
          "sector, broadcast), unique = minimum"}});
}

void distribution_focal_workloads() {
  dfl(4096, 16);
  dfl(512, 40);
}

}  // namespace

TRAFFIC_WORKLOADS(distribution_focal_workloads)

}  // namespace traffic
#endif
