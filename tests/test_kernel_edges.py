"""Layouts and sizes that steer the CUDA launchers onto their risky branches,
run on both devices through the `device` fixture: misaligned storage offsets
and row strides (no 16-byte loads allowed), class counts either side of each
dispatch threshold, C = 1, empty tensors, grids past the 65535 limit of
gridDim.y / gridDim.z, opted-in shared memory, and (CUDA only) index
arithmetic past 2^31 elements. On the CPU they pin the expected values."""

import math

import pytest
import torch

import lossext
from lossext import reference
from lossext._cpp import DIVERGENCE_CHUNK
from tests.conftest import tolerances

DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]


def _as64(v):
    return v.double() if torch.is_tensor(v) and v.is_floating_point() else v


def compare(op, ref, x, *args, out_dtype=None, **kw):
    """op(x, ...) (in x's dtype, or out_dtype) against ref(x in float64, ...):
    values, and the gradient of x under a random upstream gradient."""
    out = op(x, *args, **kw)
    assert out.dtype == (out_dtype or x.dtype)
    x64 = x.detach().double().requires_grad_(x.requires_grad)
    expected = ref(x64, *[_as64(a) for a in args], **{k: _as64(v) for k, v in kw.items()})
    tol = tolerances(x.dtype)
    torch.testing.assert_close(out.double(), expected.detach(), equal_nan=True, **tol)
    if x.requires_grad and out.numel() > 0:
        g = torch.randn_like(expected)
        (gx,) = torch.autograd.grad(out, x, g.to(out.dtype))
        (gref,) = torch.autograd.grad(expected, x64, g)
        assert gx.shape == x.shape
        torch.testing.assert_close(gx.double(), gref, equal_nan=True, **tol)
    return out


def misaligned(shape, dtype, device, scale=3.0):
    """A contiguous tensor whose data starts one element past a 16-byte
    boundary (storage offset 1): every row is misaligned for vector loads."""
    base = (torch.randn(math.prod(shape) + 1, dtype=torch.float64) * scale).to(dtype=dtype, device=device)
    x = base[1:].view(shape)
    assert x.data_ptr() % 16 != 0 and x.is_contiguous()
    return x


def padded_rows(shape, dtype, device, scale=3.0):
    """Aligned start, but samples one class longer than C: stride(0) is not a
    whole number of 16-byte packets (odd for 2-D input)."""
    wide = (torch.randn(shape[0], shape[1] + 1, *shape[2:], dtype=torch.float64) * scale).to(
        dtype=dtype, device=device
    )
    x = wide[:, : shape[1]]
    assert not x.is_contiguous() and (x.dim() > 2 or x.stride(0) % 2 == 1)
    return x


def leaf(x):
    return x.detach().requires_grad_()


def labels(rows_shape, classes, device, ignore=-100):
    y = torch.randint(0, classes, rows_shape)
    if y.numel() > 1:
        y.view(-1)[0] = ignore
    return y.to(device)


