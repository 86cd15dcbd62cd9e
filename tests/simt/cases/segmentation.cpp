// Cases: segmentation overlap statistics (seg_stats_kernel, seg_finish_kernel,
// seg_grad_kernel) against the CPU entry points seg_stats_fwd_cpu and
// seg_stats_bwd_cpu (cpu/loops/segmentation.cpp) on the same params.
//
// The device adds its sums in another order (per-thread columns, then block
// partials), so stats are compared within a tolerance; every output is digested,
// so the schedules must agree bitwise.
#include <algorithm>
#include <cmath>

#include "common.h"
#include "kernels/segmentation.h"

namespace cases {
namespace {

enum class Variant { SoftmaxIndex, IdentityIndex, SigmoidDense, IdentityDense };

const char* variant_name(Variant v) {
  switch (v) {
    case Variant::SoftmaxIndex: return "softmax-index";
    case Variant::IdentityIndex: return "identity-index";
    case Variant::SigmoidDense: return "sigmoid-dense";
    case Variant::IdentityDense: return "identity-dense";
  }
  return "?";
}
bool is_index(Variant v) { return v == Variant::SoftmaxIndex || v == Variant::IdentityIndex; }
SegActivation activation_of(Variant v) {
  return v == Variant::SoftmaxIndex   ? SegActivation::Softmax
         : v == Variant::SigmoidDense ? SegActivation::Sigmoid
                                      : SegActivation::Identity;
}

struct SegCase {
  DType dtype;
  Variant variant;
  int64_t batch, classes, pixels;
  bool squared = false, with_ce = false, has_ignore = false;
  double smoothing = 0;
  bool bad_index = false;  // an out-of-range class index in the last sample
  bool padded = false;     // logits with stride_c > pixels and stride_n > C * stride_c
};

// The batch of the forward being run, for the "several blocks per sample"
// branch (a LaunchRecord knows the grid, not the batch it was made for).
int64_t g_forward_batch = 0;

template <class acc_t>
void seg_stats(Ctx& c, const SegCase& k) {
  auto rng = rng_for(c.name);
  const int64_t N = k.batch, C = k.classes, S = k.pixels;
  const bool index = is_index(k.variant);
  const int64_t stride_c = k.padded ? S + 3 : S, stride_n = k.padded ? C * stride_c + 5 : C * S;
  const int64_t xlen = N > 0 ? (N - 1) * stride_n + C * stride_c : 0;

  // Inputs. Padding elements are nan: a read of one would show in the sums.
  std::vector<double> x(xlen, NAN), t(index ? 0 : N * C * S);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t cl = 0; cl < C; ++cl)
      for (int64_t s = 0; s < S; ++s) {
        double& v = x[n * stride_n + cl * stride_c + s];
        switch (k.variant) {
          case Variant::SoftmaxIndex: v = uniform(rng, -6, 6); break;
          case Variant::SigmoidDense: v = uniform(rng, -8, 8); break;
          default: v = uniform(rng, 0, 1);  // probabilities given directly
        }
      }
  if (k.variant == Variant::SigmoidDense && S >= 3 && N > 0) {
    x[0] = 40, x[1] = -40, x[2] = 0;  // saturated sigmoids and the midpoint
    if (C > 1) x[stride_c] = 100, x[stride_c + 1] = -100;
  }
  const int64_t ignore = index ? 255 : -100;
  Buf<int64_t> y(index ? N * S : 0);
  if (index) {
    for (int64_t i = 0; i < N * S; ++i) {
      y[i] = std::uniform_int_distribution<int64_t>(0, C - 1)(rng);
      if (k.has_ignore && i % 7 == 3) y[i] = ignore;
    }
    // Without has_ignore, the ignore_index value is an index like any other
    // (out of range here).
    if (k.bad_index) {
      y[(N - 1) * S + S / 2] = k.has_ignore ? C + 2 : ignore;
      if (S > 3) y[(N - 1) * S + 1] = -1;
    }
  } else {
    for (auto& v : t) {
      const double u = uniform(rng, 0, 1);
      v = u < 0.35 ? 1.0 : u < 0.7 ? 0.0 : uniform(rng, 0, 1);
    }
    if (k.has_ignore)
      for (size_t i = 5; i < t.size(); i += 9) t[i] = double(ignore);
  }
  Typed X(k.dtype, x), Tt(k.dtype, t);

