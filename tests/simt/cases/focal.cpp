// Cases: sigmoid and softmax focal kernels against the torch-free CPU code:
// the sigmoid loops of cpu/loops/focal.h, and for softmax focal the row math of
// kernels/focal.h over cpu::log_sum_exp, serially, as cpu/focal.cpp applies it.
#include "cpu/loops/focal.h"
#include "cpu/loops/cross_entropy.h"
#include "common.h"
#include "kernels/focal_launch.h"
#include "walks.h"

namespace cases {
namespace {

// ---- sigmoid focal ---------------------------------------------------------------------------------
struct FocalCase {
  DType dtype;
  double gamma;
  bool dense, reduce, weighted;
  int64_t rows, classes;
  double alpha, smoothing;
  bool scalar_grad = false;  // one upstream gradient for everything ('sum' / 'mean' in Python)
};

// Set while a case with no classes makes its launches (see the branch below).
bool g_sigmoid_no_classes = false;

template <class acc_t>
void sigmoid_focal(Ctx& c, const FocalCase& fc) {
  auto rng = rng_for(c.name);
  const int64_t R = fc.rows, C = fc.classes, n = R * C;
  // At least one element each: with no rows or no classes the buffers still
  // exist (never read), which keeps their conversions away from null pointers.
  std::vector<double> x(std::max<int64_t>(n, 1)), t(x.size()), w(std::max<int64_t>(C, 1)), gl;
  for (auto& v : x) v = uniform(rng, -8, 8);
  if (n > 3) x[0] = 40, x[1] = -40, x[2] = 0;  // saturated logits and the branch point
  for (auto& v : t) v = uniform(rng, 0, 1) < 0.3 ? 1.0 : (uniform(rng, 0, 1) < 0.5 ? 0.0 : uniform(rng, 0, 1));
  for (auto& v : w) v = uniform(rng, 0.2, 2);
  Buf<int64_t> y(R);
  for (int64_t r = 0; r < R; ++r) y[r] = std::uniform_int_distribution<int64_t>(-1, C - 1)(rng);
  if (!fc.dense && R >= 4) y[1] = -100, y[3] = C + 2;  // an ignored row and a bad one

  Typed X(fc.dtype, x), Tt(fc.dtype, t);
  Acc<acc_t> W(w);
  SigmoidFocalParams p;
  p.logits = X.ptr();
  p.dtype = fc.dtype;
  p.rows = R;
  p.classes = C;
  p.target_index = fc.dense ? nullptr : y.p;
  p.target_dense = fc.dense ? Tt.ptr() : nullptr;
  p.weight = fc.weighted ? W.b.p : nullptr;
  p.alpha = fc.alpha;
  p.gamma = fc.gamma;
  p.gamma_kind = gamma_kind(fc.gamma);
  p.label_smoothing = fc.smoothing;
  p.reduce_rows = fc.reduce;
  const int64_t nloss = fc.reduce ? R : n;
  Buf<acc_t> loss(nloss);
  p.loss = loss.p;
  // Launches expected: forward unless there is nothing to write (no rows, or
  // no classes and no row sums); backward unless there are no elements.
  const long launches_before = simt::launches();
  g_sigmoid_no_classes = C == 0;
  const int frc = simt_sigmoid_focal_fwd_cuda(&p);
  g_sigmoid_no_classes = false;
  if (frc) return c.fail("forward launch returned %d", frc);
  if (simt::launches() - launches_before != (nloss > 0 ? 1 : 0))
    c.fail("forward made %ld launches for %lld outputs", simt::launches() - launches_before, (long long)nloss);
  if (loss.unwritten()) c.fail("forward left %zu of %lld outputs unwritten", loss.unwritten(), (long long)nloss);
  c.add_digest(loss);

  // The CPU loops take accumulate-type rows.
  std::vector<acc_t> xa(x.size()), ta(t.size()), wa(w.begin(), w.end());
  for (size_t i = 0; i < x.size(); ++i) xa[i] = acc_t(X.value[i]), ta[i] = acc_t(Tt.value[i]);
  cpu::SigmoidFocalRows<acc_t> a;
  a.x = xa.data();
  a.t = fc.dense ? ta.data() : nullptr;
  a.y = fc.dense ? nullptr : y.p;
  a.ignore_index = -100;
  a.w = fc.weighted ? wa.data() : nullptr;
  a.rows = R;
  a.classes = C;
  a.cfg = {acc_t(fc.alpha), acc_t(fc.gamma), acc_t(fc.smoothing)};
  a.kind = gamma_kind(fc.gamma);
  std::vector<acc_t> want(nloss);
  cpu::sigmoid_focal_rows_loss(a, fc.reduce, want.data());
  th::compare(c, "loss", to_double(loss.p, nloss), to_double(want.data(), nloss), rtol_acc(fc.dtype),
              fc.dtype == DType::Float64 ? 1e-12 : 4e-7);

  // Backward, with the upstream gradient laid out as the forward's reduction
  // implies, or one scalar.
  gl.resize(fc.scalar_grad ? 1 : nloss);
  for (auto& v : gl) v = uniform(rng, -2, 2);
  Acc<acc_t> G(gl);
  p.grad_loss = G.b.p;
  p.grad_loss_stride = fc.scalar_grad ? 0 : 1;
  Buf<unsigned char> grad(n * elem_size(fc.dtype), elem_size(fc.dtype));
  p.grad_logits = grad.p;
  const long bwd_before = simt::launches();
  if (int rc = simt_sigmoid_focal_bwd_cuda(&p)) return c.fail("backward launch returned %d", rc);
  if (simt::launches() - bwd_before != (n > 0 ? 1 : 0))
    c.fail("backward made %ld launches for %lld elements", simt::launches() - bwd_before, (long long)n);
  if (grad.unwritten()) c.fail("backward left %zu of %lld elements unwritten", grad.unwritten(), (long long)n);
  c.add_digest(grad);
  std::vector<acc_t> gwant(n);
  const bool per_element = !fc.scalar_grad && !fc.reduce, per_row = !fc.scalar_grad && fc.reduce;
  cpu::sigmoid_focal_rows_grad(a, per_element ? G.b.p : nullptr, per_row ? G.b.p : nullptr,
                               fc.scalar_grad ? G.b[0] : acc_t(0), gwant.data());
  th::compare(c, "grad", read_typed(fc.dtype, grad.p, n), round_to(fc.dtype, to_double(gwant.data(), n)),
              rtol_out(fc.dtype),
              fc.dtype == DType::Float64 ? 1e-12
              : is16(fc.dtype)           ? 1e-3
                                         : 4e-7);
}

void add_sigmoid(const FocalCase& fc) {
  char name[160];
  std::snprintf(name, sizeof name, "sigmoid_focal/%s/gamma=%g/%s/%s/%lldx%lld%s%s", dtype_name(fc.dtype), fc.gamma,
                fc.dense ? "dense" : "index", fc.reduce ? "reduce" : "none", (long long)fc.rows, (long long)fc.classes,
                fc.weighted ? "/weighted" : "", fc.scalar_grad ? "/grad_scalar" : "");
  th::add(name, [fc](Ctx& c) {
    if (fc.dtype == DType::Float64)
      sigmoid_focal<double>(c, fc);
    else
      sigmoid_focal<float>(c, fc);
  });
}

void register_sigmoid_focal() {
  const DType dtypes[] = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16};
  const double gammas[] = {0.0, 1.0, 2.0, 1.5};
  const std::pair<int64_t, int64_t> shapes[] = {{5, 3}, {9, 37}, {3, 70}};
  for (DType d : dtypes) {
    for (double g : gammas)
      for (int dense = 0; dense < 2; ++dense)
        for (int reduce = 0; reduce < 2; ++reduce)
          for (auto s : shapes) {
            const bool weighted = (s.second + dense) % 2 == 1;
            const double smoothing = dense ? 0.1 : 0.0;
            FocalCase fc{d,        g, bool(dense), bool(reduce), weighted, s.first, s.second, g == 1.0 ? -1.0 : 0.25,
                         smoothing};
            fc.scalar_grad = s.second == 70;  // the 3 x 70 shapes take a scalar upstream gradient
            add_sigmoid(fc);
          }
    // No rows: nothing launched. No classes: row sums are still written (0,
    // or nan for a bad index) when the rows are reduced, nothing otherwise.
    for (int dense = 0; dense < 2; ++dense) {
      add_sigmoid(FocalCase{d, 2.0, bool(dense), true, false, 0, 5, 0.25, 0.0});
      add_sigmoid(FocalCase{d, 1.5, bool(dense), true, true, 4, 0, 0.25, 0.0});
      add_sigmoid(FocalCase{d, 0.0, bool(dense), false, false, 4, 0, 0.25, 0.0});
    }
  }
  th::expect_branch("sigmoid_focal_fwd_kernel", "no classes, rows reduced: launched, rows written",
                    [](const simt::LaunchRecord&) { return g_sigmoid_no_classes; });
}

// ---- softmax focal ---------------------------------------------------------------------------------
struct SoftmaxCase {
  DType dtype = DType::Float32;
  double gamma = 2;
  Walk walk = Walk::Dense;
  int64_t N = 0, C = 0, D = 1;
  bool alpha = false, weighted = false;
  bool broadcast_grad = false;  // grad_loss_stride = 0
  int64_t ignore_index = -100;
};

const SoftmaxCase* g_softmax = nullptr;  // the case whose launch is in flight

template <class acc_t>
acc_t softmax_loss_ref(GammaKind k, acc_t l, acc_t coeff, acc_t gamma) {
  switch (k) {
    case GammaKind::Zero: return softmax_focal_row_loss<GammaKind::Zero>(l, coeff, gamma);
    case GammaKind::One: return softmax_focal_row_loss<GammaKind::One>(l, coeff, gamma);
    case GammaKind::Two: return softmax_focal_row_loss<GammaKind::Two>(l, coeff, gamma);
    default: return softmax_focal_row_loss<GammaKind::General>(l, coeff, gamma);
  }
}

template <class acc_t>
acc_t softmax_grad_scale_ref(GammaKind k, acc_t l, acc_t coeff, acc_t gamma, acc_t g) {
  switch (k) {
    case GammaKind::Zero: return softmax_focal_grad_scale<GammaKind::Zero>(l, coeff, gamma, g);
    case GammaKind::One: return softmax_focal_grad_scale<GammaKind::One>(l, coeff, gamma, g);
    case GammaKind::Two: return softmax_focal_grad_scale<GammaKind::Two>(l, coeff, gamma, g);
    default: return softmax_focal_grad_scale<GammaKind::General>(l, coeff, gamma, g);
  }
}

template <class acc_t>
void softmax_focal(Ctx& c, const SoftmaxCase& k) {
  auto rng = rng_for(c.name);
  const int64_t N = k.N, C = k.C, D = k.D, rows = N * D, n = N * C * D;
  std::vector<double> x(n), al(C), w(C);
  for (auto& v : x) v = uniform(rng, -5, 5);
  for (auto& v : al) v = uniform(rng, 0.1, 0.9);
  for (auto& v : w) v = uniform(rng, 0.5, 2);
  Buf<int64_t> y(rows);
  for (int64_t r = 0; r < rows; ++r) y[r] = std::uniform_int_distribution<int64_t>(0, C - 1)(rng);
  // Row 0: the target dominates, p_y rounds to 1 in float (1 - p_y = 0: the
  // modulating factor vanishes, and log p / (1 - p) takes its limit -1).
  // Row 2: p_y close to 1. Row 1 ignored, rows 3 and 5 out of range.
  if (rows > 0) x[y[0]] = 30;
  if (rows > 2) x[2 * C + y[2]] = 9;
  if (rows > 1) y[1] = k.ignore_index;
  if (rows > 3) y[3] = C;
  if (rows > 5) y[5] = -2;

  Walked X(k.dtype, k.walk, N, C, D, x);
  const RowLayout& L = X.L;
  Acc<acc_t> A(al), W(w);
  const GammaKind kind = gamma_kind(k.gamma);
  SoftmaxFocalParams p;
  p.logits = X.ptr();
  p.dtype = k.dtype;
  p.layout = L;
  p.target_index = y.p;
  p.ignore_index = k.ignore_index;
  p.alpha = k.alpha ? A.b.p : nullptr;
  p.weight = k.weighted ? W.b.p : nullptr;
  p.gamma = k.gamma;
  p.gamma_kind = kind;
  const int64_t out_rows = rows ? rows : 3;  // with no rows, room that must stay untouched
  Buf<acc_t> loss(out_rows), lse(out_rows), roww(out_rows);
  p.loss = loss.p;
  p.lse = p.lse_out = lse.p;
  p.row_weight = roww.p;
  std::vector<double> gl(k.broadcast_grad ? 1 : out_rows);
  for (auto& v : gl) v = uniform(rng, -2, 2);
  Acc<acc_t> G(gl);
  p.grad_loss = G.b.p;
  p.grad_loss_stride = k.broadcast_grad ? 0 : 1;
  Buf<unsigned char> grad((n ? n : 3) * elem_size(k.dtype), elem_size(k.dtype));
  p.grad_logits = grad.p;

  const long before = simt::launches();
  g_softmax = &k;
  const int frc = simt_softmax_focal_fwd_cuda(&p);
  g_softmax = nullptr;
  if (frc) return c.fail("forward launch returned %d", frc);
  if (rows == 0) {
    if (int rc = simt_softmax_focal_bwd_cuda(&p)) c.fail("backward launch returned %d", rc);
    if (simt::launches() != before) c.fail("%ld launches for 0 rows, want none", simt::launches() - before);
    if (loss.unwritten() != 3 || lse.unwritten() != 3 || roww.unwritten() != 3 || grad.unwritten() != 3)
      c.fail("0 rows, yet outputs were written");
    return;
  }
  if (loss.unwritten() || lse.unwritten() || roww.unwritten())
    c.fail("forward left outputs unwritten (loss %zu, lse %zu, row_weight %zu of %lld)", loss.unwritten(),
           lse.unwritten(), roww.unwritten(), (long long)rows);
  c.add_digest(loss);
  c.add_digest(lse);
  c.add_digest(roww);

  // Reference: cpu/focal.cpp's softmax_forward / softmax_backward, serially.
  const acc_t* alpha = k.alpha ? A.b.p : nullptr;
  const acc_t* wa = k.weighted ? W.b.p : nullptr;
  const acc_t gamma = acc_t(k.gamma);
  std::vector<double> want_loss(rows), want_lse(rows), want_w(rows);
  std::vector<std::vector<acc_t>> xrows(rows);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t yy = y[r];
    if (yy == k.ignore_index || yy < 0 || yy >= C) {
      want_loss[r] = want_lse[r] = want_w[r] = yy == k.ignore_index ? 0.0 : NAN;
      continue;
    }
    xrows[r] = X.row<acc_t>(r);
    const acc_t l = cpu::log_sum_exp(xrows[r].data(), C);
    const SoftmaxFocalClass<acc_t> cls = softmax_focal_class(alpha, wa, yy);
    want_loss[r] = softmax_loss_ref(kind, xrows[r][yy] - l, cls.coeff, gamma);
    want_lse[r] = l;
    want_w[r] = cls.weight;
  }
  // The loss carries log p_y = x_y - lse, so it inherits lse's few-ulp
  // difference (__expf against the host polynomial, another summation order)
  // in absolute terms: atol covers rows where log p_y is near 0.
  const double atol = k.dtype == DType::Float64 ? 1e-12 : 2e-6;
  th::compare(c, "loss", to_double(loss.p, rows), want_loss, rtol_acc(k.dtype), atol);
  th::compare(c, "lse", to_double(lse.p, rows), want_lse, rtol_acc(k.dtype), atol);
  th::compare(c, "row_weight", to_double(roww.p, rows), want_w, rtol_acc(k.dtype), atol);

