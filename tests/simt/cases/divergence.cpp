// Cases: KL and JS divergence kernels against the CPU entry points
// kl_div_fwd_cpu / kl_div_bwd_cpu / js_div_fwd_cpu / js_div_bwd_cpu
// (cpu/loops/divergence.cpp) on the same params.
#include <cstdint>

#include "common.h"
#include "kernels/divergence.h"
#include "simt/runtime.h"

namespace cases {
namespace {

struct DivCase {
  DType dtype;
  bool js;
  bool log_target;
  double beta;
  int64_t numel;
  // Which operands start one element past a 16-byte boundary (the launcher
  // then takes the scalar kernel): kInput, kTarget, kGradInput.
  int misaligned;
  // One upstream value for every chunk (grad_loss_stride 0), else one each.
  bool broadcast_grad = false;
};
constexpr int kInput = 1, kTarget = 2, kGradInput = 4;

// `n` values of dtype d, starting one element into its buffer when `shift`
// (so that, malloc being 16-byte aligned, the start is not).
struct Operand {
  Typed t;
  size_t shift;
  Operand(DType d, const std::vector<double>& v, bool misaligned)
      : t(d, with_front(v, misaligned)), shift(misaligned ? 1 : 0) {}
  static std::vector<double> with_front(const std::vector<double>& v, bool misaligned) {
    if (!misaligned) return v;
    std::vector<double> w(v.size() + 1, 0.25);
    std::copy(v.begin(), v.end(), w.begin() + 1);
    return w;
  }
  void* ptr() { return t.raw.p + shift * elem_size(t.dtype); }
  double value(size_t i) const { return t.value[i + shift]; }
};

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// |got - want| <= rtol |want| + rel_scale * scale[i] + atol, nan where nan,
// inf where inf. `scale` is the magnitude a value is computed from (the sum of
// the absolute values of its terms), which bounds the rounding of a sum whose
// terms cancel.
void compare_scaled(Ctx& c, const char* what, const std::vector<double>& got, const std::vector<double>& want,
                    const std::vector<double>& scale, double rtol, double rel_scale, double atol) {
  if (got.size() != want.size()) return c.fail("%s: %zu values, want %zu", what, got.size(), want.size());
  int bad = 0;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    bool ok;
    if (std::isnan(w) || std::isnan(g))
      ok = std::isnan(w) && std::isnan(g);
    else if (std::isinf(w) || std::isinf(g))
      ok = g == w;
    else {
      const double err = std::fabs(g - w), tol = atol + rtol * std::fabs(w) + rel_scale * scale[i];
      ok = err <= tol;
      if (tol > 0) worst = std::max(worst, err / tol);
    }
    if (!ok && bad++ < 3) c.fail("%s[%zu] = %.9g, want %.9g (scale %.3g)", what, i, g, w, scale[i]);
  }
  if (bad > 3) c.fail("%s: %d of %zu values differ", what, bad, got.size());
  static const bool verbose = std::getenv("TH_VERBOSE") != nullptr;
  if (verbose)
    std::printf("    %s %s: worst error / tolerance %.3g over %zu values\n", c.name.c_str(), what, worst, got.size());
}

// What bounds the float rounding of one element's loss and gradient (in
// double): the absolute values of the products the formula adds up, each log
// counted as |log a| + 1, because a log's argument carries a relative rounding
// error, which the log turns into an absolute one (near a = 1 the log is near
// 0, its error is not).
struct Magnitude {
  double loss, grad;
};
Magnitude magnitude(const DivCase& k, double x, double t) {
  if (!k.js) {
    if (k.log_target) return {std::exp(t) * (std::fabs(t) + std::fabs(x)), std::exp(t)};
    return {t == 0 ? 0.0 : t * (std::fabs(std::log(t)) + 1 + std::fabs(x)), std::fabs(t)};
  }
  const double b = k.beta, q = std::exp(x), p = k.log_target ? std::exp(t) : t;
  const double log_p = k.log_target ? t : std::log(p);
  const double log_m = std::log(b * p + (1 - b) * q);
  const double fq = q * (std::fabs(x) + std::fabs(log_m) + 1);
  const double fp = p == 0 ? 0.0 : p * (std::fabs(log_p) + std::fabs(log_m) + 1);
  return {b * fp + (1 - b) * fq, (1 - b) * fq};
}

template <class acc_t>
void divergence(Ctx& c, const DivCase& k) {
  auto rng = rng_for(c.name);
  const int64_t n = k.numel, chunks = divergence_chunks(n);
  // x = log q: log-probabilities, a few above 0 (an unnormalized input).
  // Target: log-probabilities, or probabilities with exact zeros (the
  // 0 log 0 = 0 select) and ones.
  std::vector<double> x(n), t(n);
  for (auto& v : x) v = uniform(rng, -14, 0.5);
  for (int64_t i = 0; i < n; ++i) {
    if (k.log_target)
      t[i] = uniform(rng, -14, 0.5);
    else
      t[i] = i % 13 == 4 ? 0.0 : i % 29 == 7 ? 1.0 : uniform(rng, 0, 1);
  }
  Operand X(k.dtype, x, k.misaligned & kInput), Tt(k.dtype, t, k.misaligned & kTarget);
  const size_t es = elem_size(k.dtype);
  // One upstream value per chunk, all different, so that a chunk scaled by its
  // neighbour's gradient shows; or one value for all (stride 0), which is not
  // the first per-chunk value, so that a stride taken as 1 reads past it.
  std::vector<double> gp(chunks);
  for (int64_t ch = 0; ch < chunks; ++ch)
    gp[ch] = k.broadcast_grad ? -1.375 : (ch % 2 ? -1.0 : 1.0) * (0.75 + 0.5 * double(ch));
  Acc<acc_t> G(k.broadcast_grad ? std::vector<double>{gp.empty() ? 1.0 : gp[0]} : gp);
  Buf<acc_t> partials(chunks);
  // The gradient buffer holds one extra element in front when misaligned.
  const size_t gshift = k.misaligned & kGradInput ? 1 : 0;
  Buf<unsigned char> grad((n + gshift) * es, es);
  void* grad_ptr = grad.p + gshift * es;

  const bool want_vec = k.misaligned == 0;
  if (want_vec && !(aligned16(X.ptr()) && aligned16(Tt.ptr()) && aligned16(grad_ptr)))
    return c.fail("buffers are not 16-byte aligned: the packed kernel would not run");

  DivergenceParams p;
  p.input = X.ptr();
  p.target = Tt.ptr();
  p.dtype = k.dtype;
  p.numel = n;
  p.log_target = k.log_target;
  p.beta = k.beta;
  p.partials = partials.p;
  p.grad_loss = G.b.p;
  p.grad_loss_stride = k.broadcast_grad ? 0 : 1;
  p.grad_input = grad_ptr;
  const auto fwd = k.js ? simt_js_div_fwd_cuda : simt_kl_div_fwd_cuda;
  const auto bwd = k.js ? simt_js_div_bwd_cuda : simt_kl_div_bwd_cuda;
  if (int rc = fwd(&p)) return c.fail("forward launch returned %d", rc);
  if (partials.unwritten())
    c.fail("forward left %zu of %lld partials unwritten", partials.unwritten(), (long long)chunks);
  c.add_digest(partials);
  if (int rc = bwd(&p)) return c.fail("backward launch returned %d", rc);
  if (gshift && grad.unwritten() != 1) c.fail("backward wrote before grad_input or left elements unwritten");
  if (!gshift && grad.unwritten())
    c.fail("backward left %zu of %lld elements unwritten", grad.unwritten(), (long long)n);
  c.add_digest(grad);

  // Reference: the CPU entry points on the same params, serially, into their
  // own outputs. The gradient is the backward entry's. A partial sum is the
  // forward entry's terms (the entry run on one element at a time) added in
  // long double: the entry's own float sum of a whole chunk, thousands of
  // additions in each SIMD lane, rounds far more than the device's (below),
  // and would hide its errors; it is checked on its own, against the bound of
  // any summation order.
  const auto fwd_cpu = k.js ? js_div_fwd_cpu : kl_div_fwd_cpu;
  const auto bwd_cpu = k.js ? js_div_bwd_cpu : kl_div_bwd_cpu;
  DivergenceParams q = p;
  std::vector<acc_t> ref_partials(chunks);
  std::vector<unsigned char> ref_grad(n * es);
  q.partials = ref_partials.data();
  q.grad_input = ref_grad.data();
  fwd_cpu(q, serial_for);
  bwd_cpu(q, serial_for);
  DivergenceParams one = q;
  one.numel = 1;
  acc_t term = 0;
  one.partials = &term;
  std::vector<double> want_partials(chunks), scale_partials(chunks), scale_grad(n);
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const int64_t begin = ch * kDivergenceChunk, end = std::min(begin + kDivergenceChunk, n);
    long double sum = 0;
    double s = 0;
    for (int64_t i = begin; i < end; ++i) {
      one.input = static_cast<const unsigned char*>(p.input) + i * es;
      one.target = static_cast<const unsigned char*>(p.target) + i * es;
      fwd_cpu(one, serial_for);
      sum += term;
      const Magnitude m = magnitude(k, X.value(i), Tt.value(i));
      s += m.loss;
      scale_grad[i] = std::fabs(gp[ch]) * m.grad;
    }
    want_partials[ch] = double(sum);
    scale_partials[ch] = s;
  }
  // The entry's chunk sums: (len - 1) roundings of at most the chunk's
  // magnitude each, whatever the order of the additions.
  const double unit = k.dtype == DType::Float64 ? std::ldexp(1.0, -53) : std::ldexp(1.0, -24);
  compare_scaled(c, "cpu partials", to_double(ref_partials.data(), chunks), want_partials, scale_partials, 0,
                 double(kDivergenceChunk) * unit, 0);
  // The device's terms differ from the CPU loop's by their exp and log
  // (__expf, logf against the CPU's polynomials): a few 1e-7 of the element's
  // magnitude for the arguments used here. Its sum adds 64 terms in each
  // thread (16384 / 256), then 5 shuffle levels and 8 warp sums: at most 77
  // roundings of 2^-24 of the chunk's magnitude (float), 2^-53 (double); the
  // sum itself cancels (terms of both signs), so it cannot be the scale.
  const bool dbl = k.dtype == DType::Float64;
  compare_scaled(c, "partials", to_double(partials.p, chunks), want_partials, scale_partials, 0, dbl ? 1e-14 : 6e-6, 0);
  // Gradient: the same per-element differences, then one rounding to the
  // input dtype on each side (a float16 result may be subnormal: atol is one
  // of its smallest steps).
  compare_scaled(c, "grad", read_typed(k.dtype, grad_ptr, n), read_typed(k.dtype, ref_grad.data(), n), scale_grad,
                 is16(k.dtype) ? rtol_out(k.dtype) : 0, dbl ? 1e-14 : 2e-6, k.dtype == DType::Float16 ? 6e-8 : 0);
}

