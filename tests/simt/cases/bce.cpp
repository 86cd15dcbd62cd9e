// Cases: the sigmoid cross-entropy kernels (BCE with logits, quality focal,
// varifocal) against the CPU entry points (cpu/bce.cpp) fed the same
// params.
#include "common.h"
#include "kernels/bce.h"
#include "simt/runtime.h"

namespace cases {
namespace {

struct BceCase {
  DType dtype;
  BceKind kind;
  double exponent;
  bool iou_weighted;
  bool label_target;  // quality focal's (label, score) form
  int factors;        // 0 none; 1 weight (C,) [+ pos_weight (N, 1) for BCE]; 2 weight (N, C) [+ pos_weight (C,)]
  int64_t rows, cols;
  bool reduce_rows;
  bool broadcast_grad;  // upstream gradient as one value (strides 0)
  bool target_grad;     // BCE: the target's gradient too
};

const char* kind_name(BceKind k) { return k == BceKind::Bce ? "bce" : k == BceKind::QualityFocal ? "qfl" : "vfl"; }

template <class acc_t>
void bce(Ctx& c, const BceCase& k) {
  auto rng = rng_for(c.name);
  const int64_t R = k.rows, C = k.cols, n = R * C;
  std::vector<double> x(n), t(n), score(R);
  std::vector<int64_t> label(R);
  for (int64_t i = 0; i < n; ++i) {
    x[i] = uniform(rng, -6, 6);
    // Hard 0 / 1 targets, soft ones, and (varifocal) mostly zeros.
    const double u = uniform(rng, 0, 1);
    t[i] = u < 0.3 ? 0.0 : (u < 0.45 ? 1.0 : uniform(rng, 0, 1));
  }
  // Saturated logits, exactly 0, and sigma(x) == t (d = 0: the general power's 0 branch).
  if (n >= 6) x[0] = 40, x[1] = -40, x[2] = 0, t[2] = 0.5, x[3] = 30, t[3] = 1, x[4] = -30, t[4] = 0;
  for (int64_t r = 0; r < R; ++r) {
    label[r] = int64_t(uniform(rng, -1, double(C) + 1));  // -1 and C: background rows
    score[r] = r % 7 == 0 ? 0.0 : uniform(rng, 0, 1);
  }
  Typed X(k.dtype, x), T(k.dtype, k.label_target ? score : t);
  Buf<int64_t> L(R);
  for (int64_t r = 0; r < R; ++r) L[r] = label[r];
  std::vector<double> wv, pwv;
  int64_t w_rs = 0, w_cs = 0, pw_rs = 0, pw_cs = 0;
  if (k.factors == 1) {
    wv.resize(C), w_cs = 1;
    if (k.kind == BceKind::Bce) pwv.resize(R), pw_rs = 1;
  } else if (k.factors == 2) {
    wv.resize(n), w_rs = C, w_cs = 1;
    if (k.kind == BceKind::Bce) pwv.resize(C), pw_cs = 1;
  }
  for (auto& v : wv) v = uniform(rng, 0, 2);
  for (auto& v : pwv) v = uniform(rng, 0.2, 4);
  Acc<acc_t> W(wv), PW(pwv);
  const int64_t out_n = k.reduce_rows ? R : n;
  std::vector<double> gl(k.broadcast_grad ? 1 : out_n);
  for (auto& v : gl) v = uniform(rng, -2, 2);
  Acc<acc_t> G(gl);
  const size_t es = elem_size(k.dtype);
  const bool with_target_grad = k.target_grad;
  Buf<unsigned char> loss_elem(k.reduce_rows ? 0 : n * es, es), gx(n * es, es), gt(with_target_grad ? n * es : 0, es);
  Buf<acc_t> loss_rows(k.reduce_rows ? R : 0);

  BceParams p;
  p.x = X.ptr();
  if (k.label_target) {
    p.label = L.p;
    p.score = T.ptr();
  } else {
    p.t = T.ptr();
  }
  p.dtype = k.dtype;
  p.rows = R;
  p.cols = C;
  if (!wv.empty()) p.weight = W.b.p, p.weight_rs = w_rs, p.weight_cs = w_cs;
  if (!pwv.empty()) p.pos_weight = PW.b.p, p.pos_weight_rs = pw_rs, p.pos_weight_cs = pw_cs;
  p.kind = k.kind;
  p.exponent = k.exponent;
  p.alpha = 0.75;
  p.iou_weighted = k.iou_weighted;
  p.reduce_rows = k.reduce_rows;
  p.loss = k.reduce_rows ? static_cast<void*>(loss_rows.p) : static_cast<void*>(loss_elem.p);
  p.grad_loss = G.b.p;
  p.grad_rs = k.broadcast_grad ? 0 : (k.reduce_rows ? 1 : C);
  p.grad_cs = k.broadcast_grad || k.reduce_rows ? 0 : 1;
  p.grad_input = gx.p;
  p.grad_target = with_target_grad ? gt.p : nullptr;
  if (int rc = simt_bce_fwd_cuda(&p)) return c.fail("forward launch returned %d", rc);
  if (k.reduce_rows) {
    if (loss_rows.unwritten())
      c.fail("forward left %zu of %lld row sums unwritten", loss_rows.unwritten(), (long long)R);
    c.add_digest(loss_rows);
  } else {
    if (loss_elem.unwritten())
      c.fail("forward left %zu of %lld elements unwritten", loss_elem.unwritten(), (long long)n);
    c.add_digest(loss_elem);
  }
  if (int rc = simt_bce_bwd_cuda(&p)) return c.fail("backward launch returned %d", rc);
  if (gx.unwritten()) c.fail("backward left %zu of %lld elements unwritten", gx.unwritten(), (long long)n);
  c.add_digest(gx);
  if (with_target_grad) {
    if (gt.unwritten()) c.fail("backward left %zu target gradients unwritten", gt.unwritten());
    c.add_digest(gt);
  }

  // Reference: the CPU entry points on the same params, serially, into
  // outputs of their own.
  Buf<unsigned char> ref_elem(k.reduce_rows ? 0 : n * es, es), ref_gx(n * es, es),
      ref_gt(with_target_grad ? n * es : 0, es);
  Buf<acc_t> ref_rows(k.reduce_rows ? R : 0);
  BceParams q = p;
  q.loss = k.reduce_rows ? static_cast<void*>(ref_rows.p) : static_cast<void*>(ref_elem.p);
  q.grad_input = ref_gx.p;
  q.grad_target = with_target_grad ? ref_gt.p : nullptr;
  bce_fwd_cpu(q, serial_for);
  bce_bwd_cpu(q, serial_for);
  if (ref_gx.unwritten()) c.fail("the CPU backward left %zu elements unwritten", ref_gx.unwritten());
  // d = sigmoid(x) - t cancels where sigmoid(x) is close to a soft target:
  // its absolute error (an ulp of sigmoid(x), which the device's exp and the
  // CPU loop's polynomial round differently) is what the focal factors and
  // the gradients inherit, times weights and upstream gradients of at most 2
  // and losses of at most 40: an absolute slack of 64 ulp of 1 in the
  // accumulate type. The device also sums a row in another order.
  const double ulp = k.dtype == DType::Float64 ? 2.2e-16 : 1.2e-7, atol = 64 * ulp;
  if (k.reduce_rows)
    th::compare(c, "loss", to_double(loss_rows.p, R), to_double(ref_rows.p, R), rtol_acc(k.dtype), atol * C);
  else
    th::compare(c, "loss", read_typed(k.dtype, loss_elem.p, n), read_typed(k.dtype, ref_elem.p, n), rtol_out(k.dtype),
                atol);
  th::compare(c, "grad_input", read_typed(k.dtype, gx.p, n), read_typed(k.dtype, ref_gx.p, n), rtol_out(k.dtype), atol);
  if (with_target_grad)
    th::compare(c, "grad_target", read_typed(k.dtype, gt.p, n), read_typed(k.dtype, ref_gt.p, n), rtol_out(k.dtype),
                atol);
}

// Nothing to do: no launch, nothing written; zero columns still give row sums of 0.
void bce_empty(Ctx& c) {
  Buf<float> loss(4), grad(1);
  const Buf<float> x(1), t(1), g(4);
  BceParams p;
  p.x = x.p;
  p.t = t.p;
  p.loss = loss.p;
  p.grad_loss = g.p;
  p.grad_input = grad.p;
  const long before = simt::launches();
  p.rows = 0, p.cols = 3;
  for (bool reduce : {false, true}) {
    p.reduce_rows = reduce;
    if (int rc = simt_bce_fwd_cuda(&p)) c.fail("forward returned %d on zero rows", rc);
    if (int rc = simt_bce_bwd_cuda(&p)) c.fail("backward returned %d on zero rows", rc);
  }
  p.rows = 4, p.cols = 0, p.reduce_rows = false;
  if (int rc = simt_bce_fwd_cuda(&p)) c.fail("forward returned %d on zero columns", rc);
  if (int rc = simt_bce_bwd_cuda(&p)) c.fail("backward returned %d on zero columns", rc);
  if (simt::launches() != before) c.fail("%ld kernels launched for an empty input", simt::launches() - before);
  if (loss.unwritten() != 4 || grad.unwritten() != 1) c.fail("an empty input wrote an output");
  p.reduce_rows = true;
  if (int rc = simt_bce_fwd_cuda(&p)) c.fail("forward returned %d on zero columns", rc);
  for (int i = 0; i < 4; ++i)
    if (loss[i] != 0.0f) c.fail("row %d of zero columns sums to %g, want 0", i, double(loss[i]));
}

void register_bce() {
  const DType dtypes[] = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16};
  struct Variant {
    BceKind kind;
    double exponent;
    bool iou_weighted, label_target, target_grad;
  };
  const Variant variants[] = {
      {BceKind::Bce, 2.0, true, false, true},           {BceKind::Bce, 2.0, true, false, false},
      {BceKind::QualityFocal, 2.0, true, false, false}, {BceKind::QualityFocal, 2.0, true, true, false},
      {BceKind::QualityFocal, 1.5, true, true, false},  {BceKind::QualityFocal, 2.5, true, false, false},
      {BceKind::Varifocal, 2.0, true, false, false},    {BceKind::Varifocal, 2.0, false, false, false},
      {BceKind::Varifocal, 1.5, true, false, false}};
  // General exponents of at least 1: below, beta |d|^(beta-1) is unbounded
  // near d = 0, where the two sides' d differ by an ulp (the Python tests
  // cover beta < 1 against torch in float64).
  const std::pair<int64_t, int64_t> shapes[] = {{37, 80}, {300, 3}, {5, 1}};
  for (DType d : dtypes)
    for (const Variant& v : variants)
      for (int s = 0; s < 3; ++s)
        for (int reduce = 0; reduce < 2; ++reduce) {
          const int factors = s;  // each shape its own weight layout
          const bool bc = reduce == 1 && s != 1;
          const BceCase k{d,
                          v.kind,
                          v.exponent,
                          v.iou_weighted,
                          v.label_target,
                          factors,
                          shapes[s].first,
                          shapes[s].second,
                          bool(reduce),
                          bc,
                          v.target_grad};
          char name[200];
          std::snprintf(name, sizeof name, "bce/%s/%s/exp%g%s%s%s/w%d/%lldx%lld/%s/%s", dtype_name(d),
                        kind_name(v.kind), v.exponent, v.iou_weighted ? "" : "/no_iou", v.label_target ? "/label" : "",
                        v.target_grad ? "/target_grad" : "", factors, (long long)k.rows, (long long)k.cols,
                        reduce ? "rows" : "elements", bc ? "grad_broadcast" : "grad_dense");
          th::add(name, [k](Ctx& c) {
            if (k.dtype == DType::Float64)
              bce<double>(c, k);
            else
              bce<float>(c, k);
          });
        }
  th::add("bce/empty", bce_empty);
  th::expect_branch("bce_fwd_elem_kernel", "several blocks (grid > 1)",
                    [](const simt::LaunchRecord& r) { return r.grid[0] > 1; });
  th::expect_branch("bce_fwd_rows_kernel", "several blocks (grid > 1)",
                    [](const simt::LaunchRecord& r) { return r.grid[0] > 1; });
  th::expect_branch("bce_bwd_kernel", "several blocks (grid > 1)",
                    [](const simt::LaunchRecord& r) { return r.grid[0] > 1; });
}

}  // namespace

