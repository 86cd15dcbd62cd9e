"""The catalogue losses: against torch where torch has the loss, against hand
values from the formula where it does not; gradients, gradcheck, modules, bad inputs."""

import math

import pytest
import torch
import torch.nn.functional as TF
from torch import nn

import lossext
from lossext import reference

REDUCTIONS = ["none", "mean", "sum"]


def _sign(*shape):
    return torch.randint(0, 2, shape).double() * 2 - 1


def _probs(*shape):
    return torch.rand(shape, dtype=torch.float64).clamp(0.01, 0.99)


def _cls(n, c):
    return torch.randn(n, c, dtype=torch.float64), torch.randint(0, c, (n,))


# (lossext function, torch function, inputs factory, kwargs)
TORCH_PEERS = {
    "mse": (
        lossext.mse_loss,
        TF.mse_loss,
        lambda: (torch.randn(4, 5).double(), torch.randn(4, 5).double()),
        {},
    ),
    "l1": (lossext.l1_loss, TF.l1_loss, lambda: (torch.randn(4, 5).double(), torch.randn(4, 5).double()), {}),
    "mae": (lossext.mae_loss, TF.l1_loss, lambda: (torch.randn(6).double(), torch.randn(6).double()), {}),
    "nll": (
        lossext.nll_loss,
        TF.nll_loss,
        lambda: (torch.randn(5, 4).double().log_softmax(1), torch.randint(0, 4, (5,))),
        {"weight": torch.rand(4).double(), "ignore_index": 2},
    ),
    # Every target ignored: 'mean' is 0/0 = nan in torch, with a zero gradient.
    "nll_all_ignored": (
        lossext.nll_loss,
        TF.nll_loss,
        lambda: (torch.randn(5, 4).double().log_softmax(1), torch.full((5,), 2)),
        {"weight": torch.rand(4).double(), "ignore_index": 2},
    ),
    "nll_nd": (
        lossext.nll_loss,
        TF.nll_loss,
        lambda: (torch.randn(2, 3, 4, 5).double().log_softmax(1), torch.randint(0, 3, (2, 4, 5))),
        {},
    ),
    "bce": (
        lossext.binary_cross_entropy,
        TF.binary_cross_entropy,
        lambda: (_probs(4, 3), _probs(4, 3)),
        {"weight": torch.rand(3).double()},
    ),
    "hinge_embedding": (
        lossext.hinge_embedding_loss,
        TF.hinge_embedding_loss,
        lambda: (torch.randn(7).double(), _sign(7)),
        {"margin": 0.5},
    ),
    "soft_margin": (
        lossext.soft_margin_loss,
        TF.soft_margin_loss,
        lambda: (torch.randn(3, 4).double(), _sign(3, 4)),
        {},
    ),
    "multi_margin": (
        lossext.multi_margin_loss,
        TF.multi_margin_loss,
        lambda: _cls(6, 4),
        {"p": 2, "margin": 0.7, "weight": torch.rand(4).double()},
    ),
    "multi_margin_p1": (lossext.multi_margin_loss, TF.multi_margin_loss, lambda: _cls(6, 4), {}),
    "soft_ce": (
        lossext.soft_cross_entropy,
        TF.cross_entropy,
        lambda: (torch.randn(5, 4).double(), torch.randn(5, 4).double().softmax(1)),
        {"label_smoothing": 0.1},
    ),
    "cosine_embedding": (
        lossext.cosine_embedding_loss,
        TF.cosine_embedding_loss,
        lambda: (torch.randn(5, 3).double(), torch.randn(5, 3).double(), _sign(5)),
        {"margin": 0.2},
    ),
    "triplet": (
        lossext.triplet_margin_loss,
        TF.triplet_margin_loss,
        lambda: tuple(torch.randn(5, 3).double() for _ in range(3)),
        {"margin": 0.5, "p": 1.5, "swap": True},
    ),
    "triplet_default": (
        lossext.triplet_margin_loss,
        TF.triplet_margin_loss,
        lambda: tuple(torch.randn(5, 3).double() for _ in range(3)),
        {},
    ),
    "margin_ranking": (
        lossext.margin_ranking_loss,
        TF.margin_ranking_loss,
        lambda: (torch.randn(6).double(), torch.randn(6).double(), _sign(6)),
        {"margin": 0.3},
    ),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", sorted(TORCH_PEERS))
def test_matches_torch(name, reduction):
    ours, theirs, make, kwargs = TORCH_PEERS[name]
    inputs = list(make())
    # torch's soft_margin_loss refuses a target that requires grad.
    n_diff = len(inputs) - 1 if name == "soft_margin" else len(inputs)
    inputs = [x.requires_grad_(x.is_floating_point() and i < n_diff) for i, x in enumerate(inputs)]
    got = ours(*inputs, reduction=reduction, **kwargs)
    want = theirs(*inputs, reduction=reduction, **kwargs)
    # nan where torch gives nan (nll 'mean' with every target ignored), nowhere else.
    torch.testing.assert_close(got, want, equal_nan=True)
    diff = [x for x in inputs if x.requires_grad]
    g = torch.randn_like(want)
    ours_g = torch.autograd.grad(got, diff, g, allow_unused=True, materialize_grads=True)
    want_g = torch.autograd.grad(want, diff, g, allow_unused=True, materialize_grads=True)
    for a, b in zip(ours_g, want_g):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int32])
