# ruff: noqa: E501 -- the tables of bad inputs keep one case per line
"""binary_cross_entropy and binary_cross_entropy_with_logits: references, siblings, extremes, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losslab
from conftest import numeric_grad
from losslab import grad as G

REDUCTIONS = ("mean", "sum", "none")
SHAPE = (6, 3)
EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)


# ------------------------------------------------------------------ helpers
def _logits(shape=SHAPE, scale=2.0, seed=0):
    return np.random.default_rng(seed).normal(scale=scale, size=shape)


def _probs(shape=SHAPE, seed=1):
    return np.random.default_rng(seed).uniform(0.02, 0.98, size=shape)


def _targets(shape=SHAPE, seed=2, soft=False):
    rng = np.random.default_rng(seed)
    return rng.random(shape) if soft else rng.integers(0, 2, size=shape).astype(np.float64)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _t(x):
    return torch.as_tensor(x)


def _weighted_mean(per, w):
    """losslab's weighted mean: sum(w l) / sum(w) over every element (w broadcast per sample)."""
    wb = np.broadcast_to(w.reshape(w.shape + (1,) * (per.ndim - w.ndim)), per.shape)
    return np.sum(wb * per) / np.sum(wb)


# ------------------------------------------------------------- references
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("soft", [False, True], ids=["labels", "soft"])
def test_bce_matches_torch(reduction, soft):
    p, t = _probs(), _targets(soft=soft)
    ours = losslab.binary_cross_entropy(p, t, reduction=reduction)
    ref = F.binary_cross_entropy(_t(p), _t(t), reduction=reduction).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-13)


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_bce_weight_matches_torch(reduction):
    p, t = _probs(), _targets()
    w = np.linspace(0.2, 2.0, SHAPE[0])
    ours = losslab.binary_cross_entropy(p, t, weight=w, reduction=reduction)
    ref = F.binary_cross_entropy(_t(p), _t(t), weight=_t(w)[:, None], reduction=reduction).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-13)
    full = np.random.default_rng(3).random(SHAPE)
    ours = losslab.binary_cross_entropy(p, t, weight=full, reduction=reduction)
    ref = F.binary_cross_entropy(_t(p), _t(t), weight=_t(full), reduction=reduction).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-13)


def test_weighted_mean_is_normalised_unlike_torch():
    """losslab's mean divides by the summed weights; torch's by the element count."""
    p, t = _probs(), _targets()
    w = np.linspace(0.2, 2.0, SHAPE[0])
    per = losslab.binary_cross_entropy(p, t, reduction="none")
    ours = losslab.binary_cross_entropy(p, t, weight=w)
    assert ours == pytest.approx(_weighted_mean(per, w), rel=1e-13)
    torch_mean = float(F.binary_cross_entropy(_t(p), _t(t), weight=_t(w)[:, None]))
    assert torch_mean == pytest.approx(ours * np.mean(w), rel=1e-13)


POS_WEIGHTS = [None, 3.0, np.array([0.5, 2.0, 4.0]), np.random.default_rng(4).uniform(0.5, 3.0, SHAPE)]


@pytest.mark.parametrize("pos_weight", POS_WEIGHTS, ids=["none", "scalar", "per-class", "full"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("soft", [False, True], ids=["labels", "soft"])
def test_bce_with_logits_matches_torch(pos_weight, reduction, soft):
    z, t = _logits(), _targets(soft=soft)
    ours = losslab.binary_cross_entropy_with_logits(z, t, pos_weight=pos_weight, reduction=reduction)
    tpw = None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float64)
    ref = F.binary_cross_entropy_with_logits(_t(z), _t(t), pos_weight=tpw, reduction=reduction).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_bce_with_logits_weight_and_pos_weight_match_torch(reduction):
    z, t = _logits(), _targets()
    w = np.linspace(0.2, 2.0, SHAPE[0])
    pw = np.array([0.5, 2.0, 4.0])
    ours = losslab.binary_cross_entropy_with_logits(z, t, pos_weight=pw, weight=w, reduction=reduction)
    ref = F.binary_cross_entropy_with_logits(
        _t(z), _t(t), weight=_t(w)[:, None], pos_weight=_t(pw), reduction=reduction
    ).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-13)