TH_CASES(register_bce);

}  // namespace cases

#if defined(SIMT_TRAFFIC)
// ---- The memory-traffic workloads of these kernels (make -C tests/simt traffic): each
// launcher at a detection head's size, float32, laid out as the torch op passes them, and
// what each launch must move at least. Built only into the traffic binary.
#include "traffic/workload.h"

namespace traffic {
namespace {

using namespace lossext;

// BCE with logits, 'none': the per-element forward, then the backward with
// the target's gradient under a per-element upstream gradient.
void bce_elements(int64_t rows, int64_t cols) {
  Workload w(std::to_string(rows) + "x" + std::to_string(cols) + " f32, BCE, 'none', target gradient");
  BceParams p;
  p.dtype = DType::Float32;
  p.rows = rows;
  p.cols = cols;
  p.kind = BceKind::Bce;
  p.x = w.uniform("logits", rows * cols, -6, 6);
  p.t = w.uniform("target", rows * cols, 0, 1);
  p.loss = w.buf<float>("loss", rows * cols);
  w.run("bce_fwd_cuda", [&] { return simt_bce_fwd_cuda(&p); }, {{{{"logits"}, {"target"}}, {{"loss"}}, ""}});
  p.grad_loss = w.uniform("grad_loss", rows * cols, 0.5, 1);
  p.grad_rs = cols;
  p.grad_cs = 1;
  p.grad_input = w.buf<float>("grad_logits", rows * cols);
  p.grad_target = w.buf<float>("grad_target", rows * cols);
  w.run("bce_bwd_cuda", [&] { return simt_bce_bwd_cuda(&p); },
        {{{{"logits"}, {"target"}, {"grad_loss"}}, {{"grad_logits"}, {"grad_target"}}, ""}});
}

// Quality focal with (label, score) targets, 'sum': row sums (a warp per
// row), then the backward under a broadcast upstream gradient.
void quality_focal_rows(int64_t rows, int64_t cols) {
  Workload w(std::to_string(rows) + "x" + std::to_string(cols) + " f32, quality focal, (label, score), 'sum'");
  BceParams p;
  p.dtype = DType::Float32;
  p.rows = rows;
  p.cols = cols;
  p.kind = BceKind::QualityFocal;
  p.reduce_rows = true;
  p.x = w.uniform("logits", rows * cols, -6, 6);
  int64_t* label = w.indices("label", rows, 0, cols);  // cols: a background row
  p.label = label;
  p.score = w.uniform("score", rows, 0, 1);
  // A background row's score is never needed (no column matches its label).
  size_t score_bytes = 0;
  for (int64_t r = 0; r < rows; ++r) score_bytes += label[r] < cols ? sizeof(float) : 0;
  p.loss = w.buf<float>("loss", rows);
  w.run("bce_fwd_cuda", [&] { return simt_bce_fwd_cuda(&p); },
        {{{{"logits"}, {"label"}, {"score", score_bytes}}, {{"loss"}}, ""}});
  p.grad_loss = w.uniform("grad_loss", 1, 0.5, 1);
  p.grad_rs = p.grad_cs = 0;
  p.grad_input = w.buf<float>("grad_logits", rows * cols);
  w.run("bce_bwd_cuda", [&] { return simt_bce_bwd_cuda(&p); },
        {{{{"logits"}, {"label"}, {"score", score_bytes}, {"grad_loss"}}, {{"grad_logits"}}, ""}});
}

void bce_workloads() {
  bce_elements(2048, 80);
  quality_focal_rows(2048, 80);
}

}  // namespace

TRAFFIC_WORKLOADS(bce_workloads)

}  // namespace traffic
#endif
