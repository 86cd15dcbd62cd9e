// Cases: the task-aligned assignment (tal_select_kernel, tal_resolve_kernel,
// tal_box_max_kernel, tal_targets_kernel) against the CPU entry point
// (task_aligned_assign_cpu with serial_for) on the same inputs. Every
// intermediate (each box's positives, each anchor's box) and every integer
// output must be equal; scores to rounding.
#include <algorithm>
#include <cmath>

#include "common.h"
#include "kernels/task_aligned.h"
#include "simt/runtime.h"

namespace cases {
namespace {

enum class Layout {
  Random,      // boxes anywhere, some padded
  Crowded,     // every box around the grid centre: anchors inside several boxes
  Ties,        // equal scores and one predicted box for every anchor: ties everywhere
  Degenerate,  // zero-width, zero-height and point boxes
  AllPadded,   // no real box
};

struct TalCase {
  DType dtype;
  OverlapKind overlap;
  int64_t topk;
  int64_t batch, side, classes, boxes;  // anchors: a side x side grid
  Layout layout = Layout::Random;
  float min_side = 4.0f;
  float alpha = 1.0f, beta = 6.0f;
};

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::Crowded: return "crowded";
    case Layout::Ties: return "ties";
    case Layout::Degenerate: return "degenerate";
    case Layout::AllPadded: return "all_padded";
    default: return "random";
  }
}

// Every scratch and output buffer of the params, sentinel-filled.
struct TalBuffers {
  Buf<int32_t> positives, assigned;
  Buf<float> metric, overlap, box_max;
  Buf<int64_t> labels, gt_idx;
  Buf<float> boxes;
  Buf<unsigned char> scores;
  Buf<bool> fg;
  TalBuffers(int64_t B, int64_t A, int64_t G, int64_t C, int64_t k, DType d)
      : positives(B * G * k),
        assigned(B * A),
        metric(B * A),
        overlap(B * A),
        box_max(B * G * 2),
        labels(B * A),
        gt_idx(B * A),
        boxes(B * A * 4),
        scores(B * A * C * elem_size(d), elem_size(d)),
        fg(B * A) {}
  void wire(TaskAlignedParams& p) {
    p.positives = positives.p;
    p.assigned = assigned.p;
    p.anchor_metric = metric.p;
    p.anchor_overlap = overlap.p;
    p.box_max = box_max.p;
    p.target_labels = labels.p;
    p.target_gt_idx = gt_idx.p;
    p.target_boxes = boxes.p;
    p.target_scores = scores.p;
    p.fg_mask = fg.p;
  }
};

template <class T>
void compare_exact(Ctx& c, const char* what, const Buf<T>& got, const Buf<T>& want) {
  if (got.unwritten()) c.fail("%s: %zu of %zu values unwritten", what, got.unwritten(), got.n);
  int shown = 0;
  for (size_t i = 0; i < got.n; ++i) {
    if (std::memcmp(&got.p[i], &want.p[i], sizeof(T)) != 0 && shown++ < 3)
      c.fail("%s[%zu] = %g, want %g", what, i, double(got.p[i]), double(want.p[i]));
  }
}

