# ruff: noqa: E501 -- the tables of bad inputs keep one case per line
"""sigmoid_focal_loss and focal_loss (Lin et al. 2017): torchvision's formula, optax, limits, gradients, extremes, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as sps
import torch
import torch.nn.functional as F

import losslab
from conftest import numeric_grad
from losslab import grad as G

SFL, GSFL = losslab.sigmoid_focal_loss, G.sigmoid_focal_loss
FL, GFL = losslab.focal_loss, G.focal_loss
REDUCTIONS = ("mean", "sum", "none")
N, C = 7, 4
CW = np.array([0.5, 2.0, 1.0, 3.0])


def _z(shape=(N, 3), scale=3.0, seed=0):
    return np.random.default_rng(seed).normal(scale=scale, size=shape)


def _t(shape=(N, 3), seed=1, soft=False):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=shape) if soft else rng.integers(0, 2, size=shape).astype(np.float64)


def torchvision_sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2.0):
    """``torchvision.ops.sigmoid_focal_loss`` (reduction="none"), transcribed: torchvision is no dependency here."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return loss


def _reduce(values, reduction, weight=None):
    w = np.ones_like(values) if weight is None else np.broadcast_to(weight.reshape(-1, *([1] * (values.ndim - 1))), values.shape)
    return {"none": w * values, "sum": np.sum(w * values), "mean": np.sum(w * values) / np.sum(w)}[reduction]