// numel == 0: nothing is launched and nothing written.
void divergence_empty(Ctx& c) {
  Buf<float> partials(1), grad(1);
  const Buf<float> in(1), tg(1), gp(1);
  DivergenceParams p;
  p.input = in.p;
  p.target = tg.p;
  p.numel = 0;
  p.partials = partials.p;
  p.grad_loss = gp.p;
  p.grad_input = grad.p;
  const long before = simt::launches();
  for (auto fn : {simt_kl_div_fwd_cuda, simt_kl_div_bwd_cuda, simt_js_div_fwd_cuda, simt_js_div_bwd_cuda})
    if (int rc = fn(&p)) c.fail("launcher returned %d on an empty input", rc);
  if (simt::launches() != before) c.fail("%ld kernels launched for an empty input", simt::launches() - before);
  if (partials.unwritten() != 1 || grad.unwritten() != 1) c.fail("an empty input wrote an output");
}

void add_case(const DivCase& k, const char* layout) {
  char name[200];
  const char* kind = k.js ? "js" : "kl";
  const char* grad = k.broadcast_grad ? "/grad_broadcast" : "";
  if (k.js)
    std::snprintf(name, sizeof name, "divergence/%s/%s/beta=%g/%s/%s/n%lld%s", kind, dtype_name(k.dtype), k.beta,
                  k.log_target ? "log_target" : "prob_target", layout, (long long)k.numel, grad);
  else
    std::snprintf(name, sizeof name, "divergence/%s/%s/%s/%s/n%lld%s", kind, dtype_name(k.dtype),
                  k.log_target ? "log_target" : "prob_target", layout, (long long)k.numel, grad);
  th::add(name, [k](Ctx& c) {
    if (k.dtype == DType::Float64)
      divergence<double>(c, k);
    else
      divergence<float>(c, k);
  });
}

