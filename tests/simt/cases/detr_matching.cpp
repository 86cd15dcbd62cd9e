// Cases: DETR matching cost (detr_cost_kernel, focal and softmax class costs)
// against the CPU entry point detr_matching_cost_cpu fed the same params
// (serially).
#include <cmath>

#include "common.h"
#include "kernels/detr_matching.h"

namespace cases {
namespace {

struct MatchCase {
  DType dtype;
  MatchClassCost kind;
  int64_t batch, queries, classes, targets;
  bool holes = false;       // padding inside the mask, and a valid target with an out-of-range label
  bool degenerate = false;  // zero-width / zero-area boxes and a target equal to a query
};

template <class acc_t>
void matching(Ctx& c, const MatchCase& k) {
  auto rng = rng_for(c.name);
  const int64_t B = k.batch, Q = k.queries, C = k.classes, G = k.targets;
  std::vector<double> x(B * Q * C), qb(B * Q * 4), tb(B * G * 4);
  for (auto& v : x) v = uniform(rng, -9, 9);
  auto fill_boxes = [&](std::vector<double>& b) {
    for (size_t i = 0; i < b.size(); i += 4) {
      b[i] = uniform(rng, 0, 1);
      b[i + 1] = uniform(rng, 0, 1);
      b[i + 2] = uniform(rng, 0.01, 0.5);
      b[i + 3] = uniform(rng, 0.01, 0.5);
    }
  };
  fill_boxes(qb);
  fill_boxes(tb);
  if (k.degenerate && Q > 2 && G > 2) {
    qb[2] = 0;                  // a zero-width query
    tb[2] = 0;                  // a zero-width target
    qb[4 + 2] = qb[4 + 3] = 0;  // a point query
    tb[4 + 2] = tb[4 + 3] = 0;  // a point target: with the point query, GIoU is 0/0 = nan
    tb[4 + 0] = qb[4 + 0];
    tb[4 + 1] = qb[4 + 1];
    for (int i = 0; i < 4; ++i) tb[8 + i] = qb[8 + i];  // a target equal to a query
  }
  Buf<int64_t> labels(B * G);
  Buf<bool> valid(B * G);
  for (int64_t i = 0; i < B * G; ++i) {
    labels[i] = std::uniform_int_distribution<int64_t>(0, C - 1)(rng);
    valid[i] = !k.holes || (i % 3 != 1);
  }
  if (k.holes && B * G > 5) {
    labels[1] = -5;  // padding (1 % 3 == 1): never read
    labels[3] = C;   // valid (3 % 3 == 0), out of range: a nan column
    labels[5] = -1;  // valid, negative: a nan column
  }
  Typed X(k.dtype, x);
  Acc<acc_t> QB(qb), TB(tb);
  DetrMatchingParams p;
  p.logits = X.ptr();
  p.dtype = k.dtype;
  p.boxes = QB.b.p;
  p.labels = labels.p;
  p.target_boxes = TB.b.p;
  p.valid = valid.p;
  p.batch = B;
  p.queries = Q;
  p.classes = C;
  p.targets = G;
  p.class_cost = k.kind;
  p.alpha = 0.3;
  p.gamma = k.kind == MatchClassCost::Focal ? 1.5 : 2.0;
  p.w_class = 2.0;
  p.w_bbox = 5.0;
  p.w_giou = 2.0;
  Buf<acc_t> cost(B * Q * G);
  p.cost = cost.p;
  const long before = simt::launches();
  if (int rc = simt_detr_matching_cost_cuda(&p)) return c.fail("launch returned %d", rc);
  if (simt::launches() - before != (B * Q * G != 0 ? 1 : 0)) c.fail("made the wrong number of launches");
  if (cost.unwritten()) c.fail("left %zu of %lld entries unwritten", cost.unwritten(), (long long)(B * Q * G));
  c.add_digest(cost);
  if (B * Q * G == 0) return;

  std::vector<acc_t> want(B * Q * G);
  DetrMatchingParams r = p;
  r.cost = want.data();
  const int64_t bad = detr_matching_cost_cpu(r, serial_for).bad_index_at;
  if (bad != (k.holes && B * G > 5 ? 3 : -1)) c.fail("the CPU entry reported bad target %lld", (long long)bad);
  const bool dbl = k.dtype == DType::Float64;
  // Entries are O(10) sums of terms of either sign: absolute tolerance on that scale.
  th::compare(c, "cost", to_double(cost.p, B * Q * G), to_double(want.data(), B * Q * G), rtol_acc(k.dtype),
              dbl ? 1e-11 : 4e-5);
}

void add_case(const MatchCase& k) {
  char name[200];
  std::snprintf(name, sizeof name, "detr_matching/%s/%s/B%lld_Q%lld_C%lld_G%lld%s%s", dtype_name(k.dtype),
                k.kind == MatchClassCost::Focal ? "focal" : "softmax", (long long)k.batch, (long long)k.queries,
                (long long)k.classes, (long long)k.targets, k.holes ? "/holes" : "", k.degenerate ? "/degenerate" : "");
  th::add(name, [k](Ctx& c) {
    if (k.dtype == DType::Float64)
      matching<double>(c, k);
    else
      matching<float>(c, k);
  });
}

void register_detr_matching() {
  const DType dtypes[] = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16};
  const MatchClassCost kinds[] = {MatchClassCost::Focal, MatchClassCost::Softmax};
  for (DType d : dtypes)
    for (MatchClassCost kind : kinds) {
      add_case({d, kind, 2, 40, 91, 37, true, true});  // partial tiles in both directions
      add_case({d, kind, 1, 5, 3, 4});                 // one small tile
    }
  add_case({DType::Float32, MatchClassCost::Softmax, 3, 70, 33, 70, false, true});
  add_case({DType::Float32, MatchClassCost::Focal, 1, 1, 1, 1});
  // Nothing to compute: no launch.
  add_case({DType::Float32, MatchClassCost::Focal, 2, 5, 3, 0});
  add_case({DType::Float64, MatchClassCost::Softmax, 2, 0, 3, 4});
  th::expect_branch("detr_cost_kernel", "several tiles (grid > 1)",
                    [](const simt::LaunchRecord& r) { return r.grid[0] > 1; });
}

}  // namespace