def test_pos_weight_accepts_0d_arrays_and_tensors():
    z, t = _logits(), _targets()
    ref = losslab.binary_cross_entropy_with_logits(z, t, pos_weight=2.5)
    for pw in (np.float64(2.5), np.array(2.5), [2.5, 2.5, 2.5]):
        assert losslab.binary_cross_entropy_with_logits(z, t, pos_weight=pw) == pytest.approx(ref, rel=1e-15)
    got = losslab.binary_cross_entropy_with_logits(_t(z), _t(t), pos_weight=torch.tensor(2.5, dtype=torch.float64))
    assert float(got) == pytest.approx(ref, rel=1e-15)
    assert float(losslab.binary_cross_entropy_with_logits(_t(z), _t(t), pos_weight=2.5)) == pytest.approx(ref)


def test_bce_with_logits_docstring_values():
    z, t = np.array([0.0, 1e4, 1e4]), np.array([1, 1, 0])
    out = losslab.binary_cross_entropy_with_logits(z, t, reduction="none")
    assert out.tolist() == [math.log(2), 0.0, 1e4]


@pytest.mark.parametrize("alpha", [0.0, 0.1, 1.0])
def test_label_smoothing_equals_smoothed_targets(alpha):
    z, t = _logits(), _targets()
    ts = (1 - alpha) * t + alpha / 2
    kw = {"pos_weight": np.array([0.5, 2.0, 4.0])}
    assert losslab.binary_cross_entropy_with_logits(z, t, label_smoothing=alpha, **kw) == pytest.approx(
        losslab.binary_cross_entropy_with_logits(z, ts, **kw), rel=1e-14
    )
    np.testing.assert_allclose(
        G.binary_cross_entropy_with_logits(z, t, label_smoothing=alpha, **kw),
        G.binary_cross_entropy_with_logits(z, ts, **kw),
        atol=1e-16,
    )


def test_bool_and_int_targets():
    p = _probs()
    t = _targets()
    ref = losslab.binary_cross_entropy(p, t)
    assert losslab.binary_cross_entropy(p, t.astype(bool)) == ref
    assert losslab.binary_cross_entropy(p, t.astype(np.int64)) == ref
    z = _logits()
    assert losslab.binary_cross_entropy_with_logits(z, t.astype(bool)) == losslab.binary_cross_entropy_with_logits(z, t)


# ------------------------------------------------------ sibling consistency
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_logits_form_equals_probability_form(reduction):
    z, t = _logits(scale=1.5), _targets(soft=True)
    np.testing.assert_allclose(
        losslab.binary_cross_entropy_with_logits(z, t, reduction=reduction),
        losslab.binary_cross_entropy(_sigmoid(z), t, reduction=reduction),
        rtol=1e-12,
    )
    # chain rule: d/dz = d/dp * p (1 - p)
    s = _sigmoid(z)
    np.testing.assert_allclose(
        G.binary_cross_entropy_with_logits(z, t, reduction=reduction),
        G.binary_cross_entropy(s, t, reduction=reduction) * s * (1 - s),
        rtol=1e-10,
        atol=1e-15,
    )


def test_bce_equals_two_class_log_loss():
    p, y = _probs((9,)), np.array([0, 1, 1, 0, 1, 0, 0, 1, 1])
    assert losslab.binary_cross_entropy(p, y) == pytest.approx(losslab.log_loss(p, y), rel=1e-14)


# --------------------------------------------------------------- gradients
LOGIT_OPTS = [
    {},
    {"pos_weight": 2.5},
    {"pos_weight": np.array([0.5, 2.0, 4.0])},
    {"label_smoothing": 0.2},
    {"weight": np.linspace(0.2, 2.0, SHAPE[0])},
    {"weight": np.random.default_rng(5).random(SHAPE), "pos_weight": np.array([0.5, 2.0, 4.0])},
]


