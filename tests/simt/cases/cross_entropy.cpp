// Cases: cross-entropy kernels, index and probability targets, against the CPU
// row loops (cpu/loops/cross_entropy.h) fed the same params.
//
// The launcher picks, per dtype, a group of G threads a row (1 for strided
// classes, 32 up to 2048 classes, 256 up to 16384, 512 beyond) and packed
// 16-byte loads (VEC > 1) when every row of every operand starts on a 16-byte
// boundary and holds whole packets. The cases reach every (dtype, G, VEC)
// instantiation, and the launcher branches that no template argument tells
// apart are declared below (expect_branch) so that the coverage check fails if
// a launch stops taking them.
#include <cstdint>
#include <type_traits>

#include "cpu/loops/cross_entropy.h"
#include "common.h"
#include "kernels/cross_entropy_launch.h"
#include "walks.h"

namespace cases {
namespace {

enum class Target { Index, Prob };

struct CeCase {
  DType dtype = DType::Float32;
  Target target = Target::Index;
  int64_t N = 0, C = 0, D = 1;
  Walk walk = Walk::Dense;
  Walk target_walk = Walk::Dense;  // probability targets only
  bool weighted = false;
  double smoothing = 0, z_loss = 0;
  bool misaligned_grad = false;  // grad_logits one element past a 16-byte boundary
  bool broadcast_grad = false;   // grad_loss_stride = 0 (a 'sum' / 'mean' upstream gradient)
  int64_t ignore_index = -100;
};

// The case whose launch is in flight; the branch predicates read it next to
// the instantiation the launcher picked.
const CeCase* g_current = nullptr;

int64_t index_target(std::mt19937_64& rng, int64_t r, const CeCase& k) {
  // Row 1 ignored, row 3 past the last class, row 5 negative: no logit read,
  // 0 (ignored) or nan (out of range) in every output of the row.
  if (r == 1) return k.ignore_index;
  if (r == 3) return k.C;
  if (r == 5) return -3;
  return std::uniform_int_distribution<int64_t>(0, k.C - 1)(rng);
}

// Forward outputs, in the accumulate type, [rows] each.
template <class acc_t>
struct RowStats {
  Buf<acc_t> loss, lse, aux;  // aux: row_weight (index) or target_mass (prob)
  explicit RowStats(int64_t rows) : loss(rows), lse(rows), aux(rows) {}
};

// The inputs of a case as the kernels see them.
struct CeInputs {
  const CeCase& k;
  const Walked& X;
  const Walked& T;
  const int64_t* y;
  std::vector<double> w;  // class weights, as the kernel reads them
  double weight_sum;      // sum of w, as the kernel reads it
  std::vector<double> g;  // upstream gradient, one value when broadcast
};

struct CeExpected {
  std::vector<double> loss, lse, aux, grad;
};

// What cpu/cross_entropy.cpp computes for each row, serially, in ref_t.
template <class ref_t>
CeExpected ce_reference(const CeInputs& in) {
  const CeCase& k = in.k;
  const bool prob = k.target == Target::Prob;
  const RowLayout& L = in.X.L;
  const int64_t C = k.C, rows = L.rows;
  const std::vector<ref_t> w(in.w.begin(), in.w.end());
  const ref_t* wa = k.weighted ? w.data() : nullptr;
  const ref_t weight_sum = k.weighted ? ref_t(in.weight_sum) : ref_t(C);
  const ref_t s = ref_t(k.smoothing), z = ref_t(k.z_loss);
  CeExpected e;
  e.loss.resize(rows), e.lse.resize(rows), e.aux.resize(rows), e.grad.resize(rows * C);
  std::vector<ref_t> g(C);
  for (int64_t r = 0; r < rows; ++r) {
    const std::vector<ref_t> x = in.X.row<ref_t>(r);
    const ref_t grad_row = ref_t(in.g[k.broadcast_grad ? 0 : r]);
    if (prob) {
      const std::vector<ref_t> t = in.T.row<ref_t>(r);
      const ref_t l = cpu::log_sum_exp(x.data(), C);
      ref_t mass, dot;
      cpu::cross_entropy_prob_stats_row(x.data(), t.data(), wa, C, s, C, &mass, &dot);
      e.loss[r] = cross_entropy_prob_loss(l, mass, dot, z);
      e.lse[r] = l;
      e.aux[r] = mass;
      const ref_t a = cross_entropy_prob_grad_coeff(grad_row, l, mass, z);
      cpu::cross_entropy_prob_grad_row(x.data(), t.data(), wa, g.data(), C, l, a, grad_row, s, C);
    } else {
      const int64_t yy = in.y[r];
      if (yy == k.ignore_index || yy < 0 || yy >= C) {
        e.loss[r] = e.lse[r] = e.aux[r] = yy == k.ignore_index ? 0.0 : NAN;
        std::fill(g.begin(), g.end(), yy == k.ignore_index ? ref_t(0) : ref_t(NAN));
      } else {
        const ref_t l = cpu::log_sum_exp(x.data(), C);
        CrossEntropyIndexRow<ref_t> row;
        row.target_logit = x[yy];
        row.target_weight = wa ? wa[yy] : ref_t(1);
        row.weight_sum = weight_sum;
        row.weighted_logits = s > ref_t(0) ? cpu::row_dot(x.data(), wa, C) : ref_t(0);
        e.loss[r] = cross_entropy_index_loss(l, row, s, C, z);
        e.lse[r] = l;
        e.aux[r] = row.target_weight;
        const CrossEntropyIndexGrad<ref_t> kk =
            cross_entropy_index_grad_coeffs(grad_row, l, row.target_weight, weight_sum, s, C, z);
        cpu::cross_entropy_index_grad_row(x.data(), g.data(), C, l, kk, wa);
        g[yy] = cross_entropy_index_grad(kk, fast_exp(x[yy] - l), true, row.target_weight);
      }
    }
    for (int64_t cl = 0; cl < C; ++cl) e.grad[L.dense_row_offset(r) + cl * L.dense_stride_c()] = g[cl];
  }
  return e;
}

template <class acc_t>
void cross_entropy(Ctx& c, const CeCase& k) {
  auto rng = rng_for(c.name);
  const bool prob = k.target == Target::Prob;
  const int64_t N = k.N, C = k.C, D = k.D, rows = N * D, n = N * C * D;
  std::vector<double> x(n), t(n), w(C);
  for (auto& v : x) v = uniform(rng, -5, 5);
  // A -inf logit (a masked class): exp gives 0, and with smoothing or a soft
  // target on it the loss is inf on both sides.
  if (rows > 2 && C > 3) x[2 * C + 1] = -INFINITY;
  for (auto& v : w) v = uniform(rng, 0.5, 1.5);
  for (int64_t r = 0; r < rows; ++r) {  // probability rows: one one-hot, the others spread
    double sum = 0;
    for (int64_t cl = 0; cl < C; ++cl) sum += t[r * C + cl] = r == 0 ? (cl == C / 2) : uniform(rng, 0, 1);
    if (r != 0)
      for (int64_t cl = 0; cl < C; ++cl) t[r * C + cl] /= sum;
  }
  Buf<int64_t> y(rows);
  for (int64_t r = 0; r < rows; ++r) y[r] = index_target(rng, r, k);

  Walked X(k.dtype, k.walk, N, C, D, x);
  Walked T(k.dtype, k.target_walk, N, C, D, t);
  if (k.walk == Walk::Dense && D == 1 && !aligned16(X.ptr())) c.fail("the logits buffer is not 16-byte aligned");
  Acc<acc_t> W(w);
  double wsum = 0;
  for (double v : w) wsum += static_cast<acc_t>(v);
  Acc<acc_t> WS({wsum});
  CrossEntropyParams p;
  p.logits = X.ptr();
  p.dtype = k.dtype;
  p.layout = X.L;
  p.target_index = prob ? nullptr : y.p;
  p.target_probs = prob ? T.ptr() : nullptr;
  p.target_layout = T.L;
  p.weight = k.weighted ? W.b.p : nullptr;
  p.weight_sum = k.weighted ? WS.b.p : nullptr;
  p.ignore_index = k.ignore_index;
  p.label_smoothing = k.smoothing;
  p.z_loss = k.z_loss;
  RowStats<acc_t> out(rows);
  p.loss = out.loss.p;
  p.lse = p.lse_out = out.lse.p;
  if (prob) {
    p.target_mass = p.target_mass_out = out.aux.p;
  } else {
    p.row_weight = out.aux.p;
  }
  g_current = &k;
  const int rc = prob ? simt_cross_entropy_prob_fwd_cuda(&p) : simt_cross_entropy_index_fwd_cuda(&p);
  g_current = nullptr;
  if (rc) return c.fail("forward launch returned %d", rc);
  if (out.loss.unwritten() || out.lse.unwritten() || out.aux.unwritten())
    c.fail("forward left outputs unwritten (loss %zu, lse %zu, %s %zu of %lld)", out.loss.unwritten(),
           out.lse.unwritten(), prob ? "target_mass" : "row_weight", out.aux.unwritten(), (long long)rows);
  c.add_digest(out.loss);
  c.add_digest(out.lse);
  c.add_digest(out.aux);

  // Backward: the device from its own forward statistics (as the glue hands
  // them over), the reference from its own.
  std::vector<double> gl(k.broadcast_grad ? 1 : rows);
  for (auto& v : gl) v = uniform(rng, -2, 2);
  Acc<acc_t> G(gl);
  p.grad_loss = G.b.p;
  p.grad_loss_stride = k.broadcast_grad ? 0 : 1;
  GradOut grad(k.dtype, n, k.misaligned_grad);
  p.grad_logits = grad.ptr();
  g_current = &k;
  const int brc = prob ? simt_cross_entropy_prob_bwd_cuda(&p) : simt_cross_entropy_index_bwd_cuda(&p);
  g_current = nullptr;
  if (brc) return c.fail("backward launch returned %d", brc);
  if (grad.unwritten() != size_t(grad.lead))
    c.fail("backward: %zu of %lld gradient elements unwritten (or the one before the output written)",
           grad.unwritten() - size_t(grad.lead), (long long)n);
  c.add_digest(grad.buf);

  CeInputs in{k, X, T, y.p, to_double(W.b.p, C), double(WS.b[0]), to_double(G.b.p, gl.size())};
  const std::vector<double> got_loss = to_double(out.loss.p, rows), got_lse = to_double(out.lse.p, rows),
                            got_aux = to_double(out.aux.p, rows), got_grad = grad.values();
  const char* aux_name = prob ? "target_mass" : "row_weight";
  const double atol = k.dtype == DType::Float64 ? 1e-12 : 2e-6;
  const double grad_atol = k.dtype == DType::Float64 ? 1e-12 : is16(k.dtype) ? 2e-3 : 2e-7;

  // Against the CPU loops in the accumulate type. Their float row sums add
  // C / lanes terms per SIMD lane one after another (lanes >= 4 on every x86-64
  // clone), so they carry up to (C / 4) u of relative error, u = 2^-24 (the
  // a-priori bound of recursive summation), where the device folds a tree
  // over a few terms per thread. The bound is reached when the terms are
  // equal: with label smoothing every class adds the same e / C to the target
  // mass, each addition rounds the same way, and for a one-hot row at
  // C = 16384 the CPU's mass is 1.2e-5 short of 1 while the device's is within
  // 1e-6. The check against the same loops in double below holds the device
  // to the tight tolerance.
  const double sum_rtol = rtol_acc(k.dtype) + (k.dtype == DType::Float64 ? 0.0 : double(C) / 4 * 0x1p-24);
  const CeExpected e = ce_reference<acc_t>(in);
  th::compare(c, "loss", got_loss, e.loss, sum_rtol, atol);
  th::compare(c, "lse", got_lse, e.lse, sum_rtol, atol);
  th::compare(c, aux_name, got_aux, e.aux, sum_rtol, atol);
  th::compare(c, "grad", got_grad, round_to(k.dtype, e.grad), rtol_out(k.dtype), grad_atol);
  if constexpr (!std::is_same_v<acc_t, double>) {
    // Against the same loops in double: the device's own float error only
    // (__expf, a tree of float sums), whatever the class count.
    const CeExpected d = ce_reference<double>(in);
    th::compare(c, "loss (double loops)", got_loss, d.loss, rtol_acc(k.dtype), atol);
    th::compare(c, "lse (double loops)", got_lse, d.lse, rtol_acc(k.dtype), atol);
    th::compare(c, "target_mass / row_weight (double loops)", got_aux, d.aux, rtol_acc(k.dtype), atol);
    th::compare(c, "grad (double loops)", got_grad, round_to(k.dtype, d.grad), rtol_out(k.dtype), grad_atol);
  }
}

// rows = 0: the launchers launch nothing and write nothing (the outputs here
// have room for a few rows, all of which must keep their sentinel).
template <class acc_t>
void cross_entropy_empty(Ctx& c, const CeCase& k) {
  const bool prob = k.target == Target::Prob;
  Walked X(k.dtype, Walk::Dense, 0, k.C, 1, {});
  Buf<int64_t> y(1);
  y[0] = 0;
  Typed T(k.dtype, {0.5});
  CrossEntropyParams p;
  p.logits = X.ptr();
  p.dtype = k.dtype;
  p.layout = X.L;
  p.target_index = prob ? nullptr : y.p;
  p.target_probs = prob ? T.ptr() : nullptr;
  p.target_layout = X.L;
  RowStats<acc_t> out(3);
  p.loss = out.loss.p;
  p.lse = p.lse_out = out.lse.p;
  if (prob) {
    p.target_mass = p.target_mass_out = out.aux.p;
  } else {
    p.row_weight = out.aux.p;
  }
  Acc<acc_t> G({1.0});
  p.grad_loss = G.b.p;
  p.grad_loss_stride = 0;
  GradOut grad(k.dtype, 3, false);
  p.grad_logits = grad.ptr();
  const long before = simt::launches();
  if (int rc = prob ? simt_cross_entropy_prob_fwd_cuda(&p) : simt_cross_entropy_index_fwd_cuda(&p))
    c.fail("forward returned %d", rc);
  if (int rc = prob ? simt_cross_entropy_prob_bwd_cuda(&p) : simt_cross_entropy_index_bwd_cuda(&p))
    c.fail("backward returned %d", rc);
  if (simt::launches() != before) c.fail("%ld launches for 0 rows, want none", simt::launches() - before);
  if (out.loss.unwritten() != 3 || out.lse.unwritten() != 3 || out.aux.unwritten() != 3 || grad.unwritten() != 3)
    c.fail("0 rows, yet outputs were written");
}

// ---- the launcher's run-time branches ----------------------------------------------------------------
struct Pick {
  int group = 0, vec = 0;
};
Pick picked(const simt::LaunchRecord& r) {
  const std::vector<int> a = trailing_ints(r);
  return a.size() == 2 ? Pick{a[0], a[1]} : Pick{};
}

void declare_branches() {
  using R = const simt::LaunchRecord&;
  for (const char* kernel : {"cross_entropy_index_fwd_kernel", "cross_entropy_index_bwd_kernel",
                             "cross_entropy_prob_fwd_kernel", "cross_entropy_prob_bwd_kernel"}) {
    const std::string kn = kernel;
    const bool bwd = kn.find("_bwd_") != std::string::npos, prob = kn.find("_prob_") != std::string::npos;
    auto on = [](int64_t classes, int group) {
      return [=](R r) { return g_current && g_current->C == classes && picked(r).group == group; };
    };
    th::expect_branch(kn, "C = 2048: a warp a row", on(2048, 32));
    th::expect_branch(kn, "C = 2049: a block of 256 a row", on(2049, 256));
    th::expect_branch(kn, "C = 16384: a block of 256 a row", on(16384, 256));
    th::expect_branch(kn, "C = 16385: a block of 512 a row", [](R r) {
      return g_current && g_current->C == 16385 && picked(r).group == 512 && r.block[0] == 512;
    });
    // An odd class count is no whole number of packets of any width, in
    // aligned, contiguous memory otherwise.
    th::expect_branch(kn, "odd C, contiguous and aligned: unpacked", [](R r) {
      const CeCase* k = g_current;
      return k && k->C % 2 == 1 && k->walk == Walk::Dense && k->D == 1 && k->target_walk == Walk::Dense &&
             !k->misaligned_grad && picked(r).group > 1 && picked(r).vec == 1;
    });
    // C fits the packets in these cases (see register_cross_entropy); what
    // keeps the launch unpacked is the memory.
    auto unpacked = [](bool (*why)(const CeCase&)) {
      return [=](R r) { return g_current && why(*g_current) && picked(r).group == 32 && picked(r).vec == 1; };
    };
    th::expect_branch(kn, "logits start off 16 bytes: unpacked",
                      unpacked([](const CeCase& k) { return k.walk == Walk::Misaligned; }));
    th::expect_branch(kn, "rows C+1 apart: unpacked",
                      unpacked([](const CeCase& k) { return k.walk == Walk::PaddedRows; }));
    th::expect_branch(kn, "channels-last (inner > 1): a warp, unpacked",
                      unpacked([](const CeCase& k) { return k.walk == Walk::ChannelsLast; }));
    if (bwd)
      th::expect_branch(kn, "gradient starts off 16 bytes: unpacked",
                        unpacked([](const CeCase& k) { return k.walk == Walk::Dense && k.misaligned_grad; }));
    if (prob)
      th::expect_branch(kn, "targets do not pack (logits do): unpacked", unpacked([](const CeCase& k) {
                          return k.walk == Walk::Dense && k.target_walk != Walk::Dense;
                        }));
  }
}

void add_case(CeCase k) {
  char name[200];
  std::snprintf(name, sizeof name, "cross_entropy_%s/%s/N%lld_C%lld_D%lld/%s%s%s%s%s%s/s=%g/z=%g",
                k.target == Target::Prob ? "prob" : "index", dtype_name(k.dtype), (long long)k.N, (long long)k.C,
                (long long)k.D, walk_name(k.walk),
                k.target == Target::Prob && k.target_walk != Walk::Dense ? "/targets_" : "",
                k.target == Target::Prob && k.target_walk != Walk::Dense ? walk_name(k.target_walk) : "",
                k.weighted ? "/weighted" : "", k.misaligned_grad ? "/grad_misaligned" : "",
                k.broadcast_grad ? "/grad_broadcast" : "", k.smoothing, k.z_loss);
  std::string full = name;
  if (k.ignore_index != -100) full += "/ignore=" + std::to_string(k.ignore_index);
  th::add(full, [k](Ctx& c) {
    if (k.N == 0) {
      if (k.dtype == DType::Float64)
        cross_entropy_empty<double>(c, k);
      else
        cross_entropy_empty<float>(c, k);
    } else if (k.dtype == DType::Float64) {
      cross_entropy<double>(c, k);
    } else {
      cross_entropy<float>(c, k);
    }
  });
}

void register_cross_entropy() {
  declare_branches();
  // C = 64 holds whole packets for every dtype (2, 4 or 8 elements), so in
  // the misaligned / padded / channels-last cases only the memory decides.
  auto shape = [](int64_t N, int64_t C, int64_t D, Walk walk) {
    CeCase k;
    k.N = N, k.C = C, k.D = D, k.walk = walk;
    return k;
  };
  std::vector<CeCase> shapes;
  {
    CeCase k = shape(6, 7, 1, Walk::Dense);  // a warp, C no whole packet: unpacked
    shapes.push_back(k);
    k = shape(6, 40, 1, Walk::Dense);  // a warp, packed
    k.weighted = true, k.smoothing = 0.1;
    shapes.push_back(k);
    k = shape(4, 9, 3, Walk::Dense);  // (N, C, D): a thread a row
    k.weighted = true, k.smoothing = 0.05, k.z_loss = 1e-3;
    shapes.push_back(k);
    k = shape(7, 5, 1, Walk::Transposed);         // a thread a row
    k.broadcast_grad = true, k.ignore_index = 2;  // an in-range class as ignore_index
    shapes.push_back(k);
    k = shape(2, 64, 3, Walk::ChannelsLast);
    k.smoothing = 0.1;
    shapes.push_back(k);
    k = shape(6, 64, 1, Walk::PaddedRows);
    k.weighted = true, k.z_loss = 1e-4;
    shapes.push_back(k);
    k = shape(6, 64, 1, Walk::Misaligned);
    k.smoothing = 0.2, k.broadcast_grad = true;
    shapes.push_back(k);
    k = shape(6, 64, 1, Walk::Dense);  // packed forward, unpacked backward
    k.misaligned_grad = true, k.weighted = true;
    shapes.push_back(k);
    // The class-count thresholds of the group size, on either side.
    k = shape(3, 2048, 1, Walk::Dense);
    k.weighted = true, k.smoothing = 0.1;
    shapes.push_back(k);
    k = shape(3, 2049, 1, Walk::Dense);
    k.z_loss = 1e-4;
    shapes.push_back(k);
    k = shape(2, 16384, 1, Walk::Dense);
    k.smoothing = 0.1;
    shapes.push_back(k);
    k = shape(2, 16385, 1, Walk::Dense);
    k.weighted = true, k.smoothing = 0.2;
    shapes.push_back(k);
    k = shape(1, 16392, 1, Walk::Dense);  // a block of 512, packed
    k.weighted = true, k.smoothing = 0.2;
    shapes.push_back(k);
    k = shape(0, 7, 1, Walk::Dense);  // no rows
    shapes.push_back(k);
  }
  const DType dtypes[] = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16};
  for (Target target : {Target::Index, Target::Prob})
    for (DType d : dtypes) {
      for (CeCase k : shapes) {
        k.dtype = d, k.target = target;
        add_case(k);
      }
      if (target == Target::Prob) {
        // Targets laid out otherwise than the logits: their own walk, their
        // own packing.
        for (Walk tw : {Walk::Misaligned, Walk::Transposed, Walk::PaddedRows}) {
          CeCase k = shape(6, 64, 1, Walk::Dense);
          k.dtype = d, k.target = target, k.target_walk = tw;
          k.weighted = tw == Walk::Transposed, k.smoothing = tw == Walk::PaddedRows ? 0.1 : 0.0;
          add_case(k);
        }
        CeCase k = shape(7, 5, 1, Walk::Transposed);  // a thread a row, dense targets
        k.dtype = d, k.target = target, k.z_loss = 1e-3;
        add_case(k);
      }
    }
}

}  // namespace