def test_nll_integer_target_dtypes(dtype):
    x = torch.randn(6, 4, dtype=torch.float64).log_softmax(1)
    y = torch.randint(0, 4, (6,))
    torch.testing.assert_close(
        lossext.nll_loss(x, y.to(dtype), ignore_index=2), TF.nll_loss(x, y, ignore_index=2)
    )


def test_regression_hand_values():
    x, y = torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 0.0, 1.0])  # d = 0, 2, 3
    assert lossext.rmse_loss(x, y).item() == pytest.approx(math.sqrt(13 / 3))
    assert lossext.rmse_loss(x, y, reduction="sum").item() == pytest.approx(math.sqrt(13))
    assert lossext.sum_of_squares_loss(x, y).item() == pytest.approx(13.0)
    want = (math.log(math.cosh(2)) + math.log(math.cosh(3))) / 3
    assert lossext.log_cosh_loss(x, y).item() == pytest.approx(want, rel=1e-6)
    big = torch.tensor([1000.0])  # log cosh d -> |d| - log 2, no overflow
    assert lossext.log_cosh_loss(big, -big).item() == pytest.approx(2000 - math.log(2))


def test_classification_hand_values():
    f, y = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([1.0, 1.0, 1.0])
    assert lossext.hinge_loss(f, y, reduction="sum").item() == pytest.approx(0 + 0.5 + 2)
    assert lossext.squared_hinge_loss(f, y, reduction="sum").item() == pytest.approx(0.25 + 4)
    assert lossext.exponential_loss(f, -y, reduction="none").tolist() == pytest.approx(
        [math.exp(2), math.exp(0.5), math.exp(-1)]
    )
    # binary CE of p = 0.6 and p = 0.7 against label 1
    p = torch.tensor([0.6, 0.7])
    assert lossext.log_loss(p, torch.ones(2)).item() == pytest.approx(-(math.log(0.6) + math.log(0.7)) / 2)
    assert lossext.binary_cross_entropy(p, torch.ones(2), reduction="none").tolist() == pytest.approx(
        [-math.log(0.6), -math.log(0.7)]
    )
    # multi-class hinge (Crammer-Singer): scores [1, 3, 2], y = 0: max(0, 1 + 3 - 1) = 3
    s = torch.tensor([[1.0, 3.0, 2.0], [5.0, 1.0, 2.0]])
    assert lossext.multiclass_hinge_loss(s, torch.tensor([0, 0]), reduction="none").tolist() == [3.0, 0.0]