# ---- cross-entropy -----------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", [misaligned, padded_rows])
def test_cross_entropy_unaligned_rows(device, dtype, make):
    # C = 64 is a whole number of packets for every dtype: only the start or the
    # row stride keeps the kernel from 16-byte loads and stores.
    x = leaf(make((6, 64), dtype, device))
    y = labels((6,), 64, device)
    w = torch.rand(64, device=device)
    compare(lossext.cross_entropy, reference.cross_entropy, x, y, w, reduction="none", label_smoothing=0.1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("misaligned_side", ["logits", "target"])
def test_cross_entropy_prob_targets_unaligned(device, dtype, misaligned_side):
    if misaligned_side == "logits":
        x = leaf(misaligned((5, 32), dtype, device))
        t = torch.softmax(torch.randn(5, 32, device=device), 1).to(dtype)
    else:
        x = leaf((torch.randn(5, 32, dtype=torch.float64) * 3).to(dtype=dtype, device=device))
        t = misaligned((5, 32), dtype, device).copy_(torch.softmax(torch.randn(5, 32), 1))
    compare(lossext.cross_entropy, reference.cross_entropy, x, t, reduction="none", label_smoothing=0.05)


# 1, 3: rows shorter than a packet; 2048 / 2049: warp -> block of 256 per row;
# 16384 / 16385: block of 256 -> block of 512.
@pytest.mark.parametrize("classes", [1, 3, 2048, 2049, 16384, 16385])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cross_entropy_class_count_thresholds(device, dtype, classes):
    x = leaf((torch.randn(3, classes, dtype=torch.float64) * 3).to(dtype=dtype, device=device))
    y = torch.tensor([0, classes - 1, -100], device=device)
    w = torch.rand(classes, device=device) + 0.5
    compare(lossext.cross_entropy, reference.cross_entropy, x, y, w, reduction="none", label_smoothing=0.1)
    t = torch.softmax(torch.randn(3, classes, device=device), 1).to(dtype)
    compare(lossext.cross_entropy, reference.cross_entropy, x, t, reduction="sum")


def test_cross_entropy_single_class_strided(device):
    x = leaf(torch.randn(1, 7, device=device).t())  # (7, 1) with a class stride of 7
    assert x.stride(1) != 1
    y = torch.zeros(7, dtype=torch.long, device=device)
    y[3] = -100
    compare(lossext.cross_entropy, reference.cross_entropy, x, y, reduction="none")


def test_cross_entropy_ignore_index_inside_class_range(device):
    x = leaf(torch.randn(6, 8, device=device))
    y = torch.tensor([2, 5, 2, 0, 7, 2], device=device)
    out = compare(lossext.cross_entropy, reference.cross_entropy, x, y, reduction="none", ignore_index=2)
    assert torch.all(out[y == 2] == 0)


# ---- focal ---------------------------------------------------------------------------


@pytest.mark.parametrize("classes", [1, 3, 80])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_sigmoid_focal_small_class_counts_and_offsets(device, dtype, classes):
    x = leaf(misaligned((9, classes), dtype, device))
    y = torch.randint(-1, classes, (9,), device=device)
    y[0] = -100
    dense = (torch.rand(9, classes, device=device) < 0.3).to(dtype)
    for target in (y, dense):
        for reduction in ("none", "sum"):
            compare(lossext.sigmoid_focal_loss, reference.sigmoid_focal_loss, x, target, 0.25, 2.0, reduction)


def test_sigmoid_focal_op_with_no_classes(device):
    # Rows of zero classes sum to 0 (index -1 = background is the only valid
    # target); the forward must still write them.
    x = torch.randn(4, 0, device=device)
    y = torch.full((4,), -1, dtype=torch.long, device=device)
    loss = torch.ops.lossext.sigmoid_focal_fwd(x, y, None, 0.25, 2.0, -100, 0.0, True)
    assert loss.shape == (4,)
    assert torch.equal(loss.cpu(), torch.zeros(4))
    assert torch.ops.lossext.sigmoid_focal_fwd(x, y, None, 0.25, 2.0, -100, 0.0, False).shape == (4, 0)


@pytest.mark.parametrize("layout", ["misaligned", "transposed", "wide"])
def test_softmax_focal_layouts(device, layout):
    if layout == "misaligned":
        x = leaf(misaligned((7, 16), torch.float32, device))
    elif layout == "transposed":
        x = leaf(torch.randn(16, 7, device=device).t())  # class stride 7: a thread per row
    else:
        x = leaf(torch.randn(3, 3000, device=device))
    y = labels((x.shape[0],), x.shape[1], device)
    compare(lossext.softmax_focal_loss, reference.softmax_focal_loss, x, y, None, 2.0, reduction="none")


def test_softmax_focal_empty(device):
    x = leaf(torch.randn(0, 5, 3, device=device))
    y = torch.zeros(0, 3, dtype=torch.long, device=device)
    assert lossext.softmax_focal_loss(x, y, reduction="none").shape == (0, 3)
    (g,) = torch.autograd.grad(lossext.softmax_focal_loss(x, y, reduction="sum"), x)
    assert g.shape == x.shape


# ---- divergence ------------------------------------------------------------------------

_CHUNKS_AND_TAIL = 2 * DIVERGENCE_CHUNK + 5  # two whole kernel chunks, then a ragged one


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("side", ["input", "target"])
@pytest.mark.parametrize("kind", ["kl", "js"])
def test_divergence_unaligned_and_ragged(device, dtype, side, kind):
    n = _CHUNKS_AND_TAIL
    logq = torch.log_softmax(torch.randn(n, dtype=torch.float64), 0)
    logp = torch.log_softmax(torch.randn(n, dtype=torch.float64), 0)
    x = misaligned((n,), dtype, device) if side == "input" else torch.empty(n, dtype=dtype, device=device)
    x.copy_(logq)
    t = misaligned((n,), dtype, device) if side == "target" else torch.empty(n, dtype=dtype, device=device)
    t.copy_(logp)
    x = leaf(x)
    if kind == "kl":
        compare(lossext.kl_div, reference.kl_div, x, t, "sum", log_target=True)
    else:
        compare(lossext.js_div, reference.js_div, x, t, 0.3, "sum", log_target=True)


def test_divergence_empty(device):
    e = leaf(torch.empty(0, 7, device=device))
    assert lossext.kl_div(e, e.detach(), "sum").item() == 0
    (g,) = torch.autograd.grad(lossext.js_div(e, e.detach(), 0.5, "sum"), e)
    assert g.shape == e.shape


# ---- segmentation ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype,classes", [(torch.float64, 100), (torch.float64, 120), (torch.float32, 240)])
def test_segmentation_wide_classes_in_opted_in_shared_memory(device, dtype, classes):
    # Past 48 KB of shared memory per block: the CUDA launcher must opt in.
    x = leaf(torch.randn(2, classes, 3, 5, dtype=dtype, device=device))
    y = labels((2, 3, 5), classes, device, ignore=255)
    compare(lossext.dice_loss, reference.dice_loss, x, y, "multiclass", ignore_index=255)
    compare(lossext.dice_ce_loss, reference.dice_ce_loss, x, y, ignore_index=255, label_smoothing=0.1)


@pytest.mark.parametrize("make", [misaligned, padded_rows])
def test_segmentation_unaligned_and_single_class(device, make):
    x = leaf(make((3, 1, 4, 6), torch.float32, device))
    t = (torch.rand(3, 1, 4, 6, device=device) > 0.5).float()
    compare(lossext.dice_loss, reference.dice_loss, x, t, "binary")
    compare(lossext.tversky_loss, reference.tversky_loss, x, t, "binary", alpha=0.3, beta=0.7)


def test_segmentation_one_pixel_per_sample(device):
    x = leaf(torch.randn(5, 4, device=device))  # (N, C): a single pixel each
    y = torch.randint(0, 4, (5,), device=device)
    compare(lossext.dice_loss, reference.dice_loss, x, y, "multiclass")


@pytest.mark.parametrize("shape", [(0, 3, 4, 4), (2, 3, 0, 4)])
def test_segmentation_empty(device, shape):
    x = leaf(torch.randn(shape, device=device))
    y = torch.zeros(shape[:1] + shape[2:], dtype=torch.long, device=device)
    for red in ("sum", "mean"):
        loss = lossext.dice_loss(x, y, "multiclass", reduction=red)
        assert loss.item() == 0  # every class is empty, hence masked
        assert reference.dice_loss(x, y, "multiclass", reduction=red).item() == 0
        masks = torch.zeros(shape, device=device)
        assert lossext.dice_loss(x, masks, "multilabel", reduction=red).item() == 0
        assert reference.dice_loss(x, masks, "multilabel", reduction=red).item() == 0
    assert lossext.dice_loss(x, y, "multiclass", reduction="none").shape == (3,)
    (g,) = torch.autograd.grad(loss, x)
    assert g.shape == x.shape


# ---- total variation ------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape", [(2, 3, 1, 5), (2, 3, 5, 1), (1, 1, 1, 1), (0, 3, 4, 4), (2, 0, 4, 4), (3, 4, 0, 5)]
)
@pytest.mark.parametrize("isotropic", [False, True])
def test_total_variation_degenerate_planes(device, shape, isotropic):
    x = leaf(torch.randn(shape, device=device))
    compare(lossext.total_variation_loss, reference.total_variation_loss, x, "sum", isotropic)