TH_CASES(register_cross_entropy);

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

// float -> bfloat16 bits, rounded to nearest even (finite values).
uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

void cross_entropy_index(int64_t n, int64_t c, int64_t d, const std::string& shape, bool bf16 = false) {
  Workload w(shape + (bf16 ? " bf16" : " f32") + ", smoothing 0.1, z-loss 1e-4");
  const char* why = d > 1 ? kTargetLogitGather : "";
  const int64_t rows = n * d;
  CrossEntropyParams p;
  p.dtype = bf16 ? DType::BFloat16 : DType::Float32;
  p.layout = rows_layout(n, c, d);
  if (bf16) {
    uint16_t* x = w.buf<uint16_t>("logits", n * c * d);
    std::uniform_real_distribution<double> u(-4, 4);
    for (int64_t i = 0; i < n * c * d; ++i) x[i] = to_bf16(float(u(w.rng())));
    p.logits = x;
  } else {
    p.logits = w.uniform("logits", n * c * d, -4, 4);
  }
  p.target_index = w.indices("target", rows, 0, c - 1);
  p.label_smoothing = 0.1;
  p.z_loss = 1e-4;
  p.loss = w.buf<float>("loss", rows);
  p.lse = p.lse_out = w.buf<float>("lse", rows);
  p.row_weight = w.buf<float>("row_weight", rows);
  w.run("cross_entropy_index_fwd_cuda", [&] { return simt_cross_entropy_index_fwd_cuda(&p); },
        {{{{"logits"}, {"target"}}, {{"loss"}, {"lse"}, {"row_weight"}}, why}});
  p.grad_loss = w.uniform("grad_loss", 1, 0.5, 1);  // 'mean': one value, stride 0
  p.grad_loss_stride = 0;
  p.grad_logits = bf16 ? static_cast<void*>(w.buf<uint16_t>("grad_logits", n * c * d))
                       : static_cast<void*>(w.buf<float>("grad_logits", n * c * d));
  w.run("cross_entropy_index_bwd_cuda", [&] { return simt_cross_entropy_index_bwd_cuda(&p); },
        {{{{"logits"}, {"target"}, {"lse"}, {"grad_loss"}}, {{"grad_logits"}}, ""}});
}

