// workloads.cpp: every CUDA launcher at a representative size, float32 (and
// one bfloat16 cross-entropy), on inputs laid out as the torch glue passes
// them (contiguous, a broadcast upstream gradient for 'mean' / 'sum'), and
// what each launch must move at least. The `why` strings explain the launches that move more than 1.25x
// their minimum or whose requests are not coalesced (see the table).
#include "kernels/box_launch.h"
#include "kernels/cross_entropy_launch.h"
#include "kernels/divergence_launch.h"
#include "kernels/focal_launch.h"
#include "kernels/regression_launch.h"
#include "kernels/segmentation_launch.h"
#include "kernels/total_variation.h"
#include "workload.h"

namespace traffic {
namespace {

using namespace lossext;

RowLayout rows_layout(int64_t n, int64_t c, int64_t d) {
  RowLayout L;
  L.rows = n * d;
  L.classes = c;
  L.inner = d;
  L.stride_n = c * d;
  L.stride_c = d;
  L.stride_s = d > 1 ? 1 : 0;
  return L;
}

// ---- cross-entropy ---------------------------------------------------------------------------------
// With a thread per row (classes strided, d > 1) the row's target logit is
// loaded again after the row loop, and neighbouring rows have different
// targets: that load is a gather.
const char* kTargetLogitGather =
    "a thread per row: x[y] is loaded again after the row loop, a gather across class rows (up to 32 "
    "sectors for 32 values) of a value the same thread has just loaded";

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

// ---- focal -------------------------------------------------------------------------------------------
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

// ---- boxes ----------------------------------------------------------------------------------------------
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

// ---- divergences ------------------------------------------------------------------------------------------
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
  p.grad_partials = w.uniform("grad_partials", chunks, 0.5, 1);
  p.grad_input = w.buf<float>("grad_input", numel);
  // The KL gradient depends on the target alone.
  std::vector<Need> reads = {{"target"}, {"grad_partials"}};
  if (js) reads.push_back({"input"});
  w.run(bwd, [&] { return js ? simt_js_div_bwd_cuda(&p) : simt_kl_div_bwd_cuda(&p); }, {{reads, {{"grad_input"}}, ""}});
}

// ---- regression ---------------------------------------------------------------------------------------------
void regression(int64_t numel) {
  Workload w(std::to_string(numel) + " f32, smooth L1, 'mean'");
  RegressionParams p;
  p.dtype = DType::Float32;
  p.numel = numel;
  p.kind = RegressionKind::SmoothL1;
  p.param = 1.0;
  p.input = w.uniform("input", numel, -3, 3);
  p.target = w.uniform("target", numel, -3, 3);
  p.loss = w.buf<float>("loss", numel);
  w.run("regression_fwd_cuda", [&] { return simt_regression_fwd_cuda(&p); },
        {{{{"input"}, {"target"}}, {{"loss"}}, ""}});
  p.grad_loss = w.uniform("grad_loss", 1, 0.5, 1);
  p.grad_loss_stride = 0;
  p.grad_input = w.buf<float>("grad_input", numel);
  w.run("regression_bwd_cuda", [&] { return simt_regression_bwd_cuda(&p); },
        {{{{"input"}, {"target"}, {"grad_loss"}}, {{"grad_input"}}, ""}});
}

// ---- segmentation -------------------------------------------------------------------------------------------
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

// ---- total variation ------------------------------------------------------------------------------------------
void total_variation(int64_t planes, int64_t h, int64_t wd, bool isotropic) {
  Workload w(std::to_string(planes) + "x" + std::to_string(h) + "x" + std::to_string(wd) + " f32, " +
             (isotropic ? "isotropic" : "anisotropic") + ", 'mean'");
  TotalVariationParams p;
  p.dtype = DType::Float32;
  p.planes = planes;
  p.height = h;
  p.width = wd;
  p.isotropic = isotropic;
  p.input = w.uniform("input", planes * h * wd, 0, 1);
  p.chunks = (h * wd + kTvChunkPixels - 1) / kTvChunkPixels;
  p.loss = w.buf<float>("loss", planes);
  p.partial = w.buf<float>("partial", 2 * planes * p.chunks);
  // A stencil: every pixel is loaded as a centre and as a neighbour of others,
  // by neighbouring threads (the same sectors, one row apart at most).
  w.run("total_variation_fwd_cuda", [&] { return simt_total_variation_fwd_cuda(&p); },
        {{{{"input"}},
          {{"partial"}},
          "a stencil: each pixel is loaded as a centre and again as the down and the right neighbour of two "
          "others, in coalesced loads of the same or the next image row; the repeats are expected to hit L1, "
          "unique = minimum"},
         {{{"partial"}}, {{"loss"}}, ""}});
  p.grad_loss = w.uniform("grad_loss", 1, 0.5, 1);
  p.grad_loss_stride = 0;
  p.grad_input = w.buf<float>("grad_input", planes * h * wd);
  w.run("total_variation_bwd_cuda", [&] { return simt_total_variation_bwd_cuda(&p); },
        {{{{"input"}, {"grad_loss"}},
          {{"grad_input"}},
          isotropic ? "gather form: each thread loads its pixel and six neighbours (up, down, left, right, "
                      "up-right, down-left) so that each gradient element is written once, without atomics; "
                      "the loads are coalesced and repeat bytes of neighbouring threads (expected to hit L1), "
                      "unique = minimum"
                    : "gather form: each thread loads its pixel and four neighbours so that each gradient "
                      "element is written once, without atomics; the loads are coalesced and repeat bytes of "
                      "neighbouring threads (expected to hit L1), unique = minimum"}});
}

}  // namespace

void run_workloads() {
  cross_entropy_index(64, 4096, 1, "64x4096");        // a block per row
  cross_entropy_index(64, 4096, 1, "64x4096", true);  // 16-byte packets of 8 values
  cross_entropy_index(512, 1000, 1, "512x1000");      // a warp per row
  cross_entropy_index(2, 19, 64 * 64, "2x19x64x64");  // a thread per row (classes strided)
  cross_entropy_prob(64, 4096);
  sigmoid_focal(4096, 80, false);
  sigmoid_focal(4096, 80, true);
  softmax_focal(4096, 80, 1, "4096x80");
  softmax_focal(2, 19, 64 * 64, "2x19x64x64");
  box_pairwise(2, 64, 1024);
  box_loss(16384);
  divergence(false, 1 << 18);
  divergence(true, 1 << 18);
  regression(1 << 18);
  segmentation(2, 19, 64, 64, true);
  segmentation(2, 19, 64, 64, false);
  total_variation(6, 64, 64, false);
  total_variation(6, 64, 64, true);
}

}  // namespace traffic