void task_aligned(Ctx& c, const TalCase& k) {
  auto rng = rng_for(c.name);
  const int64_t B = k.batch, A = k.side * k.side, C = k.classes, G = k.boxes;
  const double stride = 4, extent = double(k.side) * stride;
  std::vector<float> anchors(A * 2);
  for (int64_t a = 0; a < A; ++a) {
    anchors[2 * a] = float((a % k.side + 0.5) * stride);
    anchors[2 * a + 1] = float((a / k.side + 0.5) * stride);
  }
  std::vector<float> gt(B * G * 4), pd(B * A * 4);
  std::vector<int64_t> labels(B * G);
  std::vector<uint8_t> valid(B * G);
  for (int64_t i = 0; i < B * G; ++i) {
    double cx = uniform(rng, 0, extent), cy = uniform(rng, 0, extent);
    double w = uniform(rng, 2, extent / 2), h = uniform(rng, 2, extent / 2);
    if (k.layout == Layout::Crowded) cx = cy = extent / 2 + uniform(rng, -2, 2);
    if (k.layout == Layout::Degenerate) {
      if (i % 3 != 1) w = 0;
      if (i % 3 != 0) h = 0;
    }
    gt[4 * i] = float(cx - w / 2), gt[4 * i + 1] = float(cy - h / 2);
    gt[4 * i + 2] = float(cx + w / 2), gt[4 * i + 3] = float(cy + h / 2);
    labels[i] = int64_t(uniform(rng, 0, double(C) - 1e-9));
    valid[i] = k.layout == Layout::AllPadded ? 0 : (i % 5 != 4);
    if (!valid[i]) labels[i] = i % 2 ? 0 : -1;  // padding: any label, as ultralytics' zeros or -1
  }
  for (int64_t i = 0; i < B * A; ++i) {
    const int64_t a = i % A;
    double cx = anchors[2 * a] + uniform(rng, -3, 3), cy = anchors[2 * a + 1] + uniform(rng, -3, 3);
    double w = uniform(rng, 1, extent / 2), h = uniform(rng, 1, extent / 2);
    if (k.layout == Layout::Ties) cx = cy = extent / 2, w = h = extent / 3;
    pd[4 * i] = float(cx - w / 2), pd[4 * i + 1] = float(cy - h / 2);
    pd[4 * i + 2] = float(cx + w / 2), pd[4 * i + 3] = float(cy + h / 2);
  }
  std::vector<double> s(B * A * C);
  for (auto& v : s) v = k.layout == Layout::Ties ? 0.5 : uniform(rng, 0, 1);
  Typed scores(k.dtype, s);

  TaskAlignedParams p;
  p.scores = scores.ptr();
  p.dtype = k.dtype;
  p.pred_boxes = pd.data();
  p.anchors = anchors.data();
  p.labels = labels.data();
  p.gt_boxes = gt.data();
  p.valid = valid.data();
  p.batch = B, p.num_anchors = A, p.classes = C, p.boxes = G;
  p.topk = k.topk;
  p.alpha = k.alpha, p.beta = k.beta, p.eps = 1e-9f;
  p.min_side = k.min_side;
  p.overlap = k.overlap;

  TalBuffers dev(B, A, G, C, k.topk, k.dtype), ref(B, A, G, C, k.topk, k.dtype);
  TaskAlignedParams pd_params = p, ref_params = p;
  dev.wire(pd_params);
  ref.wire(ref_params);
  const long before = simt::launches();
  if (int rc = simt_task_aligned_assign_cuda(&pd_params)) return c.fail("launch returned %d", rc);
  if (simt::launches() - before != 4) c.fail("%ld launches, want 4", simt::launches() - before);

  task_aligned_assign_cpu(ref_params, serial_for);

  compare_exact(c, "positives", dev.positives, ref.positives);
  compare_exact(c, "assigned", dev.assigned, ref.assigned);
  compare_exact(c, "target_labels", dev.labels, ref.labels);
  compare_exact(c, "target_gt_idx", dev.gt_idx, ref.gt_idx);
  compare_exact(c, "fg_mask", dev.fg, ref.fg);
  compare_exact(c, "target_boxes", dev.boxes, ref.boxes);
  th::compare(c, "anchor_metric", to_double(dev.metric.p, B * A), to_double(ref.metric.p, B * A), 1e-6, 1e-30);
  th::compare(c, "anchor_overlap", to_double(dev.overlap.p, B * A), to_double(ref.overlap.p, B * A), 1e-6, 1e-30);
  th::compare(c, "box_max", to_double(dev.box_max.p, B * G * 2), to_double(ref.box_max.p, B * G * 2), 1e-6, 1e-30);
  if (dev.scores.unwritten()) c.fail("%zu target scores unwritten", dev.scores.unwritten());
  th::compare(c, "target_scores", read_typed(k.dtype, dev.scores.p, B * A * C),
              read_typed(k.dtype, ref.scores.p, B * A * C), rtol_out(k.dtype), 1e-30);
  c.add_digest(dev.positives);
  c.add_digest(dev.assigned);
  c.add_digest(dev.scores);

  // What the case is meant to reach, so that it cannot pass vacuously.
  int64_t fg = 0, several = 0;
  for (int64_t i = 0; i < B * A; ++i) fg += ref.fg.p[i];
  for (int64_t b = 0; b < B; ++b)
    for (int64_t a = 0; a < A; ++a) {
      int64_t n = 0;
      for (int64_t g = 0; g < G; ++g)
        for (int64_t j = 0; j < k.topk; ++j) n += ref.positives.p[(b * G + g) * k.topk + j] == int32_t(a);
      several += n > 1;
    }
  // No anchor lies strictly inside a zero-area box unless min_side widens it.
  const bool none = k.layout == Layout::AllPadded || (k.layout == Layout::Degenerate && k.min_side == 0.0f);
  if (none && fg != 0) c.fail("%lld foreground anchors, want none", (long long)fg);
  if (k.layout != Layout::Degenerate && !none && fg == 0) c.fail("no foreground anchor");
  if (k.layout == Layout::Crowded && several == 0) c.fail("no anchor is a positive of several boxes");
}