def test_cross_entropy_hand_value():
    # cross-entropy of logits [4, -4, 3] with target 2: lse - 3
    x = torch.tensor([[4.0, -4.0, 3.0]])
    want = math.log(math.exp(4) + math.exp(-4) + math.exp(3)) - 3
    t = torch.tensor([[0.0, 0.0, 1.0]])
    assert lossext.soft_cross_entropy(x, t).item() == pytest.approx(want, rel=1e-6)
    assert lossext.nll_loss(x.log_softmax(1), torch.tensor([2])).item() == pytest.approx(want, rel=1e-6)


def test_zero_one_loss():
    pred, y = torch.tensor([1, 0, 2, 2]), torch.tensor([1, 1, 2, 0])
    assert lossext.zero_one_loss(pred, y).item() == 0.5
    x = torch.tensor([0.1, 0.5, 2.0], requires_grad=True)
    loss = lossext.zero_one_loss(x, torch.zeros(3), tolerance=0.5, reduction="sum")
    assert loss.item() == 2.0
    with pytest.raises(RuntimeError, match="no gradient"):
        loss.backward()
    with pytest.raises(ValueError, match="tolerance"):
        lossext.zero_one_loss(x, torch.zeros(3), tolerance=0.0)


def test_distribution_hand_values():
    p = torch.tensor([[0.5, 0.25, 0.25, 0.0]])
    want = -(0.5 * math.log(0.5) + 0.5 * math.log(0.25))
    assert lossext.entropy(p, from_logits=False).item() == pytest.approx(want)
    assert lossext.entropy(torch.zeros(2, 4)).tolist() == pytest.approx(math.log(4))
    assert lossext.entropy(torch.zeros(2, 4), reduction="none").shape == (2,)


def test_embedding_hand_values():
    a, b = torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.tensor([[0.0, 1.0], [2.0, 2.0]])
    assert lossext.cosine_similarity_loss(a, b, reduction="none").tolist() == pytest.approx(
        [1.0, 0.0], abs=1e-6
    )
    # contrastive: d = |a - b|: sqrt(2) and sqrt(2); y = 1 similar: d²/2 = 1; y = 0 with margin 2: (2 - sqrt2)²/2
    got = lossext.contrastive_loss(a, b, torch.tensor([1, 0]), margin=2.0, eps=0.0, reduction="none")
    assert got.tolist() == pytest.approx([1.0, (2 - math.sqrt(2)) ** 2 / 2])


def test_generation_hand_values():
    f = torch.arange(8.0).view(1, 2, 2, 2)  # channels [0,1,2,3] and [4,5,6,7]
    g = lossext.gram_matrix(f)
    assert g.shape == (1, 2, 2)
    assert g.flatten().tolist() == pytest.approx([14 / 8, 38 / 8, 38 / 8, 126 / 8])
    assert lossext.gram_matrix(f[0]).shape == (2, 2)
    assert lossext.style_loss(f, f).item() == 0
    y = f.flip(1)
    assert lossext.style_loss([f, f], [y, y]).item() == pytest.approx(
        2 * TF.mse_loss(g, lossext.gram_matrix(y)).item()
    )
    real, fake = torch.tensor([0.8, 1.2]), torch.tensor([0.1, -0.1])
    d = 0.5 * ((0.04 + 0.04) / 2 + (0.01 + 0.01) / 2)
    assert lossext.lsgan_discriminator_loss(real, fake).item() == pytest.approx(d)
    assert lossext.lsgan_discriminator_loss(real, fake, a=-1.0, b=1.0).item() == pytest.approx(
        0.5 * (0.04 + (0.81 + 1.21) / 2)
    )
    assert lossext.lsgan_generator_loss(fake, c=0.0).item() == pytest.approx(0.5 * 0.01)
    assert lossext.wasserstein_critic_loss(real, fake).item() == pytest.approx(0.0 - 1.0)
    assert lossext.wasserstein_generator_loss(fake).item() == pytest.approx(0.0)


