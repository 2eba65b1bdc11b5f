# ruff: noqa: E501 -- the tables of bad inputs keep one case per line
"""cross_entropy, its gradient and smooth_labels: references, siblings, extremes, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losslab
from conftest import numeric_grad
from losslab import grad as G

RNG = np.random.default_rng(0)
N, C = 7, 4
REDUCTIONS = ("mean", "sum", "none")


# ------------------------------------------------------------------ helpers
def _logits(shape=(N, C), scale=2.0, seed=0):
    return np.random.default_rng(seed).normal(scale=scale, size=shape)


def _labels(n=N, c=C, seed=1):
    y = np.random.default_rng(seed).integers(0, c, size=n)
    y[:c] = np.arange(c)[:n]  # every class present
    return y


def _soft(shape=(N, C), seed=2, axis=-1):
    a = np.random.default_rng(seed).random(shape) + 0.05
    return a / a.sum(axis=axis, keepdims=True)


def _softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _onehot(y, c=C):
    return np.eye(c)[y]


def _t(x):
    return torch.as_tensor(x)


def _torch_ce(z, y, *, axis=-1, class_weight=None, ignore_index=None, label_smoothing=0.0, reduction="mean"):
    """PyTorch's cross_entropy with the class axis moved to 1 (its layout)."""
    zt = torch.movedim(_t(z), axis, 1) if np.ndim(z) > 1 else _t(z)
    yt = _t(y)
    if yt.is_floating_point():
        yt = torch.movedim(yt, axis, 1) if yt.ndim > 1 else yt
    out = F.cross_entropy(
        zt,
        yt,
        weight=None if class_weight is None else _t(class_weight),
        ignore_index=-100 if ignore_index is None else ignore_index,
        label_smoothing=label_smoothing,
        reduction=reduction,
    )
    return out.numpy()


# ------------------------------------------------------------- references
OPTION_SETS = [
    {},
    {"class_weight": np.array([0.5, 2.0, 1.0, 3.0])},
    {"ignore_index": -100},
    {"ignore_index": 2},
    {"label_smoothing": 0.1},
    {"label_smoothing": 1.0},
    {"class_weight": np.array([0.5, 2.0, 1.0, 3.0]), "label_smoothing": 0.2},
    {"class_weight": np.array([0.5, 2.0, 1.0, 3.0]), "ignore_index": 1},
    {"class_weight": np.array([0.5, 2.0, 1.0, 3.0]), "ignore_index": -100, "label_smoothing": 0.3},
    {"ignore_index": 0, "label_smoothing": 0.25},
]


def _hard_target(opts):
    y = _labels()
    if opts.get("ignore_index") == -100:
        y = y.copy()
        y[[1, 5]] = -100
    return y


@pytest.mark.parametrize("opts", OPTION_SETS, ids=lambda o: "-".join(o) or "plain")
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_hard_targets_match_torch(opts, reduction):
    z, y = _logits(), _hard_target(opts)
    ours = losslab.cross_entropy(z, y, reduction=reduction, **opts)
    ref = _torch_ce(z, y, reduction=reduction, **opts)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-14)


SOFT_OPTIONS = [
    {},
    {"class_weight": np.array([0.5, 2.0, 1.0, 3.0])},
    {"label_smoothing": 0.15},
    {"class_weight": np.array([0.5, 2.0, 1.0, 3.0]), "label_smoothing": 0.15},
]


@pytest.mark.parametrize("opts", SOFT_OPTIONS, ids=lambda o: "-".join(o) or "plain")
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_targets_match_torch(opts, reduction):
    z, t = _logits(), _soft()
    ours = losslab.cross_entropy(z, t, reduction=reduction, **opts)
    ref = _torch_ce(z, t, reduction=reduction, **opts)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "opts",
    [{}, {"class_weight": np.array([1.0, 2.0, 0.5])}, {"ignore_index": -100, "label_smoothing": 0.1}],
    ids=["plain", "cw", "ignore-smooth"],
)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_spatial_layout_axis1_matches_torch(opts, reduction):
    z = _logits((2, 3, 4, 5), seed=3)
    y = np.random.default_rng(4).integers(0, 3, size=(2, 4, 5))
    if "ignore_index" in opts:
        y[0, 1, 2] = y[1, 3, 4] = -100
    ours = losslab.cross_entropy(z, y, axis=1, reduction=reduction, **opts)
    np.testing.assert_allclose(ours, _torch_ce(z, y, axis=1, reduction=reduction, **opts), rtol=1e-12, atol=1e-14)
    # soft targets in the same layout (no ignore_index there)
    t = _soft((2, 3, 4, 5), axis=1)
    opts = {k: v for k, v in opts.items() if k != "ignore_index"}
    ours = losslab.cross_entropy(z, t, axis=1, reduction=reduction, **opts)
    np.testing.assert_allclose(ours, _torch_ce(z, t, axis=1, reduction=reduction, **opts), rtol=1e-12, atol=1e-14)