void add_case(const TalCase& k) {
  char name[200];
  std::snprintf(name, sizeof name, "task_aligned/%s/%s/k%lld/B%lld_A%lld_C%lld_G%lld/%s/min%g", dtype_name(k.dtype),
                k.overlap == OverlapKind::CIoU ? "ciou" : "iou", (long long)k.topk, (long long)k.batch,
                (long long)(k.side * k.side), (long long)k.classes, (long long)k.boxes, layout_name(k.layout),
                double(k.min_side));
  th::add(name, [k](Ctx& c) { task_aligned(c, k); });
}

// No box, no anchor or no image: no launch at all (the adapter fills the outputs).
void task_aligned_empty(Ctx& c) {
  for (int which = 0; which < 3; ++which) {
    TaskAlignedParams p;
    p.batch = which == 2 ? 0 : 2;
    p.num_anchors = which == 1 ? 0 : 16;
    p.boxes = which == 0 ? 0 : 3;
    p.classes = 4;
    const long before = simt::launches();
    if (int rc = simt_task_aligned_assign_cuda(&p)) return c.fail("launch returned %d", rc);
    if (simt::launches() != before) c.fail("%ld launches for an empty input", simt::launches() - before);
  }
}

void register_task_aligned() {
  const DType dtypes[] = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16};
  for (DType d : dtypes)
    for (OverlapKind o : {OverlapKind::CIoU, OverlapKind::IoU}) {
      add_case({d, o, 5, 2, 9, 4, 6});   // a thread's short list
      add_case({d, o, 20, 2, 9, 3, 5});  // the long list (topk > 16)
    }
  // More anchors than a select block has threads; topk 13 as ultralytics.
  add_case({DType::Float32, OverlapKind::CIoU, 13, 2, 20, 6, 9});
  add_case({DType::Float32, OverlapKind::CIoU, 13, 1, 20, 3, 12, Layout::Crowded});
  add_case({DType::Float16, OverlapKind::IoU, 4, 2, 12, 3, 8, Layout::Crowded, 0.0f});
  add_case({DType::Float32, OverlapKind::CIoU, 7, 2, 12, 3, 6, Layout::Ties});
  add_case({DType::Float32, OverlapKind::CIoU, 40, 1, 12, 3, 4, Layout::Ties});
  add_case({DType::Float32, OverlapKind::CIoU, 5, 2, 10, 3, 9, Layout::Degenerate, 12.0f});
  add_case({DType::BFloat16, OverlapKind::CIoU, 5, 2, 10, 3, 9, Layout::Degenerate, 0.0f});
  add_case({DType::Float32, OverlapKind::CIoU, 3, 2, 8, 3, 4, Layout::AllPadded});
  // topk = A: every anchor is in every top-k; alpha, beta other than 1, 6.
  TalCase all{DType::Float32, OverlapKind::CIoU, 64, 1, 8, 3, 5};
  all.alpha = 0.5f, all.beta = 2.0f;
  add_case(all);
  th::add("task_aligned/empty", task_aligned_empty);
}

}  // namespace

TH_CASES(register_task_aligned);

}  // namespace cases

#if defined(SIMT_TRAFFIC)
// ---- The memory-traffic workloads of these kernels (make -C tests/simt traffic): one
// assignment at a small detection size, float32, inputs laid out as the torch op passes them.
// Built only into the traffic binary.
#include "traffic/workload.h"

