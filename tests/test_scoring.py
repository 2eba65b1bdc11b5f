# ruff: noqa: E501 -- the tables of bad inputs keep one case per line
"""log_loss and brier_score: scikit-learn references, siblings, gradients, extremes, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import brier_score_loss as sk_brier
from sklearn.metrics import log_loss as sk_log_loss

import losslab
from conftest import numeric_grad
from losslab import grad as G

REDUCTIONS = ("mean", "sum", "none")
N, C = 8, 3
EPS64 = float(np.finfo(np.float64).eps)


# ------------------------------------------------------------------ helpers
def _probs(n=N, c=C, seed=0):
    a = np.random.default_rng(seed).random((n, c)) + 0.05
    return a / a.sum(axis=1, keepdims=True)


def _labels(n=N, c=C, seed=1):
    y = np.random.default_rng(seed).integers(0, c, size=n)
    y[:c] = np.arange(c)
    return y


def _binary(n=N, seed=2):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.02, 0.98, size=n), np.array([0, 1] * (n // 2))


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ------------------------------------------------------------- log loss
def test_log_loss_matches_sklearn_multiclass():
    p, y = _probs(), _labels()
    assert losslab.log_loss(p, y) == pytest.approx(sk_log_loss(y, p), rel=1e-13)
    assert losslab.log_loss(p, y, reduction="sum") == pytest.approx(sk_log_loss(y, p, normalize=False), rel=1e-13)
    np.testing.assert_allclose(losslab.log_loss(p, y, reduction="none"), -np.log(p[np.arange(N), y]), rtol=1e-15)


def test_log_loss_matches_sklearn_sample_weight():
    p, y = _probs(), _labels()
    w = np.linspace(0.1, 3.0, N)
    assert losslab.log_loss(p, y, weight=w) == pytest.approx(sk_log_loss(y, p, sample_weight=w), rel=1e-13)
    assert losslab.log_loss(p, y, weight=w, reduction="sum") == pytest.approx(
        sk_log_loss(y, p, sample_weight=w, normalize=False), rel=1e-13
    )


def test_log_loss_matches_sklearn_binary_1d():
    p, y = _binary()
    assert losslab.log_loss(p, y) == pytest.approx(sk_log_loss(y, p), rel=1e-13)
    assert losslab.log_loss(p, y.astype(bool)) == pytest.approx(sk_log_loss(y, p), rel=1e-13)
    # the 1-d form equals the two-column form
    two = np.stack([1 - p, p], axis=1)
    assert losslab.log_loss(p, y) == pytest.approx(losslab.log_loss(two, y), rel=1e-13)


def test_log_loss_string_labels_match_sklearn():
    p = _probs()
    names = np.array(["cat", "dog", "emu"])
    y = names[_labels()]
    assert losslab.log_loss(p, y, labels=names) == pytest.approx(sk_log_loss(y, p, labels=names), rel=1e-13)
    assert losslab.log_loss(p, y, labels=list(names)) == pytest.approx(sk_log_loss(y, p, labels=names), rel=1e-13)
    # columns follow `labels`' order, which need not be sorted
    perm = [2, 0, 1]
    assert losslab.log_loss(p[:, perm], y, labels=names[perm]) == pytest.approx(losslab.log_loss(p, y, labels=names))
    # binary 1-d with string labels: the second label is the positive class
    pb, yb = _binary()
    s = np.array(["no", "yes"])[yb]
    assert losslab.log_loss(pb, s, labels=["no", "yes"]) == pytest.approx(sk_log_loss(s, pb, labels=["no", "yes"]))
    np.testing.assert_allclose(
        G.log_loss(p, y, labels=names), G.log_loss(p, _labels()), rtol=1e-15
    )  # labels only relabel


def test_log_loss_docstring_values():
    assert losslab.log_loss(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([0, 1])) == pytest.approx(
        -(math.log(0.9) + math.log(0.8)) / 2, rel=1e-14
    )
    assert losslab.log_loss(np.array([0.9, 0.2]), np.array(["y", "n"]), labels=np.array(["n", "y"])) == pytest.approx(
        -(math.log(0.9) + math.log(0.8)) / 2, rel=1e-14
    )


def test_log_loss_long_input_matches_plain_sum_of_logs():
    """The blocked sum of logs (fewer log calls) agrees with sum(log) in float64 and float32."""
    rng = np.random.default_rng(3)
    p = _softmax(rng.normal(scale=3, size=(10001, 4)))
    y = rng.integers(0, 4, size=10001)
    ref = -np.mean(np.log(np.maximum(p[np.arange(10001), y], EPS64)))
    assert losslab.log_loss(p, y) == pytest.approx(ref, rel=1e-12)
    p32 = p.astype(np.float32)
    ref32 = -np.mean(np.log(np.maximum(p32[np.arange(10001), y].astype(np.float64), np.finfo(np.float32).eps)))
    out = losslab.log_loss(p32, y)
    assert out.dtype == np.float32 and float(out) == pytest.approx(ref32, rel=1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_loss_exact_zero_and_one(dtype):
    eps = float(np.finfo(dtype).eps)
    p = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=dtype)
    out = losslab.log_loss(p, np.array([0, 0]), reduction="none")
    assert out[0] == 0.0  # certain and right: exactly 0 (sklearn: ~eps)
    assert not np.signbit(out[0])
    assert out[1] == pytest.approx(-math.log(eps), rel=1e-6)  # certain and wrong: -log(eps)
    assert losslab.log_loss(np.array([1.0, 0.0], dtype=dtype), np.array([1, 1]), reduction="none").tolist() == [
        0.0,
        pytest.approx(-math.log(eps), rel=1e-6),
    ]
    assert losslab.log_loss(p, np.array([0, 0]), reduction="sum") == pytest.approx(-math.log(eps), rel=1e-6)
    if dtype == np.float64:
        assert losslab.log_loss(p, np.array([0, 0])) == pytest.approx(sk_log_loss([0, 0], p, labels=[0, 1]), rel=1e-12)
        g = G.log_loss(p, np.array([0, 0]), reduction="none")
        assert g.tolist() == [[-1.0, 0.0], [0.0, 0.0]]  # floored: zero slope


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_log_loss_grad_numeric_and_autograd(reduction, weighted):
    p, y = _probs(), _labels()
    w = np.linspace(0.1, 3.0, N) if weighted else None
    g = G.log_loss(p, y, reduction=reduction, weight=w)
    num = numeric_grad(lambda x: losslab.log_loss(x, y, reduction=reduction, weight=w), p, h=1e-7)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)
    pt = torch.as_tensor(p).requires_grad_(True)
    tw = None if w is None else torch.as_tensor(w)
    losslab.log_loss(pt, torch.as_tensor(y), reduction=reduction, weight=tw).sum().backward()
    torch.testing.assert_close(
        G.log_loss(torch.as_tensor(p), torch.as_tensor(y), reduction=reduction, weight=tw), pt.grad
    )
    onehot = np.eye(C)[y]
    scale = (
        {"mean": 1 / N, "sum": 1.0, "none": 1.0}[reduction]
        if w is None
        else (w[:, None] / w.sum() if reduction == "mean" else w[:, None])
    )
    np.testing.assert_allclose(g, -onehot / p * scale, rtol=1e-14)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_log_loss_grad_binary(reduction):
    p, y = _binary()
    g = G.log_loss(p, y, reduction=reduction)
    np.testing.assert_allclose(
        g, numeric_grad(lambda x: losslab.log_loss(x, y, reduction=reduction), p, h=1e-7), rtol=1e-6
    )
    expected = np.where(y == 1, -1 / p, 1 / (1 - p)) / (N if reduction == "mean" else 1)
    np.testing.assert_allclose(g, expected, rtol=1e-14)
    np.testing.assert_allclose(g, G.binary_cross_entropy(p, y.astype(float), reduction=reduction), rtol=1e-13)


def test_log_loss_is_cross_entropy_of_log_probs():
    z = np.random.default_rng(4).normal(size=(N, C))
    y = _labels()
    assert losslab.log_loss(_softmax(z), y) == pytest.approx(losslab.cross_entropy(z, y), rel=1e-12)


def test_half_precision():
    p = _probs().astype(np.float16)
    p = p / p.sum(axis=1, keepdims=True, dtype=np.float32).astype(np.float16)
    y = _labels()
    out = losslab.log_loss(p, y)
    assert out.dtype == np.float32
    assert float(out) == pytest.approx(-np.mean(np.log(p[np.arange(N), y].astype(np.float64))), rel=1e-6)
    # float16 rows are checked at float16 rounding: off by 1e-3 passes, which float64 would refuse
    with pytest.raises(ValueError, match="rows must sum to 1"):
        losslab.log_loss(p.astype(np.float64) + np.array([1e-3, 0, 0]), y)
    assert np.isfinite(losslab.log_loss(p + np.array([1e-3, 0, 0], dtype=np.float16), y))
    assert losslab.log_loss(p, y, reduction="none").dtype == np.float16
    assert losslab.brier_score(p, y).dtype == np.float32
    assert G.log_loss(p, y).dtype == np.float16
    assert G.brier_score(p, y).dtype == np.float16
    pt = torch.as_tensor(_probs()).to(torch.bfloat16)
    assert losslab.log_loss(pt, torch.as_tensor(y)).dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.int8, torch.int16, torch.int32, torch.uint8, torch.int64])
def test_torch_integer_targets(dtype):
    p, y = _probs(), _labels()
    ref = losslab.log_loss(p, y)
    tp, ty = torch.as_tensor(p), torch.as_tensor(y).to(dtype)
    assert float(losslab.log_loss(tp, ty)) == pytest.approx(ref, rel=1e-14)
    assert float(losslab.brier_score(tp, ty)) == pytest.approx(losslab.brier_score(p, y), rel=1e-14)
    torch.testing.assert_close(G.log_loss(tp, ty), torch.as_tensor(G.log_loss(p, y)))


# ------------------------------------------------------------------ Brier
def test_brier_binary_matches_sklearn():
    p, y = _binary()
    assert losslab.brier_score(p, y) == pytest.approx(sk_brier(y, p), rel=1e-13)
    w = np.linspace(0.1, 3.0, N)
    assert losslab.brier_score(p, y, weight=w) == pytest.approx(sk_brier(y, p, sample_weight=w), rel=1e-13)
    s = np.array(["neg", "pos"])[y]
    assert losslab.brier_score(p, s, labels=["neg", "pos"]) == pytest.approx(sk_brier(s, p, pos_label="pos"))
    np.testing.assert_allclose(losslab.brier_score(p, y, reduction="none"), (p - y) ** 2, rtol=1e-15)


def test_brier_multiclass_matches_sklearn_original_definition():
    """sklearn >= 1.7 keeps Brier's original [0, 2] range for multiclass (scale_by_half='auto')."""
    p, y = _probs(), _labels()
    ours = losslab.brier_score(p, y)
    assert ours == pytest.approx(sk_brier(y, p, labels=list(range(C))), rel=1e-13)
    assert ours == pytest.approx(sk_brier(y, p, labels=list(range(C)), scale_by_half=False), rel=1e-13)
    assert ours == pytest.approx(np.mean(np.sum((p - np.eye(C)[y]) ** 2, axis=1)), rel=1e-13)
    w = np.linspace(0.1, 3.0, N)
    assert losslab.brier_score(p, y, weight=w) == pytest.approx(
        sk_brier(y, p, sample_weight=w, labels=list(range(C))), rel=1e-13
    )
    names = np.array(["a", "b", "c"])
    assert losslab.brier_score(p, names[y], labels=names) == pytest.approx(ours, rel=1e-15)