void cross_entropy_prob(int64_t n, int64_t c) {
  Workload w(std::to_string(n) + "x" + std::to_string(c) + " f32, probability targets");
  CrossEntropyParams p;
  p.dtype = DType::Float32;
  p.layout = rows_layout(n, c, 1);
  p.target_layout = p.layout;
  p.logits = w.uniform("logits", n * c, -4, 4);
  float* t = w.uniform("target", n * c, 0, 1);
  for (int64_t r = 0; r < n; ++r) {
    double s = 0;
    for (int64_t k = 0; k < c; ++k) s += t[r * c + k];
    for (int64_t k = 0; k < c; ++k) t[r * c + k] = float(t[r * c + k] / s);
  }
  p.target_probs = t;
  p.loss = w.buf<float>("loss", n);
  p.lse = p.lse_out = w.buf<float>("lse", n);
  p.target_mass = p.target_mass_out = w.buf<float>("target_mass", n);
  w.run("cross_entropy_prob_fwd_cuda", [&] { return simt_cross_entropy_prob_fwd_cuda(&p); },
        {{{{"logits"}, {"target"}}, {{"loss"}, {"lse"}, {"target_mass"}}, ""}});
  p.grad_loss = w.uniform("grad_loss", 1, 0.5, 1);
  p.grad_loss_stride = 0;
  p.grad_logits = w.buf<float>("grad_logits", n * c);
  w.run("cross_entropy_prob_bwd_cuda", [&] { return simt_cross_entropy_prob_bwd_cuda(&p); },
        {{{{"logits"}, {"target"}, {"lse"}, {"target_mass"}, {"grad_loss"}}, {{"grad_logits"}}, ""}});
}

void cross_entropy_workloads() {
  cross_entropy_index(64, 4096, 1, "64x4096");        // a block per row
  cross_entropy_index(64, 4096, 1, "64x4096", true);  // 16-byte packets of 8 values
  cross_entropy_index(512, 1000, 1, "512x1000");      // a warp per row
  cross_entropy_index(2, 19, 64 * 64, "2x19x64x64");  // a thread per row (classes strided)
  cross_entropy_prob(64, 4096);
}

}  // namespace

TRAFFIC_WORKLOADS(cross_entropy_workloads)

}  // namespace traffic
#endif