# ================================================================= sigmoid
@pytest.mark.parametrize("soft", [False, True], ids=["labels", "soft"])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 5.0])
@pytest.mark.parametrize("alpha", [0.25, 0.8, None])
def test_sigmoid_matches_torchvision(alpha, gamma, soft):
    z, t = _z(), _t(soft=soft)
    want = torchvision_sigmoid_focal_loss(torch.as_tensor(z), torch.as_tensor(t), -1 if alpha is None else alpha, gamma)
    np.testing.assert_allclose(SFL(z, t, alpha=alpha, gamma=gamma, reduction="none"), want.numpy(), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("soft", [False, True], ids=["labels", "soft"])
@pytest.mark.parametrize(("alpha", "gamma"), [(None, 2.0), (0.25, 2.0), (0.6, 0.5), (None, 0.0), (0.1, 4.0)])
def test_sigmoid_matches_optax_values_and_jax_grad(alpha, gamma, soft):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    optax = pytest.importorskip("optax")
    jnp = jax.numpy
    z, t = _z(), _t(soft=soft)
    want = optax.losses.sigmoid_focal_loss(jnp.asarray(z), jnp.asarray(t), alpha=alpha, gamma=gamma)
    np.testing.assert_allclose(SFL(z, t, alpha=alpha, gamma=gamma, reduction="none"), np.asarray(want), rtol=1e-12, atol=1e-300)
    auto = jax.grad(lambda x: jnp.sum(optax.losses.sigmoid_focal_loss(x, jnp.asarray(t), alpha=alpha, gamma=gamma)))(jnp.asarray(z))
    np.testing.assert_allclose(GSFL(z, t, alpha=alpha, gamma=gamma, reduction="sum"), np.asarray(auto), rtol=1e-11, atol=1e-300)


def test_sigmoid_default_alpha_is_torchvisions_not_optaxs():
    """alpha=0.25 by default (the paper's, torchvision's); alpha=None is optax's default, no weighting."""
    z, t = _z(), _t()
    tv = torchvision_sigmoid_focal_loss(torch.as_tensor(z), torch.as_tensor(t)).numpy()
    np.testing.assert_allclose(SFL(z, t, reduction="none"), tv, rtol=1e-12)
    unweighted = SFL(z, t, alpha=None, reduction="none")
    np.testing.assert_allclose(SFL(z, t, alpha=0.5, reduction="none"), 0.5 * unweighted, rtol=1e-15)
    pos = t == 1
    np.testing.assert_allclose(SFL(z, t, reduction="none")[pos], 0.25 * unweighted[pos], rtol=1e-15)
    np.testing.assert_allclose(SFL(z, t, reduction="none")[~pos], 0.75 * unweighted[~pos], rtol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sigmoid_gamma_zero_is_binary_cross_entropy(reduction):
    z, t = _z(), _t(soft=True)
    w = np.linspace(0.2, 2.0, N)
    bce = losslab.binary_cross_entropy_with_logits(z, t, reduction=reduction, weight=w)
    np.testing.assert_allclose(SFL(z, t, alpha=None, gamma=0.0, reduction=reduction, weight=w), bce, rtol=1e-15, atol=0)
    gbce = G.binary_cross_entropy_with_logits(z, t, reduction=reduction, weight=w)
    np.testing.assert_allclose(GSFL(z, t, alpha=None, gamma=0.0, reduction=reduction, weight=w), gbce, rtol=1e-15, atol=0)


SIGMOID_OPTIONS = [{}, {"alpha": None}, {"gamma": 0.5}, {"gamma": 0.0, "alpha": 0.9}, {"gamma": 3.0, "alpha": None}]


@pytest.mark.parametrize("soft", [False, True], ids=["labels", "soft"])
@pytest.mark.parametrize("opts", SIGMOID_OPTIONS, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sigmoid_grad_matches_central_differences_and_torch(opts, reduction, soft):
    z, t = _z(scale=2.0), _t(soft=soft)
    w = np.linspace(0.5, 1.5, N)
    g = GSFL(z, t, reduction=reduction, weight=w, **opts)
    np.testing.assert_allclose(g, numeric_grad(lambda x: SFL(x, t, reduction=reduction, weight=w, **opts), z), rtol=1e-6, atol=1e-9)
    zt = torch.as_tensor(z).requires_grad_(True)
    SFL(zt, torch.as_tensor(t), reduction=reduction, weight=torch.as_tensor(w), **opts).sum().backward()
    np.testing.assert_allclose(zt.grad.numpy(), g, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_sigmoid_huge_logits_are_exact(dtype, gamma):
    z = np.array([1e4, -1e4, 1e4, -1e4], dtype=dtype)
    t = np.array([1, 1, 0, 0])
    per = SFL(z, t, gamma=gamma, reduction="none")
    assert per.dtype == dtype
    assert per.tolist() == [0.0, 0.25e4, 0.75e4, 0.0]  # a confident hit costs 0, a miss alpha_t * |z|
    g = GSFL(z, t, gamma=gamma, reduction="sum")
    assert g.tolist() == [0.0, -0.25, 0.75, 0.0]
    zt = torch.as_tensor(z).requires_grad_(True)
    SFL(zt, torch.as_tensor(t), gamma=gamma, reduction="sum").backward()
    assert zt.grad.tolist() == g.tolist()


def test_sigmoid_autograd_is_finite_where_torchvisions_power_is_not():
    """(1 - p_t)^gamma with gamma < 1 at p_t = 1: torchvision's pow backward is 0 * inf = NaN; log space gives 0."""
    z, t = torch.tensor([40.0, -40.0], dtype=torch.float64), torch.tensor([1.0, 0.0], dtype=torch.float64)
    x = z.clone().requires_grad_(True)
    torchvision_sigmoid_focal_loss(x, t, gamma=0.5).sum().backward()
    assert torch.isnan(x.grad).all()
    x = z.clone().requires_grad_(True)
    SFL(x, t, gamma=0.5, reduction="sum").backward()
    assert torch.isfinite(x.grad).all()
    torch.testing.assert_close(x.grad, GSFL(z, t, gamma=0.5, reduction="sum"), rtol=1e-12, atol=0)
    assert float(x.grad[0]) < 0 < float(x.grad[1])  # e^-60-sized, but the right sign and digits


def test_sigmoid_jax_jit_matches_eager():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    z, t = jnp.asarray(_z()), jnp.asarray(_t(soft=True))
    f = jax.jit(lambda a, b: (SFL(a, b, gamma=1.5), GSFL(a, b, gamma=1.5)))
    val, g = f(z, t)
    np.testing.assert_allclose(val, SFL(np.asarray(z), np.asarray(t), gamma=1.5), rtol=1e-13)
    np.testing.assert_allclose(g, jax.grad(lambda a: SFL(a, t, gamma=1.5))(z), rtol=1e-12, atol=1e-16)


def test_sigmoid_half_precision_accumulates_in_float32():
    rng = np.random.default_rng(3)
    z = (rng.normal(size=200000) * 3).astype(np.float16)
    t = rng.integers(0, 2, 200000)
    out = SFL(z, t, reduction="sum", alpha=None, gamma=0.5)
    assert out.dtype == np.float32 and float(out) > 65504
    assert float(out) == pytest.approx(float(SFL(z.astype(np.float64), t, reduction="sum", alpha=None, gamma=0.5)), rel=1e-5)
    assert SFL(z, t, reduction="none").dtype == np.float16 and GSFL(z, t).dtype == np.float16


@pytest.mark.parametrize("fn", [SFL, GSFL], ids=["loss", "grad"])
@pytest.mark.parametrize(
    ("kw", "z", "t", "exc", "match"),
    [
        ({"alpha": -1}, None, None, ValueError, r"^`alpha` must be in \[0, 1\] or None; got -1: .*alpha=None turns the weighting off \(torchvision's alpha=-1\)"),
        ({"alpha": 1.5}, None, None, ValueError, r"^`alpha` must be in \[0, 1\] or None; got 1.5"),
        ({"alpha": "0.25"}, None, None, TypeError, r"^`alpha` must be a real number; got str"),
        ({"gamma": -0.5}, None, None, ValueError, r"^`gamma` must be finite and >= 0; got -0.5: gamma = 0 is the cross-entropy; the paper uses 2$"),
        ({"gamma": math.inf}, None, None, ValueError, r"^`gamma` must be finite and >= 0; got inf"),
        ({"gamma": math.nan}, None, None, ValueError, r"^`gamma` must be a number; got nan$"),
        ({"gamma": None}, None, None, TypeError, r"^`gamma` must be a real number; got NoneType"),
        ({}, np.array([0.0, np.inf]), np.array([1.0, 1.0]), ValueError, r"`logits` contains inf at index 1"),
        ({}, np.array([0.0, np.nan]), np.array([1.0, 1.0]), ValueError, r"`logits` contains NaN at index 1"),
        ({}, np.array([0.0, 1.0]), np.array([1.0, 2.0]), ValueError, r"`target` must hold labels or label probabilities in \[0, 1\]; got 2.0 at index 1"),
        ({}, np.array([0.0, 1.0]), np.array([1.0, -1.0]), ValueError, r"`target` must hold labels or label probabilities in \[0, 1\]; got -1.0"),
        ({}, np.zeros(2), np.zeros(3), ValueError, r"`target` must have the shape of `logits` \(2,\); got \(3,\)"),
        ({"reduction": "avg"}, None, None, ValueError, r"`reduction` must be one of 'mean', 'sum' or 'none'; got 'avg'"),
    ],
)  # fmt: skip
def test_sigmoid_bad_input(fn, kw, z, t, exc, match):
    z = np.array([0.5, -1.0]) if z is None else z
    t = np.array([1.0, 0.0]) if t is None else t
    with pytest.raises(exc, match=match):
        fn(z, t, **kw)


# ============================================================= categorical
def _reference(z, y, gamma, *, class_weight=None, ignore_index=None, weight=None, reduction="mean"):
    """-(1 - p_y)^gamma log p_y written out in NumPy, with cross_entropy's option semantics."""
    lp = sps.log_softmax(z, axis=-1)
    keep = np.ones(y.shape, bool) if ignore_index is None else y != ignore_index
    yy = np.where(keep, y, 0)
    lpy = np.take_along_axis(lp, yy[..., None], axis=-1)[..., 0]
    l = -((1.0 - np.exp(lpy)) ** gamma) * lpy
    cwy = np.ones(y.shape) if class_weight is None else class_weight[yy]
    w = np.ones(y.shape) if weight is None else weight
    c = np.where(keep, w, 0.0)
    return {"none": c * cwy * l, "sum": np.sum(c * cwy * l), "mean": np.sum(c * cwy * l) / np.sum(c * cwy)}[reduction]


OPTION_SETS = [{}, {"class_weight": CW}, {"ignore_index": 2}, {"weight": np.linspace(0.1, 2.0, N)},
               {"class_weight": CW, "ignore_index": 1, "weight": np.linspace(0.1, 2.0, N)}]  # fmt: skip
IDS = ["plain", "cw", "ignore", "weight", "cw-ignore-weight"]


def _labels(seed=1):
    y = np.random.default_rng(seed).integers(0, C, size=N)
    y[:C] = np.arange(C)
    return y


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
@pytest.mark.parametrize("opts", OPTION_SETS, ids=IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_focal_matches_numpy_formula(opts, reduction, gamma):
    z, y = _z((N, C)), _labels()
    np.testing.assert_allclose(FL(z, y, gamma=gamma, reduction=reduction, **opts), _reference(z, y, gamma, reduction=reduction, **opts), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("opts", OPTION_SETS, ids=IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_focal_gamma_zero_is_cross_entropy(opts, reduction):
    z, y = _z((N, C)), _labels()
    np.testing.assert_allclose(FL(z, y, gamma=0.0, reduction=reduction, **opts), losslab.cross_entropy(z, y, reduction=reduction, **opts), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(GFL(z, y, gamma=0.0, reduction=reduction, **opts), G.cross_entropy(z, y, reduction=reduction, **opts), rtol=1e-13, atol=1e-16)


def test_focal_binary_rows_equal_sigmoid_focal_on_the_logit_difference():
    """Two classes: softmax([a, b])_1 = sigmoid(b - a), so focal_loss is sigmoid_focal_loss with alpha=None."""
    z, y = _z((N, 2)), np.random.default_rng(5).integers(0, 2, N)
    np.testing.assert_allclose(FL(z, y, gamma=1.5, reduction="none"), SFL(z[:, 1] - z[:, 0], y, alpha=None, gamma=1.5, reduction="none"), rtol=1e-12)


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0, 3.5])
@pytest.mark.parametrize("opts", OPTION_SETS, ids=IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_focal_grad_matches_central_differences_torch_and_jax(opts, reduction, gamma):
    z, y = _z((N, C), scale=2.0), _labels()
    g = GFL(z, y, gamma=gamma, reduction=reduction, **opts)
    np.testing.assert_allclose(g, numeric_grad(lambda x: FL(x, y, gamma=gamma, reduction=reduction, **opts), z), rtol=1e-6, atol=1e-9)
    zt = torch.as_tensor(z).requires_grad_(True)
    topts = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in opts.items()}
    FL(zt, torch.as_tensor(y), gamma=gamma, reduction=reduction, **topts).sum().backward()
    np.testing.assert_allclose(zt.grad.numpy(), g, rtol=1e-12, atol=1e-15)
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    jopts = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in opts.items()}
    auto = jax.grad(lambda x: jnp.sum(FL(x, jnp.asarray(y), gamma=gamma, reduction=reduction, **jopts)))(jnp.asarray(z))
    np.testing.assert_allclose(np.asarray(auto), g, rtol=1e-12, atol=1e-15)
    jitted = jax.jit(lambda x: GFL(x, jnp.asarray(y), gamma=gamma, reduction=reduction, **jopts))(jnp.asarray(z))
    np.testing.assert_allclose(np.asarray(jitted), g, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_focal_huge_logits_are_exact(dtype):
    z = np.array([[1e4, -1e4], [1e4, -1e4]], dtype=dtype)
    y = np.array([0, 1])
    assert FL(z, y, reduction="none").tolist() == [0.0, 2e4]
    assert GFL(z, y, reduction="sum").tolist() == [[0.0, 0.0], [1.0, -1.0]]
    # large equal maxima lose no ulp: the log-softmax subtracts the row maximum first
    big = np.array([[1e4, 1e4, 1e4 - 1.0]], dtype=dtype)
    np.testing.assert_allclose(FL(big, np.array([2])), _reference(np.array([[0.0, 0.0, -1.0]]), np.array([2]), 2.0), rtol=1e-14 if dtype == np.float64 else 1e-6)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_focal_nearly_certain_target(gamma):
    """1 - p_y = -expm1(log p_y): its relative error is that of log p_y, about eps / (1 - p_y), against
    an mpmath reference (1e-7 at 1 - p_y = 4e-9); autograd through the double `where` is finite and
    equals the closed form, also where p_y rounds to 1 (loss and gradient 0, to within 1e-26)."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    z, y = np.array([[20.0, 0.0, 0.0], [800.0, 0.0, 0.0]]), np.array([0, 0])
    e = [mpmath.e ** mpmath.mpf(v) for v in (20.0, 0.0, 0.0)]
    py, pk = e[0] / sum(e), e[1] / sum(e)
    q = 1 - py
    loss = -(q**gamma) * mpmath.log(py)
    gk = q**gamma * (1 + gamma * py * -mpmath.log(py) / q) * pk
    per = FL(z, y, gamma=gamma, reduction="none")
    assert per[0] == pytest.approx(float(loss), rel=2e-7) and per[1] == 0.0
    g = GFL(z, y, gamma=gamma, reduction="sum")
    assert g[0, 1] == pytest.approx(float(gk), rel=2e-7) and np.all(g[1] == 0)
    zt = torch.as_tensor(z).requires_grad_(True)
    FL(zt, torch.as_tensor(y), gamma=gamma, reduction="sum").backward()
    assert torch.isfinite(zt.grad).all()
    np.testing.assert_allclose(zt.grad.numpy(), g, rtol=1e-12, atol=0)


def test_focal_masks_and_ignored_rows():
    z = np.array([[1.0, -np.inf, 0.5, 2.0], [-np.inf, 0.0, -np.inf, -np.inf], [np.nan, 0.0, 1.0, 2.0]])
    y = np.array([0, 1, -100])
    per = FL(z, y, ignore_index=-100, reduction="none")
    assert per[1] == 0.0 and per[2] == 0.0  # the only unmasked class is certain; the NaN row is ignored
    assert per[0] == pytest.approx(float(FL(z[:1, [0, 2, 3]], np.array([0]))), rel=1e-14)
    g = GFL(z, y, ignore_index=-100)
    assert np.all(np.isfinite(g)) and g[0, 1] == 0 and np.all(g[1:] == 0)


@pytest.mark.parametrize("fn", [FL, GFL], ids=["loss", "grad"])
@pytest.mark.parametrize(
    ("z", "y", "kw", "exc", "match"),
    [
        (np.array([[0.0, -np.inf, 1.0]]), np.array([1]), {}, ValueError, r"the target class 1 of sample 0 has logit -inf, so its focal loss is infinite; unmask the target class"),
        (np.array([[0.0, 1.0], [-np.inf, -np.inf]]), np.array([0, 1]), {}, ValueError, r"row 1 of `logits` is -inf for every class; no distribution remains"),
        (np.array([[0.0, np.nan, 2.0]]), np.array([0]), {}, ValueError, r"`logits` contains NaN at index \(0, 1\)"),
        (np.array([[0.0, np.inf, 2.0]]), np.array([0]), {}, ValueError, r"`logits` contains inf at index \(0, 1\)"),
        (np.zeros((2, 3)), np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]), {}, TypeError, r"`target` must hold integer class indices; got a floating dtype \(float64\)\. The focal loss is defined for hard labels.*use losslab.cross_entropy for class probabilities"),
        (np.zeros((2, 3)), np.array([0, 3]), {}, ValueError, r"`target` must hold class indices in \[0, 2\]; got 3 at index 1"),
        (np.zeros((2, 3)), np.array([0, 1]), {"gamma": -1.0}, ValueError, r"^`gamma` must be finite and >= 0; got -1.0"),
        (np.zeros((2, 3)), np.array([0, 1]), {"gamma": True}, TypeError, r"^`gamma` must be a real number; got bool"),
        (np.zeros((2, 3)), np.array([0, 1]), {"class_weight": np.ones(2)}, ValueError, r"`class_weight` must have shape \(3,\)"),
        (np.zeros((2, 3)), np.array([-1, -1]), {"ignore_index": -1}, ValueError, r"every target is `ignore_index`"),
    ],
)  # fmt: skip
def test_focal_bad_input(fn, z, y, kw, exc, match):
    with pytest.raises(exc, match=match):
        fn(z, y, **kw)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_focal_axis1_layout(reduction):
    z = _z((2, 3, 4, 5), seed=3)
    y = np.random.default_rng(4).integers(0, 3, size=(2, 4, 5))
    kw = {"gamma": 1.5, "class_weight": np.array([1.0, 2.0, 0.5])}
    np.testing.assert_allclose(FL(z, y, axis=1, reduction=reduction, **kw), FL(np.moveaxis(z, 1, -1), y, reduction=reduction, **kw), rtol=1e-14)
    np.testing.assert_allclose(GFL(z, y, axis=1, reduction=reduction, **kw), np.moveaxis(GFL(np.moveaxis(z, 1, -1), y, reduction=reduction, **kw), -1, 1), rtol=1e-14)


def test_focal_half_precision():
    z = torch.randn(64, 5, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    y = torch.randint(0, 5, (64,), generator=torch.Generator().manual_seed(1))
    out = FL(z, y)
    assert out.dtype == torch.float32 and float(out) == pytest.approx(float(FL(z.double(), y)), rel=1e-6)
    assert GFL(z, y).dtype == torch.bfloat16 and FL(z, y, reduction="none").dtype == torch.bfloat16


def test_public_api():
    from losslab.registry import LOSSES

    for name, fn, g in (("sigmoid_focal_loss", SFL, GSFL), ("focal_loss", FL, GFL)):
        assert name in losslab.__all__ and name in G.__all__
        assert LOSSES[name].fn is fn and LOSSES[name].grad is g and LOSSES[name].input_space == "logits"