namespace traffic {
namespace {

using namespace lossext;

void task_aligned(int64_t batch, int64_t side, int64_t classes, int64_t boxes, int64_t topk) {
  Workload w(std::to_string(batch) + " images, " + std::to_string(side * side) + " anchors, " +
             std::to_string(classes) + " classes, " + std::to_string(boxes) + " boxes, topk " + std::to_string(topk) +
             ", f32");
  const int64_t A = side * side;
  TaskAlignedParams p;
  p.dtype = DType::Float32;
  p.batch = batch, p.num_anchors = A, p.classes = classes, p.boxes = boxes, p.topk = topk;
  p.min_side = 16.0f;
  float* anchors = w.buf<float>("anchors", A * 2);
  for (int64_t a = 0; a < A; ++a) anchors[2 * a] = (a % side + 0.5f) * 8, anchors[2 * a + 1] = (a / side + 0.5f) * 8;
  float* pred = w.buf<float>("pred_boxes", batch * A * 4);
  for (int64_t i = 0; i < batch * A; ++i) {
    const float* c = anchors + 2 * (i % A);
    pred[4 * i] = c[0] - 12, pred[4 * i + 1] = c[1] - 10, pred[4 * i + 2] = c[0] + 12, pred[4 * i + 3] = c[1] + 10;
  }
  float* gt = w.buf<float>("gt_boxes", batch * boxes * 4);
  std::uniform_real_distribution<double> u(0, side * 8.0);
  for (int64_t i = 0; i < batch * boxes; ++i) {
    const float x = float(u(w.rng())), y = float(u(w.rng()));
    gt[4 * i] = x - 20, gt[4 * i + 1] = y - 16, gt[4 * i + 2] = x + 20, gt[4 * i + 3] = y + 16;
  }
  uint8_t* valid = w.buf<uint8_t>("valid", batch * boxes);
  for (int64_t i = 0; i < batch * boxes; ++i) valid[i] = 1;
  p.anchors = anchors, p.pred_boxes = pred, p.gt_boxes = gt, p.valid = valid;
  p.labels = w.indices("labels", batch * boxes, 0, classes - 1);
  p.scores = w.uniform("scores", batch * A * classes, 0, 1);
  p.positives = w.buf<int32_t>("positives", batch * boxes * topk);
  p.assigned = w.buf<int32_t>("assigned", batch * A);
  p.anchor_metric = w.buf<float>("anchor_metric", batch * A);
  p.anchor_overlap = w.buf<float>("anchor_overlap", batch * A);
  p.box_max = w.buf<float>("box_max", batch * boxes * 2);
  p.target_labels = w.buf<int64_t>("target_labels", batch * A);
  p.target_boxes = w.buf<float>("target_boxes", batch * A * 4);
  p.target_scores = w.buf<float>("target_scores", batch * A * classes);
  p.fg_mask = w.buf<bool>("fg_mask", batch * A);
  p.target_gt_idx = w.buf<int64_t>("target_gt_idx", batch * A);
  w.run("task_aligned_assign_cuda", [&] { return simt_task_aligned_assign_cuda(&p); },
        {{{{"anchors"}, {"gt_boxes"}, {"labels"}, {"valid"}},
          {{"positives"}},
          "a block per box reads every anchor point (again for each box, from L2) and, for the anchors inside "
          "the box only, their predicted box and the score of the box's class (a gather)"},
         {{{"anchors"}, {"gt_boxes"}, {"valid"}},
          {{"assigned"}, {"anchor_metric"}, {"anchor_overlap"}},
          "a thread per anchor reads every box of its image (the same boxes for a whole warp: broadcasts) and the "
          "positives of the boxes it lies in, and its predicted box only when it lies in one"},
         {{{"assigned"}},
          {{"box_max"}},
          "a block per box sweeps its image's assigned anchors (again for each box, from L2), and reads their "
          "metric and overlap only where assigned to it"},
         {{{"assigned"}},
          {{"target_labels"}, {"target_boxes"}, {"target_scores"}, {"fg_mask"}, {"target_gt_idx"}},
          "a thread per target score; the anchor's values are loaded by each of its C threads (the same "
          "sector: broadcasts); labels, boxes, metric and maxima only of the assigned boxes (box 0 for the "
          "background)"}});
}

void task_aligned_workloads() { task_aligned(2, 16, 16, 12, 13); }

}  // namespace

TRAFFIC_WORKLOADS(task_aligned_workloads)

}  // namespace traffic
#endif
