"""Segmentation overlap losses: lossext's fused Dice (and Dice + CE) against
the reference written the way segmentation_models_pytorch computes it
(softmax, one-hot targets, full-size products and sums), eager and compiled,
and the peers where importable (smp's DiceLoss, MONAI's DiceLoss /
DiceCELoss with to_onehot_y).

Sizes: CPU N=4, C=19, 256x512 (Cityscapes classes at a quarter of the
resolution); GPU N=8, C=19, 1024x2048 bfloat16 (Cityscapes scale). The memory
floor of forward+backward is reading the logits and the int64 targets twice
(forward, then backward) and writing the gradient once.
"""

import torch

import lossext
from benchmarks import harness, peers


def _smp_dice():
    losses = peers.smp_losses()
    return losses.DiceLoss("multiclass") if losses else None


def _monai():
    try:
        import monai.losses

        return monai.losses
    except Exception:  # noqa: BLE001
        return None


def _sizes(device, full):
    if device.type == "cuda":
        return [(8, 19, 1024, 2048, torch.bfloat16)]
    sizes = [(4, 19, 256, 512, torch.float32)]
    if full:
        sizes.append((4, 19, 256, 512, torch.bfloat16))
    return sizes


def _cases_for(device, n, c, h, w, dtype):
    name = str(dtype).replace("torch.", "")
    shape = f"{n}x{c}x{h}x{w}"
    x = torch.randn(n, c, h, w, device=device, dtype=dtype).requires_grad_()
    y = torch.randint(0, c, (n, h, w), device=device)
    y[:, :8] = 255  # a band of ignored pixels, as in Cityscapes labels
    y_plain = y.clamp(max=c - 1)
    ref = lossext.reference.dice_loss
    ref_compiled = harness.compiled(ref)
    ours_compiled = harness.compiled(lossext.dice_loss)
    smp = _smp_dice()
    monai = _monai()

    for mode in ("fwd", "fwd+bwd"):
        if mode == "fwd":
            floor = x.nbytes + y.nbytes

            def wrap(f, *args, **kw):
                return harness.forward(f, x, *args, **kw)
        else:
            floor = 3 * x.nbytes + 2 * y.nbytes

            def wrap(f, *args, **kw):
                return harness.forward_backward(f, [x], x, *args, **kw)

        impls = [
            harness.Impl(
                "lossext", wrap(lossext.dice_loss, y, "multiclass", ignore_index=255), "index targets"
            ),
            harness.Impl(
                "lossext+compile", wrap(ours_compiled, y, "multiclass", ignore_index=255), "index targets"
            ),
            harness.Impl("reference", wrap(ref, y, "multiclass", ignore_index=255), "smp-style one-hot"),
            harness.Impl(
                "reference+compile",
                wrap(ref_compiled, y, "multiclass", ignore_index=255),
                "smp-style one-hot",
            ),
        ]
        impls.append(
            harness.Impl("smp", wrap(lambda i, t: smp(i, t), y_plain), "no ignore_index")
            if smp
            else harness.missing("smp")
        )
        if monai:
            dice = monai.DiceLoss(softmax=True, to_onehot_y=True, batch=True)
            impls.append(
                harness.Impl(
                    "monai", wrap(lambda i, t: dice(i, t), y_plain.unsqueeze(1)), "to_onehot_y, no ignore"
                )
            )
        else:
            impls.append(harness.missing("monai"))
        yield harness.Case(
            "segmentation", "dice_loss (multiclass)", shape, name, mode, floor, impls, baseline="reference"
        )

    # Dice + cross-entropy from one softmax pass, forward+backward.
    floor = 3 * x.nbytes + 2 * y.nbytes
    impls = [
        harness.Impl("lossext", harness.forward_backward(lossext.dice_ce_loss, [x], x, y, ignore_index=255)),
        harness.Impl(
            "reference", harness.forward_backward(lossext.reference.dice_ce_loss, [x], x, y, ignore_index=255)
        ),
        harness.Impl(
            "reference+compile",
            harness.forward_backward(
                harness.compiled(lossext.reference.dice_ce_loss), [x], x, y, ignore_index=255
            ),
        ),
    ]
    if monai:
        dice_ce = monai.DiceCELoss(softmax=True, to_onehot_y=True, batch=True)
        impls.append(
            harness.Impl(
                "monai",
                harness.forward_backward(lambda i, t: dice_ce(i, t), [x], x, y_plain.unsqueeze(1)),
                "no ignore",
            )
        )
    else:
        impls.append(harness.missing("monai"))
    yield harness.Case(
        "segmentation", "dice_ce_loss", shape, name, "fwd+bwd", floor, impls, baseline="reference"
    )


def _multilabel_cases(device, full):
    n, c, h, w = (8, 4, 512, 512) if device.type == "cuda" else (4, 4, 256, 512)
    x = torch.randn(n, c, h, w, device=device).requires_grad_()
    t = (torch.rand(n, c, h, w, device=device) > 0.7).float()
    floor = 3 * x.nbytes + 2 * t.nbytes
    impls = [
        harness.Impl(
            "lossext",
            harness.forward_backward(lossext.tversky_loss, [x], x, t, "multilabel", alpha=0.3, beta=0.7),
        ),
        harness.Impl(
            "reference",
            harness.forward_backward(
                lossext.reference.tversky_loss, [x], x, t, "multilabel", alpha=0.3, beta=0.7
            ),
        ),
        harness.Impl(
            "reference+compile",
            harness.forward_backward(
                harness.compiled(lossext.reference.tversky_loss), [x], x, t, "multilabel", alpha=0.3, beta=0.7
            ),
        ),
    ]
    yield harness.Case(
        "segmentation",
        "tversky_loss (multilabel)",
        f"{n}x{c}x{h}x{w}",
        "float32",
        "fwd+bwd",
        floor,
        impls,
        baseline="reference",
    )


def cases(device: torch.device, full: bool):
    for n, c, h, w, dtype in _sizes(device, full):
        yield from _cases_for(device, n, c, h, w, dtype)
    yield from _multilabel_cases(device, full)