void register_divergence() {
  const DType dtypes[] = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16};
  // Two full chunks and a ragged third whose length (1003) is a multiple of no
  // packet width, so the packed kernel also runs its scalar tail.
  const int64_t ragged = 2 * kDivergenceChunk + 1003;
  // No launcher code depends on beta; these are the symmetric JSD, both
  // lopsided weights, and the ends of the glue's [0, 1] (there M is one of the
  // two distributions; the targets here have no zero where that gives 0 * inf).
  for (DType d : dtypes) {
    for (int lt = 0; lt < 2; ++lt) {
      add_case({d, false, bool(lt), 0.5, ragged, 0}, "packed");
      for (double beta : {0.5, 0.1, 0.9}) add_case({d, true, bool(lt), beta, ragged, 0}, "packed");
    }
    add_case({d, true, true, 0.0, 5000, 0}, "packed");
    add_case({d, true, true, 1.0, 5000, 0}, "packed");
    // The scalar kernel: each operand alone off a 16-byte boundary (the KL
    // backward reads no input, yet its launcher still checks it).
    for (int js = 0; js < 2; ++js) {
      add_case({d, bool(js), false, 0.5, kDivergenceChunk + 517, kInput}, "misaligned_input");
      add_case({d, bool(js), true, 0.3, kDivergenceChunk + 517, kTarget}, "misaligned_target");
      add_case({d, bool(js), js == 0, 0.7, kDivergenceChunk + 517, kGradInput}, "misaligned_grad");
    }
    // One upstream value for every chunk (what a sum of the partials hands back).
    for (int js = 0; js < 2; ++js) {
      add_case({d, bool(js), js == 1, 0.5, ragged, 0, true}, "packed");
      add_case({d, bool(js), js == 0, 0.5, kDivergenceChunk + 517, kGradInput, true}, "misaligned_grad");
    }
    // Fewer elements than a packet: the packed kernel is all tail.
    add_case({d, false, false, 0.5, 5, 0}, "packed");
    add_case({d, true, false, 0.5, 3, kInput | kTarget | kGradInput}, "misaligned_all");
  }
  // Chunks that divide the input exactly (no ragged chunk).
  add_case({DType::Float32, true, true, 0.5, 2 * kDivergenceChunk, 0}, "packed");
  add_case({DType::BFloat16, false, true, 0.5, kDivergenceChunk, kInput}, "misaligned_input");
  th::add("divergence/empty", divergence_empty);

  th::expect_branch("divergence_fwd_kernel", "several chunks (grid > 1)",
                    [](const simt::LaunchRecord& r) { return r.grid[0] > 1; });
  th::expect_branch("divergence_bwd_kernel", "several chunks (grid > 1)",
                    [](const simt::LaunchRecord& r) { return r.grid[0] > 1; });
}

}  // namespace