def test_axis1_equals_moved_axis_last():
    z = _logits((3, 5, 6), seed=5)
    y = np.random.default_rng(6).integers(0, 5, size=(3, 6))
    a = losslab.cross_entropy(z, y, axis=1, reduction="none")
    b = losslab.cross_entropy(np.moveaxis(z, 1, -1), y, reduction="none")
    np.testing.assert_allclose(a, b, rtol=1e-14)
    ga = G.cross_entropy(z, y, axis=1)
    gb = G.cross_entropy(np.moveaxis(z, 1, -1), y)
    assert ga.shape == z.shape
    np.testing.assert_allclose(ga, np.moveaxis(gb, -1, 1), rtol=1e-14)


def test_sample_weight_semantics():
    """``weight`` is per sample; mean divides by the summed weights (times class weight of y)."""
    z, y = _logits(), _labels()
    w = np.random.default_rng(7).random(N) + 0.1
    per = losslab.cross_entropy(z, y, reduction="none")
    assert losslab.cross_entropy(z, y, weight=w, reduction="sum") == pytest.approx(np.sum(w * per), rel=1e-13)
    assert losslab.cross_entropy(z, y, weight=w) == pytest.approx(np.sum(w * per) / w.sum(), rel=1e-13)
    np.testing.assert_allclose(losslab.cross_entropy(z, y, weight=w, reduction="none"), w * per, rtol=1e-14)
    cw = np.array([0.5, 2.0, 1.0, 3.0])
    per_cw = _torch_ce(z, y, class_weight=cw, reduction="none")  # includes cw[y]
    got = losslab.cross_entropy(z, y, weight=w, class_weight=cw)
    assert got == pytest.approx(np.sum(w * per_cw) / np.sum(w * cw[y]), rel=1e-13)
    # integer weights are fine and equal repetition of samples
    reps = np.array([1, 2, 0, 3, 1, 1, 2])
    np.testing.assert_allclose(
        losslab.cross_entropy(z, y, weight=reps),
        losslab.cross_entropy(np.repeat(z, reps, axis=0), np.repeat(y, reps)),
        rtol=1e-13,
    )


def test_docstring_values():
    z = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, -np.inf]])
    np.testing.assert_allclose(
        losslab.cross_entropy(z, np.array([0, 1]), reduction="none"),
        [math.log(1 + math.exp(-2) + math.exp(-3)), math.log(2)],
        rtol=1e-14,
    )


def test_uniform_logits_cost_log_c():
    z = np.zeros((3, 5))
    assert losslab.cross_entropy(z, np.array([0, 3, 4])) == pytest.approx(math.log(5), rel=1e-15)


# ------------------------------------------------------ sibling consistency
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_integer_labels_equal_onehot_targets(reduction, smoothing):
    z, y = _logits(), _labels()
    kw = {"reduction": reduction, "label_smoothing": smoothing}
    np.testing.assert_allclose(
        losslab.cross_entropy(z, y, **kw), losslab.cross_entropy(z, _onehot(y), **kw), rtol=1e-13, atol=1e-15
    )
    np.testing.assert_allclose(G.cross_entropy(z, y, **kw), G.cross_entropy(z, _onehot(y), **kw), atol=1e-15)


def test_class_weight_hard_vs_onehot_denominators():
    """Equal under "sum"; under "mean" hard targets divide by sum cw[y], soft ones by n (documented)."""
    z, y = _logits(), _labels()
    cw = np.array([0.5, 2.0, 1.0, 3.0])
    s_hard = losslab.cross_entropy(z, y, class_weight=cw, reduction="sum")
    s_soft = losslab.cross_entropy(z, _onehot(y), class_weight=cw, reduction="sum")
    assert s_hard == pytest.approx(s_soft, rel=1e-13)
    assert losslab.cross_entropy(z, y, class_weight=cw) == pytest.approx(s_hard / cw[y].sum(), rel=1e-13)
    assert losslab.cross_entropy(z, _onehot(y), class_weight=cw) == pytest.approx(s_hard / N, rel=1e-13)