  g_softmax = &k;
  const int brc = simt_softmax_focal_bwd_cuda(&p);
  g_softmax = nullptr;
  if (brc) return c.fail("backward launch returned %d", brc);
  if (grad.unwritten()) c.fail("backward left %zu of %lld elements unwritten", grad.unwritten(), (long long)n);
  c.add_digest(grad);
  std::vector<double> want(n);
  std::vector<acc_t> g(C);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t yy = y[r];
    if (yy == k.ignore_index || yy < 0 || yy >= C) {
      std::fill(g.begin(), g.end(), yy == k.ignore_index ? acc_t(0) : acc_t(NAN));
    } else {
      const acc_t* xr = xrows[r].data();
      const acc_t l = acc_t(want_lse[r]);
      const acc_t scale = softmax_grad_scale_ref(kind, xr[yy] - l, softmax_focal_class(alpha, wa, yy).coeff, gamma,
                                                 G.b[k.broadcast_grad ? 0 : r]);
      // grad_c = G (p_c - [c == y]): the cross-entropy row loop with a = G, d = 0.
      const CrossEntropyIndexGrad<acc_t> kk{scale, scale, acc_t(0)};
      cpu::cross_entropy_index_grad_row(xr, g.data(), C, l, kk, static_cast<const acc_t*>(nullptr));
      g[yy] = cross_entropy_index_grad(kk, fast_exp(xr[yy] - l), true, acc_t(1));
    }
    for (int64_t cl = 0; cl < C; ++cl) want[L.dense_row_offset(r) + cl * L.dense_stride_c()] = g[cl];
  }
  th::compare(c, "grad", read_typed(k.dtype, grad.p, n), round_to(k.dtype, want), rtol_out(k.dtype),
              k.dtype == DType::Float64 ? 1e-12
              : is16(k.dtype)           ? 1e-3
                                        : 4e-7);
}

