// Cases: box IoU family kernels against the CPU entry points box_pairwise_cpu,
// box_loss_fwd_cpu and box_loss_bwd_cpu (cpu/loops/box.cpp) on the same params.
#include "common.h"
#include "kernels/box.h"
#include "simt/runtime.h"

namespace cases {
namespace {

// ---- box IoU family --------------------------------------------------------------------------------
// Boxes in format fmt; every 11th has zero width. With `degenerate`, every
// box has zero area: zero width, zero height, or both (a point).
std::vector<double> random_boxes(std::mt19937_64& rng, int64_t count, BoxFmt fmt, bool degenerate = false) {
  std::vector<double> b(count * 4);
  for (int64_t i = 0; i < count; ++i) {
    const double x = uniform(rng, 0, 50), yv = uniform(rng, 0, 50);
    double w = uniform(rng, 0, 30), h = uniform(rng, 0, 30);
    if (i % 11 == 5) w = 0;  // degenerate boxes
    if (degenerate) {
      if (i % 3 != 1) w = 0;
      if (i % 3 != 0) h = 0;
    }
    double* o = &b[i * 4];
    if (fmt == BoxFmt::XYXY)
      o[0] = x, o[1] = yv, o[2] = x + w, o[3] = yv + h;
    else if (fmt == BoxFmt::XYWH)
      o[0] = x, o[1] = yv, o[2] = w, o[3] = h;
    else
      o[0] = x + w / 2, o[1] = yv + h / 2, o[2] = w, o[3] = h;
  }
  return b;
}

bool all_finite(const std::vector<double>& v) {
  for (double x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

void box_pairwise(Ctx& c, DType dtype, BoxPairKind kind, BoxFmt fmt, int64_t batch, int64_t n, int64_t m,
                  bool degenerate = false) {
  auto rng = rng_for(c.name);
  std::vector<double> v1 = random_boxes(rng, batch * n, fmt, degenerate),
                      v2 = random_boxes(rng, batch * m, fmt, degenerate);
  // A box of boxes2 equal to one of boxes1 (the same point when degenerate).
  std::copy(v1.begin(), v1.begin() + 4, v2.begin());
  Typed b1(dtype, v1), b2(dtype, v2);
  Buf<unsigned char> out(batch * n * m * elem_size(dtype), elem_size(dtype)),
      ref(batch * n * m * elem_size(dtype), elem_size(dtype));
  BoxPairwiseParams p;
  p.boxes1 = b1.ptr();
  p.boxes2 = b2.ptr();
  p.out = out.p;
  p.dtype = dtype;
  p.batch = batch;
  p.n = n;
  p.m = m;
  p.kind = kind;
  p.fmt = fmt;
  if (int rc = simt_box_pairwise_cuda(&p)) return c.fail("launch returned %d", rc);
  if (out.unwritten()) c.fail("%zu of %lld outputs unwritten", out.unwritten(), (long long)(batch * n * m));
  c.add_digest(out);
  BoxPairwiseParams q = p;
  q.out = ref.p;
  box_pairwise_cpu(q, serial_for);
  if (ref.unwritten()) c.fail("the CPU entry left %zu outputs unwritten", ref.unwritten());
  th::compare(c, "pairwise", read_typed(dtype, out.p, batch * n * m), read_typed(dtype, ref.p, batch * n * m),
              rtol_out(dtype), dtype == DType::Float64 ? 1e-12 : 4e-7);
}

struct LossCase {
  DType dtype;
  BoxLossMode mode;
  BoxFmt fmt;
  int64_t pairs;
  bool broadcast_grad = false;  // upstream gradient as one value (stride 0)
  int grads = 3;                // which of grad1 (1) and grad2 (2) are asked for; the other is null
  bool degenerate = false;      // zero-area boxes only: every output must stay finite
};

void box_loss(Ctx& c, const LossCase& k) {
  const DType dtype = k.dtype;
  const int64_t pairs = k.pairs;
  auto rng = rng_for(c.name);
  std::vector<double> v1 = random_boxes(rng, pairs, k.fmt, k.degenerate),
                      v2 = random_boxes(rng, pairs, k.fmt, k.degenerate);
  if (pairs > 2) std::copy(v1.begin(), v1.begin() + 4, v2.begin());  // an identical pair
  if (pairs > 4 && k.degenerate) {  // two equal points; two sharing x, y (a corner, or the centre in cxcywh)
    std::copy(v1.begin() + 8, v1.begin() + 12, v2.begin() + 8);
    std::copy(v1.begin() + 12, v1.begin() + 14, v2.begin() + 12);
  }
  Typed b1(dtype, v1), b2(dtype, v2);
  const bool dbl = dtype == DType::Float64;
  std::vector<double> gl(k.broadcast_grad ? 1 : pairs);
  for (auto& v : gl) v = uniform(rng, -1, 1);
  const size_t es = elem_size(dtype), as = dbl ? 8 : 4;
  Buf<unsigned char> loss(pairs * as, as), g1(pairs * 4 * es, es), g2(pairs * 4 * es, es);
  Typed G(dbl ? DType::Float64 : DType::Float32, gl);
  BoxLossParams p;
  p.boxes1 = b1.ptr();
  p.boxes2 = b2.ptr();
  p.dtype = dtype;
  p.pairs = pairs;
  p.mode = k.mode;
  p.fmt = k.fmt;
  p.loss = loss.p;
  p.grad_loss = G.ptr();
  p.grad_loss_stride = k.broadcast_grad ? 0 : 1;
  p.grad1 = k.grads & 1 ? g1.p : nullptr;
  p.grad2 = k.grads & 2 ? g2.p : nullptr;
  if (int rc = simt_box_loss_fwd_cuda(&p)) return c.fail("forward launch returned %d", rc);
  if (int rc = simt_box_loss_bwd_cuda(&p)) return c.fail("backward launch returned %d", rc);
  if (loss.unwritten()) c.fail("forward left outputs unwritten");
  // A gradient not asked for is not written.
  if (g1.unwritten() != (k.grads & 1 ? 0 : g1.n / es)) c.fail("grad1: %zu elements unwritten", g1.unwritten());
  if (g2.unwritten() != (k.grads & 2 ? 0 : g2.n / es)) c.fail("grad2: %zu elements unwritten", g2.unwritten());
  c.add_digest(loss);
  c.add_digest(g1);
  c.add_digest(g2);
  // Reference: the CPU entry points on the same params, serially, into their
  // own outputs; they too leave a gradient not asked for unwritten.
  Buf<unsigned char> rl(pairs * as, as), rg1(pairs * 4 * es, es), rg2(pairs * 4 * es, es);
  BoxLossParams q = p;
  q.loss = rl.p;
  q.grad1 = p.grad1 ? rg1.p : nullptr;
  q.grad2 = p.grad2 ? rg2.p : nullptr;
  box_loss_fwd_cpu(q, serial_for);
  box_loss_bwd_cpu(q, serial_for);
  if (rl.unwritten() || rg1.unwritten() != g1.unwritten() || rg2.unwritten() != g2.unwritten())
    c.fail("the CPU entries wrote other outputs than the kernels");
  const DType acc = dbl ? DType::Float64 : DType::Float32;
  const double atol = dbl ? 1e-12 : is16(dtype) ? 2e-3 : 4e-7;
  const std::vector<double> got_loss = read_typed(acc, loss.p, pairs);
  th::compare(c, "loss", got_loss, read_typed(acc, rl.p, pairs), rtol_acc(dtype), dbl ? 1e-12 : 4e-7);
  std::vector<double> got1, got2;
  if (k.grads & 1) {
    got1 = read_typed(dtype, g1.p, pairs * 4);
    th::compare(c, "grad1", got1, read_typed(dtype, rg1.p, pairs * 4), rtol_out(dtype), atol);
  }
  if (k.grads & 2) {
    got2 = read_typed(dtype, g2.p, pairs * 4);
    th::compare(c, "grad2", got2, read_typed(dtype, rg2.p, pairs * 4), rtol_out(dtype), atol);
  }
  // kernels/box.h keeps zero-size boxes finite (torchvision gives nan there).
  // Not so a float16 gradient: GIoU's (C - union) / (C + eps) has the
  // derivative (union + eps) / (C + eps)^2 in the enclosing area C, 1 / eps =
  // 1e7 where C = 0 (zero-width boxes on one vertical line), times the
  // enclosing box's height: some 1e7 to 1e8 here, far beyond float16's 65504,
  // so it is stored as inf, as the CPU path stores it (compared above).
  if (k.degenerate && !all_finite(got_loss)) c.fail("a zero-area box gave a non-finite loss");
  if (k.degenerate && dtype != DType::Float16 && !(all_finite(got1) && all_finite(got2)))
    c.fail("a zero-area box gave a non-finite gradient");
}

// float16 / bfloat16 pairwise boxes: the op widens them to float32, the
// launcher refuses them without launching anything, the CPU entry writes nothing.
void box_pairwise_refused(Ctx& c, DType dtype) {
  Typed b1(dtype, {0, 0, 2, 2}), b2(dtype, {1, 1, 3, 3});
  Buf<unsigned char> out(elem_size(dtype), elem_size(dtype));
  BoxPairwiseParams p;
  p.boxes1 = b1.ptr();
  p.boxes2 = b2.ptr();
  p.out = out.p;
  p.dtype = dtype;
  p.batch = p.n = p.m = 1;
  const long before = simt::launches();
  if (simt_box_pairwise_cuda(&p) == 0) c.fail("launcher accepted %s boxes", dtype_name(dtype));
  if (simt::launches() != before) c.fail("a kernel was launched for refused boxes");
  if (out.unwritten() != 1) c.fail("refused boxes wrote an output");
  box_pairwise_cpu(p, serial_for);
  if (out.unwritten() != 1) c.fail("the CPU entry wrote an output for refused boxes");
}

// Nothing to compute: nothing is launched and nothing written.
void box_empty(Ctx& c) {
  Buf<float> b1(4), b2(4), out(1), loss(1), gl(1), g1(4), g2(4);
  const long before = simt::launches();
  const int64_t shapes[][3] = {{0, 3, 3}, {2, 0, 3}, {2, 3, 0}};
  for (const auto& s : shapes) {
    BoxPairwiseParams p;
    p.boxes1 = b1.p;
    p.boxes2 = b2.p;
    p.out = out.p;
    p.batch = s[0], p.n = s[1], p.m = s[2];
    if (int rc = simt_box_pairwise_cuda(&p)) c.fail("pairwise returned %d on an empty input", rc);
    box_pairwise_cpu(p, serial_for);
  }
  BoxLossParams q;
  q.boxes1 = b1.p;
  q.boxes2 = b2.p;
  q.pairs = 0;
  q.loss = loss.p;
  q.grad_loss = gl.p;
  q.grad1 = g1.p;
  q.grad2 = g2.p;
  if (int rc = simt_box_loss_fwd_cuda(&q)) c.fail("loss forward returned %d on an empty input", rc);
  if (int rc = simt_box_loss_bwd_cuda(&q)) c.fail("loss backward returned %d on an empty input", rc);
  box_loss_fwd_cpu(q, serial_for);
  box_loss_bwd_cpu(q, serial_for);
  if (simt::launches() != before) c.fail("%ld kernels launched for an empty input", simt::launches() - before);
  if (out.unwritten() != 1 || loss.unwritten() != 1 || g1.unwritten() != 4 || g2.unwritten() != 4)
    c.fail("an empty input wrote an output");
}

void register_box() {
  const BoxFmt fmts[] = {BoxFmt::XYXY, BoxFmt::XYWH, BoxFmt::CXCYWH};
  const char* fmt_names[] = {"xyxy", "xywh", "cxcywh"};
  const char* kind_names[] = {"iou", "giou", "diou", "ciou"};
  const char* mode_names[] = {"iou", "giou", "diou", "ciou", "eiou", "siou"};
  char name[160];
  for (DType d : {DType::Float32, DType::Float64})
    for (int k = 0; k < 4; ++k) {
      for (int f = 0; f < 3; ++f) {
        std::snprintf(name, sizeof name, "box_pairwise/%s/%s/%s/2x37x140", dtype_name(d), kind_names[k], fmt_names[f]);
        th::add(name, [=](Ctx& c) { box_pairwise(c, d, BoxPairKind(k), fmts[f], 2, 37, 140); });
      }
      // Exactly one tile; one box each; three tiles on every grid axis; zero-area boxes only.
      const BoxFmt f = fmts[k % 3];
      std::snprintf(name, sizeof name, "box_pairwise/%s/%s/%s/1x32x128", dtype_name(d), kind_names[k],
                    fmt_names[k % 3]);
      th::add(name, [=](Ctx& c) { box_pairwise(c, d, BoxPairKind(k), f, 1, 32, 128); });
      std::snprintf(name, sizeof name, "box_pairwise/%s/%s/%s/1x1x1", dtype_name(d), kind_names[k], fmt_names[k % 3]);
      th::add(name, [=](Ctx& c) { box_pairwise(c, d, BoxPairKind(k), f, 1, 1, 1); });
      std::snprintf(name, sizeof name, "box_pairwise/%s/%s/%s/3x65x257", dtype_name(d), kind_names[k],
                    fmt_names[k % 3]);
      th::add(name, [=](Ctx& c) { box_pairwise(c, d, BoxPairKind(k), f, 3, 65, 257); });
      std::snprintf(name, sizeof name, "box_pairwise/%s/%s/%s/zero_area/2x37x140", dtype_name(d), kind_names[k],
                    fmt_names[k % 3]);
      th::add(name, [=](Ctx& c) { box_pairwise(c, d, BoxPairKind(k), f, 2, 37, 140, true); });
    }
  for (DType d : {DType::Float16, DType::BFloat16}) {
    std::snprintf(name, sizeof name, "box_pairwise/%s/refused", dtype_name(d));
    th::add(name, [=](Ctx& c) { box_pairwise_refused(c, d); });
  }
  for (DType d : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16})
    for (int mo = 0; mo < 6; ++mo) {
      for (int f = 0; f < 3; ++f) {
        std::snprintf(name, sizeof name, "box_loss/%s/%s/%s/300", dtype_name(d), mode_names[mo], fmt_names[f]);
        const LossCase k{d, BoxLossMode(mo), fmts[f], 300};
        th::add(name, [=](Ctx& c) { box_loss(c, k); });
      }
      // One upstream value for every pair (a 'mean' or 'sum' loss); zero-area boxes only.
      const BoxFmt f = fmts[mo % 3];
      std::snprintf(name, sizeof name, "box_loss/%s/%s/%s/grad_broadcast/300", dtype_name(d), mode_names[mo],
                    fmt_names[mo % 3]);
      LossCase k{d, BoxLossMode(mo), f, 300};
      k.broadcast_grad = true;
      th::add(name, [=](Ctx& c) { box_loss(c, k); });
      std::snprintf(name, sizeof name, "box_loss/%s/%s/%s/zero_area/300", dtype_name(d), mode_names[mo],
                    fmt_names[mo % 3]);
      k.broadcast_grad = false;
      k.degenerate = true;
      th::add(name, [=](Ctx& c) { box_loss(c, k); });
    }
  // One of the two gradients asked for (the kernel skips a null output).
  for (int grads = 1; grads <= 2; ++grads) {
    std::snprintf(name, sizeof name, "box_loss/f32/ciou/xywh/grad%d_only/300", grads);
    LossCase k{DType::Float32, BoxLossMode::CIoU, BoxFmt::XYWH, 300};
    k.grads = grads;
    th::add(name, [=](Ctx& c) { box_loss(c, k); });
  }
  th::add("box/empty", box_empty);

  th::expect_branch("box_pairwise_kernel", "several column tiles (grid.x > 1)",
                    [](const simt::LaunchRecord& r) { return r.grid[0] > 1; });
  th::expect_branch("box_pairwise_kernel", "several row tiles (grid.y > 1)",
                    [](const simt::LaunchRecord& r) { return r.grid[1] > 1; });
  th::expect_branch("box_pairwise_kernel", "several batches (grid.z > 1)",
                    [](const simt::LaunchRecord& r) { return r.grid[2] > 1; });
  th::expect_branch("box_loss_fwd_kernel", "several blocks (grid > 1)",
                    [](const simt::LaunchRecord& r) { return r.grid[0] > 1; });
  th::expect_branch("box_loss_bwd_kernel", "several blocks (grid > 1)",
                    [](const simt::LaunchRecord& r) { return r.grid[0] > 1; });
}

}  // namespace

TH_CASES(register_box);

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

float* xyxy_boxes(Workload& w, const char* name, int64_t count) {
  float* b = w.buf<float>(name, count * 4);
  std::uniform_real_distribution<double> pos(0, 600), size(2, 200);
  for (int64_t i = 0; i < count; ++i) {
    const double x = pos(w.rng()), y = pos(w.rng());
    b[4 * i] = float(x), b[4 * i + 1] = float(y);
    b[4 * i + 2] = float(x + size(w.rng())), b[4 * i + 3] = float(y + size(w.rng()));
  }
  return b;
}

// A box is 16 bytes moved as four 4-byte accesses (b[0] ... b[3]).
const char* kBoxLoads =
    "a box is 16 bytes loaded as four 4-byte loads: each load of a warp touches the 16 sectors of its 32 "
    "boxes and uses a quarter of each, the next three touch the same sectors (expected to hit L1), so "
    "read = unique = minimum; one 16-byte load per box would make it one request of 16 sectors (it needs "
    "16-byte aligned boxes, which a sliced tensor need not be)";
const char* kBoxStores =
    "; the gradients are stored the same way, four 4-byte stores per box (partial sectors, expected to be "
    "merged in L2)";

void box_pairwise(int64_t batch, int64_t n, int64_t m) {
  Workload w(std::to_string(batch) + "x" + std::to_string(n) + "x" + std::to_string(m) + " f32, IoU");
  BoxPairwiseParams p;
  p.dtype = DType::Float32;
  p.batch = batch;
  p.n = n;
  p.m = m;
  p.boxes1 = xyxy_boxes(w, "boxes1", batch * n);
  p.boxes2 = xyxy_boxes(w, "boxes2", batch * m);
  p.out = w.buf<float>("out", batch * n * m);
  p.kind = BoxPairKind::IoU;
  w.run("box_pairwise_cuda", [&] { return simt_box_pairwise_cuda(&p); }, {{{{"boxes1"}, {"boxes2"}}, {{"out"}}, ""}});
}

void box_loss(int64_t pairs) {
  Workload w(std::to_string(pairs) + " pairs f32, GIoU, 'mean'");
  BoxLossParams p;
  p.dtype = DType::Float32;
  p.pairs = pairs;
  p.mode = BoxLossMode::GIoU;
  p.boxes1 = xyxy_boxes(w, "boxes1", pairs);
  p.boxes2 = xyxy_boxes(w, "boxes2", pairs);
  p.loss = w.buf<float>("loss", pairs);
  w.run("box_loss_fwd_cuda", [&] { return simt_box_loss_fwd_cuda(&p); },
        {{{{"boxes1"}, {"boxes2"}}, {{"loss"}}, kBoxLoads}});
  p.grad_loss = w.uniform("grad_loss", 1, 0.5, 1);
  p.grad_loss_stride = 0;
  p.grad1 = w.buf<float>("grad1", pairs * 4);
  p.grad2 = w.buf<float>("grad2", pairs * 4);
  w.run("box_loss_bwd_cuda", [&] { return simt_box_loss_bwd_cuda(&p); },
        {{{{"boxes1"}, {"boxes2"}, {"grad_loss"}}, {{"grad1"}, {"grad2"}}, std::string(kBoxLoads) + kBoxStores}});
}

void box_workloads() {
  box_pairwise(2, 64, 1024);
  box_loss(16384);
}

}  // namespace

TRAFFIC_WORKLOADS(box_workloads)

}  // namespace traffic
#endif