def test_total_variation_misaligned(device):
    x = leaf(misaligned((2, 3, 17, 19), torch.float16, device, scale=1.0))
    compare(lossext.total_variation_loss, reference.total_variation_loss, x, "mean", True, 1.5, 1e-6)


# ---- boxes ------------------------------------------------------------------------------


def _boxes(shape, device):
    corner = torch.rand(*shape, 2) * 100
    return torch.cat([corner, corner + torch.rand(*shape, 2) * 50 + 1], -1).to(device)


def test_box_pairwise_batch_past_grid_z_limit(device):
    a, b = _boxes((70000, 1), device), _boxes((70000, 2), device)
    for fn in ("box_iou", "complete_box_iou"):
        got = getattr(lossext, fn)(a, b)
        assert got.shape == (70000, 1, 2)
        torch.testing.assert_close(got, getattr(reference, fn)(a, b), rtol=1e-5, atol=1e-6)


def test_box_pairwise_rows_past_grid_y_limit(device):
    # 65535 tiles of 32 rows, and a few rows more.
    a, b = _boxes((65535 * 32 + 40,), device), _boxes((3,), device)
    got = lossext.generalized_box_iou(a, b)
    torch.testing.assert_close(got, reference.generalized_box_iou(a, b), rtol=1e-5, atol=1e-6)