void register_softmax_focal() {
  const DType dtypes[] = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16};
  const double gammas[] = {0.0, 1.0, 2.0, 1.5};
  // A warp a row when the classes are contiguous (stride_c = 1), a thread a
  // row otherwise; rows enough for several blocks of either.
  struct Shape {
    Walk walk;
    int64_t N, C, D;
  };
  const Shape shapes[] = {
      {Walk::Dense, 20, 37, 1},        // a warp, 8 rows a block: 3 blocks
      {Walk::Dense, 3, 70, 1},         // a warp, lanes walk 3 classes each
      {Walk::PaddedRows, 7, 33, 1},    // a warp, rows C + 1 apart
      {Walk::ChannelsLast, 2, 40, 4},  // a warp, gradient classes D apart
      {Walk::Dense, 2, 5, 150},        // a thread, 256 rows a block: 2 blocks
      {Walk::Transposed, 9, 6, 1},     // a thread, classes N apart
  };
  for (DType d : dtypes) {
    for (size_t gi = 0; gi < 4; ++gi)
      for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; ++si) {
        const Shape& s = shapes[si];
        SoftmaxCase k;
        k.dtype = d, k.gamma = gammas[gi], k.walk = s.walk, k.N = s.N, k.C = s.C, k.D = s.D;
        const size_t tables = (gi + si) % 4;  // alpha and weight each present or not
        k.alpha = tables & 1, k.weighted = tables & 2;
        k.broadcast_grad = si == 1;
        if (si == 5) k.ignore_index = 1;  // an in-range class as ignore_index
        char name[200];
        std::snprintf(name, sizeof name, "softmax_focal/%s/gamma=%g/%s/N%lld_C%lld_D%lld%s%s%s%s", dtype_name(d),
                      k.gamma, walk_name(k.walk), (long long)k.N, (long long)k.C, (long long)k.D,
                      k.alpha ? "/alpha" : "", k.weighted ? "/weighted" : "", k.broadcast_grad ? "/grad_broadcast" : "",
                      k.ignore_index != -100 ? "/ignore=1" : "");
        th::add(name, [k](Ctx& c) {
          if (k.dtype == DType::Float64)
            softmax_focal<double>(c, k);
          else
            softmax_focal<float>(c, k);
        });
      }
    for (Walk walk : {Walk::Dense, Walk::Transposed}) {  // no rows: nothing launched, nothing written
      SoftmaxCase k;
      k.dtype = d, k.walk = walk, k.N = 0, k.C = 5;
      char name[120];
      std::snprintf(name, sizeof name, "softmax_focal/%s/%s/no_rows", dtype_name(d), walk_name(walk));
      th::add(name, [k](Ctx& c) {
        if (k.dtype == DType::Float64)
          softmax_focal<double>(c, k);
        else
          softmax_focal<float>(c, k);
      });
    }
  }
  // The launcher asks only stride_c == 1: channels-last rows, whose classes
  // are contiguous but whose gradient rows are not, still get a warp.
  for (const char* kernel : {"softmax_focal_fwd_kernel", "softmax_focal_bwd_kernel"})
    th::expect_branch(kernel, "channels-last (inner > 1): a warp a row", [](const simt::LaunchRecord& r) {
      const std::vector<int> a = trailing_ints(r);
      return g_softmax && g_softmax->walk == Walk::ChannelsLast && a.size() == 1 && a[0] == 32;
    });
}

