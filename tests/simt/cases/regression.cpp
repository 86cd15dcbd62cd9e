// Cases: smooth L1 and Huber kernels against the CPU entry points
// regression_fwd_cpu and regression_bwd_cpu (cpu/loops/regression.cpp) on
// the same params.
#include "common.h"
#include "kernels/regression.h"
#include "simt/runtime.h"

namespace cases {
namespace {

struct RegCase {
  DType dtype;
  RegressionKind kind;
  double param;  // smooth L1's beta (0: the L1 loss) or Huber's delta
  int64_t numel;
  bool broadcast_grad;  // upstream gradient as one value (stride 0)
};

template <class acc_t>
void regression(Ctx& c, const RegCase& k) {
  auto rng = rng_for(c.name);
  const int64_t n = k.numel;
  std::vector<double> x(n), y(n);
  for (int64_t i = 0; i < n; ++i) x[i] = uniform(rng, -4, 4), y[i] = uniform(rng, -4, 4);
  // Differences exactly on the branch points (all representable in every
  // dtype for the params used): d = +param, -param, 0, and infinite inputs.
  // No nan: smooth L1's backward takes sign(nan) as 0 where torch gives nan.
  if (n >= 8) {
    x[0] = 1.5 + k.param, y[0] = 1.5;
    x[1] = -1.5 - k.param, y[1] = -1.5;
    x[2] = y[2] = 0.75;
    x[3] = -2, y[3] = -2;
    x[4] = INFINITY, y[4] = 1;
    x[5] = -INFINITY, y[5] = 1;
    x[6] = 0.5, y[6] = 0.5 - k.param;
  }
  Typed X(k.dtype, x), Y(k.dtype, y);
  const size_t es = elem_size(k.dtype);
  std::vector<double> gl(k.broadcast_grad ? 1 : n);
  for (auto& v : gl) v = uniform(rng, -2, 2);
  Acc<acc_t> G(gl);
  Buf<unsigned char> loss(n * es, es), grad(n * es, es);

  RegressionParams p;
  p.input = X.ptr();
  p.target = Y.ptr();
  p.dtype = k.dtype;
  p.numel = n;
  p.kind = k.kind;
  p.param = k.param;
  p.loss = loss.p;
  p.grad_loss = G.b.p;
  p.grad_loss_stride = k.broadcast_grad ? 0 : 1;
  p.grad_input = grad.p;
  if (int rc = simt_regression_fwd_cuda(&p)) return c.fail("forward launch returned %d", rc);
  if (loss.unwritten()) c.fail("forward left %zu of %lld elements unwritten", loss.unwritten(), (long long)n);
  c.add_digest(loss);
  if (int rc = simt_regression_bwd_cuda(&p)) return c.fail("backward launch returned %d", rc);
  if (grad.unwritten()) c.fail("backward left %zu of %lld elements unwritten", grad.unwritten(), (long long)n);
  c.add_digest(grad);

  // Reference: the CPU entry points on the same params, serially, into their own outputs.
  Buf<unsigned char> ref_loss(n * es, es), ref_grad(n * es, es);
  RegressionParams q = p;
  q.loss = ref_loss.p;
  q.grad_input = ref_grad.p;
  regression_fwd_cpu(q, serial_for);
  regression_bwd_cpu(q, serial_for);
  if (ref_loss.unwritten() || ref_grad.unwritten()) c.fail("the CPU entries left outputs unwritten");
  // Both sides run the same float / double operations in the same order (the
  // build contracts no multiply-add) and round to float16 / bfloat16 the same
  // way: equal bit for bit. Even one ulp of slack in float16 would let through
  // a kernel that computes in the storage type instead of the accumulate type.
  th::compare(c, "loss", read_typed(k.dtype, loss.p, n), read_typed(k.dtype, ref_loss.p, n), 0, 0);
  th::compare(c, "grad", read_typed(k.dtype, grad.p, n), read_typed(k.dtype, ref_grad.p, n), 0, 0);
}

// numel == 0: nothing is launched and nothing written.
void regression_empty(Ctx& c) {
  Buf<float> loss(1), grad(1);
  const Buf<float> in(1), tg(1), gl(1);
  RegressionParams p;
  p.input = in.p;
  p.target = tg.p;
  p.numel = 0;
  p.loss = loss.p;
  p.grad_loss = gl.p;
  p.grad_input = grad.p;
  const long before = simt::launches();
  for (RegressionKind kind : {RegressionKind::SmoothL1, RegressionKind::Huber}) {
    p.kind = kind;
    if (int rc = simt_regression_fwd_cuda(&p)) c.fail("forward returned %d on an empty input", rc);
    if (int rc = simt_regression_bwd_cuda(&p)) c.fail("backward returned %d on an empty input", rc);
    regression_fwd_cpu(p, serial_for);
    regression_bwd_cpu(p, serial_for);
  }
  if (simt::launches() != before) c.fail("%ld kernels launched for an empty input", simt::launches() - before);
  if (loss.unwritten() != 1 || grad.unwritten() != 1) c.fail("an empty input wrote an output");
}

void register_regression() {
  const DType dtypes[] = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16};
  const std::pair<RegressionKind, double> kinds[] = {{RegressionKind::SmoothL1, 1.0},
                                                     {RegressionKind::SmoothL1, 0.25},
                                                     {RegressionKind::SmoothL1, 0.0},
                                                     {RegressionKind::Huber, 1.0},
                                                     {RegressionKind::Huber, 2.5}};
  for (DType d : dtypes)
    for (auto kp : kinds)
      for (int bc = 0; bc < 2; ++bc)
        for (int64_t n : {int64_t(1000), int64_t(5)}) {
          if (n == 5 && (bc || kp.second != 1.0)) continue;  // one block, fewer threads than it has
          const RegCase k{d, kp.first, kp.second, n, bool(bc)};
          char name[160];
          std::snprintf(name, sizeof name, "regression/%s/%s=%g/%s/n%lld", dtype_name(d),
                        kp.first == RegressionKind::SmoothL1 ? "smooth_l1/beta" : "huber/delta", kp.second,
                        bc ? "grad_broadcast" : "grad_per_element", (long long)n);
          th::add(name, [k](Ctx& c) {
            if (k.dtype == DType::Float64)
              regression<double>(c, k);
            else
              regression<float>(c, k);
          });
        }
  th::add("regression/empty", regression_empty);
  th::expect_branch("regression_fwd_kernel", "several blocks (grid > 1)",
                    [](const simt::LaunchRecord& r) { return r.grid[0] > 1; });
  th::expect_branch("regression_bwd_kernel", "several blocks (grid > 1)",
                    [](const simt::LaunchRecord& r) { return r.grid[0] > 1; });
}

}  // namespace