def test_box_loss_misaligned(device):
    p = _boxes((37,), device).half()
    p = leaf(misaligned((37, 4), torch.float16, device).copy_(p))
    t = _boxes((37,), device).half()
    compare(lossext.box_iou_loss, reference.box_iou_loss, p, t, "ciou", "none", out_dtype=torch.float32)


# ---- CUDA only ----------------------------------------------------------------------------


@pytest.mark.cuda
def test_prob_backward_rejects_target_mass_on_another_device():
    x = torch.randn(4, 5, device="cuda")
    t = torch.softmax(torch.randn(4, 5, device="cuda"), 1)
    loss, lse, mass = torch.ops.lossext.cross_entropy_prob_fwd(x, t, None, 0.0, 0.0)
    with pytest.raises(RuntimeError, match="target_mass"):
        torch.ops.lossext.cross_entropy_prob_bwd(torch.ones_like(loss), x, t, None, lse, mass.cpu(), 0.0, 0.0)


@pytest.mark.cuda
def test_flat_offsets_past_int32():
    """2^31 + 2^16 logits: row and element offsets overflow 32-bit indices."""
    rows, classes = 2**15 + 1, 2**16
    x = torch.randn(rows, classes, device="cuda", dtype=torch.bfloat16).requires_grad_()
    y = torch.randint(0, classes, (rows,), device="cuda")
    loss = lossext.cross_entropy(x, y, reduction="none")
    (g,) = torch.autograd.grad(loss.sum(), x)
    last = slice(rows - 2, rows)  # rows that start past element 2^31
    x_tail = x.detach()[last].double().requires_grad_()
    ref = reference.cross_entropy(x_tail, y[last], reduction="none")
    (g_ref,) = torch.autograd.grad(ref.sum(), x_tail)
    tol = tolerances(torch.bfloat16)
    torch.testing.assert_close(loss[last].double(), ref.detach(), **tol)
    torch.testing.assert_close(g[last].double(), g_ref, **tol)
    del g
    # Sigmoid focal backward walks the flat (rows * classes) range.
    fl = lossext.sigmoid_focal_loss(x, y, reduction="sum")
    (gf,) = torch.autograd.grad(fl, x)
    x_tail2 = x.detach()[last].double().requires_grad_()
    ref_f = reference.sigmoid_focal_loss(x_tail2, y[last], reduction="sum")
    (gf_ref,) = torch.autograd.grad(ref_f, x_tail2)
    torch.testing.assert_close(gf[last].double(), gf_ref, **tol)


# ---- 16-bit conversions (cpu/convert.h) --------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_16bit_gradients_round_like_c10(dtype):
    """A 16-bit gradient is the float32 gradient of the widened input rounded
    once: the vectorized conversions give c10's bits (round to nearest even,
    subnormal halves included)."""
    x = (torch.randn(64, 3000) * 4).to(dtype)
    x[0, :8] = torch.tensor([1e-7, -6e-8, 3e-5, 65504.0, -65504.0, 0.0, -0.0, 1.0]).to(dtype)
    y = torch.randint(0, 3000, (64,))
    (g16,) = torch.autograd.grad(lossext.cross_entropy(x.requires_grad_(), y, reduction="sum"), x)
    x32 = x.detach().float().requires_grad_()
    (g32,) = torch.autograd.grad(lossext.cross_entropy(x32, y, reduction="sum"), x32)
    assert torch.equal(g16, g32.to(dtype))
    yf = torch.randint(-1, 3000, (64,))
    (f16,) = torch.autograd.grad(lossext.sigmoid_focal_loss(x, yf, reduction="sum"), x)
    (f32,) = torch.autograd.grad(lossext.sigmoid_focal_loss(x32, yf, reduction="sum"), x32)
    assert torch.equal(f16, f32.to(dtype))