TH_CASES(register_divergence);

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

void divergence(bool js, int64_t numel) {
  Workload w(std::to_string(numel) + " f32, probability target");
  DivergenceParams p;
  p.dtype = DType::Float32;
  p.numel = numel;
  p.input = w.uniform("input", numel, -8, -0.1);  // log q
  p.target = w.uniform("target", numel, 0, 1);
  p.beta = 0.5;
  const int64_t chunks = divergence_chunks(numel);
  p.partials = w.buf<float>("partials", chunks);
  const char* fwd = js ? "js_div_fwd_cuda" : "kl_div_fwd_cuda";
  const char* bwd = js ? "js_div_bwd_cuda" : "kl_div_bwd_cuda";
  w.run(fwd, [&] { return js ? simt_js_div_fwd_cuda(&p) : simt_kl_div_fwd_cuda(&p); },
        {{{{"input"}, {"target"}}, {{"partials"}}, ""}});
  p.grad_loss = w.uniform("grad_loss", chunks, 0.5, 1);
  p.grad_input = w.buf<float>("grad_input", numel);
  // The KL gradient depends on the target alone.
  std::vector<Need> reads = {{"target"}, {"grad_loss"}};
  if (js) reads.push_back({"input"});
  w.run(bwd, [&] { return js ? simt_js_div_bwd_cuda(&p) : simt_kl_div_bwd_cuda(&p); }, {{reads, {{"grad_input"}}, ""}});
}

void divergence_workloads() {
  divergence(false, 1 << 18);
  divergence(true, 1 << 18);
}

}  // namespace

TRAFFIC_WORKLOADS(divergence_workloads)

}  // namespace traffic
#endif