def test_perceptual_loss_with_random_conv_net():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 3)).double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    y = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    got = lossext.perceptual_loss(x, y, net)
    torch.testing.assert_close(got, TF.mse_loss(net(x), net(y)))
    assert torch.autograd.gradcheck(lambda a: lossext.perceptual_loss(a, y, net), (x,))

    def two_layers(z):
        h = net[1](net[0](z))
        return {"a": h, "b": net[2](h)}

    want = TF.mse_loss(two_layers(x)["a"], two_layers(y)["a"]) + TF.mse_loss(
        two_layers(x)["b"], two_layers(y)["b"]
    )
    torch.testing.assert_close(lossext.perceptual_loss(x, y, two_layers), want)
    torch.testing.assert_close(lossext.nn.PerceptualLoss(net)(x, y), got)


def test_structural_risk():
    model = nn.Linear(3, 2)
    loss = torch.tensor(1.5)
    l1 = sum(p.abs().sum() for p in model.parameters())
    l2 = sum((p * p).sum() for p in model.parameters())
    torch.testing.assert_close(lossext.structural_risk(loss, model, 0.1, "l1"), loss + 0.1 * l1)
    torch.testing.assert_close(lossext.structural_risk(loss, model.parameters(), 0.1), loss + 0.1 * l2)
    risk = lossext.nn.StructuralRisk(lossext.nn.MSELoss(), model, lam=0.1)
    x, t = torch.randn(4, 3), torch.randn(4, 2)
    torch.testing.assert_close(risk(model(x), t), TF.mse_loss(model(x), t) + 0.1 * l2)
    risk(model(x), t).backward()
    assert model.weight.grad is not None
    assert list(risk.parameters()) == []


def test_confusion_metrics():
    target = torch.tensor([0, 0, 1, 1, 2, 9])
    pred = torch.tensor([0, 1, 1, 1, 0, 2])
    m = lossext.confusion_matrix(pred, target, 3, ignore_index=9)
    assert m.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    # IoU: class 0: 1 / (2 + 2 - 1) = 1/3, class 1: 2 / (2 + 3 - 2) = 2/3, class 2: 0 / (1 + 0 - 0) = 0
    assert lossext.mean_iou(m, per_class=True).tolist() == pytest.approx([1 / 3, 2 / 3, 0.0])
    assert lossext.mean_iou(m).item() == pytest.approx(1 / 3)
    assert lossext.dice_score(m, per_class=True).tolist() == pytest.approx([0.5, 0.8, 0.0])
    scores = TF.one_hot(pred.clamp_max(2), 3).float().T.unsqueeze(0)  # (1, C, 6)
    assert lossext.confusion_matrix(scores, target.unsqueeze(0), 3, ignore_index=9).tolist() == m.tolist()
    absent = torch.tensor([[2, 0, 0], [0, 0, 0], [0, 0, 1]])
    assert lossext.mean_iou(absent).item() == 1.0  # class 1 absent: skipped, not counted as 0
    module = lossext.nn.MeanIoU(3, ignore_index=9)
    assert module(pred, target).item() == pytest.approx(1 / 3)
    assert lossext.nn.DiceScore(3, ignore_index=9)(pred, target).item() == pytest.approx(1.3 / 3)


GRADCHECK = {
    "mse": (lossext.mse_loss, 2),
    "l1": (lossext.l1_loss, 2),
    "rmse": (lossext.rmse_loss, 2),
    "sum_of_squares": (lossext.sum_of_squares_loss, 2),
    "log_cosh": (lossext.log_cosh_loss, 2),
    "cosine_similarity": (lossext.cosine_similarity_loss, 2),
    "entropy": (lossext.entropy, 1),
    "gram": (lossext.gram_matrix, 1),
    "style": (lossext.style_loss, 2),
    "lsgan_d": (lossext.lsgan_discriminator_loss, 2),
    "lsgan_g": (lossext.lsgan_generator_loss, 1),
    "wgan_c": (lossext.wasserstein_critic_loss, 2),
    "wgan_g": (lossext.wasserstein_generator_loss, 1),
}