@pytest.mark.parametrize("opts", LOGIT_OPTS, ids=lambda o: "-".join(o) or "plain")
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("soft", [False, True], ids=["labels", "soft"])
def test_logits_grad_numeric_and_autograd(opts, reduction, soft):
    z, t = _logits(), _targets(soft=soft)
    g = G.binary_cross_entropy_with_logits(z, t, reduction=reduction, **opts)
    assert g.shape == z.shape and g.dtype == z.dtype
    num = numeric_grad(lambda x: losslab.binary_cross_entropy_with_logits(x, t, reduction=reduction, **opts), z)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-9)
    topts = {k: (_t(v) if isinstance(v, np.ndarray) else v) for k, v in opts.items()}
    zt = _t(z).requires_grad_(True)
    losslab.binary_cross_entropy_with_logits(zt, _t(t), reduction=reduction, **topts).sum().backward()
    torch.testing.assert_close(
        G.binary_cross_entropy_with_logits(_t(z), _t(t), reduction=reduction, **topts), zt.grad, rtol=1e-12, atol=1e-15
    )


@pytest.mark.parametrize("opts", [{}, {"weight": np.linspace(0.2, 2.0, SHAPE[0])}], ids=["plain", "weight"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("soft", [False, True], ids=["labels", "soft"])
def test_probs_grad_numeric_and_autograd(opts, reduction, soft):
    p, t = _probs(), _targets(soft=soft)
    g = G.binary_cross_entropy(p, t, reduction=reduction, **opts)
    num = numeric_grad(lambda x: losslab.binary_cross_entropy(x, t, reduction=reduction, **opts), p)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-9)
    topts = {k: _t(v) for k, v in opts.items()}
    pt = _t(p).requires_grad_(True)
    losslab.binary_cross_entropy(pt, _t(t), reduction=reduction, **topts).sum().backward()
    torch.testing.assert_close(G.binary_cross_entropy(_t(p), _t(t), reduction=reduction, **topts), pt.grad)


def test_canonical_link_grad_is_sigmoid_minus_target():
    z, t = _logits(), _targets(soft=True)
    n = z.size
    np.testing.assert_allclose(G.binary_cross_entropy_with_logits(z, t), (_sigmoid(z) - t) / n, atol=1e-17)
    np.testing.assert_allclose(G.binary_cross_entropy_with_logits(z, t, reduction="sum"), _sigmoid(z) - t, atol=1e-16)
    pw = np.array([0.5, 2.0, 4.0])
    s = _sigmoid(z)
    np.testing.assert_allclose(
        G.binary_cross_entropy_with_logits(z, t, pos_weight=pw, reduction="none"),
        (1 - t) * s - pw * t * (1 - s),
        atol=1e-16,
    )


def test_docstring_grads():
    assert G.binary_cross_entropy(np.array([0.5, 0.5]), np.array([1.0, 0.0]), reduction="sum").tolist() == [-2.0, 2.0]
    g = G.binary_cross_entropy_with_logits(np.array([0.0, -1e4]), np.array([1, 1]), reduction="sum")
    assert g.tolist() == [-0.5, -1.0]


# ------------------------------------------------------------------ extremes
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_huge_logits_are_exact(dtype):
    z = np.array([1e4, 1e4, -1e4, -1e4], dtype=np.float64).astype(dtype)
    if dtype == np.float16:
        z = np.array([6e4, 6e4, -6e4, -6e4], dtype=dtype)
    big = float(z[0])
    t = np.array([1.0, 0.0, 0.0, 1.0])
    out = losslab.binary_cross_entropy_with_logits(z, t, reduction="none")
    assert out.tolist() == [0.0, big, 0.0, big]
    g = G.binary_cross_entropy_with_logits(z, t, reduction="none")
    assert g.tolist() == [0.0, 1.0, 0.0, -1.0]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_probabilities_zero_and_one(dtype):
    eps = float(np.finfo(dtype).eps)
    p = np.array([1.0, 0.0, 0.0, 1.0], dtype=dtype)
    t = np.array([1.0, 0.0, 1.0, 0.0], dtype=dtype)
    out = losslab.binary_cross_entropy(p, t, reduction="none")
    assert out[0] == 0.0 and out[1] == 0.0  # certain and right: exactly 0
    assert out[2] == pytest.approx(-math.log(eps), rel=1e-6)  # certain and wrong: -log(eps)
    assert out[3] == pytest.approx(-math.log(eps), rel=1e-6)
    assert out.dtype == dtype
    assert not np.signbit(out[:2]).any()  # no -0.0
    # the gradient of the floored function: 0 where the floor is active, finite elsewhere
    g = G.binary_cross_entropy(p, t, reduction="none")
    assert g.tolist() == [-1.0, 1.0, 0.0, 0.0]
    # half-way soft target at p = 1
    assert losslab.binary_cross_entropy(np.array([1.0]), np.array([0.5])) == pytest.approx(-0.5 * math.log(EPS64))


def test_docstring_bce_value():
    out = losslab.binary_cross_entropy(np.array([0.9, 1.0, 0.0]), np.array([1, 1, 1]), reduction="none")
    np.testing.assert_allclose(out, [-math.log(0.9), 0.0, -math.log(EPS64)], rtol=1e-14)


def test_float16_sum_beyond_65504_stays_finite():
    rng = np.random.default_rng(6)
    z = rng.normal(size=40000).astype(np.float16) - np.float16(5.0)
    t = np.ones(40000)
    out = losslab.binary_cross_entropy_with_logits(z, t, reduction="sum")
    assert out.dtype == np.float32 and np.isfinite(out) and out > 65504
    assert float(out) == pytest.approx(
        losslab.binary_cross_entropy_with_logits(z.astype(np.float64), t, reduction="sum"), rel=1e-5
    )
    assert losslab.binary_cross_entropy_with_logits(z, t).dtype == np.float32
    assert losslab.binary_cross_entropy_with_logits(z, t, reduction="none").dtype == np.float16
    assert G.binary_cross_entropy_with_logits(z, t).dtype == np.float16
    p = np.full(40000, 0.1, dtype=np.float16)
    out = losslab.binary_cross_entropy(p, t, reduction="sum")
    assert out.dtype == np.float32 and np.isfinite(out) and out > 65504
    assert float(out) == pytest.approx(-40000 * math.log(float(np.float16(0.1))), rel=1e-5)


def test_bfloat16_torch():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(32, 4, generator=gen).to(torch.bfloat16)
    t = torch.randint(0, 2, (32, 4), generator=gen).to(torch.bfloat16)
    pw = torch.tensor([0.5, 1.0, 2.0, 3.0])
    out = losslab.binary_cross_entropy_with_logits(z, t, pos_weight=pw)
    assert out.dtype == torch.float32
    ref = F.binary_cross_entropy_with_logits(z.double(), t.double(), pos_weight=pw.double())
    assert float(out) == pytest.approx(float(ref), rel=1e-6)
    assert G.binary_cross_entropy_with_logits(z, t, pos_weight=pw).dtype == torch.bfloat16
    p = torch.sigmoid(z)
    out = losslab.binary_cross_entropy(p, t)
    assert out.dtype == torch.float32
    assert float(out) == pytest.approx(float(F.binary_cross_entropy(p.double(), t.double())), rel=1e-6)


# --------------------------------------------------------------- bad input
Z = np.array([0.5, -1.0, 2.0])
T = np.array([1.0, 0.0, 1.0])
P = np.array([0.5, 0.2, 0.9])


@pytest.mark.parametrize(
    "fn", [losslab.binary_cross_entropy_with_logits, G.binary_cross_entropy_with_logits], ids=["loss", "grad"]
)
@pytest.mark.parametrize(
    ("logits", "target", "kw", "exc", "match"),
    [
        (np.array([0.5, np.nan, 2.0]), T, {}, ValueError, r"`logits` contains NaN at index 1; .*drop or impute"),
        (np.array([0.5, 1.0, np.inf]), T, {}, ValueError, r"`logits` contains inf at index 2"),
        (np.array([-np.inf, 1.0, 0.0]), T, {}, ValueError, r"`logits` contains -inf at index 0"),
        (np.array([[0.0, 1.0], [np.inf, 0.0]]), np.ones((2, 2)), {}, ValueError, r"`logits` contains inf at index \(1, 0\)"),
        (Z, np.array([1.0, 1.5, 0.0]), {}, ValueError, r"`target` must hold labels or label probabilities in \[0, 1\]; got 1.5 at index 1"),
        (Z, np.array([1.0, np.nan, 0.0]), {}, ValueError, r"`target` must hold labels .*; got nan at index 1"),
        (Z, np.ones(4), {}, ValueError, r"`target` must have the shape of `logits` \(3,\); got \(4,\)"),
        (Z, T, {"pos_weight": 0.0}, ValueError, r"`pos_weight` must be positive and finite; got 0.0"),
        (Z, T, {"pos_weight": -2}, ValueError, r"`pos_weight` must be positive and finite; got -2.0"),
        (Z, T, {"pos_weight": float("nan")}, ValueError, r"`pos_weight` must be positive and finite; got nan"),
        (Z, T, {"pos_weight": np.array([1.0, np.inf, 1.0])}, ValueError, r"`pos_weight` must be positive and finite; got inf at index 1"),
        (Z, T, {"pos_weight": np.ones(2)}, ValueError, r"`pos_weight` must be a number .*shape \(3,\).*got \(2,\)"),
        (Z, T, {"pos_weight": True}, TypeError, r"`pos_weight` must be a positive number or array; got bool"),
        (Z, T, {"pos_weight": "2"}, TypeError, r"`pos_weight` must hold real numbers"),
        (Z, T, {"label_smoothing": 1.1}, ValueError, r"`label_smoothing` must be in \[0, 1\]; got 1.1"),
        (Z, T, {"weight": np.zeros(3)}, ValueError, r"the total `weight` is 0 under reduction='mean'"),
        (Z, T, {"weight": np.array([1.0, -1.0, 1.0])}, ValueError, r"`weight` must be finite and non-negative; got -1.0 at index 1"),
        (Z, T, {"reduction": None}, ValueError, r"`reduction` must be one of"),
        (Z, torch.tensor(T), {}, TypeError, r"`target` is a torch array but `logits` is a numpy array; .*numpy.asarray"),
        (torch.tensor(Z), torch.tensor(T), {"pos_weight": np.ones(3)}, TypeError, r"`pos_weight` is a numpy array but `logits` is a torch array"),
        (Z, np.array(["a", "b", "c"]), {}, TypeError, r"`target` must hold real numbers"),
    ],
)  # fmt: skip
def test_logits_bad_input(fn, logits, target, kw, exc, match):
    with pytest.raises(exc, match=match):
        fn(logits, target, **kw)


@pytest.mark.parametrize("fn", [losslab.binary_cross_entropy, G.binary_cross_entropy], ids=["loss", "grad"])
@pytest.mark.parametrize(
    ("probs", "target", "kw", "exc", "match"),
    [
        (np.array([0.5, 0.2, 1.5]), T, {}, ValueError, r"`probs` must hold probabilities in \[0, 1\]; got 1.5 at index 2"),
        (np.array([-0.1, 0.2, 0.5]), T, {}, ValueError, r"`probs` must hold probabilities in \[0, 1\]; got -0.1 at index 0"),
        (np.array([0.5, np.nan, 0.5]), T, {}, ValueError, r"`probs` must hold probabilities .*; got nan at index 1"),
        (P, np.array([2, 0, 1]), {}, ValueError, r"`target` must hold labels or label probabilities in \[0, 1\]; got 2.0 at index 0"),
        (P, np.ones((3, 1)), {}, ValueError, r"`target` must have the shape of `probs` \(3,\); got \(3, 1\)"),
        (P, T, {"weight": np.ones((3, 1))}, ValueError, r"`weight` must have shape \(3,\)"),
        (torch.tensor(P), T, {}, TypeError, r"`target` is a numpy array but `probs` is a torch array.*torch.as_tensor"),
        (np.array([0.5 + 0j, 0.2, 0.1]), T, {}, TypeError, r"`probs` must hold real numbers"),
    ],
)  # fmt: skip
def test_probs_bad_input(fn, probs, target, kw, exc, match):
    with pytest.raises(exc, match=match):
        fn(probs, target, **kw)


# ------------------------------------------------------------ other arrays
@pytest.mark.parametrize("opts", [{}, {"pos_weight": np.array([0.5, 2.0, 4.0]), "label_smoothing": 0.1}])
def test_jax_jit(opts):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    z, t = _logits().astype(np.float32), _targets().astype(np.float32)
    arrays = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in opts.items() if isinstance(v, np.ndarray)}
    scalars = {k: v for k, v in opts.items() if not isinstance(v, np.ndarray)}

    @jax.jit
    def f(z, t, a):
        return (
            losslab.binary_cross_entropy_with_logits(z, t, **a, **scalars),
            G.binary_cross_entropy_with_logits(z, t, **a, **scalars),
            losslab.binary_cross_entropy(jax.nn.sigmoid(z), t),
        )

    val, g, bce = f(jnp.asarray(z), jnp.asarray(t), arrays)
    np.testing.assert_allclose(val, losslab.binary_cross_entropy_with_logits(z, t, **opts), rtol=1e-5)
    np.testing.assert_allclose(g, G.binary_cross_entropy_with_logits(z, t, **opts), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(bce, losslab.binary_cross_entropy(_sigmoid(z), t), rtol=1e-5)
    ag = jax.grad(lambda z: losslab.binary_cross_entropy_with_logits(z, jnp.asarray(t), **arrays, **scalars))(
        jnp.asarray(z)
    )
    np.testing.assert_allclose(ag, g, rtol=1e-4, atol=1e-7)


def test_jax_jit_closed_over_pos_weight():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    pw = jnp.asarray([0.5, 2.0, 4.0])
    z, t = _logits().astype(np.float32), _targets().astype(np.float32)
    val = jax.jit(lambda z, t: losslab.binary_cross_entropy_with_logits(z, t, pos_weight=pw))(
        jnp.asarray(z), jnp.asarray(t)
    )
    np.testing.assert_allclose(
        val, losslab.binary_cross_entropy_with_logits(z, t, pos_weight=np.asarray(pw)), rtol=1e-5
    )


def test_array_api_strict():
    xp = pytest.importorskip("array_api_strict")
    z, t, p = _logits(), _targets(), _probs()
    pw = np.array([0.5, 2.0, 4.0])
    out = losslab.binary_cross_entropy_with_logits(xp.asarray(z), xp.asarray(t), pos_weight=xp.asarray(pw))
    assert float(out) == pytest.approx(losslab.binary_cross_entropy_with_logits(z, t, pos_weight=pw), rel=1e-14)
    g = G.binary_cross_entropy_with_logits(xp.asarray(z), xp.asarray(t), label_smoothing=0.1)
    np.testing.assert_allclose(np.asarray(g), G.binary_cross_entropy_with_logits(z, t, label_smoothing=0.1))
    assert float(losslab.binary_cross_entropy(xp.asarray(p), xp.asarray(t))) == pytest.approx(
        losslab.binary_cross_entropy(p, t), rel=1e-14
    )
    g = G.binary_cross_entropy(xp.asarray(p), xp.asarray(t), reduction="sum")
    np.testing.assert_allclose(np.asarray(g), G.binary_cross_entropy(p, t, reduction="sum"))
    with pytest.raises(ValueError, match=r"`logits` contains NaN at index \(0, 1\)"):
        z2 = z.copy()
        z2[0, 1] = np.nan
        losslab.binary_cross_entropy_with_logits(xp.asarray(z2), xp.asarray(t))


@pytest.mark.parametrize("z0", [0.0, -1e-300, 3.0, -30.0, 800.0, -800.0])
def test_bce_with_logits_second_derivative_under_autograd(z0):
    """Autograd through the loss gives the curvature s(1 - s) everywhere, also at z = 0 and far out.

    A softplus written as max(z, 0) + log1p(exp(-|z|)) gave 0 at z = 0 exactly under torch.
    """
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    import losslab

    s = 1.0 / (1.0 + np.exp(-np.clip(z0, -700, 700)))
    expected = s * (1.0 - s)
    for y in (0.0, 1.0):
        z = torch.tensor([z0], dtype=torch.float64, requires_grad=True)
        loss = losslab.binary_cross_entropy_with_logits(z, torch.tensor([y], dtype=torch.float64))
        (g,) = torch.autograd.grad(loss, z, create_graph=True)
        (h,) = torch.autograd.grad(g.sum(), z)
        assert h.item() == pytest.approx(expected, rel=1e-12, abs=1e-300)
        jax.config.update("jax_enable_x64", True)  # float64 in JAX, as the backend tests set it
        f = lambda v, y=y: losslab.binary_cross_entropy_with_logits(v, jax.numpy.asarray(y))  # noqa: E731
        h_jax = float(jax.grad(jax.grad(f))(jax.numpy.asarray(z0, dtype=jax.numpy.float64)))
        assert h_jax == pytest.approx(expected, rel=1e-12, abs=1e-300)