def test_cross_entropy_equals_log_loss_of_softmax():
    z, y = _logits(scale=1.0), _labels()
    assert losslab.cross_entropy(z, y) == pytest.approx(losslab.log_loss(_softmax(z), y), rel=1e-12)
    w = np.arange(1.0, N + 1)
    assert losslab.cross_entropy(z, y, weight=w) == pytest.approx(losslab.log_loss(_softmax(z), y, weight=w), rel=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_two_columns_equal_bce_with_logits_on_difference(reduction):
    z = _logits((N, 2), scale=3.0)
    y = _labels(c=2)
    d = z[:, 1] - z[:, 0]
    ce = losslab.cross_entropy(z, y, reduction=reduction)
    bce = losslab.binary_cross_entropy_with_logits(d, y.astype(float), reduction=reduction)
    np.testing.assert_allclose(ce, bce, rtol=1e-12)
    # chain rule: d/dz1 = dbce/dd, d/dz0 = -dbce/dd
    g = G.cross_entropy(z, y, reduction=reduction)
    gb = G.binary_cross_entropy_with_logits(d, y.astype(float), reduction=reduction)
    np.testing.assert_allclose(g[:, 1], gb, atol=1e-15)
    np.testing.assert_allclose(g[:, 0], -gb, atol=1e-15)


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_smooth_labels_plus_soft_ce_equals_label_smoothing_option(alpha, reduction):
    z, y = _logits(), _labels()
    soft = losslab.smooth_labels(y, C, alpha)
    np.testing.assert_allclose(
        losslab.cross_entropy(z, soft, reduction=reduction),
        losslab.cross_entropy(z, y, label_smoothing=alpha, reduction=reduction),
        rtol=1e-13,
    )
    np.testing.assert_allclose(
        G.cross_entropy(z, soft, reduction=reduction),
        G.cross_entropy(z, y, label_smoothing=alpha, reduction=reduction),
        atol=1e-15,
    )
    # smoothing soft targets through the option or by hand is the same too
    t = _soft()
    np.testing.assert_allclose(
        losslab.cross_entropy(z, losslab.smooth_labels(t, C, alpha), reduction=reduction),
        losslab.cross_entropy(z, t, label_smoothing=alpha, reduction=reduction),
        rtol=1e-13,
    )


def test_smooth_labels_with_class_weight_under_sum():
    z, y = _logits(), _labels()
    cw = np.array([0.5, 2.0, 1.0, 3.0])
    soft = losslab.smooth_labels(y, C, 0.3)
    a = losslab.cross_entropy(z, soft, class_weight=cw, reduction="sum")
    b = losslab.cross_entropy(z, y, class_weight=cw, label_smoothing=0.3, reduction="sum")
    assert a == pytest.approx(b, rel=1e-13)


# ------------------------------------------------------------ smooth_labels
def test_smooth_labels_values():
    out = losslab.smooth_labels(np.array([0, 2]), 3, 0.3)
    np.testing.assert_allclose(out, [[0.8, 0.1, 0.1], [0.1, 0.1, 0.8]], rtol=1e-15)
    np.testing.assert_array_equal(losslab.smooth_labels(np.array([1, 0]), 2, 0.0), [[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_allclose(losslab.smooth_labels(np.array([1, 0]), 4, 1.0), np.full((2, 4), 0.25))
    t = _soft()
    np.testing.assert_allclose(losslab.smooth_labels(t, C, 0.2), 0.8 * t + 0.05, rtol=1e-15)
    # bool indices and multi-d indices
    np.testing.assert_array_equal(losslab.smooth_labels(np.array([True, False]), 2, 0.0), [[0, 1], [1, 0]])
    assert losslab.smooth_labels(np.zeros((2, 3), dtype=int), 5, 0.1).shape == (2, 3, 5)
    np.testing.assert_allclose(losslab.smooth_labels(np.zeros((2, 3), dtype=int), 5, 0.1).sum(-1), 1.0)


def test_smooth_labels_dtypes_torch():
    out = losslab.smooth_labels(torch.tensor([0, 2], dtype=torch.int32), 3, 0.3)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    soft = torch.tensor([[0.25, 0.75]], dtype=torch.float16)
    assert losslab.smooth_labels(soft, 2, 0.5).dtype == torch.float16


@pytest.mark.parametrize(
    ("args", "exc", "match"),
    [
        ((np.array([0, 1]), 3, 1.5), ValueError, r"`alpha` must be in \[0, 1\]; got 1.5"),
        ((np.array([0, 1]), 3, -0.1), ValueError, r"`alpha` must be in \[0, 1\]; got -0.1"),
        ((np.array([0, 1]), 3, float("nan")), ValueError, r"`alpha` must be a number; got nan"),
        ((np.array([0, 1]), 0, 0.1), ValueError, r"`num_classes` must be a positive integer; got 0"),
        ((np.array([0, 1]), 3.0, 0.1), ValueError, r"`num_classes` must be a positive integer; got 3.0"),
        ((np.array([0, 1]), True, 0.1), ValueError, r"`num_classes` must be a positive integer; got True"),
        ((np.array([0, 3]), 3, 0.1), ValueError, r"class indices in \[0, 2\]; got 3 at index 1"),
        ((np.array([[0, 1], [-1, 0]]), 3, 0.1), ValueError, r"got -1 at index \(1, 0\)"),
        ((np.full((2, 4), 0.25), 3, 0.1), ValueError, r"trailing axis of length 3; got shape \(2, 4\)"),
        ((np.array([[0.5, 0.7]]), 2, 0.1), ValueError, r"`target` rows must sum to 1 .*row 0 sums to 1.2"),
        (
            (np.array([[-0.5, 1.5]]), 2, 0.1),
            ValueError,
            r"`target` must hold class probabilities.*-0.5 at index \(0, 0\)",
        ),
        ((np.array(["a"]), 2, 0.1), TypeError, r"`target` must hold class indices or probabilities"),
    ],
)
def test_smooth_labels_errors(args, exc, match):
    with pytest.raises(exc, match=match):
        losslab.smooth_labels(*args)


# --------------------------------------------------------------- gradients
GRAD_CASES = [
    ("hard", {}),
    ("hard", {"class_weight": np.array([0.5, 2.0, 1.0, 3.0])}),
    ("hard", {"ignore_index": 2}),
    ("hard", {"label_smoothing": 0.2}),
    ("hard", {"class_weight": np.array([0.5, 2.0, 1.0, 3.0]), "label_smoothing": 0.2, "ignore_index": 0}),
    ("hard", {"weight": np.linspace(0.1, 2.0, N)}),
    ("hard", {"weight": np.linspace(0.1, 2.0, N), "class_weight": np.array([0.5, 2.0, 1.0, 3.0])}),
    ("soft", {}),
    ("soft", {"class_weight": np.array([0.5, 2.0, 1.0, 3.0]), "label_smoothing": 0.1}),
    ("soft", {"weight": np.linspace(0.1, 2.0, N)}),
    ("soft", {"label_smoothing": 0.4}),
]


def _target(kind):
    return _labels() if kind == "hard" else _soft()


@pytest.mark.parametrize(("kind", "opts"), GRAD_CASES, ids=lambda x: x if isinstance(x, str) else "-".join(x))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_grad_matches_central_differences(kind, opts, reduction):
    z, t = _logits(), _target(kind)
    g = G.cross_entropy(z, t, reduction=reduction, **opts)
    num = numeric_grad(lambda x: losslab.cross_entropy(x, t, reduction=reduction, **opts), z)
    assert g.shape == z.shape and g.dtype == z.dtype
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(("kind", "opts"), GRAD_CASES, ids=lambda x: x if isinstance(x, str) else "-".join(x))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_grad_matches_torch_autograd_of_losslab(kind, opts, reduction):
    z, t = _logits(), _target(kind)
    topts = {k: (_t(v) if isinstance(v, np.ndarray) else v) for k, v in opts.items()}
    zt = _t(z).requires_grad_(True)
    loss = losslab.cross_entropy(zt, _t(t), reduction=reduction, **topts)
    loss.sum().backward()
    g = G.cross_entropy(_t(z), _t(t), reduction=reduction, **topts)
    assert isinstance(g, torch.Tensor)
    torch.testing.assert_close(g, zt.grad, rtol=1e-12, atol=1e-14)


def test_grad_axis1_matches_autograd():
    z = _logits((2, 3, 4), seed=8)
    y = np.random.default_rng(9).integers(0, 3, size=(2, 4))
    y[0, 0] = -100
    cw = np.array([1.0, 0.5, 2.0])
    zt = _t(z).requires_grad_(True)
    kw = {"axis": 1, "ignore_index": -100, "label_smoothing": 0.1}
    losslab.cross_entropy(zt, _t(y), class_weight=_t(cw), **kw).backward()
    torch.testing.assert_close(G.cross_entropy(_t(z), _t(y), class_weight=_t(cw), **kw), zt.grad)
    num = numeric_grad(lambda x: losslab.cross_entropy(x, y, class_weight=cw, **kw), z)
    np.testing.assert_allclose(G.cross_entropy(z, y, class_weight=cw, **kw), num, rtol=1e-6, atol=1e-8)
    assert np.all(G.cross_entropy(z, y, class_weight=cw, **kw)[0, :, 0] == 0)  # ignored position


def test_canonical_link_grad_is_softmax_minus_onehot():
    z, y = _logits(), _labels()
    np.testing.assert_allclose(G.cross_entropy(z, y), (_softmax(z) - _onehot(y)) / N, atol=1e-16)
    np.testing.assert_allclose(G.cross_entropy(z, y, reduction="sum"), _softmax(z) - _onehot(y), atol=1e-15)
    t = _soft()
    np.testing.assert_allclose(G.cross_entropy(z, t, reduction="none"), _softmax(z) - t, atol=1e-15)
    # gradient rows sum to 0 (softmax is shift invariant)
    np.testing.assert_allclose(G.cross_entropy(z, y, label_smoothing=0.3).sum(-1), 0.0, atol=1e-16)


def test_ignored_samples_have_zero_gradient():
    z, y = _logits(), _labels()
    y[3] = -1
    g = G.cross_entropy(z, y, ignore_index=-1)
    assert np.all(g[3] == 0)
    keep = np.arange(N) != 3
    np.testing.assert_allclose(g[keep], G.cross_entropy(z[keep], y[keep]), atol=1e-16)
    assert losslab.cross_entropy(z, y, ignore_index=-1) == pytest.approx(losslab.cross_entropy(z[keep], y[keep]))


# ------------------------------------------------------------------ extremes
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_huge_logits_are_exact(dtype):
    z = np.array([[1e4, -1e4]], dtype=dtype)
    assert float(losslab.cross_entropy(z, np.array([0]))) == 0.0
    assert float(losslab.cross_entropy(z, np.array([1]))) == 2e4
    g = G.cross_entropy(z, np.array([1]))
    np.testing.assert_array_equal(g, np.array([[1.0, -1.0]], dtype=dtype))
    assert float(losslab.cross_entropy(np.array([[-1e4, 1e4, 0.0]], dtype=dtype), np.array([2]))) == 1e4


def test_masked_non_target_classes():
    z = np.array([[1.0, -np.inf, 0.5, 2.0], [-np.inf, 0.0, -np.inf, -np.inf]])
    y = np.array([0, 1])
    per = losslab.cross_entropy(z, y, reduction="none")
    assert np.all(np.isfinite(per))
    np.testing.assert_allclose(per, _torch_ce(z, y, reduction="none"), rtol=1e-14)
    assert per[1] == 0.0  # the only unmasked class is certain
    g = G.cross_entropy(z, y)
    assert np.all(np.isfinite(g))
    assert g[0, 1] == 0.0 and g[1, 0] == 0.0 and g[1, 2] == 0.0 and g[1, 3] == 0.0
    # soft target with zero mass on masked classes: fine as well
    t = np.array([[0.5, 0.0, 0.25, 0.25], [0.0, 1.0, 0.0, 0.0]])
    assert np.isfinite(losslab.cross_entropy(z, t))
    assert G.cross_entropy(z, t)[0, 1] == 0.0


@pytest.mark.parametrize("fn", [losslab.cross_entropy, G.cross_entropy], ids=["loss", "grad"])
def test_masked_target_class_raises(fn):
    z = np.array([[0.0, 1.0, 2.0], [0.0, -np.inf, 1.0]])
    with pytest.raises(ValueError, match=r"target class 1 of sample 1 has logit -inf .*unmask the target class"):
        fn(z, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"`label_smoothing` puts probability on every class.*-inf"):
        fn(z, np.array([0, 2]), label_smoothing=0.1)
    with pytest.raises(ValueError, match=r"positive probability to a class whose logit is -inf in row 1"):
        fn(z, np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"row 1 of `logits` is -inf for every class"):
        fn(np.array([[0.0, 1.0], [-np.inf, -np.inf]]), np.array([0, 1]))


def test_masked_logits_in_ignored_samples_do_not_matter():
    z = np.array([[0.0, 1.0, 2.0], [-np.inf, 0.0, 1.0], [-np.inf, -np.inf, -np.inf]])
    y = np.array([2, -100, -100])
    kw = {"ignore_index": -100}
    assert losslab.cross_entropy(z, y, **kw) == pytest.approx(losslab.cross_entropy(z[:1], y[:1]), rel=1e-15)
    np.testing.assert_array_equal(losslab.cross_entropy(z, y, reduction="none", **kw)[1:], 0.0)
    g = G.cross_entropy(z, y, **kw)
    assert np.all(np.isfinite(g)) and np.all(g[1:] == 0)
    assert np.isfinite(losslab.cross_entropy(z, y, label_smoothing=0.1, class_weight=np.ones(3), **kw))


def test_float16_sum_beyond_65504_stays_finite():
    rng = np.random.default_rng(10)
    z = (rng.normal(size=(20000, 3)) * 4).astype(np.float16)
    z[:, 0] = 8.0
    y = np.full(20000, 2)
    out = losslab.cross_entropy(z, y, reduction="sum")
    assert out.dtype == np.float32 and np.isfinite(out) and out > 65504
    ref = losslab.cross_entropy(z.astype(np.float64), y, reduction="sum")
    assert float(out) == pytest.approx(ref, rel=1e-5)
    assert losslab.cross_entropy(z, y).dtype == np.float32
    assert losslab.cross_entropy(z, y, reduction="none").dtype == np.float16
    assert G.cross_entropy(z, y).dtype == np.float16
    tz = torch.as_tensor(z)
    assert losslab.cross_entropy(tz, torch.as_tensor(y), reduction="sum").dtype == torch.float32


def test_bfloat16_torch():
    z = torch.randn(64, 5, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    y = torch.randint(0, 5, (64,), generator=torch.Generator().manual_seed(1))
    out = losslab.cross_entropy(z, y)
    assert out.dtype == torch.float32
    ref = F.cross_entropy(z.double(), y)
    assert float(out) == pytest.approx(float(ref), rel=1e-6)
    g = G.cross_entropy(z, y, label_smoothing=0.1)
    assert g.dtype == torch.bfloat16
    gref = G.cross_entropy(z.double(), y, label_smoothing=0.1)
    torch.testing.assert_close(g.double(), gref, rtol=1e-2, atol=1e-4)
    assert losslab.cross_entropy(z, y, reduction="none").dtype == torch.bfloat16


@pytest.mark.parametrize("dtype", [torch.int8, torch.int16, torch.int32, torch.uint8, torch.bool])
def test_torch_small_integer_targets(dtype):
    z = torch.as_tensor(_logits((6, 2)))
    y = torch.tensor([0, 1, 1, 0, 1, 0]).to(dtype)
    ref = F.cross_entropy(z, y.long())
    torch.testing.assert_close(losslab.cross_entropy(z, y), ref)
    torch.testing.assert_close(
        losslab.cross_entropy(z, y, class_weight=torch.tensor([1.0, 2.0], dtype=z.dtype)),
        F.cross_entropy(z, y.long(), weight=torch.tensor([1.0, 2.0], dtype=z.dtype)),
    )
    torch.testing.assert_close(G.cross_entropy(z, y), G.cross_entropy(z, y.long()))


# --------------------------------------------------------------- bad input
Z = np.array([[0.0, 1.0, 2.0], [1.0, 0.5, 0.0]])
Y = np.array([0, 2])


@pytest.mark.parametrize("fn", [losslab.cross_entropy, G.cross_entropy], ids=["loss", "grad"])
@pytest.mark.parametrize(
    ("logits", "target", "kw", "exc", "match"),
    [
        (np.array([[0.0, np.nan, 2.0], [1.0, 0.5, 0.0]]), Y, {}, ValueError, r"`logits` contains NaN at index \(0, 1\)"),
        (np.array([[0.0, 1.0, 2.0], [1.0, np.inf, 0.0]]), Y, {}, ValueError, r"`logits` contains inf at index \(1, 1\)"),
        (Z, np.array([0, 3]), {}, ValueError, r"`target` must hold class indices in \[0, 2\]; got 3 at index 1"),
        (Z, np.array([-1, 0]), {}, ValueError, r"class indices in \[0, 2\]; got -1 at index 0"),
        (Z, np.array([0, -1]), {"ignore_index": -100}, ValueError, r"\[0, 2\] or ignore_index=-100; got -1 at index 1"),
        (Z, np.array([-100, -100]), {"ignore_index": -100}, ValueError, r"every target is `ignore_index` under reduction='mean'.*use reduction='sum'"),
        (Z, Y, {"weight": np.zeros(2)}, ValueError, r"the total weight is 0 under reduction='mean'"),
        (Z, Y, {"class_weight": np.array([0.0, 1.0, 0.0])}, ValueError, r"summed class weights of the targets are 0"),
        (Z, np.array([0.0, 2.0]), {}, TypeError, r"`target` has a floating dtype \(float64\) but the shape of class indices \(2,\): cast it to an integer dtype"),
        (Z, np.array([[0.5, 0.5, 0.5], [0.0, 0.0, 1.0]]), {}, ValueError, r"`target` rows must sum to 1 .*row 0 sums to 1.5"),
        (Z, np.array([[1.5, -0.5, 0.0], [0.0, 0.0, 1.0]]), {}, ValueError, r"`target` must hold class probabilities in \[0, 1\]; got 1.5 at index \(0, 0\)"),
        (Z, np.array([[np.nan, 0.5, 0.5], [0.0, 0.0, 1.0]]), {}, ValueError, r"`target` must hold class probabilities.*nan at index \(0, 0\)"),
        (Z, Y, {"label_smoothing": 1.5}, ValueError, r"`label_smoothing` must be in \[0, 1\]; got 1.5"),
        (Z, Y, {"label_smoothing": -0.1}, ValueError, r"`label_smoothing` must be in \[0, 1\]; got -0.1"),
        (Z, Y, {"label_smoothing": "0.1"}, TypeError, r"`label_smoothing` must be a real number"),
        (Z, np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]), {"ignore_index": -100}, ValueError, r"`ignore_index` applies to integer class targets only.*weight 0"),
        (Z, Y, {"class_weight": np.ones(2)}, ValueError, r"`class_weight` must have shape \(3,\) \(one per class\); got \(2,\)"),
        (Z, Y, {"class_weight": np.array([1.0, -1.0, 1.0])}, ValueError, r"`class_weight` must be finite and non-negative; got -1.0 at index 1"),
        (Z, Y, {"class_weight": np.array([1.0, np.inf, 1.0])}, ValueError, r"`class_weight` must be finite and non-negative; got inf at index 1"),
        (Z, np.array([0, 1, 2]), {}, ValueError, r"`target` of class indices must have shape \(2,\).*got \(3,\)"),
        (Z, np.full((2, 4), 0.25), {}, ValueError, r"`target` must be class indices of shape \(2,\) or class probabilities"),
        (Z, Y, {"axis": 2}, ValueError, r"`axis` must be in \[-2, 1\] for 2-d `logits`; got 2"),
        (np.array(1.0), np.array(0), {}, ValueError, r"`logits` must have a class axis; got a 0-d array"),
        (Z, Y, {"reduction": "avg"}, ValueError, r"`reduction` must be one of 'mean', 'sum' or 'none'; got 'avg'"),
        (Z, Y, {"weight": np.ones(3)}, ValueError, r"`weight` must have shape \(2,\)"),
        (Z, Y, {"weight": np.array([1.0, -2.0])}, ValueError, r"`weight` must be finite and non-negative; got -2.0 at index 1"),
        (Z, torch.tensor([0, 2]), {}, TypeError, r"`target` is a torch array but `logits` is a numpy array.*numpy.asarray"),
        (torch.as_tensor(Z), Y, {}, TypeError, r"`target` is a numpy array but `logits` is a torch array.*torch.as_tensor"),
        (torch.as_tensor(Z), torch.tensor(Y), {"class_weight": np.ones(3)}, TypeError, r"`class_weight` is a numpy array"),
    ],
)  # fmt: skip
def test_bad_input(fn, logits, target, kw, exc, match):
    with pytest.raises(exc, match=match):
        fn(logits, target, **kw)


def test_error_positions_use_callers_layout():
    z = np.zeros((2, 3, 4))
    z[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match=r"`logits` contains NaN at index \(1, 2, 3\)"):
        losslab.cross_entropy(z, np.zeros((2, 4), dtype=int), axis=1)
    t = np.full((2, 3, 4), 1 / 3)
    t[0, 1, 2] = -0.5
    with pytest.raises(ValueError, match=r"got -0.5 at index \(0, 1, 2\)"):
        losslab.cross_entropy(np.zeros((2, 3, 4)), t, axis=1)


def test_all_ignored_under_sum_is_zero():
    assert losslab.cross_entropy(Z, np.array([-100, -100]), ignore_index=-100, reduction="sum") == 0.0
    np.testing.assert_array_equal(G.cross_entropy(Z, np.array([-100, -100]), ignore_index=-100, reduction="sum"), 0.0)


# ------------------------------------------------------------ other arrays
@pytest.mark.parametrize(
    "opts",
    [
        {},
        {"class_weight": np.array([0.5, 2.0, 1.0, 3.0]), "label_smoothing": 0.1},
        {"ignore_index": 1},
        {"weight": np.linspace(0.5, 1.5, N)},
    ],
    ids=["plain", "cw-smooth", "ignore", "weight"],
)
def test_jax_jit(opts):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    z, y, t = _logits().astype(np.float32), _labels(), _soft().astype(np.float32)
    arrays = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in opts.items() if isinstance(v, np.ndarray)}
    scalars = {k: v for k, v in opts.items() if not isinstance(v, np.ndarray)}

    @jax.jit
    def f(z, y, arrays):
        return losslab.cross_entropy(z, y, **arrays, **scalars), G.cross_entropy(z, y, **arrays, **scalars)

    val, g = f(jnp.asarray(z), jnp.asarray(y), arrays)
    np.testing.assert_allclose(val, losslab.cross_entropy(z, y, **opts), rtol=1e-5)
    np.testing.assert_allclose(g, G.cross_entropy(z, y, **opts), rtol=1e-4, atol=1e-6)
    # jax.grad of the losslab function (under jit) agrees with the closed form
    ag = jax.jit(jax.grad(lambda z, a: losslab.cross_entropy(z, jnp.asarray(y), **a, **scalars)))(
        jnp.asarray(z), arrays
    )
    np.testing.assert_allclose(ag, g, rtol=1e-4, atol=1e-6)
    if "ignore_index" not in opts:
        sv = jax.jit(lambda z, t, a: losslab.cross_entropy(z, t, **a, **scalars))(
            jnp.asarray(z), jnp.asarray(t), arrays
        )
        np.testing.assert_allclose(sv, losslab.cross_entropy(z, t, **opts), rtol=1e-5)


def test_jax_jit_closed_over_class_weight():
    """A concrete array closed over by the jitted function still gives tracers inside the trace."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    cw = jnp.asarray([0.5, 2.0, 1.0, 3.0])
    z, y = _logits().astype(np.float32), _labels()
    f = jax.jit(lambda z, y: (losslab.cross_entropy(z, y, class_weight=cw), G.cross_entropy(z, y, class_weight=cw)))
    val, g = f(jnp.asarray(z), jnp.asarray(y))
    np.testing.assert_allclose(val, losslab.cross_entropy(z, y, class_weight=np.asarray(cw)), rtol=1e-5)
    np.testing.assert_allclose(g, G.cross_entropy(z, y, class_weight=np.asarray(cw)), rtol=1e-4, atol=1e-6)


def test_jax_jit_closed_over_sample_weight():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    w = jnp.linspace(0.5, 1.5, N)
    z, y = _logits().astype(np.float32), _labels()
    val = jax.jit(lambda z, y: losslab.cross_entropy(z, y, weight=w))(jnp.asarray(z), jnp.asarray(y))
    np.testing.assert_allclose(val, losslab.cross_entropy(z, y, weight=np.asarray(w)), rtol=1e-5)


def test_jax_eager_checks_values():
    jnp = pytest.importorskip("jax.numpy")
    with pytest.raises(ValueError, match=r"got 5 at index 1"):
        losslab.cross_entropy(jnp.zeros((2, 3)), jnp.asarray([0, 5]))
    assert losslab.smooth_labels(jnp.asarray([True, False]), 2, 0.0).shape == (2, 2)


def test_array_api_strict():
    xp = pytest.importorskip("array_api_strict")
    z, y, t = _logits(), _labels(), _soft()
    cw = np.array([0.5, 2.0, 1.0, 3.0])
    kw = {"label_smoothing": 0.1, "ignore_index": 3}
    out = losslab.cross_entropy(xp.asarray(z), xp.asarray(y), class_weight=xp.asarray(cw), **kw)
    assert isinstance(out, type(xp.asarray(1.0)))
    assert float(out) == pytest.approx(losslab.cross_entropy(z, y, class_weight=cw, **kw), rel=1e-13)
    g = G.cross_entropy(xp.asarray(z), xp.asarray(y), class_weight=xp.asarray(cw), **kw)
    np.testing.assert_allclose(np.asarray(g), G.cross_entropy(z, y, class_weight=cw, **kw), rtol=1e-13)
    assert float(losslab.cross_entropy(xp.asarray(z), xp.asarray(t))) == pytest.approx(losslab.cross_entropy(z, t))
    sl = losslab.smooth_labels(xp.asarray(y), C, 0.2)
    np.testing.assert_allclose(np.asarray(sl), losslab.smooth_labels(y, C, 0.2))
    z3 = _logits((2, 3, 4))
    y3 = np.random.default_rng(0).integers(0, 3, size=(2, 4))
    assert float(losslab.cross_entropy(xp.asarray(z3), xp.asarray(y3), axis=1)) == pytest.approx(
        losslab.cross_entropy(z3, y3, axis=1)
    )


def test_python_sequences_convert_at_the_logits_precision():
    """Lists are not rounded through torch's default float32 when the logits are float64."""
    z, y = torch.as_tensor(_logits()), torch.as_tensor(_labels())
    cw = [0.1, 0.3, 0.7, 1.1]
    w = [0.1 * i for i in range(1, N + 1)]
    kw = {"reduction": "sum", "label_smoothing": 0.1}
    a = losslab.cross_entropy(z, y, class_weight=cw, weight=w, **kw)
    b = losslab.cross_entropy(
        z, y, class_weight=torch.tensor(cw, dtype=torch.float64), weight=torch.tensor(w, dtype=torch.float64), **kw
    )
    assert a.dtype == torch.float64 and float(a) == float(b)
    t = _soft().tolist()
    assert float(losslab.cross_entropy(z, t)) == float(losslab.cross_entropy(z, torch.tensor(t, dtype=torch.float64)))
    assert float(losslab.cross_entropy(z, y.tolist())) == float(losslab.cross_entropy(z, y))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_spatial_sample_weight(reduction):
    z = _logits((3, 4, 5), seed=11)
    y = np.random.default_rng(12).integers(0, 4, size=(3, 5))
    per = losslab.cross_entropy(z, y, axis=1, reduction="none")
    for w in (np.array([0.5, 1.0, 2.0]), np.random.default_rng(13).random((3, 5))):
        wb = np.broadcast_to(w[:, None] if w.ndim == 1 else w, per.shape)
        expected = {"none": wb * per, "sum": np.sum(wb * per), "mean": np.sum(wb * per) / np.sum(wb)}[reduction]
        got = losslab.cross_entropy(z, y, axis=1, weight=w, reduction=reduction)
        np.testing.assert_allclose(got, expected, rtol=1e-13)
        num = numeric_grad(lambda x, w=w: losslab.cross_entropy(x, y, axis=1, weight=w, reduction=reduction), z)
        np.testing.assert_allclose(
            G.cross_entropy(z, y, axis=1, weight=w, reduction=reduction), num, rtol=1e-6, atol=1e-9
        )


def test_float16_per_element_overflow_is_reported():
    z = np.array([[6e4, -6e4]], dtype=np.float16)
    assert losslab.cross_entropy(z, np.array([1]), reduction="sum") == np.float32(1.2e5)
    with pytest.raises(ValueError, match=r"the cross-entropy overflowed float16 although every input is finite"):
        losslab.cross_entropy(z, np.array([1]), reduction="none")