void register_focal() {
  register_sigmoid_focal();
  register_softmax_focal();
}

}  // namespace

TH_CASES(register_focal);

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

void sigmoid_focal(int64_t rows, int64_t classes, bool dense) {
  Workload w(std::to_string(rows) + "x" + std::to_string(classes) + " f32, " +
             (dense ? "dense targets, 'sum'" : "index targets, 'sum'"));
  SigmoidFocalParams p;
  p.dtype = DType::Float32;
  p.rows = rows;
  p.classes = classes;
  p.logits = w.uniform("logits", rows * classes, -6, 6);
  if (dense) {
    float* t = w.buf<float>("target", rows * classes);
    std::uniform_int_distribution<int> bit(0, 19);
    for (int64_t i = 0; i < rows * classes; ++i) t[i] = bit(w.rng()) == 0 ? 1.0f : 0.0f;
    p.target_dense = t;
  } else {
    p.target_index = w.indices("target", rows, -1, classes - 1);  // -1: a background anchor
  }
  p.alpha = 0.25;
  p.gamma = 2.0;
  p.gamma_kind = gamma_kind(p.gamma);
  p.reduce_rows = true;  // 'sum' / 'mean': the forward writes a loss per row
  p.loss = w.buf<float>("loss", rows);
  w.run("sigmoid_focal_fwd_cuda", [&] { return simt_sigmoid_focal_fwd_cuda(&p); },
        {{{{"logits"}, {"target"}}, {{"loss"}}, ""}});
  // 'sum' hands the backward a broadcast scalar.
  p.grad_loss = w.uniform("grad_loss", 1, 0.5, 1);
  p.grad_loss_stride = 0;
  p.grad_logits = w.buf<float>("grad_logits", rows * classes);
  w.run("sigmoid_focal_bwd_cuda", [&] { return simt_sigmoid_focal_bwd_cuda(&p); },
        {{{{"logits"}, {"target"}, {"grad_loss"}}, {{"grad_logits"}}, ""}});
}