TH_CASES(register_regression);

}  // namespace cases

#if defined(SIMT_TRAFFIC)
// ---- The memory-traffic workloads of these kernels (make -C tests/simt traffic): each
// launcher at a representative size, float32, on inputs laid out as the torch op passes them,
// and what each launch must move at least; the `why` strings explain a launch that moves more
// than 1.25x its minimum or whose requests are not coalesced. Built only into the traffic binary.
#include "traffic/workload.h"

namespace traffic {
namespace {

using namespace lossext;

void regression(int64_t numel) {
  Workload w(std::to_string(numel) + " f32, smooth L1, 'mean'");
  RegressionParams p;
  p.dtype = DType::Float32;
  p.numel = numel;
  p.kind = RegressionKind::SmoothL1;
  p.param = 1.0;
  p.input = w.uniform("input", numel, -3, 3);
  p.target = w.uniform("target", numel, -3, 3);
  p.loss = w.buf<float>("loss", numel);
  w.run("regression_fwd_cuda", [&] { return simt_regression_fwd_cuda(&p); },
        {{{{"input"}, {"target"}}, {{"loss"}}, ""}});
  p.grad_loss = w.uniform("grad_loss", 1, 0.5, 1);
  p.grad_loss_stride = 0;
  p.grad_input = w.buf<float>("grad_input", numel);
  w.run("regression_bwd_cuda", [&] { return simt_regression_bwd_cuda(&p); },
        {{{{"input"}, {"target"}, {"grad_loss"}}, {{"grad_input"}}, ""}});
}

void regression_workloads() { regression(1 << 18); }

}  // namespace

TRAFFIC_WORKLOADS(regression_workloads)

}  // namespace traffic
#endif