  SegParams p;
  p.logits = X.ptr();
  p.dtype = k.dtype;
  p.batch = N;
  p.classes = C;
  p.pixels = S;
  p.stride_n = stride_n;
  p.stride_c = stride_c;
  p.target_index = index ? y.p : nullptr;
  p.target_dense = index ? nullptr : Tt.ptr();
  p.ignore.active = k.has_ignore;
  p.ignore.value = ignore;
  p.activation = activation_of(k.variant);
  p.squared = k.squared;
  p.with_ce = k.with_ce;
  p.label_smoothing = k.smoothing;

  const size_t as = sizeof(acc_t);
  const int64_t nstats = N * kSegStats * C, nextras = N * kSegExtras;
  Buf<acc_t> stats(nstats), extras(nextras);
  Buf<unsigned char> workspace(seg_cuda_workspace_bytes(p), as);
  p.stats = stats.p;
  p.extras = extras.p;
  p.workspace = workspace.p;

  const int threads = seg_cuda_threads(C, k.dtype);
  const long launches_before = simt::launches();
  g_forward_batch = N;
  int rc;
  {
    // seg_stats_kernel takes its (sample, block) from blockIdx.x as it is, so
    // under --grid-cap it would leave the samples of the missing blocks
    // unsummed: it is declared an exact-grid launch and always runs its whole
    // grid. That costs no coverage: its pixel loop strides by
    // blocks_per_sample * blockDim, never gridDim, and walks several pixels
    // per thread on every case with more pixels than threads; the launches
    // after it (seg_finish_kernel, seg_grad_kernel: grid-stride) stay capped.
    th::ExactGridLaunch exact("seg_stats_kernel");
    rc = simt_seg_stats_fwd_cuda(&p);
  }
  const long forward_launches = simt::launches() - launches_before;
  if (N == 0 || C == 0) {
    // Nothing to compute: no launch, nothing written (the glue's zeros stand).
    if (rc) c.fail("empty forward returned %d", rc);
    if (forward_launches) c.fail("empty forward made %ld launches", forward_launches);
    return;
  }
  if (threads == 0) {
    // More classes than shared memory holds: refused before any launch.
    if (rc == 0) c.fail("forward with %lld classes (%s) was accepted", (long long)C, dtype_name(k.dtype));
    if (forward_launches) c.fail("refused forward made %ld launches", forward_launches);
    if (stats.unwritten() != size_t(nstats) || extras.unwritten() != size_t(nextras))
      c.fail("refused forward wrote outputs");
    return;
  }
  if (rc) return c.fail("forward launch returned %d", rc);
  if (forward_launches != 2) c.fail("forward made %ld launches, want 2", forward_launches);
  if (stats.unwritten() || extras.unwritten())
    c.fail("forward left %zu stats and %zu extras unwritten", stats.unwritten(), extras.unwritten());
  if (workspace.unwritten()) c.fail("%zu block partials unwritten", workspace.unwritten());
  c.add_digest(stats);
  c.add_digest(extras);

  // Backward inputs: dL/dTP, dL/dSP (and an ST row the kernel must not use),
  // dL/d(cross-entropy sum) (and a valid-count slot it must not use).
  std::vector<double> coef(nstats), gx(nextras);
  for (auto& v : coef) v = uniform(rng, -1, 1);
  for (auto& v : gx) v = uniform(rng, -1, 1);
  Acc<acc_t> Coef(coef), Gx(gx);
  p.coef = Coef.b.p;
  p.grad_extras = Gx.b.p;
  const int64_t ngrad = N * C * S;
  Buf<unsigned char> grad(ngrad * elem_size(k.dtype), elem_size(k.dtype));
  p.grad_logits = grad.p;
  const long before_bwd = simt::launches();
  if (int rb = simt_seg_stats_bwd_cuda(&p)) return c.fail("backward launch returned %d", rb);
  if (S == 0 && simt::launches() != before_bwd) c.fail("backward without pixels launched");
  if (grad.unwritten()) c.fail("backward left %zu of %lld gradients unwritten", grad.unwritten(), (long long)ngrad);
  c.add_digest(grad);

  // Reference: the CPU entry points on the same params, serially, into their
  // own outputs (stats and extras start as the op's zeros).
  SegParams q = p;
  std::vector<acc_t> ref_stats(nstats, acc_t(0)), ref_extras(nextras, acc_t(0));
  std::vector<double> ref_workspace(seg_workspace_bytes(p, false) / sizeof(double));
  std::vector<unsigned char> ref_grad(ngrad * elem_size(k.dtype));
  q.stats = ref_stats.data();
  q.extras = ref_extras.data();
  q.workspace = ref_workspace.data();
  q.grad_logits = ref_grad.data();
  const CpuStatus status = seg_stats_fwd_cpu(q, serial_for);
  seg_stats_bwd_cpu(q, serial_for);

