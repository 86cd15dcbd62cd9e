// Cases: box IoU family kernels against the CPU loops (cpu/box_kernels.h).
#include "cpu/box_kernels.h"
#include "common.h"
#include "kernels/box_launch.h"

namespace cases {
namespace {

// ---- box IoU family --------------------------------------------------------------------------------
std::vector<double> random_boxes(std::mt19937_64& rng, int64_t count, BoxFmt fmt) {
  std::vector<double> b(count * 4);
  for (int64_t i = 0; i < count; ++i) {
    const double x = uniform(rng, 0, 50), yv = uniform(rng, 0, 50);
    double w = uniform(rng, 0, 30), h = uniform(rng, 0, 30);
    if (i % 11 == 5) w = 0;  // degenerate boxes
    double* o = &b[i * 4];
    if (fmt == BoxFmt::XYXY) o[0] = x, o[1] = yv, o[2] = x + w, o[3] = yv + h;
    else if (fmt == BoxFmt::XYWH) o[0] = x, o[1] = yv, o[2] = w, o[3] = h;
    else o[0] = x + w / 2, o[1] = yv + h / 2, o[2] = w, o[3] = h;
  }
  return b;
}

void box_pairwise(Ctx& c, DType dtype, BoxPairKind kind, BoxFmt fmt, int64_t batch, int64_t n, int64_t m) {
  auto rng = rng_for(c.name);
  Typed b1(dtype, random_boxes(rng, batch * n, fmt)), b2(dtype, random_boxes(rng, batch * m, fmt));
  Buf<unsigned char> out(batch * n * m * elem_size(dtype), elem_size(dtype)), ref(batch * n * m * elem_size(dtype), elem_size(dtype));
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
  cpu::box_pairwise_rows(q, 0, batch * n);
  th::compare(c, "pairwise", read_typed(dtype, out.p, batch * n * m), read_typed(dtype, ref.p, batch * n * m),
              rtol_out(dtype), dtype == DType::Float64 ? 1e-12 : 4e-7);
}

void box_loss(Ctx& c, DType dtype, BoxLossMode mode, BoxFmt fmt, int64_t pairs) {
  auto rng = rng_for(c.name);
  std::vector<double> v1 = random_boxes(rng, pairs, fmt), v2 = random_boxes(rng, pairs, fmt);
  if (pairs > 2) std::copy(v1.begin(), v1.begin() + 4, v2.begin());  // an identical pair
  Typed b1(dtype, v1), b2(dtype, v2);
  const bool dbl = dtype == DType::Float64;
  std::vector<double> gl(pairs);
  for (auto& v : gl) v = uniform(rng, -1, 1);
  const size_t es = elem_size(dtype), as = dbl ? 8 : 4;
  Buf<unsigned char> loss(pairs * as, as), g1(pairs * 4 * es, es), g2(pairs * 4 * es, es);
  Typed G(dbl ? DType::Float64 : DType::Float32, gl);
  BoxLossParams p;
  p.boxes1 = b1.ptr();
  p.boxes2 = b2.ptr();
  p.dtype = dtype;
  p.pairs = pairs;
  p.mode = mode;
  p.fmt = fmt;
  p.loss = loss.p;
  p.grad_loss = G.ptr();
  p.grad_loss_stride = 1;
  p.grad1 = g1.p;
  p.grad2 = g2.p;
  if (int rc = simt_box_loss_fwd_cuda(&p)) return c.fail("forward launch returned %d", rc);
  if (int rc = simt_box_loss_bwd_cuda(&p)) return c.fail("backward launch returned %d", rc);
  if (loss.unwritten() || g1.unwritten() || g2.unwritten()) c.fail("outputs left unwritten");
  c.add_digest(loss);
  c.add_digest(g1);
  c.add_digest(g2);
  // The CPU loops take float32 or float64 boxes (the glue widens float16/bfloat16).
  const DType acc = dbl ? DType::Float64 : DType::Float32;
  Typed r1(acc, b1.value), r2(acc, b2.value);
  Buf<unsigned char> rl(pairs * as, as), rg1(pairs * 4 * as, as), rg2(pairs * 4 * as, as);
  BoxLossParams q = p;
  q.dtype = acc;
  q.boxes1 = r1.ptr();
  q.boxes2 = r2.ptr();
  q.loss = rl.p;
  q.grad1 = rg1.p;
  q.grad2 = rg2.p;
  cpu::box_loss_fwd_range(q, 0, pairs);
  cpu::box_loss_bwd_range(q, 0, pairs);
  const double atol = dbl ? 1e-12 : is16(dtype) ? 2e-3 : 4e-7;
  th::compare(c, "loss", read_typed(acc, loss.p, pairs), read_typed(acc, rl.p, pairs), rtol_acc(dtype), dbl ? 1e-12 : 4e-7);
  th::compare(c, "grad1", read_typed(dtype, g1.p, pairs * 4), round_to(dtype, read_typed(acc, rg1.p, pairs * 4)),
              rtol_out(dtype), atol);
  th::compare(c, "grad2", read_typed(dtype, g2.p, pairs * 4), round_to(dtype, read_typed(acc, rg2.p, pairs * 4)),
              rtol_out(dtype), atol);
}

void register_box() {
  const BoxFmt fmts[] = {BoxFmt::XYXY, BoxFmt::XYWH, BoxFmt::CXCYWH};
  const char* fmt_names[] = {"xyxy", "xywh", "cxcywh"};
  const char* kind_names[] = {"iou", "giou", "diou", "ciou"};
  const char* mode_names[] = {"iou", "giou", "diou", "ciou", "eiou", "siou"};
  for (DType d : {DType::Float32, DType::Float64})
    for (int k = 0; k < 4; ++k)
      for (int f = 0; f < 3; ++f) {
        char name[160];
        std::snprintf(name, sizeof name, "box_pairwise/%s/%s/%s/2x37x140", dtype_name(d), kind_names[k], fmt_names[f]);
        th::add(name, [=](Ctx& c) { box_pairwise(c, d, BoxPairKind(k), fmts[f], 2, 37, 140); });
      }
  for (DType d : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16})
    for (int mo = 0; mo < 6; ++mo)
      for (int f = 0; f < 3; ++f) {
        char name[160];
        std::snprintf(name, sizeof name, "box_loss/%s/%s/%s/300", dtype_name(d), mode_names[mo], fmt_names[f]);
        th::add(name, [=](Ctx& c) { box_loss(c, d, BoxLossMode(mo), fmts[f], 300); });
      }
}

}  // namespace

TH_CASES(register_box);

}  // namespace cases
