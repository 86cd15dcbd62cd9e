// Cases: total variation (tv_fwd_partial_kernel, tv_fwd_combine_kernel,
// tv_bwd_kernel) against the CPU entry points total_variation_fwd_cpu and
// total_variation_bwd_cpu (cpu/loops/total_variation.cpp) on the same params.
#include <algorithm>
#include <cmath>

#include "common.h"
#include "kernels/total_variation.h"

namespace cases {
namespace {

struct TvCase {
  DType dtype;
  bool isotropic;
  double beta;  // isotropic exponent: 1 (sqrt), 2 (square), other (pow)
  double eps;
  bool mean;
  int64_t planes, height, width;
  bool broadcast = false;  // one upstream gradient for every plane (grad_loss_stride 0)
};

TvPower power_of(double beta) { return beta == 1.0 ? TvPower::Sqrt : beta == 2.0 ? TvPower::Square : TvPower::General; }

// The largest |term| of a pixel's gradient for inputs in [-2, 2] (|d| <= 4,
// s = dx^2 + dy^2 + eps <= 32 + eps): anisotropic 1 (a sign); isotropic
// |coef * d| = beta s^(beta/2 - 1) |d| <= beta s^((beta - 1)/2), i.e. 1 for
// sqrt, 8 for square (coef = 2), and for pow its largest value over
// eps <= s <= 32 + eps.
double tv_term_bound(const TvCase& k) {
  if (!k.isotropic || k.beta == 1.0) return 1.0;
  if (k.beta == 2.0) return 8.0;
  const double e = (k.beta - 1) / 2;
  return k.beta * (e >= 0 ? std::pow(32 + k.eps, e) : std::pow(k.eps, e));
}

template <class acc_t>
void total_variation(Ctx& c, const TvCase& k) {
  auto rng = rng_for(c.name);
  const int64_t P = k.planes, H = k.height, W = k.width, HW = H * W, n = P * HW;
  std::vector<double> x(n);
  for (auto& v : x) v = uniform(rng, -2, 2);
  // Flat patches: differences of exactly 0 (sign 0; isotropic cells with
  // s = 0 when eps = 0, whose coefficient is defined as 0).
  for (int64_t i = 0; i + 3 < n; i += 37) x[i + 1] = x[i + 2] = x[i + 3] = x[i];
  Typed X(k.dtype, x);

  // The weights as ops/total_variation.cpp sets them.
  auto weight = [&](int64_t count) { return !k.mean ? 1.0 : (count > 0 ? 1.0 / double(count) : 0.0); };
  TotalVariationParams p;
  p.input = X.ptr();
  p.dtype = k.dtype;
  p.planes = HW == 0 ? 0 : P;
  p.height = H;
  p.width = W;
  p.isotropic = k.isotropic;
  p.power = power_of(k.beta);
  p.beta = k.beta;
  p.eps = k.eps;
  if (k.isotropic) {
    p.wy = p.wx = weight(std::max<int64_t>(H - 1, 0) * std::max<int64_t>(W - 1, 0));
  } else {
    p.wy = weight(std::max<int64_t>(H - 1, 0) * W);
    p.wx = weight(H * std::max<int64_t>(W - 1, 0));
  }
  // As csrc/ops/total_variation.cpp sizes them.
  p.chunks = (HW + kTvChunkPixels - 1) / kTvChunkPixels;
  const int64_t planes = p.planes;
  Buf<acc_t> loss(planes), partial(2 * planes * p.chunks);
  p.loss = loss.p;
  p.partial = partial.p;

  const long before = simt::launches();
  if (int rc = simt_total_variation_fwd_cuda(&p)) return c.fail("forward launch returned %d", rc);
  const long fwd_launches = simt::launches() - before;
  if (fwd_launches != (planes ? 2 : 0)) c.fail("forward made %ld launches", fwd_launches);
  if (loss.unwritten()) c.fail("forward left %zu of %lld losses unwritten", loss.unwritten(), (long long)planes);
  if (partial.unwritten()) c.fail("%zu chunk partials unwritten", partial.unwritten());
  c.add_digest(loss);

  std::vector<double> gl(std::max<int64_t>(planes, 1));
  for (auto& v : gl) v = uniform(rng, -2, 2);
  Acc<acc_t> G(gl);
  p.grad_loss = G.b.p;
  p.grad_loss_stride = k.broadcast ? 0 : 1;
  Buf<unsigned char> grad(planes * HW * elem_size(k.dtype), elem_size(k.dtype));
  p.grad_input = grad.p;
  const long before_bwd = simt::launches();
  if (int rc = simt_total_variation_bwd_cuda(&p)) return c.fail("backward launch returned %d", rc);
  if (simt::launches() - before_bwd != (planes ? 1 : 0)) c.fail("backward made the wrong number of launches");
  if (grad.unwritten()) c.fail("backward left %zu gradients unwritten", grad.unwritten());
  c.add_digest(grad);
  if (planes == 0) return;

  // Reference: the CPU entry points on the same params, serially, into their own outputs.
  TotalVariationParams q = p;
  std::vector<acc_t> ref_loss(planes), ref_partial(total_variation_partial_count(p, false));
  std::vector<unsigned char> ref_grad(planes * HW * elem_size(k.dtype));
  q.loss = ref_loss.data();
  q.partial = ref_partial.data();
  q.grad_input = ref_grad.data();
  total_variation_fwd_cpu(q, serial_for);
  total_variation_bwd_cpu(q, serial_for);
  const std::vector<double> want_loss = to_double(ref_loss.data(), planes);
  // The loss is a sum of non-negative terms: relative tolerance.
  const bool dbl = k.dtype == DType::Float64;
  th::compare(c, "loss", to_double(loss.p, planes), want_loss, rtol_acc(k.dtype), dbl ? 1e-12 : 1e-6);
  // A pixel's gradient is g w times a sum of up to four terms (anisotropic:
  // signs; isotropic: coef * d) that cancel, so its error follows the size
  // of the terms, not of the result: a few float roundings of the largest.
  const double g_max = std::fabs(
      *std::max_element(gl.begin(), gl.end(), [](double a, double b) { return std::fabs(a) < std::fabs(b); }));
  const double scale = g_max * std::max(p.wy, p.wx) * 4 * tv_term_bound(k);
  if (!std::isfinite(scale)) return c.fail("no bound on the gradient's terms (beta < 1 needs eps > 0)");
  const double atol =
      dbl ? std::ldexp(scale, -48) : std::ldexp(scale, -21) + (k.dtype == DType::Float16 ? std::ldexp(1.0, -24) : 0.0);
  th::compare(c, "grad", read_typed(k.dtype, grad.p, planes * HW), read_typed(k.dtype, ref_grad.data(), planes * HW),
              rtol_out(k.dtype), atol);
}

void add_case(const TvCase& k) {
  char name[200];
  std::snprintf(name, sizeof name, "total_variation/%s/%s/P%lld_%lldx%lld%s%s", dtype_name(k.dtype),
                k.isotropic
                    ? ("iso/beta=" + std::to_string(k.beta).substr(0, 4) + "/eps=" + (k.eps > 0 ? "1e-3" : "0")).c_str()
                    : "aniso",
                (long long)k.planes, (long long)k.height, (long long)k.width, k.mean ? "/mean" : "/sum",
                k.broadcast ? "/broadcast" : "");
  th::add(name, [k](Ctx& c) {
    if (k.dtype == DType::Float64)
      total_variation<double>(c, k);
    else
      total_variation<float>(c, k);
  });
}

void register_total_variation() {
  const DType dtypes[] = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16};
  struct Kind {
    bool iso;
    double beta, eps;
  };
  // Anisotropic, and isotropic with each TvPower (sqrt, square, pow), with
  // and without eps.
  const Kind kinds[] = {{false, 1, 0}, {true, 1, 0}, {true, 1, 1e-3}, {true, 2, 0}, {true, 1.5, 0}, {true, 0.7, 1e-3}};
  for (DType d : dtypes)
    for (const Kind& kd : kinds) {
      add_case({d, kd.iso, kd.beta, kd.eps, false, 3, 9, 13});
      add_case({d, kd.iso, kd.beta, kd.eps, true, 1, 65, 64});  // two chunks, the second of one row
      add_case({d, kd.iso, kd.beta, kd.eps, true, 2, 1, 17});   // a single row
      TvCase col{d, kd.iso, kd.beta, kd.eps, false, 2, 19, 1};  // a single column
      col.broadcast = true;
      add_case(col);
    }
  // Three chunks per plane, the last one partial; more planes than a block of
  // the combine kernel has threads; a 1 x 1 plane.
  add_case({DType::Float32, false, 1, 0, false, 2, 100, 90});
  add_case({DType::Float64, true, 1, 0, true, 1, 100, 90});
  add_case({DType::Float32, true, 1.5, 1e-3, true, 257, 2, 2});
  add_case({DType::Float32, true, 1, 0, false, 3, 1, 1});
  add_case({DType::Float32, false, 1, 0, true, 3, 1, 1});
  // Empty input: no plane, or planes of no pixel (the glue's planes = 0).
  add_case({DType::Float32, false, 1, 0, false, 0, 4, 5});
  add_case({DType::Float64, true, 1, 0, true, 3, 0, 5});
}

}  // namespace