void softmax_focal(int64_t n, int64_t c, int64_t d, const std::string& shape) {
  Workload w(shape + " f32, gamma 2");
  const char* why = d > 1 ? kTargetLogitGather : "";
  const int64_t rows = n * d;
  SoftmaxFocalParams p;
  p.dtype = DType::Float32;
  p.layout = rows_layout(n, c, d);
  p.logits = w.uniform("logits", n * c * d, -4, 4);
  p.target_index = w.indices("target", rows, 0, c - 1);
  p.gamma = 2.0;
  p.gamma_kind = gamma_kind(p.gamma);
  p.loss = w.buf<float>("loss", rows);
  p.lse = p.lse_out = w.buf<float>("lse", rows);
  p.row_weight = w.buf<float>("row_weight", rows);
  w.run("softmax_focal_fwd_cuda", [&] { return simt_softmax_focal_fwd_cuda(&p); },
        {{{{"logits"}, {"target"}}, {{"loss"}, {"lse"}, {"row_weight"}}, why}});
  p.grad_loss = w.uniform("grad_loss", 1, 0.5, 1);
  p.grad_loss_stride = 0;
  p.grad_logits = w.buf<float>("grad_logits", n * c * d);
  w.run("softmax_focal_bwd_cuda", [&] { return simt_softmax_focal_bwd_cuda(&p); },
        {{{{"logits"}, {"target"}, {"lse"}, {"grad_loss"}}, {{"grad_logits"}}, why}});
}

void focal_workloads() {
  sigmoid_focal(4096, 80, false);
  sigmoid_focal(4096, 80, true);
  softmax_focal(4096, 80, 1, "4096x80");
  softmax_focal(2, 19, 64 * 64, "2x19x64x64");
}

}  // namespace

TRAFFIC_WORKLOADS(focal_workloads)

}  // namespace traffic
#endif
