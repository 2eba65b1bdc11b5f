# ruff: noqa: E501 -- the tables of bad inputs keep one case per line
"""generalized_cross_entropy (Zhang & Sabuncu 2018): formula, limits, gradient, extremes, options, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as sps
import torch

import losslab
import losslab.torch as LT
from conftest import numeric_grad
from losslab import grad as G

N, C = 7, 4
REDUCTIONS = ("mean", "sum", "none")
CW = np.array([0.5, 2.0, 1.0, 3.0])
GCE, GGCE = losslab.generalized_cross_entropy, G.generalized_cross_entropy


def _logits(shape=(N, C), scale=2.0, seed=0):
    return np.random.default_rng(seed).normal(scale=scale, size=shape)


def _labels(n=N, c=C, seed=1):
    y = np.random.default_rng(seed).integers(0, c, size=n)
    y[:c] = np.arange(c)[:n]  # every class present
    return y


def _reference(z, y, q, *, class_weight=None, ignore_index=None, weight=None, reduction="mean"):
    """The paper's formula written out in NumPy (class axis last), with cross_entropy's option semantics."""
    p = sps.softmax(z, axis=-1)
    keep = np.ones(y.shape, bool) if ignore_index is None else y != ignore_index
    yy = np.where(keep, y, 0)
    py = np.take_along_axis(p, yy[..., None], axis=-1)[..., 0]
    l = (1.0 - py**q) / q
    cwy = np.ones(y.shape) if class_weight is None else class_weight[yy]
    w = (
        np.ones(y.shape)
        if weight is None
        else np.broadcast_to(weight.reshape(weight.shape + (1,) * (y.ndim - weight.ndim)), y.shape)
    )
    c = np.where(keep, w, 0.0)
    if reduction == "none":
        return c * cwy * l
    if reduction == "sum":
        return np.sum(c * cwy * l)
    return np.sum(c * cwy * l) / np.sum(c * cwy)


OPTION_SETS = [
    {},
    {"class_weight": CW},
    {"ignore_index": 2},
    {"ignore_index": -100},
    {"weight": np.linspace(0.1, 2.0, N)},
    {"class_weight": CW, "ignore_index": 1, "weight": np.linspace(0.1, 2.0, N)},
]
IDS = ["plain", "cw", "ignore2", "ignore-100", "weight", "cw-ignore-weight"]


def _target(opts):
    y = _labels()
    if opts.get("ignore_index") == -100:
        y[[1, 5]] = -100
    return y


# ------------------------------------------------------------- the formula
@pytest.mark.parametrize("q", [0.05, 0.3, 0.7, 1.0])
@pytest.mark.parametrize("opts", OPTION_SETS, ids=IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_numpy_formula(opts, reduction, q):
    z, y = _logits(), _target(opts)
    got = GCE(z, y, q=q, reduction=reduction, **opts)
    np.testing.assert_allclose(got, _reference(z, y, q, reduction=reduction, **opts), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_axis1_layout_matches_formula(reduction):
    z = _logits((2, 3, 4, 5), seed=3)
    y = np.random.default_rng(4).integers(0, 3, size=(2, 4, 5))
    y[0, 1, 2] = -100
    w = np.array([0.5, 2.0])
    kw = {"q": 0.4, "class_weight": np.array([1.0, 2.0, 0.5]), "ignore_index": -100, "weight": w}
    got = GCE(z, y, axis=1, reduction=reduction, **kw)
    np.testing.assert_allclose(
        got, _reference(np.moveaxis(z, 1, -1), y, reduction=reduction, **kw), rtol=1e-12, atol=1e-15
    )
    g = GGCE(z, y, axis=1, reduction=reduction, **kw)
    assert g.shape == z.shape
    np.testing.assert_allclose(
        g, np.moveaxis(GGCE(np.moveaxis(z, 1, -1), y, reduction=reduction, **kw), -1, 1), rtol=1e-14
    )


def test_default_q_is_the_papers():
    z, y = _logits(), _labels()
    assert GCE(z, y) == GCE(z, y, q=0.7)
    np.testing.assert_array_equal(GGCE(z, y), GGCE(z, y, q=0.7))


def test_docstring_values():
    z = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, -np.inf]])
    p0 = 1.0 / (1.0 + math.exp(-2.0) + math.exp(-3.0))
    np.testing.assert_allclose(
        GCE(z, np.array([0, 1]), reduction="none"), [(1 - p0**0.7) / 0.7, (1 - 0.5**0.7) / 0.7], rtol=1e-14
    )


def test_bounded_by_one_over_q_and_nonnegative():
    z, y = _logits(scale=30.0), _labels()
    for q in (0.1, 0.7, 1.0):
        per = GCE(z, y, q=q, reduction="none")
        assert np.all(per >= 0) and np.all(per <= 1.0 / q)


# ------------------------------------------------------------------ limits
@pytest.mark.parametrize("opts", OPTION_SETS, ids=IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_q_to_zero_is_cross_entropy(opts, reduction):
    """(1 - p^q)/q = -log p - q log(p)^2 / 2 + ...: relative distance q |log p| / 2 from cross-entropy."""
    z, y = _logits(), _target(opts)
    ce = losslab.cross_entropy(z, y, reduction=reduction, **opts)
    np.testing.assert_allclose(GCE(z, y, q=1e-6, reduction=reduction, **opts), ce, rtol=1e-5, atol=1e-12)
    ce_g = G.cross_entropy(z, y, reduction=reduction, **opts)
    np.testing.assert_allclose(GGCE(z, y, q=1e-6, reduction=reduction, **opts), ce_g, rtol=1e-5, atol=1e-12)


def test_tiny_q_keeps_cross_entropy_precision():
    """expm1: at q = 1e-12 the loss is -log p_y to ~1e-11, with no cancellation in 1 - p_y^q."""
    z, y = _logits(), _labels()
    ce = losslab.cross_entropy(z, y, reduction="none")
    np.testing.assert_allclose(GCE(z, y, q=1e-12, reduction="none"), ce, rtol=1e-10)
    np.testing.assert_allclose(GCE(z.astype(np.float32), y, q=1e-12, reduction="none"), ce, rtol=2e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_q_one_is_one_minus_p_y(reduction):
    z, y = _logits(), _labels()
    p = sps.softmax(z, axis=-1)
    py = p[np.arange(N), y]
    per = GCE(z, y, q=1.0, reduction="none")
    np.testing.assert_allclose(per, 1.0 - py, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(per, 0.5 * np.abs(p - np.eye(C)[y]).sum(-1), rtol=1e-13, atol=1e-16)  # MAE / 2
    want = {"none": 1.0 - py, "sum": np.sum(1.0 - py), "mean": np.mean(1.0 - py)}[reduction]
    np.testing.assert_allclose(GCE(z, y, q=1.0, reduction=reduction), want, rtol=1e-13)
    np.testing.assert_allclose(
        GGCE(z, y, q=1.0, reduction="sum"), py[:, None] * (p - np.eye(C)[y]), rtol=1e-13, atol=1e-16
    )


# --------------------------------------------------------------- gradients
GRAD_OPTIONS = [*OPTION_SETS, {"q": 1.0}, {"q": 0.05, "class_weight": CW}]
GRAD_IDS = [*IDS, "q1", "q0.05-cw"]


def test_closed_form_is_p_y_q_times_softmax_minus_onehot():
    z, y = _logits(), _labels()
    q = 0.7
    p = sps.softmax(z, axis=-1)
    py = p[np.arange(N), y]
    expected = py[:, None] ** q * (p - np.eye(C)[y])
    np.testing.assert_allclose(GGCE(z, y, q=q, reduction="sum"), expected, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(GGCE(z, y, q=q), expected / N, rtol=1e-13, atol=1e-17)
    np.testing.assert_allclose(GGCE(z, y, q=q).sum(-1), 0.0, atol=1e-16)  # shift invariance


@pytest.mark.parametrize("opts", GRAD_OPTIONS, ids=GRAD_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_grad_matches_central_differences(opts, reduction):
    z, y = _logits(), _target(opts)
    opts = {"q": 0.4, **opts}
    g = GGCE(z, y, reduction=reduction, **opts)
    assert g.shape == z.shape and g.dtype == z.dtype
    num = numeric_grad(lambda x: GCE(x, y, reduction=reduction, **opts), z)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)


def _t(x):
    return torch.as_tensor(x) if isinstance(x, np.ndarray) else x


@pytest.mark.parametrize("opts", GRAD_OPTIONS, ids=GRAD_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_grad_matches_torch_autograd(opts, reduction):
    z, y = _logits(), _target(opts)
    topts = {"q": 0.4, **{k: _t(v) for k, v in opts.items()}}
    zt = torch.as_tensor(z).requires_grad_(True)
    GCE(zt, torch.as_tensor(y), reduction=reduction, **topts).sum().backward()
    g = GGCE(torch.as_tensor(z), torch.as_tensor(y), reduction=reduction, **topts)
    assert isinstance(g, torch.Tensor) and g.dtype == torch.float64
    torch.testing.assert_close(g, zt.grad, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(g.numpy(), GGCE(z, y, reduction=reduction, **{"q": 0.4, **opts}), rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("opts", GRAD_OPTIONS, ids=GRAD_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_grad_matches_jax_grad(opts, reduction):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    z, y = _logits(), _target(opts)
    jopts = {"q": 0.4, **{k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in opts.items()}}

    def scalar(x):
        return jnp.sum(GCE(x, jnp.asarray(y), reduction=reduction, **jopts))

    auto = jax.grad(scalar)(jnp.asarray(z))
    assert auto.dtype == jnp.float64
    closed = GGCE(jnp.asarray(z), jnp.asarray(y), reduction=reduction, **jopts)
    np.testing.assert_allclose(np.asarray(closed), np.asarray(auto), rtol=1e-12, atol=1e-15)
    jitted = jax.jit(lambda x: GGCE(x, jnp.asarray(y), reduction=reduction, **jopts))(jnp.asarray(z))
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(auto), rtol=1e-12, atol=1e-15)


def test_ignored_samples_have_zero_gradient():
    z, y = _logits(), _labels()
    y[3] = -1
    g = GGCE(z, y, ignore_index=-1)
    assert np.all(g[3] == 0)
    keep = np.arange(N) != 3
    np.testing.assert_allclose(g[keep], GGCE(z[keep], y[keep]), atol=1e-16)
    assert GCE(z, y, ignore_index=-1) == pytest.approx(GCE(z[keep], y[keep]), rel=1e-14)


# ---------------------------------------------------- cross-entropy's options
def test_class_weight_and_sample_weight_semantics():
    """Like cross_entropy with integer targets: l_i = cw[y_i] l_i; "mean" divides by sum w_i cw[y_i]."""
    z, y = _logits(), _labels()
    w = np.random.default_rng(7).random(N) + 0.1
    per = GCE(z, y, reduction="none")
    assert GCE(z, y, weight=w, reduction="sum") == pytest.approx(np.sum(w * per), rel=1e-13)
    assert GCE(z, y, weight=w) == pytest.approx(np.sum(w * per) / w.sum(), rel=1e-13)
    np.testing.assert_allclose(GCE(z, y, class_weight=CW, reduction="none"), CW[y] * per, rtol=1e-14)
    assert GCE(z, y, weight=w, class_weight=CW) == pytest.approx(np.sum(w * CW[y] * per) / np.sum(w * CW[y]), rel=1e-13)
    # integer weights repeat samples
    reps = np.array([1, 2, 0, 3, 1, 1, 2])
    assert GCE(z, y, weight=reps, class_weight=CW) == pytest.approx(
        GCE(np.repeat(z, reps, axis=0), np.repeat(y, reps), class_weight=CW), rel=1e-13
    )


def test_ignore_index_semantics():
    z, y = _logits(), _labels()
    y[[0, 4]] = -100
    keep = y != -100
    per = GCE(z, y, ignore_index=-100, reduction="none")
    assert np.all(per[~keep] == 0)
    np.testing.assert_allclose(per[keep], GCE(z[keep], y[keep], reduction="none"), rtol=1e-15)
    for kw in ({}, {"class_weight": CW}):
        assert GCE(z, y, ignore_index=-100, **kw) == pytest.approx(GCE(z[keep], y[keep], **kw), rel=1e-14)
    assert GCE(z, np.full(N, -100), ignore_index=-100, reduction="sum") == 0.0
    np.testing.assert_array_equal(GGCE(z, np.full(N, -100), ignore_index=-100, reduction="sum"), 0.0)


# ---------------------------------------------------------------- extremes
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_huge_logits_are_exact(dtype):
    z = np.array([[1e4, -1e4]], dtype=dtype)
    assert float(GCE(z, np.array([0]))) == 0.0
    assert float(GCE(z, np.array([1]), q=0.5)) == 2.0  # p_y = e^-2e4: the bound 1/q
    for y in ([0], [1]):
        g = GGCE(z, np.array(y))
        assert g.dtype == dtype and np.all(np.isfinite(g)) and np.all(g == 0)  # p_y^q (p - e_y) = 0 to every digit
    # large equal maxima: log_softmax subtracts the maximum first, so no ulp of 1e4 is lost (lse - z_y would lose ~1e-3 in float32)
    z = np.array([[1e4, 1e4, 1e4 - 1.0], [-1e4, -1e4 + 1.0, -1e4 + 2.0]], dtype=dtype)
    y = np.array([2, 0])
    ref = _reference(np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 2.0]]), y, 0.7, reduction="none")
    np.testing.assert_allclose(GCE(z, y, reduction="none"), ref, rtol=1e-14 if dtype == np.float64 else 1e-6)
    gref = GGCE(np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 2.0]]), y)
    np.testing.assert_allclose(GGCE(z, y), gref, rtol=1e-13 if dtype == np.float64 else 1e-6, atol=1e-7)


def test_small_q_with_huge_logits():
    """q log p_y need not underflow with p_y: p_y = e^-2e4 underflows, p_y^1e-6 = e^-0.02 does not."""
    z = np.array([[1e4, -1e4]])
    l = GCE(z, np.array([1]), q=1e-6)
    assert float(l) == pytest.approx(-math.expm1(-2e4 * 1e-6) / 1e-6, rel=1e-14)
    g = GGCE(z, np.array([1]), q=1e-6)
    np.testing.assert_allclose(g, [[math.exp(-0.02), -math.exp(-0.02)]], rtol=1e-14)


def test_certain_target_keeps_the_tiny_gradient():
    """log p_y rounds to 0 while p_k = e^-40 > 0: autograd's gradient equals the closed form's (no halving at a clamp)."""
    z, y = np.array([[40.0, 0.0, 0.0]]), np.array([0])
    zt = torch.as_tensor(z).requires_grad_(True)
    GCE(zt, torch.as_tensor(y)).backward()
    g = GGCE(z, y)
    assert g[0, 1] > 0
    np.testing.assert_allclose(zt.grad.numpy(), g, rtol=1e-14, atol=0)


def test_masked_non_target_classes():
    """-inf logits are classes of probability 0: the loss is that of the unmasked classes alone."""
    z = np.array([[1.0, -np.inf, 0.5, 2.0], [-np.inf, 0.0, -np.inf, -np.inf]])
    y = np.array([0, 1])
    per = GCE(z, y, reduction="none")
    assert np.all(np.isfinite(per))
    assert per[0] == pytest.approx(float(GCE(z[:1, [0, 2, 3]], np.array([0]))), rel=1e-15)
    assert per[1] == 0.0  # the only unmasked class is certain
    g = GGCE(z, y)
    assert np.all(np.isfinite(g))
    assert g[0, 1] == 0.0 and np.all(g[1] == 0.0)
    zt = torch.as_tensor(z).requires_grad_(True)
    GCE(zt, torch.as_tensor(y)).backward()
    torch.testing.assert_close(torch.as_tensor(g), zt.grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("q", [0.3, 1.0])
def test_masked_target_class_costs_the_bound(q):
    """p_y = 0: the loss is 1/q (finite, unlike cross-entropy) and the row's gradient is 0 (as autograd's)."""
    z = np.array([[0.0, 1.0, 2.0], [0.0, -np.inf, 1.0]])
    y = np.array([0, 1])
    per = GCE(z, y, q=q, reduction="none")
    assert per[1] == 1.0 / q
    g = GGCE(z, y, q=q)
    assert np.all(np.isfinite(g)) and np.all(g[1] == 0)
    zt = torch.as_tensor(z).requires_grad_(True)
    GCE(zt, torch.as_tensor(y), q=q).backward()
    assert torch.isfinite(zt.grad).all()
    torch.testing.assert_close(torch.as_tensor(g), zt.grad, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="unmask the target class"):
        losslab.cross_entropy(z, y)  # the contrast


@pytest.mark.parametrize("fn", [GCE, GGCE], ids=["loss", "grad"])
def test_rows_without_a_distribution_raise(fn):
    with pytest.raises(ValueError, match=r"row 1 of `logits` is -inf for every class; no distribution remains"):
        fn(np.array([[0.0, 1.0], [-np.inf, -np.inf]]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"`logits` contains NaN at index \(0, 1\)"):
        fn(np.array([[0.0, np.nan, 2.0], [1.0, 0.5, 0.0]]), np.array([0, 2]))
    with pytest.raises(ValueError, match=r"`logits` contains inf at index \(1, 1\)"):
        fn(np.array([[0.0, 1.0, 2.0], [1.0, np.inf, 0.0]]), np.array([0, 2]))


def test_ignored_rows_may_hold_anything():
    z = np.array([[0.0, 1.0, 2.0], [-np.inf, -np.inf, -np.inf], [np.nan, 0.0, 1.0]])
    y = np.array([2, -100, -100])
    assert GCE(z, y, ignore_index=-100) == pytest.approx(float(GCE(z[:1], y[:1])), rel=1e-15)
    g = GGCE(z, y, ignore_index=-100, class_weight=np.ones(3))
    assert np.all(np.isfinite(g)) and np.all(g[1:] == 0)


def test_float16_accumulates_in_float32():
    rng = np.random.default_rng(10)
    z = (rng.normal(size=(40000, 3)) * 4).astype(np.float16)
    y = rng.integers(0, 3, 40000)
    out = GCE(z, y, q=0.1, reduction="sum")
    assert out.dtype == np.float32 and np.isfinite(out) and out > 65504
    assert float(out) == pytest.approx(float(GCE(z.astype(np.float64), y, q=0.1, reduction="sum")), rel=1e-5)
    assert GCE(z, y).dtype == np.float32
    assert GCE(z, y, reduction="none").dtype == np.float16
    assert GGCE(z, y).dtype == np.float16
    # one sample's loss beyond float16's range: reduced it is fine, per sample it is reported
    z = np.array([[6e4, -6e4]], dtype=np.float16)
    big = GCE(z, np.array([1]), q=1e-6, reduction="sum")
    assert big.dtype == np.float32 and float(big) == pytest.approx(-math.expm1(-0.12) / 1e-6, rel=1e-3)
    with pytest.raises(
        ValueError, match=r"the generalized cross-entropy overflowed float16 although every input is finite"
    ):
        GCE(z, np.array([1]), q=1e-6, reduction="none")


def test_bfloat16_torch():
    z = torch.randn(64, 5, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    y = torch.randint(0, 5, (64,), generator=torch.Generator().manual_seed(1))
    out = GCE(z, y)
    assert out.dtype == torch.float32
    assert float(out) == pytest.approx(float(GCE(z.double(), y)), rel=1e-6)
    g = GGCE(z, y)
    assert g.dtype == torch.bfloat16
    torch.testing.assert_close(g.double(), GGCE(z.double(), y), rtol=1e-2, atol=1e-4)
    assert GCE(z, y, reduction="none").dtype == torch.bfloat16


# ----------------------------------------------------------------- bad input
Z = np.array([[0.0, 1.0, 2.0], [1.0, 0.5, 0.0]])
Y = np.array([0, 2])


@pytest.mark.parametrize("fn", [GCE, GGCE], ids=["loss", "grad"])
@pytest.mark.parametrize(
    ("q", "exc", "match"),
    [
        (0, ValueError, r"^`q` must be in \(0, 1\]; got 0: q -> 0 is cross-entropy, so use losslab.cross_entropy"),
        (0.0, ValueError, r"^`q` must be in \(0, 1\]; got 0.0: "),
        (-0.1, ValueError, r"^`q` must be in \(0, 1\]; got -0.1: "),
        (1.5, ValueError, r"^`q` must be in \(0, 1\]; got 1.5: q = 1 already gives the bounded loss 1 - p_y"),
        (math.inf, ValueError, r"^`q` must be in \(0, 1\]; got inf: "),
        (math.nan, ValueError, r"^`q` must be a number; got nan$"),
        ("0.5", TypeError, r"^`q` must be a real number; got str '0.5'$"),
        (True, TypeError, r"^`q` must be a real number; got bool True$"),
        (None, TypeError, r"^`q` must be a real number; got NoneType None$"),
        (np.array([0.5]), ValueError, r"^`q` must be a number or a 0-d array; got an array of shape \(1,\)$"),
    ],
)  # fmt: skip
def test_bad_q(fn, q, exc, match):
    with pytest.raises(exc, match=match):
        fn(Z, Y, q=q)


@pytest.mark.parametrize("q", [1e-300, 1e-6, 0.5, 1, 1.0, np.float32(0.25), np.float64(0.7)])
def test_good_q(q):
    assert np.isfinite(GCE(Z, Y, q=q)) and np.all(np.isfinite(GGCE(Z, Y, q=q)))


@pytest.mark.parametrize("fn", [GCE, GGCE], ids=["loss", "grad"])
@pytest.mark.parametrize(
    ("logits", "target", "kw", "exc", "match"),
    [
        (Z, np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]), {}, TypeError, r"`target` must hold integer class indices; got a floating dtype \(float64\)\. .*defined for hard labels.*target\.argmax\(axis\) for one-hot rows, or use cross_entropy for class probabilities"),
        (Z, np.array([0.0, 2.0]), {}, TypeError, r"`target` must hold integer class indices; got a floating dtype .*cast float-stored indices to an integer dtype"),
        (Z, [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]], {}, TypeError, r"`target` must hold integer class indices; got a floating dtype"),
        (torch.as_tensor(Z), torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64), {}, TypeError, r"`target` must hold integer class indices; got a floating dtype \(torch.float64\)"),
        (Z, np.array([0, 3]), {}, ValueError, r"`target` must hold class indices in \[0, 2\]; got 3 at index 1"),
        (Z, np.array([0, -1]), {"ignore_index": -100}, ValueError, r"\[0, 2\] or ignore_index=-100; got -1 at index 1"),
        (Z, np.array([-100, -100]), {"ignore_index": -100}, ValueError, r"every target is `ignore_index` under reduction='mean'.*use reduction='sum'"),
        (Z, Y, {"weight": np.zeros(2)}, ValueError, r"the total weight is 0 under reduction='mean'"),
        (Z, Y, {"class_weight": np.array([0.0, 1.0, 0.0])}, ValueError, r"summed class weights of the targets are 0"),
        (Z, Y, {"class_weight": np.ones(2)}, ValueError, r"`class_weight` must have shape \(3,\) \(one per class\); got \(2,\)"),
        (Z, Y, {"class_weight": np.array([1.0, -1.0, 1.0])}, ValueError, r"`class_weight` must be finite and non-negative; got -1.0 at index 1"),
        (Z, np.array([0, 1, 2]), {}, ValueError, r"`target` of class indices must have shape \(2,\).*got \(3,\)"),
        (Z, Y, {"axis": 2}, ValueError, r"`axis` must be in \[-2, 1\] for 2-d `logits`; got 2"),
        (np.array(1.0), np.array(0), {}, ValueError, r"`logits` must have a class axis; got a 0-d array"),
        (Z, Y, {"reduction": "avg"}, ValueError, r"`reduction` must be one of 'mean', 'sum' or 'none'; got 'avg'"),
        (Z, Y, {"weight": np.array([1.0, -2.0])}, ValueError, r"`weight` must be finite and non-negative; got -2.0 at index 1"),
        (Z, torch.tensor([0, 2]), {}, TypeError, r"`target` is a torch array but `logits` is a numpy array.*numpy.asarray"),
        (torch.as_tensor(Z), torch.tensor(Y), {"class_weight": np.ones(3)}, TypeError, r"`class_weight` is a numpy array"),
        (torch.as_tensor(Z), torch.tensor(Y), {"weight": np.ones(2)}, TypeError, r"`weight` is a numpy array"),
    ],
)  # fmt: skip
def test_bad_input(fn, logits, target, kw, exc, match):
    with pytest.raises(exc, match=match):
        fn(logits, target, **kw)


# ------------------------------------------------------------ other arrays
@pytest.mark.parametrize("dtype", [torch.int8, torch.int32, torch.uint8, torch.bool])
def test_torch_small_integer_targets(dtype):
    z = torch.as_tensor(_logits((6, 2)))
    y = torch.tensor([0, 1, 1, 0, 1, 0]).to(dtype)
    torch.testing.assert_close(GCE(z, y), GCE(z, y.long()))
    torch.testing.assert_close(GGCE(z, y), GGCE(z, y.long()))


def test_jax_jit_and_eager_checks():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    z, y = _logits().astype(np.float32), _labels()
    kw = {"q": 0.4, "ignore_index": 1}
    cw = jnp.asarray(CW, dtype=jnp.float32)
    f = jax.jit(lambda z, y: (GCE(z, y, class_weight=cw, **kw), GGCE(z, y, class_weight=cw, **kw)))
    val, g = f(jnp.asarray(z), jnp.asarray(y))
    np.testing.assert_allclose(val, GCE(z, y, class_weight=CW, **kw), rtol=1e-5)
    np.testing.assert_allclose(g, GGCE(z, y, class_weight=CW, **kw), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match=r"got 5 at index 1"):
        GCE(jnp.zeros((2, 3)), jnp.asarray([0, 5]))
    with pytest.raises(TypeError, match=r"`target` must hold integer class indices"):
        jax.jit(lambda z, t: GCE(z, t))(jnp.zeros((2, 3)), jnp.full((2, 3), 1 / 3))  # a dtype check: under jit too


def test_array_api_strict():
    xp = pytest.importorskip("array_api_strict")
    z, y = _logits(), _labels()
    kw = {"q": 0.3, "ignore_index": 3}
    out = GCE(xp.asarray(z), xp.asarray(y), class_weight=xp.asarray(CW), **kw)
    assert float(out) == pytest.approx(float(GCE(z, y, class_weight=CW, **kw)), rel=1e-13)
    g = GGCE(xp.asarray(z), xp.asarray(y), class_weight=xp.asarray(CW), **kw)
    np.testing.assert_allclose(np.from_dlpack(g), GGCE(z, y, class_weight=CW, **kw), rtol=1e-13)


# ------------------------------------------------------------ torch module
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_torch_module_equals_function(reduction):
    z, y = torch.as_tensor(_logits((2, 4, 3), seed=5)), torch.as_tensor(np.random.default_rng(6).integers(0, 4, (2, 3)))
    opts = {"q": 0.4, "class_weight": torch.as_tensor(CW), "axis": 1, "ignore_index": 2}
    mod = LT.GeneralizedCrossEntropyLoss(**opts, reduction=reduction)
    got = mod(z, y)
    torch.testing.assert_close(got, GCE(z, y, **opts, reduction=reduction), rtol=0, atol=0)
    np.testing.assert_allclose(
        got.numpy(), GCE(z.numpy(), y.numpy(), **{**opts, "class_weight": CW}, reduction=reduction), rtol=1e-13
    )
    x = z.clone().requires_grad_(True)
    mod(x, y).sum().backward()
    torch.testing.assert_close(x.grad, GGCE(z, y, **opts, reduction=reduction), rtol=1e-12, atol=1e-15)
    mod1 = LT.GeneralizedCrossEntropyLoss(**{**opts, "q": 1.0}, reduction=reduction)
    torch.testing.assert_close(mod1(z, y), GCE(z, y, **{**opts, "q": 1.0}, reduction=reduction))


def test_torch_module_defaults_and_buffers():
    mod = LT.GeneralizedCrossEntropyLoss(class_weight=torch.as_tensor(CW, dtype=torch.float32))
    assert LT.GeneralizedCrossEntropyLoss.fn is losslab.generalized_cross_entropy
    assert "class_weight" in dict(mod.named_buffers())
    mod = mod.to(torch.float64)
    z, y = torch.as_tensor(_logits()), torch.as_tensor(_labels())
    torch.testing.assert_close(mod(z, y), GCE(z, y, q=0.7, class_weight=torch.as_tensor(CW)))
    assert "GeneralizedCrossEntropyLoss" in LT.__all__


def test_public_api():
    assert "generalized_cross_entropy" in losslab.__all__ and "generalized_cross_entropy" in G.__all__
    from losslab.registry import LOSSES

    spec = LOSSES["generalized_cross_entropy"]
    assert spec.fn is GCE and spec.grad is GGCE
    assert spec.kind == "categorical" and spec.input_space == "logits" and spec.target_kind == "class"