TH_CASES(register_detr_matching);

}  // namespace cases

#if defined(SIMT_TRAFFIC)
// ---- The memory-traffic workload of this kernel (make -C tests/simt traffic): a DINO-like image
// batch, float32, padded targets, as the torch op passes them.
#include <set>

#include "traffic/workload.h"

namespace traffic {
namespace {

using namespace lossext;

void matching(MatchClassCost kind) {
  const int64_t B = 2, Q = 300, C = 91, G = 64;
  Workload w(std::string("B2 Q300 C91 G64 f32, ") + (kind == MatchClassCost::Focal ? "focal" : "softmax"));
  DetrMatchingParams p;
  p.dtype = DType::Float32;
  p.batch = B;
  p.queries = Q;
  p.classes = C;
  p.targets = G;
  p.class_cost = kind;
  p.logits = w.uniform("logits", B * Q * C, -4, 4);
  p.boxes = w.uniform("boxes", B * Q * 4, 0.05, 0.5);
  int64_t* labels = w.indices("labels", B * G, 0, C - 1);
  p.labels = labels;
  p.target_boxes = w.uniform("target_boxes", B * G * 4, 0.05, 0.5);
  bool* valid = w.buf<bool>("valid", B * G);
  for (int64_t i = 0; i < B * G; ++i) valid[i] = i % G < G - 9;  // 9 padded targets per image
  p.valid = valid;
  p.cost = w.buf<float>("cost", B * Q * G);
  // The focal cost reads only the logits of the classes some valid target has.
  size_t logit_bytes = 0;
  for (int64_t b = 0; b < B; ++b) {
    std::set<int64_t> classes;
    for (int64_t t = 0; t < G; ++t)
      if (valid[b * G + t]) classes.insert(labels[b * G + t]);
    logit_bytes += size_t(Q) * classes.size() * sizeof(float);
  }
  const bool focal = kind == MatchClassCost::Focal;
  w.run("detr_matching_cost_cuda", [&] { return simt_detr_matching_cost_cuda(&p); },
        {{{{"logits", focal ? logit_bytes : 0}, {"boxes"}, {"labels"}, {"target_boxes"}, {"valid"}},
          {{"cost"}},
          focal ? "a tile of 32 queries x 32 targets per block: the logits at the targets' labels are a gather "
                  "(one sector per value), loaded again by every target tile of the same queries and for every "
                  "target of the same class; each tile stages its boxes in shared memory"
                : "a tile of 32 queries x 32 targets per block: each tile reads its queries' logit rows for the "
                  "log-sum-exp (a warp per row, coalesced), again for every target tile of the same queries, "
                  "then gathers the logits at the targets' labels (L1)"}});
}

void detr_matching_workloads() {
  matching(MatchClassCost::Focal);
  matching(MatchClassCost::Softmax);
}

}  // namespace

TRAFFIC_WORKLOADS(detr_matching_workloads)

}  // namespace traffic
#endif