def test_brier_two_columns_is_twice_binary():
    p, y = _binary()
    two = np.stack([1 - p, p], axis=1)
    assert losslab.brier_score(two, y) == pytest.approx(2 * losslab.brier_score(p, y), rel=1e-13)
    np.testing.assert_allclose(
        losslab.brier_score(two, y, reduction="none"), 2 * losslab.brier_score(p, y, reduction="none"), rtol=1e-13
    )
    # sklearn halves any binary problem, even given two columns; its unscaled form is ours
    assert losslab.brier_score(two, y) == pytest.approx(2 * sk_brier(y, two), rel=1e-13)
    assert losslab.brier_score(two, y) == pytest.approx(sk_brier(y, two, scale_by_half=False), rel=1e-13)


def test_brier_range_and_extremes():
    worst = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert losslab.brier_score(worst, np.array([0, 0])) == 2.0
    assert losslab.brier_score(worst, np.array([1, 2])) == 0.0
    assert losslab.brier_score(np.array([0.0, 1.0]), np.array([1, 0])) == 1.0
    assert losslab.brier_score(np.array([0.0, 1.0]), np.array([0, 1])) == 0.0
    vals = losslab.brier_score(_probs(200, 5), _labels(200, 5), reduction="none")
    assert np.all((vals >= 0) & (vals <= 2))
    np.testing.assert_allclose(losslab.brier_score(np.full((3, 4), 0.25), np.array([0, 1, 3])), 0.75, rtol=1e-15)