@pytest.mark.parametrize("name", sorted(GRADCHECK))
def test_gradcheck_float64(name):
    fn, n = GRADCHECK[name]
    shape = (2, 3, 2, 2) if name in ("gram", "style") else (3, 4)
    inputs = [torch.randn(shape, dtype=torch.float64, requires_grad=True) for _ in range(n)]
    assert torch.autograd.gradcheck(fn, inputs)


def test_gradcheck_label_losses():
    f = torch.randn(6, dtype=torch.float64, requires_grad=True)
    y = _sign(6)
    for fn in (lossext.hinge_loss, lossext.squared_hinge_loss, lossext.exponential_loss):
        assert torch.autograd.gradcheck(lambda a, fn=fn: fn(a, y), (f,))
    s = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a: lossext.multiclass_hinge_loss(a, torch.tensor([0, 1, 2, 1])), (s,)
    )
    a, b = (torch.randn(4, 3, dtype=torch.float64, requires_grad=True) for _ in range(2))
    assert torch.autograd.gradcheck(
        lambda u, v: lossext.contrastive_loss(u, v, torch.tensor([1, 0, 1, 0])), (a, b)
    )
    p, labels = _probs(5).requires_grad_(True), _probs(5).round()
    assert torch.autograd.gradcheck(lambda q: lossext.log_loss(q, labels), (p,))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_accumulate_in_float(dtype):
    x, y = torch.randn(64, 33), torch.randn(64, 33)
    got = lossext.log_cosh_loss(x.to(dtype), y.to(dtype))
    assert got.dtype == dtype
    torch.testing.assert_close(
        got.float(), reference.log_cosh_loss(x.to(dtype).float(), y.to(dtype).float()), rtol=1e-2, atol=1e-2
    )


MODULES = [
    (lossext.nn.MSELoss(), lossext.mse_loss, 2, {}),
    (lossext.nn.RMSELoss(eps=1e-6), lossext.rmse_loss, 2, {"eps": 1e-6}),
    (lossext.nn.LogCoshLoss("sum"), lossext.log_cosh_loss, 2, {"reduction": "sum"}),
    (lossext.nn.SumOfSquaresLoss(), lossext.sum_of_squares_loss, 2, {}),
    (lossext.nn.CosineSimilarityLoss(), lossext.cosine_similarity_loss, 2, {}),
    (lossext.nn.EntropyLoss(dim=0), lossext.entropy, 1, {"dim": 0}),
    (lossext.nn.TripletMarginLoss(margin=0.3), lossext.triplet_margin_loss, 3, {"margin": 0.3}),
    (lossext.nn.WassersteinCriticLoss(), lossext.wasserstein_critic_loss, 2, {}),
    (lossext.nn.LSGANDiscriminatorLoss(a=-1.0), lossext.lsgan_discriminator_loss, 2, {"a": -1.0}),
]


@pytest.mark.parametrize("case", range(len(MODULES)))
def test_module_matches_function(case):
    module, fn, n, kwargs = MODULES[case]
    inputs = [torch.randn(4, 5) for _ in range(n)]
    torch.testing.assert_close(module(*inputs), fn(*inputs, **kwargs))


def test_label_modules():
    f, y = torch.randn(5), _sign(5).float()
    torch.testing.assert_close(lossext.nn.HingeLoss(margin=2.0)(f, y), lossext.hinge_loss(f, y, 2.0))
    torch.testing.assert_close(
        lossext.nn.NLLLoss(weight=torch.ones(5))(f.view(1, 5), torch.tensor([1])),
        TF.nll_loss(f.view(1, 5), torch.tensor([1])),
    )
    torch.testing.assert_close(lossext.nn.ZeroOneLoss()(f, f), torch.tensor(0.0))


def test_compile_fullgraph():
    x, y = torch.randn(4, 5), torch.randn(4, 5)

    def f(a, b):
        return lossext.log_cosh_loss(a, b) + lossext.rmse_loss(a, b) + lossext.cosine_similarity_loss(a, b)

    torch.testing.assert_close(torch.compile(f, fullgraph=True, backend="aot_eager")(x, y), f(x, y))