  // Class indices outside [0, C) that are not ignored: the samples that hold
  // one, and the first flat position, which the CPU forward must report.
  std::vector<bool> bad_sample(N, false);
  int64_t first_bad = -1;
  for (int64_t i = 0; index && i < N * S; ++i) {
    const int64_t v = y[i];
    if ((k.has_ignore && v == ignore) || (v >= 0 && v < C)) continue;
    bad_sample[i / S] = true;
    if (first_bad < 0) first_bad = i;
  }
  if (status.bad_index_at != first_bad)
    c.fail("CPU forward reported a bad class index at %lld, want %lld", (long long)status.bad_index_at,
           (long long)first_bad);

  std::vector<double> want_stats = to_double(ref_stats.data(), nstats),
                      want_extras = to_double(ref_extras.data(), nextras);
  std::vector<double> want_grad = read_typed(k.dtype, ref_grad.data(), ngrad);
  // An out-of-range index: the CPU op raises (after treating the pixel as
  // ignored); the device cannot raise without a sync and makes the pixel's
  // validity nan instead: SP of every class, the valid count and the
  // cross-entropy of its sample are nan, TP and ST (which only a usable index
  // feeds) are the sums without it, and its gradient column is nan.
  for (int64_t n = 0; n < N; ++n) {
    if (!bad_sample[n]) continue;
    for (int64_t cl = 0; cl < C; ++cl) want_stats[n * kSegStats * C + kSegSP * C + cl] = NAN;
    want_extras[n * kSegExtras + kSegValid] = NAN;
    if (k.with_ce) want_extras[n * kSegExtras + kSegCE] = NAN;
    for (int64_t s = 0; s < S; ++s) {
      const int64_t v = y[n * S + s];
      if ((k.has_ignore && v == ignore) || (v >= 0 && v < C)) continue;
      for (int64_t cl = 0; cl < C; ++cl) want_grad[(n * C + cl) * S + s] = NAN;
    }
  }
  if (k.bad_index && !bad_sample[N - 1]) c.fail("the case has no out-of-range index");

  // Sums of non-negative terms: relative tolerance, with the float rounding of
  // up to `pixels` additions in either order (CUDA per thread column, then
  // over columns and blocks; the CPU vectorised per tile, then in double).
  const bool dbl = k.dtype == DType::Float64;
  th::compare(c, "stats", to_double(stats.p, nstats), want_stats, rtol_acc(k.dtype), dbl ? 1e-12 : 1e-6);
  th::compare(c, "extras", to_double(extras.p, nextras), want_extras, rtol_acc(k.dtype), dbl ? 1e-12 : 1e-6);
  // The gradient cancels: p_c (g_c - sum_k p_k g_k) with g = A t + B (2 p or
  // 1) (+ g_ce (p - ...)) is small where g_c is near the mean, while its error
  // follows the size of the terms. On the device, __expf rounds its argument
  // (x - lse, down to about -20 here) times log2(e) to float first: a relative
  // error of up to about 2^-20 in every p, i.e. an absolute one of about
  // 2^-20 * G in the gradient, with G the largest |g| of the sample.
  double G = 0;
  for (int64_t n = 0; n < N; ++n) {
    double a = 0, b = 0;
    for (int64_t cl = 0; cl < C; ++cl) {
      a = std::max(a, std::fabs(coef[n * kSegStats * C + kSegTP * C + cl]));
      b = std::max(b, std::fabs(coef[n * kSegStats * C + kSegSP * C + cl]));
    }
    G = std::max(G, a + (k.squared ? 2 : 1) * b + (k.with_ce ? 2 * std::fabs(gx[n * kSegExtras + kSegCE]) : 0.0));
  }
  th::compare(c, "grad", read_typed(k.dtype, grad.p, ngrad), want_grad, rtol_out(k.dtype),
              dbl             ? 1e-12 * G
              : is16(k.dtype) ? 1e-3
                              : std::ldexp(G, -20));
}

void add_case(const SegCase& k) {
  char name[200];
  std::snprintf(name, sizeof name, "segmentation/%s/%s/N%lld_C%lld_S%lld%s%s%s%s%s%s", dtype_name(k.dtype),
                variant_name(k.variant), (long long)k.batch, (long long)k.classes, (long long)k.pixels,
                k.squared ? "/squared" : "", k.with_ce ? "/ce" : "", k.has_ignore ? "/ignore" : "",
                k.bad_index ? "/bad-index" : "", k.padded ? "/padded" : "",
                k.smoothing > 0 ? (k.smoothing == 0.1 ? "/s=0.1" : "/smoothing") : "");
  th::add(name, [k](Ctx& c) {
    if (k.dtype == DType::Float64)
      seg_stats<double>(c, k);
    else
      seg_stats<float>(c, k);
  });
}

void register_segmentation() {
  const DType dtypes[] = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16};
  const Variant variants[] = {Variant::SoftmaxIndex, Variant::IdentityIndex, Variant::SigmoidDense,
                              Variant::IdentityDense};
  for (DType d : dtypes)
    for (Variant v : variants) {
      add_case({d, v, 2, 5, 70});
      SegCase sq{d, v, 3, 4, 45};
      sq.squared = sq.has_ignore = true;
      add_case(sq);
      // Two blocks per sample (pixels > 1024).
      SegCase wide{d, v, 2, 3, 1100};
      wide.has_ignore = is_index(v);
      add_case(wide);
      if (is_index(v)) {
        SegCase bad{d, v, 2, 6, 50};
        bad.bad_index = true;
        bad.with_ce = v == Variant::SoftmaxIndex;
        bad.has_ignore = v == Variant::SoftmaxIndex;
        add_case(bad);
      }
      if (v == Variant::SoftmaxIndex) {
        SegCase ce{d, v, 2, 7, 90};
        ce.with_ce = true;
        add_case(ce);
        ce.smoothing = 0.1;
        ce.has_ignore = ce.squared = true;
        add_case(ce);
        SegCase s_only{d, v, 2, 4, 30};  // smoothing without the cross-entropy: no effect
        s_only.smoothing = 0.3;
        add_case(s_only);
      }
    }