def test_brier_docstring_values():
    assert losslab.brier_score(np.array([0.9, 0.2]), np.array([1, 0])) == pytest.approx(0.025, rel=1e-14)
    assert losslab.brier_score(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 0])) == pytest.approx(0.05, rel=1e-14)
    assert G.brier_score(np.array([0.9, 0.2]), np.array([1, 0]), reduction="sum").tolist() == pytest.approx([-0.2, 0.4])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("binary", [False, True], ids=["multiclass", "binary"])
@pytest.mark.parametrize("weighted", [False, True])
def test_brier_grad_numeric_and_autograd(reduction, binary, weighted):
    p, y = _binary() if binary else (_probs(), _labels())
    w = np.linspace(0.1, 3.0, N) if weighted else None
    g = G.brier_score(p, y, reduction=reduction, weight=w)
    assert g.shape == p.shape
    num = numeric_grad(lambda x: losslab.brier_score(x, y, reduction=reduction, weight=w), p, h=1e-7)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)
    pt = torch.as_tensor(p).requires_grad_(True)
    tw = None if w is None else torch.as_tensor(w)
    losslab.brier_score(pt, torch.as_tensor(y), reduction=reduction, weight=tw).sum().backward()
    torch.testing.assert_close(
        G.brier_score(torch.as_tensor(p), torch.as_tensor(y), reduction=reduction, weight=tw), pt.grad
    )
    if not weighted and reduction == "sum":
        target = y if binary else np.eye(C)[y]
        np.testing.assert_allclose(g, 2 * (p - target), rtol=1e-15)