def test_empty_inputs():
    e = torch.empty(0)
    assert lossext.mse_loss(e, e, reduction="sum").item() == 0
    assert math.isnan(lossext.mse_loss(e, e).item())
    assert lossext.log_cosh_loss(e, e, reduction="none").shape == (0,)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: lossext.mse_loss(torch.randn(3), torch.randn(4)), ValueError, "target"),
        (lambda: lossext.mse_loss(torch.randn(3), torch.randn(3), reduction="avg"), ValueError, "Invalid"),
        (lambda: lossext.hinge_loss(torch.randn(3), torch.tensor([1.0, 0.0, -1.0])), ValueError, "-1, \\+1"),
        (lambda: lossext.hinge_loss(torch.randn(3), torch.ones(3), margin=-1.0), ValueError, "margin"),
        (lambda: lossext.exponential_loss(torch.randn(2), torch.tensor([2.0, 1.0])), ValueError, "labels"),
        (
            lambda: lossext.log_loss(torch.tensor([0.5, 1.5]), torch.ones(2)),
            ValueError,
            "input must hold prob",
        ),
        (
            lambda: lossext.binary_cross_entropy(torch.tensor([0.5]), torch.tensor([-0.1])),
            ValueError,
            "target",
        ),
        (lambda: lossext.nll_loss(torch.randn(2, 3), torch.tensor([0, 3])), IndexError, "outside"),
        (lambda: lossext.nll_loss(torch.randn(2, 3), torch.tensor([0.0, 1.0])), ValueError, "int64"),
        (
            lambda: lossext.multi_margin_loss(torch.randn(2, 3), torch.tensor([0, 1]), p=3),
            ValueError,
            "p must",
        ),
        (
            lambda: lossext.multiclass_hinge_loss(torch.randn(2, 3), torch.tensor([0, 5])),
            IndexError,
            "outside",
        ),
        (
            lambda: lossext.triplet_margin_loss(*(torch.randn(2, 3) for _ in range(3)), margin=0.0),
            ValueError,
            "margin",
        ),
        (
            lambda: lossext.triplet_margin_loss(torch.randn(2, 3), torch.randn(2, 3), torch.randn(2, 4)),
            ValueError,
            "negative",
        ),
        (
            lambda: lossext.contrastive_loss(torch.randn(2, 3), torch.randn(2, 3), torch.tensor([1, -1])),
            ValueError,
            "1 = similar",
        ),
        (
            lambda: lossext.cosine_embedding_loss(torch.randn(2, 3), torch.randn(2, 3), _sign(2), margin=2.0),
            ValueError,
            "margin",
        ),
        (
            lambda: lossext.margin_ranking_loss(torch.randn(3), torch.randn(4), torch.ones(3)),
            ValueError,
            "broadcast",
        ),
        (lambda: lossext.gram_matrix(torch.randn(3, 4)), ValueError, "features"),
        (
            lambda: lossext.perceptual_loss(torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4), 3),
            TypeError,
            "feature_extractor",
        ),
        (
            lambda: lossext.lsgan_discriminator_loss(torch.randn(3), torch.randn(3), reduction="none"),
            ValueError,
            "Invalid",
        ),
        (
            lambda: lossext.structural_risk(torch.tensor(1.0), nn.Linear(2, 2), penalty="l3"),
            ValueError,
            "penalty",
        ),
        (lambda: lossext.structural_risk(torch.tensor(1.0), nn.Linear(2, 2), lam=-1.0), ValueError, "lam"),
        (
            lambda: lossext.confusion_matrix(torch.tensor([0, 3]), torch.tensor([0, 1]), 3),
            IndexError,
            "input",
        ),
        (
            lambda: lossext.confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 4]), 3),
            IndexError,
            "target",
        ),
        (lambda: lossext.mean_iou(torch.ones(2, 3)), ValueError, "square"),
        (lambda: lossext.entropy(torch.randn(2, 3), dim=2), ValueError, "dim"),
        (lambda: lossext.soft_cross_entropy(torch.randn(2, 3), torch.tensor([0, 1])), TypeError, "target"),
    ],
)
def test_bad_inputs(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