  // Every block size seg_cuda_threads picks: the largest class count of each
  // (and the next one, which falls to the smaller block), up to the 32-thread
  // blocks that need more than 48 KiB of dynamic shared memory (the opt-in),
  // and past it, the class count the launcher refuses.
  struct Edge {
    DType dtype;
    int64_t classes;
  };
  const Edge edges[] = {
      {DType::Float32, 15},   {DType::Float32, 16},  {DType::Float32, 31},  {DType::Float32, 32},
      {DType::Float32, 62},   {DType::Float32, 63},  {DType::Float32, 123}, {DType::Float32, 124},
      {DType::Float32, 247},  {DType::Float32, 248}, {DType::Float64, 7},   {DType::Float64, 8},
      {DType::Float64, 15},   {DType::Float64, 16},  {DType::Float64, 30},  {DType::Float64, 31},
      {DType::Float64, 61},   {DType::Float64, 62},  {DType::Float64, 123}, {DType::Float64, 124},
      {DType::BFloat16, 130}, {DType::Float16, 63},
  };
  for (size_t i = 0; i < sizeof edges / sizeof edges[0]; ++i) {
    const Edge e = edges[i];
    SegCase k{e.dtype, i % 2 ? Variant::IdentityDense : Variant::SoftmaxIndex, 2, e.classes, 40};
    k.with_ce = k.variant == Variant::SoftmaxIndex;
    add_case(k);
  }

  // Strided logits (samples and classes further apart than the pixels).
  SegCase pad{DType::Float32, Variant::SoftmaxIndex, 3, 5, 37};
  pad.padded = pad.with_ce = true;
  add_case(pad);
  pad = {DType::BFloat16, Variant::SigmoidDense, 2, 3, 41};
  pad.padded = true;
  add_case(pad);
  // Degenerate shapes: no pixels (sums of nothing are written as zeros, no
  // backward launch), no sample, no class.
  SegCase none{DType::Float32, Variant::SoftmaxIndex, 2, 3, 0};
  none.with_ce = true;
  add_case(none);
  add_case({DType::Float64, Variant::SigmoidDense, 2, 3, 0});
  add_case({DType::Float32, Variant::SoftmaxIndex, 0, 3, 10});
  add_case({DType::Float32, Variant::IdentityDense, 2, 0, 10});