TH_CASES(register_total_variation);

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

void total_variation(int64_t planes, int64_t h, int64_t wd, bool isotropic) {
  Workload w(std::to_string(planes) + "x" + std::to_string(h) + "x" + std::to_string(wd) + " f32, " +
             (isotropic ? "isotropic" : "anisotropic") + ", 'mean'");
  TotalVariationParams p;
  p.dtype = DType::Float32;
  p.planes = planes;
  p.height = h;
  p.width = wd;
  p.isotropic = isotropic;
  p.input = w.uniform("input", planes * h * wd, 0, 1);
  p.chunks = (h * wd + kTvChunkPixels - 1) / kTvChunkPixels;
  p.loss = w.buf<float>("loss", planes);
  p.partial = w.buf<float>("partial", 2 * planes * p.chunks);
  // A stencil: every pixel is loaded as a centre and as a neighbour of others,
  // by neighbouring threads (the same sectors, one row apart at most).
  w.run("total_variation_fwd_cuda", [&] { return simt_total_variation_fwd_cuda(&p); },
        {{{{"input"}},
          {{"partial"}},
          "a stencil: each pixel is loaded as a centre and again as the down and the right neighbour of two "
          "others, in coalesced loads of the same or the next image row; the repeats are expected to hit L1, "
          "unique = minimum"},
         {{{"partial"}}, {{"loss"}}, ""}});
  p.grad_loss = w.uniform("grad_loss", 1, 0.5, 1);
  p.grad_loss_stride = 0;
  p.grad_input = w.buf<float>("grad_input", planes * h * wd);
  w.run("total_variation_bwd_cuda", [&] { return simt_total_variation_bwd_cuda(&p); },
        {{{{"input"}, {"grad_loss"}},
          {{"grad_input"}},
          isotropic ? "gather form: each thread loads its pixel and six neighbours (up, down, left, right, "
                      "up-right, down-left) so that each gradient element is written once, without atomics; "
                      "the loads are coalesced and repeat bytes of neighbouring threads (expected to hit L1), "
                      "unique = minimum"
                    : "gather form: each thread loads its pixel and four neighbours so that each gradient "
                      "element is written once, without atomics; the loads are coalesced and repeat bytes of "
                      "neighbouring threads (expected to hit L1), unique = minimum"}});
}

void total_variation_workloads() {
  total_variation(6, 64, 64, false);
  total_variation(6, 64, 64, true);
}

}  // namespace

TRAFFIC_WORKLOADS(total_variation_workloads)

}  // namespace traffic
#endif
