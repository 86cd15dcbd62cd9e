// Cases: sigmoid and softmax focal kernels against the CPU loops (cpu/focal_rows.h).
#include "cpu/focal_rows.h"
#include "common.h"
#include "kernels/focal_launch.h"

namespace cases {
namespace {

// ---- sigmoid focal ---------------------------------------------------------------------------------
struct FocalCase {
  DType dtype;
  double gamma;
  bool dense, reduce, weighted;
  int64_t rows, classes;
  double alpha, smoothing;
};

template <class acc_t> void sigmoid_focal(Ctx& c, const FocalCase& fc) {
  auto rng = rng_for(c.name);
  const int64_t R = fc.rows, C = fc.classes, n = R * C;
  std::vector<double> x(n), t(n), w(C), gl;
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
  if (int rc = simt_sigmoid_focal_fwd_cuda(&p)) return c.fail("forward launch returned %d", rc);
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

  // Backward, with the upstream gradient laid out as the forward's reduction implies.
  const GradMode mode = fc.reduce ? GradMode::PerRow : GradMode::PerElement;
  gl.resize(nloss);
  for (auto& v : gl) v = uniform(rng, -2, 2);
  Acc<acc_t> G(gl);
  p.grad_loss = G.b.p;
  p.grad_mode = mode;
  Buf<unsigned char> grad(n * elem_size(fc.dtype), elem_size(fc.dtype));
  p.grad_logits = grad.p;
  if (int rc = simt_sigmoid_focal_bwd_cuda(&p)) return c.fail("backward launch returned %d", rc);
  c.add_digest(grad);
  std::vector<acc_t> gwant(n);
  cpu::sigmoid_focal_rows_grad(a, mode == GradMode::PerElement ? G.b.p : nullptr,
                               mode == GradMode::PerRow ? G.b.p : nullptr, acc_t(0), gwant.data());
  th::compare(c, "grad", read_typed(fc.dtype, grad.p, n),
              round_to(fc.dtype, to_double(gwant.data(), n)), rtol_out(fc.dtype),
              fc.dtype == DType::Float64 ? 1e-12 : is16(fc.dtype) ? 1e-3 : 4e-7);
}

void register_focal() {
  const DType dtypes[] = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16};
  const double gammas[] = {0.0, 1.0, 2.0, 1.5};
  const std::pair<int64_t, int64_t> shapes[] = {{5, 3}, {9, 37}, {3, 70}};
  for (DType d : dtypes)
    for (double g : gammas)
      for (int dense = 0; dense < 2; ++dense)
        for (int reduce = 0; reduce < 2; ++reduce)
          for (auto s : shapes) {
            const bool weighted = (s.second + dense) % 2 == 1;
            const double smoothing = dense ? 0.1 : 0.0;
            FocalCase fc{d, g, bool(dense), bool(reduce), weighted, s.first, s.second, g == 1.0 ? -1.0 : 0.25, smoothing};
            char name[160];
            std::snprintf(name, sizeof name, "sigmoid_focal/%s/gamma=%g/%s/%s/%lldx%lld%s", dtype_name(d), g,
                          dense ? "dense" : "index", reduce ? "reduce" : "none", (long long)s.first,
                          (long long)s.second, weighted ? "/weighted" : "");
            th::add(name, [fc](Ctx& c) {
              if (fc.dtype == DType::Float64) sigmoid_focal<double>(c, fc);
              else sigmoid_focal<float>(c, fc);
            });
          }
}

}  // namespace

TH_CASES(register_focal);

}  // namespace cases