# --------------------------------------------------------------- bad input
P2 = np.array([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
Y2 = np.array([1, 0, 1])

BAD = [
    (np.array([[0.2, 0.8], [1.2, -0.2], [0.5, 0.5]]), Y2, {}, ValueError, r"`probs` must hold probabilities in \[0, 1\]; got 1.2 at index \(1, 0\)"),
    (np.array([[0.2, 0.8], [-0.2, 1.2], [0.5, 0.5]]), Y2, {}, ValueError, r"`probs` must hold probabilities in \[0, 1\]; got -0.2 at index \(1, 0\)"),
    (np.array([0.2, 1.5, 0.5]), Y2, {}, ValueError, r"`probs` must hold probabilities in \[0, 1\]; got 1.5 at index 1"),
    (np.array([0.2, np.nan, 0.5]), Y2, {}, ValueError, r"`probs` must hold probabilities .*; got nan at index 1"),
    (np.array([[0.2, 0.8], [np.nan, 0.5], [0.5, 0.5]]), Y2, {}, ValueError, r"got nan at index \(1, 0\)"),
    (np.array([[0.2, 0.8], [0.6, 0.6], [0.5, 0.5]]), Y2, {}, ValueError, r"`probs` rows must sum to 1 \(within 0.0001\); row 1 sums to 1.2\. Normalise the rows"),
    (np.array([[0.2, 0.7], [0.6, 0.4], [0.5, 0.5]]), Y2, {}, ValueError, r"`probs` rows must sum to 1 .*row 0 sums to 0.89999"),
    (P2, np.array([1, 2, 0]), {}, ValueError, r"`target` must hold class indices in \[0, 1\] \(columns of `probs`\); got 2 at index 1; pass `labels=`"),
    (P2, np.array([1, -1, 0]), {}, ValueError, r"class indices in \[0, 1\].*got -1 at index 1"),
    (P2, np.array([1.0, 0.5, 1.0]), {}, ValueError, r"`target` must hold class indices; got the non-integral 0.5 at index 1. Round the labels, or pass `labels=`"),
    (P2, np.array(["a", "b", "z"]), {"labels": ["a", "b"]}, ValueError, r"`target` value 'z' at index 2 is not in `labels` \['a', 'b'\]; add it to `labels`"),
    (P2, np.array([3, 1, 3]), {"labels": [1, 2]}, ValueError, r"`target` value 3 at index 0 is not in `labels`"),
    (P2, np.array(["a", "b", "a"]), {"labels": ["a", "b", "c"]}, ValueError, r"`labels` must list 2 label values, one per column of `probs`; got shape \(3,\)"),
    (P2, np.array(["a", "b", "a"]), {"labels": ["a", "a"]}, ValueError, r"`labels` must list distinct values; 'a' at index 0 repeats"),
    (P2, np.array([1, 0]), {}, ValueError, r"`target` must have shape \(3,\) \(one label per row of `probs`\); got \(2,\)"),
    (P2, np.array([[1], [0], [1]]), {}, ValueError, r"`target` must have shape \(3,\)"),
    (np.full((2, 2, 2), 0.5), np.array([0, 1]), {}, ValueError, r"`probs` must be 1-d .* or 2-d \(n, C\); got shape \(2, 2, 2\)"),
    (np.zeros((0, 2)), np.zeros(0, dtype=int), {}, ValueError, r"`probs` is empty"),
    (P2, Y2, {"weight": np.zeros(3)}, ValueError, r"the total `weight` is 0 under reduction='mean'"),
    (P2, Y2, {"weight": np.array([1.0, np.nan, 1.0])}, ValueError, r"`weight` must be finite and non-negative; got nan at index 1"),
    (P2, Y2, {"weight": np.ones(2)}, ValueError, r"`weight` must have shape \(3,\)"),
    (P2, Y2, {"reduction": "total"}, ValueError, r"`reduction` must be one of"),
    (P2, torch.tensor(Y2), {}, TypeError, r"`target` is a torch array but `probs` is a numpy array; .*numpy.asarray"),
    (torch.tensor(P2), Y2, {}, TypeError, r"`target` is a numpy array but `probs` is a torch array; .*torch.as_tensor"),
]  # fmt: skip


@pytest.mark.parametrize("fn", [losslab.log_loss, G.log_loss, losslab.brier_score, G.brier_score])
@pytest.mark.parametrize(("probs", "target", "kw", "exc", "match"), BAD)
def test_bad_input(fn, probs, target, kw, exc, match):
    with pytest.raises(exc, match=match):
        fn(probs, target, **kw)


def test_row_sum_tolerance_accepts_rounded_probabilities():
    p = np.round(_probs(), 6)  # rows off by up to ~1e-6
    assert np.isfinite(losslab.log_loss(p, _labels()))
    assert np.isfinite(losslab.brier_score(p, _labels()))


# ------------------------------------------------------------ other arrays
def test_jax_and_array_api_strict():
    jnp = pytest.importorskip("jax.numpy")
    xp = pytest.importorskip("array_api_strict")
    p, y = _probs().astype(np.float32), _labels()
    for ns in (jnp, xp):
        pa, ya = ns.asarray(p), ns.asarray(y)
        assert float(losslab.log_loss(pa, ya)) == pytest.approx(float(losslab.log_loss(p, y)), rel=1e-5)
        assert float(losslab.brier_score(pa, ya)) == pytest.approx(float(losslab.brier_score(p, y)), rel=1e-5)
        np.testing.assert_allclose(np.asarray(G.log_loss(pa, ya)), G.log_loss(p, y), rtol=1e-6)
        np.testing.assert_allclose(np.asarray(G.brier_score(pa, ya)), G.brier_score(p, y), rtol=1e-6)
    pb, yb = _binary()
    assert float(losslab.log_loss(xp.asarray(pb), xp.asarray(yb))) == pytest.approx(losslab.log_loss(pb, yb))
    assert float(losslab.log_loss(jnp.asarray(pb), jnp.asarray(yb.astype(bool)))) == pytest.approx(
        losslab.log_loss(pb, yb), rel=1e-5
    )


def test_jax_jit():
    jax = pytest.importorskip("jax")
    p, y = _probs().astype(np.float32), _labels()
    f = jax.jit(lambda p, y: (losslab.log_loss(p, y), losslab.brier_score(p, y), G.log_loss(p, y)))
    ll, br, g = f(jax.numpy.asarray(p), jax.numpy.asarray(y))
    assert float(ll) == pytest.approx(float(losslab.log_loss(p, y)), rel=1e-5)
    assert float(br) == pytest.approx(float(losslab.brier_score(p, y)), rel=1e-5)
    np.testing.assert_allclose(g, G.log_loss(p, y), rtol=1e-6)
    # labels closed over by the jitted function
    labels = jax.numpy.asarray([10, 20, 30])
    f = jax.jit(lambda p, y: losslab.log_loss(p, y, labels=labels))
    assert float(f(jax.numpy.asarray(p), jax.numpy.asarray(10 * (y + 1)))) == pytest.approx(float(ll), rel=1e-6)


def test_python_weight_list_converts_at_the_probs_precision():
    p, y = torch.as_tensor(_probs()), torch.as_tensor(_labels())
    w = [0.1 * i for i in range(1, N + 1)]
    for fn in (losslab.log_loss, losslab.brier_score):
        assert float(fn(p, y, weight=w)) == float(fn(p, y, weight=torch.tensor(w, dtype=torch.float64)))