  // The run-time branches of the forward launcher that no template argument
  // tells apart: the block size picked from the class count, the opted-in
  // dynamic shared memory, and more than one block per sample.
  const unsigned long kStaticLimit = 48 * 1024;
  for (unsigned t : {256u, 128u, 64u, 32u})
    th::expect_branch(
        "seg_stats_kernel", std::to_string(t) + " threads, dynamic shared <= 48 KiB",
        [t, kStaticLimit](const simt::LaunchRecord& r) { return r.block[0] == t && r.dynamic_shared <= kStaticLimit; });
  th::expect_branch(
      "seg_stats_kernel", "32 threads, dynamic shared > 48 KiB (opt-in)",
      [kStaticLimit](const simt::LaunchRecord& r) { return r.block[0] == 32 && r.dynamic_shared > kStaticLimit; });
  th::expect_branch("seg_stats_kernel", "several blocks per sample",
                    [](const simt::LaunchRecord& r) { return g_forward_batch > 0 && r.grid[0] > g_forward_batch; });
}

}  // namespace

TH_CASES(register_segmentation);

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

void segmentation(int64_t n, int64_t c, int64_t h, int64_t wd, bool multiclass) {
  Workload w(std::to_string(n) + "x" + std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(wd) +
             (multiclass ? " f32, softmax, index targets, with CE" : " f32, sigmoid, dense targets"));
  const int64_t S = h * wd;
  SegParams p;
  p.dtype = DType::Float32;
  p.batch = n;
  p.classes = c;
  p.pixels = S;
  p.stride_n = c * S;
  p.stride_c = S;
  p.logits = w.uniform("logits", n * c * S, -4, 4);
  if (multiclass) {
    p.target_index = w.indices("target", n * S, 0, c - 1);
    p.activation = SegActivation::Softmax;
    p.with_ce = true;
  } else {
    float* t = w.buf<float>("target", n * c * S);
    std::uniform_int_distribution<int> bit(0, 3);
    for (int64_t i = 0; i < n * c * S; ++i) t[i] = bit(w.rng()) == 0 ? 1.0f : 0.0f;
    p.target_dense = t;
    p.activation = SegActivation::Sigmoid;
  }
  p.stats = w.buf<float>("stats", n * kSegStats * c);
  p.extras = w.buf<float>("extras", n * kSegExtras);
  p.workspace = w.buf<unsigned char>("workspace", seg_cuda_workspace_bytes(p));
  // Softmax: a thread's pixel is C logits a class stride apart, loaded once
  // per pass over the classes; between two passes its block of 128 threads
  // loads 128 x 19 x 4 bytes = 9.5 KiB.
  const char* fwd_why =
      multiclass ? "softmax: each thread loads its pixel's C logits twice, for the log-sum-exp and then for "
                   "the sums (a probability needs the max and sum of the whole row first, and C is a run-time "
                   "value up to 240, too many to keep in registers), plus x[y] for the cross-entropy, a gather "
                   "across class rows; between two loads of a byte the block loads 9.5 KiB (expected to hit "
                   "L1), unique = minimum"
                 : "";
  w.run("seg_stats_fwd_cuda", [&] { return simt_seg_stats_fwd_cuda(&p); },
        {{{{"logits"}, {"target"}}, {{"workspace"}}, fwd_why}, {{{"workspace"}}, {{"stats"}, {"extras"}}, ""}});
  // coef (N, 3, C): the backward reads dL/dTP and dL/dSP, two of each sample's three rows.
  p.coef = w.uniform("coef", n * kSegStats * c, -1, 1);
  p.grad_extras = w.uniform("grad_extras", n * kSegExtras, 0.5, 1);
  p.grad_logits = w.buf<float>("grad_logits", n * c * S);
  std::vector<Need> reads = {{"logits"}, {"target"}, {"coef", size_t(n * 2 * c) * 4}};
  if (multiclass) reads.push_back({"grad_extras", size_t(n) * 4});  // dL/d(cross-entropy sum) only
  const char* bwd_why =
      multiclass ? "softmax: each thread loads its pixel's C logits three times, for the log-sum-exp, for the "
                   "sum over classes of p dL/dp, and for the gradient; the repeats are expected to hit L1 as in "
                   "the forward, unique = minimum; every warp loads its sample's 2C coefficients (broadcasts)"
                 : "";
  w.run("seg_stats_bwd_cuda", [&] { return simt_seg_stats_bwd_cuda(&p); }, {{reads, {{"grad_logits"}}, bwd_why}});
}

void segmentation_workloads() {
  segmentation(2, 19, 64, 64, true);
  segmentation(2, 19, 64, 64, false);
}

}  // namespace

TRAFFIC_WORKLOADS(segmentation_workloads)

}  // namespace traffic
#endif
