"""Regression losses (mse, mae, rmse, huber, pinball) and their closed-form gradients.

References are independent implementations: scikit-learn's metrics, PyTorch's
functional losses and NumPy formulas written out here. Gradients are checked
against float64 central differences and against torch autograd *of the
losslab function itself* (so the loss and its gradient cannot agree on a
wrong formula by construction). Residuals are drawn away from the kinks
(``|p - t|`` near 0 and near ``delta``) so that both checks are meaningful.
"""

from __future__ import annotations

import warnings

import array_api_strict as xs
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from array_api_strict._array_object import Array as StrictArray
from sklearn.metrics import (
    mean_absolute_error,
    mean_pinball_loss,
    mean_squared_error,
    root_mean_squared_error,
)

import losslab
from conftest import expected_reduced, full_weight, numeric_grad
from losslab import grad as G

RTOL = 1e-12


def close(actual, expected, rtol=RTOL, atol=0.0):
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected, rtol=rtol, atol=atol)


# ------------------------------------------------------------------ inputs
def pair(rng, shape, *, kinks=(0.0,), gap=0.15, spread=2.0):
    """(pred, target) in float64 whose residuals ``p - t`` stay ``gap`` away from every |r| in ``kinks``."""
    t = rng.standard_normal(shape)
    mag = rng.uniform(0.0, spread, size=shape)
    for _ in range(4):
        for k in kinks:
            near = np.abs(mag - k) < gap
            mag = np.where(near, k + gap + rng.uniform(0.0, 0.3, size=shape), mag)
    sign = rng.choice([-1.0, 1.0], size=shape)
    return t + sign * mag, t


# ---------------------------------------------------- the losses, by formula
class Spec:
    """A regression loss with an independent NumPy formula for its per-element value and derivative."""

    def __init__(self, id, fn, grad, kw, value, deriv, kinks):
        self.id, self.fn, self.grad, self.kw = id, fn, grad, kw
        self.value, self.deriv, self.kinks = value, deriv, kinks

    def __call__(self, p, t, **kw):
        return self.fn(p, t, **self.kw, **kw)

    def g(self, p, t, **kw):
        return self.grad(p, t, **self.kw, **kw)


def _huber_np(d):
    return (
        lambda p, t: np.where(np.abs(p - t) <= d, 0.5 * (p - t) ** 2, d * (np.abs(p - t) - 0.5 * d)),
        lambda p, t: np.clip(p - t, -d, d),
    )


def _pinball_np(q):
    return (
        lambda p, t: np.where(t >= p, q * (t - p), (1.0 - q) * (p - t)),
        lambda p, t: np.where(t > p, -q, 1.0 - q),
    )


SPECS = [
    Spec("mse", losslab.mse, G.mse, {}, lambda p, t: (p - t) ** 2, lambda p, t: 2.0 * (p - t), (0.0,)),
    Spec("mae", losslab.mae, G.mae, {}, lambda p, t: np.abs(p - t), lambda p, t: np.sign(p - t), (0.0,)),
    Spec("huber-0.7", losslab.huber, G.huber, {"delta": 0.7}, *_huber_np(0.7), (0.0, 0.7)),
    Spec("huber-1.5", losslab.huber, G.huber, {"delta": 1.5}, *_huber_np(1.5), (0.0, 1.5)),
    Spec("pinball-0.3", losslab.pinball, G.pinball, {"quantile": 0.3}, *_pinball_np(0.3), (0.0,)),
    Spec("pinball-0.9", losslab.pinball, G.pinball, {"quantile": 0.9}, *_pinball_np(0.9), (0.0,)),
]
SPEC_PARAMS = [pytest.param(s, id=s.id) for s in SPECS]
REDUCTIONS = ["mean", "sum", "none"]


def weights(kind, rng, shape):
    if kind is None:
        return None
    if kind == "element":
        return rng.uniform(0.2, 3.0, size=shape)
    return rng.uniform(0.2, 3.0, size=shape[0])  # per sample


# =========================================================== reference values
@pytest.mark.parametrize("shape", [(7,), (6, 3)])
@pytest.mark.parametrize("weighted", [False, True])
def test_mse_mae_match_sklearn(rng, shape, weighted):
    p, t = pair(rng, shape)
    sw = rng.uniform(0.1, 2.0, size=shape[0]) if weighted else None
    close(losslab.mse(p, t, weight=sw), mean_squared_error(t, p, sample_weight=sw))
    close(losslab.mae(p, t, weight=sw), mean_absolute_error(t, p, sample_weight=sw))


@pytest.mark.parametrize("weighted", [False, True])
def test_rmse_matches_sklearn(rng, weighted):
    p, t = pair(rng, (9,))
    sw = rng.uniform(0.1, 2.0, size=9) if weighted else None
    close(losslab.rmse(p, t, weight=sw), root_mean_squared_error(t, p, sample_weight=sw))
    # 2-D: losslab's rmse is over all elements (sklearn averages per-column rmses instead).
    p2, t2 = pair(rng, (5, 3))
    sw2 = rng.uniform(0.1, 2.0, size=5) if weighted else None
    close(losslab.rmse(p2, t2, weight=sw2), np.sqrt(mean_squared_error(t2, p2, sample_weight=sw2)))


@pytest.mark.parametrize("q", [0.05, 0.3, 0.5, 0.9])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(8,), (6, 2)])
def test_pinball_matches_sklearn(rng, q, weighted, shape):
    p, t = pair(rng, shape)
    sw = rng.uniform(0.1, 2.0, size=shape[0]) if weighted else None
    close(losslab.pinball(p, t, quantile=q, weight=sw), mean_pinball_loss(t, p, alpha=q, sample_weight=sw))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_mae_match_torch(rng, reduction):
    p, t = pair(rng, (5, 4))
    pt, tt = torch.from_numpy(p), torch.from_numpy(t)
    for ours, theirs in [(losslab.mse, F.mse_loss), (losslab.mae, F.l1_loss)]:
        expected = theirs(pt, tt, reduction=reduction).numpy()
        close(ours(p, t, reduction=reduction), expected)
        got = ours(pt, tt, reduction=reduction)  # torch in, torch out
        assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
        close(got.numpy(), expected)


@pytest.mark.parametrize("delta", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_huber_matches_torch(rng, delta, reduction):
    p, t = pair(rng, (6, 3), kinks=(0.0, delta), spread=3 * delta)
    expected = F.huber_loss(torch.from_numpy(p), torch.from_numpy(t), reduction=reduction, delta=delta).numpy()
    close(losslab.huber(p, t, delta=delta, reduction=reduction), expected)
    close(losslab.huber(torch.from_numpy(p), torch.from_numpy(t), delta=delta, reduction=reduction).numpy(), expected)


@pytest.mark.parametrize("delta", [0.7, 2.0])
def test_huber_values_next_to_delta_match_torch(delta):
    # the value is continuous at |r| = delta, so only residuals close to it test the branch point
    r = delta * (1.0 + np.array([-0.03, -0.01, -1e-3, 0.0, 1e-3, 0.01, 0.03]))
    p = np.concatenate([r, -r])
    t = np.zeros_like(p)
    expected = F.huber_loss(torch.from_numpy(p), torch.from_numpy(t), reduction="none", delta=delta).numpy()
    close(losslab.huber(p, t, delta=delta, reduction="none"), expected)
    expected_grad = np.clip(p, -delta, delta)
    close(G.huber(p, t, delta=delta, reduction="sum"), expected_grad)


def test_huber_is_half_mse_inside_delta_and_linear_outside():
    p = np.array([0.0, 0.5, -0.5, 3.0, -3.0, 1.0])
    t = np.zeros(6)
    close(losslab.huber(p, t, delta=1.0, reduction="none"), [0.0, 0.125, 0.125, 2.5, 2.5, 0.5])
    # an enormous delta makes it mse / 2 everywhere
    close(losslab.huber(p, t, delta=1e6, reduction="none"), 0.5 * p**2)


def test_docstring_values():
    close(losslab.mse(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0])), 4.0 / 3.0)
    close(losslab.rmse(np.zeros(2), np.array([3.0, 4.0])), np.sqrt(12.5))
    close(losslab.pinball(np.array([0.0]), np.array([1.0]), quantile=0.9), 0.9)


# ============================================================ reductions, weights
@pytest.mark.parametrize("spec", SPEC_PARAMS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("wkind", [None, "element", "sample"])
def test_reduction_and_weights_match_formula(rng, spec, reduction, wkind):
    shape = (6, 3)
    p, t = pair(rng, shape, kinks=spec.kinks)
    w = weights(wkind, rng, shape)
    got = spec(p, t, reduction=reduction, weight=w)
    expected = expected_reduced(spec.value(p, t), w, reduction)
    assert tuple(np.shape(got)) == (shape if reduction == "none" else ())
    close(got, expected)


@pytest.mark.parametrize("spec", SPEC_PARAMS)
def test_reductions_are_consistent(rng, spec):
    p, t = pair(rng, (5, 4), kinks=spec.kinks)
    none = spec(p, t, reduction="none")
    close(spec(p, t, reduction="sum"), none.sum())
    close(spec(p, t, reduction="mean"), none.mean())
    close(spec(p, t), none.mean())  # mean is the default
    assert np.all(none >= 0)
    close(spec(t, t, reduction="none"), np.zeros_like(t))


@pytest.mark.parametrize("spec", SPEC_PARAMS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_unit_weight_is_unweighted(rng, spec, reduction):
    p, t = pair(rng, (6, 2), kinks=spec.kinks)
    plain = spec(p, t, reduction=reduction)
    close(spec(p, t, reduction=reduction, weight=np.ones((6, 2))), plain)
    close(spec(p, t, reduction=reduction, weight=np.ones(6)), plain)
    close(spec(p, t, reduction=reduction, weight=np.ones(6, dtype=np.int64)), plain)


@pytest.mark.parametrize("spec", SPEC_PARAMS)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_integer_weights_repeat_rows(rng, spec, reduction):
    p, t = pair(rng, (5, 3), kinks=spec.kinks)
    k = np.array([1, 3, 0, 2, 4])
    rep = spec(np.repeat(p, k, axis=0), np.repeat(t, k, axis=0), reduction=reduction)
    close(spec(p, t, reduction=reduction, weight=k), rep)
    # per-element integer weights, constant along the row, are the same thing
    close(spec(p, t, reduction=reduction, weight=np.repeat(k[:, None], 3, axis=1)), rep)


@pytest.mark.parametrize("spec", SPEC_PARAMS)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_zero_weight_drops_the_row(rng, spec, reduction):
    p, t = pair(rng, (6,), kinks=spec.kinks)
    w = np.array([1.0, 0.0, 2.0, 0.0, 0.5, 1.0])
    keep = w > 0
    close(spec(p, t, reduction=reduction, weight=w), spec(p[keep], t[keep], reduction=reduction, weight=w[keep]))
    # even a non-finite-looking huge residual on a dropped row changes nothing
    p2 = p.copy()
    p2[1] = 1e100
    close(spec(p2, t, reduction=reduction, weight=w), spec(p, t, reduction=reduction, weight=w))


def test_weighted_mean_is_not_the_plain_mean(rng):
    # guards against a weight that is silently ignored
    p, t = pair(rng, (6,))
    w = np.array([5.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert not np.isclose(losslab.mse(p, t, weight=w), losslab.mse(p, t))


def test_weights_per_sample_divide_by_elements_too(rng):
    p, t = pair(rng, (4, 3))
    w = np.array([1.0, 2.0, 0.5, 1.5])
    l = (p - t) ** 2
    close(losslab.mse(p, t, weight=w), np.sum(w[:, None] * l) / (3 * w.sum()))
    close(losslab.mse(p, t, weight=w, reduction="none"), w[:, None] * l)


# ================================================================== pinball
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_pinball_quantile_columns_equal_scalar_calls(rng, reduction, weighted):
    qs = [0.1, 0.5, 0.85]
    t = rng.standard_normal(7)
    p = t[:, None] + rng.choice([-1, 1], size=(7, 3)) * rng.uniform(0.2, 2.0, size=(7, 3))
    w = rng.uniform(0.5, 2.0, size=7) if weighted else None
    got = losslab.pinball(p, t, quantile=qs, reduction=reduction, weight=w)
    cols = [losslab.pinball(p[:, k], t, quantile=q, reduction=reduction, weight=w) for k, q in enumerate(qs)]
    if reduction == "none":
        assert got.shape == (7, 3)
        for k in range(3):
            close(got[:, k], cols[k])
    elif reduction == "sum":
        close(got, sum(cols))
    else:
        close(got, np.mean(cols))
    g = G.pinball(p, t, quantile=qs, reduction=reduction, weight=w)
    gcols = [G.pinball(p[:, k], t, quantile=q, reduction=reduction, weight=w) for k, q in enumerate(qs)]
    for k in range(3):
        close(g[:, k], gcols[k] / (3 if reduction == "mean" else 1))


def test_pinball_multi_quantile_matches_sklearn_per_column(rng):
    qs = (0.2, 0.7)
    t = rng.standard_normal(10)
    p = rng.standard_normal((10, 2))
    for k, q in enumerate(qs):
        close(
            losslab.pinball(p, t, quantile=qs, reduction="none")[:, k].mean(),
            mean_pinball_loss(t, p[:, k], alpha=q),
        )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_pinball_median_is_half_mae(rng, reduction):
    p, t = pair(rng, (5, 2))
    half = 0.5 * np.asarray(losslab.mae(p, t, reduction=reduction))
    close(losslab.pinball(p, t, quantile=0.5, reduction=reduction), half)
    close(
        losslab.pinball(p[..., None], t, quantile=[0.5], reduction=reduction),
        half[..., None] if reduction == "none" else half,
    )
    close(G.pinball(p, t, quantile=0.5, reduction=reduction), 0.5 * G.mae(p, t, reduction=reduction))


def test_pinball_is_asymmetric():
    # under-prediction costs q per unit, over-prediction 1 - q
    close(losslab.pinball(np.array([0.0]), np.array([1.0]), quantile=0.9), 0.9)
    close(losslab.pinball(np.array([1.0]), np.array([0.0]), quantile=0.9), 0.1)
    close(G.pinball(np.array([0.0, 2.0, 1.0]), np.ones(3), quantile=0.9, reduction="sum"), [-0.9, 0.1, 0.0])


@pytest.mark.parametrize(
    "quantile",
    [np.float32(0.25), np.float64(0.25), np.array(0.25), torch.tensor(0.25, dtype=torch.float64)],
    ids=["np.float32", "np.float64", "0-d numpy", "0-d torch"],
)
def test_pinball_quantile_scalar_types(rng, quantile):
    p, t = pair(rng, (6,))
    q = float(quantile)
    close(losslab.pinball(p, t, quantile=quantile), losslab.pinball(p, t, quantile=q))


@pytest.mark.parametrize(
    "quantiles",
    [(0.2, 0.6), np.array([0.2, 0.6]), torch.tensor([0.2, 0.6], dtype=torch.float64)],
    ids=["tuple", "numpy", "torch"],
)
def test_pinball_quantile_sequence_types(rng, quantiles):
    t = rng.standard_normal(5)
    p = rng.standard_normal((5, 2))
    close(losslab.pinball(p, t, quantile=quantiles), losslab.pinball(p, t, quantile=[0.2, 0.6]))


# ================================================================ gradients
def summed(fn, reduction, **kw):
    """The scalar whose gradient ``grad.<name>`` is: the reduced loss, or the sum of the "none" losses."""

    def f(p):
        out = fn(p, reduction=reduction, **kw)
        return np.sum(out) if reduction == "none" else out

    return f


@pytest.mark.parametrize("spec", SPEC_PARAMS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("wkind", [None, "element", "sample"])
def test_gradient_central_differences(rng, spec, reduction, wkind):
    shape = (4, 3)
    p, t = pair(rng, shape, kinks=spec.kinks)
    w = weights(wkind, rng, shape)
    g = spec.g(p, t, reduction=reduction, weight=w)
    assert g.shape == shape and g.dtype == np.float64
    fd = numeric_grad(summed(lambda x, **kw: spec(x, t, **kw), reduction, weight=w), p)
    close(g, fd, rtol=1e-6, atol=1e-9)
    # and the closed form written out here
    wf = full_weight(w, shape)
    scale = wf / wf.sum() if reduction == "mean" else wf
    close(g, scale * spec.deriv(p, t))


@pytest.mark.parametrize("spec", SPEC_PARAMS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("wkind", [None, "element", "sample"])
def test_gradient_matches_torch_autograd(rng, spec, reduction, wkind):
    shape = (5, 2)
    p, t = pair(rng, shape, kinks=spec.kinks)
    w = weights(wkind, rng, shape)
    pt = torch.tensor(p, requires_grad=True)
    wt = None if w is None else torch.from_numpy(w)
    out = spec(pt, torch.from_numpy(t), reduction=reduction, weight=wt)
    (out.sum() if reduction == "none" else out).backward()
    close(spec.g(p, t, reduction=reduction, weight=w), pt.grad.numpy(), rtol=1e-12, atol=1e-15)
    g_torch = spec.g(pt.detach(), torch.from_numpy(t), reduction=reduction, weight=wt)
    assert isinstance(g_torch, torch.Tensor) and g_torch.dtype == torch.float64
    close(g_torch.numpy(), pt.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_pinball_multi_quantile_gradient(rng, reduction):
    qs = [0.2, 0.5, 0.9]
    t = rng.standard_normal(4)
    p = t[:, None] + rng.choice([-1, 1], size=(4, 3)) * rng.uniform(0.2, 2.0, size=(4, 3))
    w = rng.uniform(0.5, 2.0, size=4)
    g = G.pinball(p, t, quantile=qs, reduction=reduction, weight=w)
    fd = numeric_grad(summed(lambda x, **kw: losslab.pinball(x, t, quantile=qs, **kw), reduction, weight=w), p)
    close(g, fd, rtol=1e-6, atol=1e-9)
    pt = torch.tensor(p, requires_grad=True)
    out = losslab.pinball(pt, torch.from_numpy(t), quantile=qs, reduction=reduction, weight=torch.from_numpy(w))
    (out.sum() if reduction == "none" else out).backward()
    close(g, pt.grad.numpy(), atol=1e-15)


def test_gradient_at_kinks_is_the_documented_subgradient():
    t = np.zeros(3)
    p = np.array([0.0, 1.0, -1.0])
    close(G.mae(p, t, reduction="sum"), [0.0, 1.0, -1.0])
    close(G.pinball(p, t, quantile=0.3, reduction="sum"), [0.0, 0.7, -0.3])
    close(G.huber(p, t, delta=1.0, reduction="sum"), [0.0, 1.0, -1.0])  # continuous at |r| = delta


@pytest.mark.parametrize("wkind", [None, "element", "sample"])
def test_rmse_gradient(rng, wkind):
    shape = (4, 3)
    p, t = pair(rng, shape)
    w = weights(wkind, rng, shape)
    g = G.rmse(p, t, weight=w)
    close(g, numeric_grad(lambda x: losslab.rmse(x, t, weight=w), p), rtol=1e-6, atol=1e-9)
    wf = full_weight(w, shape)
    r = p - t
    value = np.sqrt(np.sum(wf * r**2) / wf.sum())
    close(losslab.rmse(p, t, weight=w), value)
    close(g, wf / wf.sum() * r / value)
    pt = torch.tensor(p, requires_grad=True)
    losslab.rmse(pt, torch.from_numpy(t), weight=None if w is None else torch.from_numpy(w)).backward()
    close(g, pt.grad.numpy(), atol=1e-15)


def test_rmse_gradient_at_zero_is_zero(rng):
    t = rng.standard_normal((3, 2))
    for w in [None, np.array([1.0, 2.0, 0.5])]:
        g = G.rmse(t.copy(), t, weight=w)
        assert g.shape == t.shape
        assert np.all(g == 0.0)
        assert losslab.rmse(t.copy(), t, weight=w) == 0.0
    # residual only where the weight is 0: the weighted rmse is 0, and so is the gradient
    p = t.copy()
    p[1] += 5.0
    w = np.array([1.0, 0.0, 1.0])
    assert losslab.rmse(p, t, weight=w) == 0.0
    assert np.all(G.rmse(p, t, weight=w) == 0.0)


def test_rmse_extreme_residuals_do_not_over_or_underflow():
    # the squares overflow (1e400) or underflow (1e-400), the rmse itself does not
    for scale in [1e200, 1e-200, 1e-170]:
        p = scale * np.array([3.0, 4.0])
        close(losslab.rmse(p, np.zeros(2)), scale * np.sqrt(12.5), rtol=1e-14)
        close(G.rmse(p, np.zeros(2)), np.array([3.0, 4.0]) / 2 / np.sqrt(12.5), rtol=1e-14)
    pt = torch.tensor([3e200, 4e200], dtype=torch.float64)
    close(losslab.rmse(pt, torch.zeros(2, dtype=torch.float64)).numpy(), 1e200 * np.sqrt(12.5), rtol=1e-14)


# ================================================================ bad input
NAN_INF = [
    (np.array([0.1, np.nan, 1.0]), np.zeros(3), r"`pred` contains NaN at index 1"),
    (np.zeros(3), np.array([0.0, 1.0, np.inf]), r"`target` contains inf at index 2"),
    (np.array([-np.inf, 0.0, 1.0]), np.zeros(3), r"`pred` contains -inf at index 0"),
    (np.array([[0.0, 1.0], [2.0, np.nan]]), np.zeros((2, 2)), r"`pred` contains NaN at index \(1, 1\)"),
    (np.array([0.0, np.inf]), np.array([0.0, np.inf]), r"`pred` contains inf at index 1"),  # inf - inf
]


@pytest.mark.parametrize("spec", SPEC_PARAMS)
@pytest.mark.parametrize("p,t,msg", NAN_INF)
def test_non_finite_input_is_named(spec, p, t, msg):
    with pytest.raises(ValueError, match=msg + ".*drop or impute"):
        spec(p, t)
    with pytest.raises(ValueError, match=msg):
        spec.g(p, t)
    with pytest.raises(ValueError, match=msg):
        spec(torch.from_numpy(p), torch.from_numpy(t), reduction="none")


@pytest.mark.parametrize("p,t,msg", NAN_INF)
def test_rmse_non_finite_input_is_named(p, t, msg):
    with pytest.raises(ValueError, match=msg):
        losslab.rmse(p, t)
    with pytest.raises(ValueError, match=msg):  # a NaN rmse must not give a zero gradient
        G.rmse(p, t)


def test_non_finite_is_an_error_even_under_warnings_as_errors():
    # NumPy would warn on inf - inf; the loss raises its own error instead
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="`pred` contains inf"):
            losslab.mse(np.array([np.inf]), np.array([np.inf]))


@pytest.mark.parametrize("spec", SPEC_PARAMS)
def test_shape_mismatch(spec):
    with pytest.raises(
        ValueError, match=r"`target` must have the shape of `pred` \(3,\); got \(2,\).*never broadcasts"
    ):
        spec(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match=r"`target` must have the shape of `pred` \(3, 1\); got \(3,\)"):
        spec.g(np.zeros((3, 1)), np.zeros(3))
    with pytest.raises(ValueError, match="`target` must have the shape"):
        losslab.rmse(np.zeros(3), np.zeros(4))


@pytest.mark.parametrize("delta", [0, 0.0, -1.0, np.inf])
def test_huber_bad_delta(delta):
    with pytest.raises(ValueError, match=r"`delta` must be positive and finite; got"):
        losslab.huber(np.zeros(2), np.ones(2), delta=delta)
    with pytest.raises(ValueError, match=r"`delta` must be positive and finite"):
        G.huber(np.zeros(2), np.ones(2), delta=delta)


def test_huber_delta_type():
    with pytest.raises(TypeError, match=r"`delta` must be a real number; got bool True"):
        losslab.huber(np.zeros(2), np.ones(2), delta=True)
    with pytest.raises(ValueError, match=r"`delta` must be a number; got nan"):
        losslab.huber(np.zeros(2), np.ones(2), delta=float("nan"))


@pytest.mark.parametrize("q", [0, 0.0, 1, 1.0, -0.2, 1.5])
def test_pinball_quantile_out_of_range(q):
    with pytest.raises(ValueError, match=rf"`quantile` must be in \(0, 1\); got {q!r}"):
        losslab.pinball(np.zeros(2), np.ones(2), quantile=q)
    with pytest.raises(ValueError, match=r"`quantile` must be in \(0, 1\)"):
        G.pinball(np.zeros(2), np.ones(2), quantile=q)


def test_pinball_quantile_sequence_errors():
    p, t = np.zeros((3, 2)), np.zeros(3)
    with pytest.raises(ValueError, match=r"`quantile\[1\]` must be in \(0, 1\); got 1.2"):
        losslab.pinball(p, t, quantile=[0.5, 1.2])
    with pytest.raises(ValueError, match=r"`quantile\[0\]` must be in \(0, 1\); got 0.0"):
        G.pinball(p, t, quantile=np.array([0.0, 0.5]))
    with pytest.raises(
        ValueError, match=r"with 2 quantiles `pred` must have a trailing quantile axis of length 2; got shape \(3, 3\)"
    ):
        losslab.pinball(np.zeros((3, 3)), t, quantile=[0.5, 0.2])
    with pytest.raises(ValueError, match=r"trailing quantile axis of length 1; got shape \(\)"):
        losslab.pinball(np.array(0.0), np.array(0.0), quantile=[0.5])
    with pytest.raises(ValueError, match=r"`target` must have shape \(3,\); got \(3, 2\)"):
        losslab.pinball(p, np.zeros((3, 2)), quantile=[0.5, 0.2])
    with pytest.raises(ValueError, match=r"non-empty sequence of them; got \[\]"):
        losslab.pinball(p, t, quantile=[])
    with pytest.raises(
        TypeError, match=r"`quantile` must be a number in \(0, 1\) or a non-empty sequence.*got str '0.5'"
    ):
        losslab.pinball(p, t, quantile="0.5")
    with pytest.raises(TypeError, match=r"`quantile` must be a number .* got NoneType None"):
        losslab.pinball(p, t, quantile=None)
    with pytest.raises(TypeError, match=r"`quantile\[0\]` must be a real number; got bool True"):
        losslab.pinball(p, t, quantile=[True, 0.5])


WEIGHT_ERRORS = [
    (np.zeros(3), np.ones(2), r"`weight` must have shape \(3,\) \(one per loss element\); got \(2,\)"),
    (
        np.zeros((3, 2)),
        np.ones(2),
        r"`weight` must have shape \(3, 2\) \(one per loss element\) or \(3,\) \(one per sample\); got \(2,\)",
    ),
    (np.zeros((3, 2)), np.ones((2, 3)), r"got \(2, 3\)"),
    (np.zeros(3), np.array([1.0, -1.0, 1.0]), r"`weight` must be finite and non-negative; got -1.0 at index 1"),
    (np.zeros(3), np.array([1.0, 1.0, np.nan]), r"`weight` must be finite and non-negative; got nan at index 2"),
    (np.zeros(3), np.array([1.0, np.inf, 1.0]), r"`weight` must be finite and non-negative; got inf at index 1"),
    (np.zeros((2, 2)), np.array([[1.0, 1.0], [-2.0, 1.0]]), r"got -2.0 at index \(1, 0\)"),
]


@pytest.mark.parametrize("spec", SPEC_PARAMS)
@pytest.mark.parametrize("p,w,msg", WEIGHT_ERRORS)
def test_bad_weight(spec, p, w, msg):
    with pytest.raises(ValueError, match=msg):
        spec(p, np.ones_like(p), weight=w)
    with pytest.raises(ValueError, match=msg):
        spec.g(p, np.ones_like(p), weight=w, reduction="sum")


@pytest.mark.parametrize("p,w,msg", WEIGHT_ERRORS)
def test_rmse_bad_weight(p, w, msg):
    with pytest.raises(ValueError, match=msg):
        losslab.rmse(p, np.ones_like(p), weight=w)


def test_all_zero_weight_under_mean():
    with pytest.raises(ValueError, match=r"total `weight` is 0 under reduction='mean'.*use reduction='sum'"):
        losslab.mse(np.zeros(3), np.ones(3), weight=np.zeros(3))
    with pytest.raises(ValueError, match=r"total `weight` is 0"):
        losslab.rmse(np.zeros(3), np.ones(3), weight=np.zeros(3))
    assert losslab.mse(np.zeros(3), np.ones(3), weight=np.zeros(3), reduction="sum") == 0.0


@pytest.mark.parametrize("reduction", ["avg", "Mean", None, "elementwise"])
def test_unknown_reduction(reduction):
    with pytest.raises(ValueError, match=rf"`reduction` must be one of 'mean', 'sum' or 'none'; got {reduction!r}"):
        losslab.mse(np.zeros(2), np.ones(2), reduction=reduction)
    with pytest.raises(ValueError, match=r"`reduction` must be one of"):
        G.huber(np.zeros(2), np.ones(2), reduction=reduction)
    with pytest.raises(ValueError, match=r"`reduction` must be one of"):
        losslab.pinball(np.zeros((2, 2)), np.ones(2), quantile=[0.1, 0.2], reduction=reduction)


@pytest.mark.parametrize("spec", SPEC_PARAMS)
def test_empty_input(spec):
    with pytest.raises(ValueError, match=r"the input is empty \(loss shape \(0,\)\).*use reduction='sum'"):
        spec(np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match=r"the input is empty"):
        spec.g(np.zeros(0), np.zeros(0))
    assert spec(np.zeros(0), np.zeros(0), reduction="sum") == 0.0
    assert spec(np.zeros((0, 2)), np.zeros((0, 2)), reduction="none").shape == (0, 2)
    with pytest.raises(ValueError, match=r"the input is empty"):
        losslab.rmse(np.zeros(0), np.zeros(0))


def test_mixed_namespaces():
    pt = torch.zeros(3, dtype=torch.float64)
    msg = r"`target` is a numpy array but `pred` is a torch array.*convert `target` with torch.as_tensor"
    for fn in [losslab.mse, losslab.mae, losslab.huber, losslab.pinball, losslab.rmse, G.mse, G.rmse]:
        with pytest.raises(TypeError, match=msg):
            fn(pt, np.zeros(3))
    with pytest.raises(TypeError, match=r"`target` is a torch array but `pred` is a numpy array.*numpy.asarray"):
        losslab.mse(np.zeros(3), pt)
    with pytest.raises(TypeError, match=r"`weight` is a numpy array but `pred` is a torch array"):
        losslab.mse(pt, pt, weight=np.ones(3))
    with pytest.raises(TypeError, match=r"`target` is a numpy array but `pred` is a torch array"):
        losslab.pinball(torch.zeros((3, 2)), np.zeros(3), quantile=[0.1, 0.9])


def test_complex_dtype():
    z = np.zeros(3, dtype=np.complex128)
    with pytest.raises(TypeError, match=r"`pred` must hold real numbers; got dtype complex128"):
        losslab.mse(z, np.zeros(3))
    with pytest.raises(TypeError, match=r"`target` must hold real numbers; got dtype complex128"):
        losslab.huber(np.zeros(3), z)
    with pytest.raises(TypeError, match=r"`weight` must hold real numbers; got dtype complex128"):
        losslab.mae(np.zeros(3), np.zeros(3), weight=z)
    with pytest.raises(TypeError, match=r"`pred` must hold real numbers; got dtype torch.complex128"):
        G.mse(torch.zeros(3, dtype=torch.complex128), torch.zeros(3))


# ================================================================ dtypes, extremes
def test_integer_and_list_inputs(rng):
    close(losslab.mse(np.array([1, 2, 3]), np.array([1, 2, 5])), 4.0 / 3.0)
    close(losslab.mae([1.0, 2.0], [0.0, 0.0]), 1.5)
    close(losslab.mse(np.array([0.5, 1.5]), np.array([True, False])), (0.25 + 2.25) / 2)
    # a Python list target for a float64 torch prediction is not rounded through float32
    pt = torch.tensor([0.0, 0.0], dtype=torch.float64)
    got = losslab.mse(pt, [0.1, 0.3], weight=[0.1, 0.7])
    assert got.dtype == torch.float64
    close(got.item(), (0.1 * 0.01 + 0.7 * 0.09) / 0.8, rtol=1e-15)


@pytest.mark.parametrize("spec", SPEC_PARAMS)
def test_float32_stays_float32(rng, spec):
    p, t = pair(rng, (4, 3), kinks=spec.kinks)
    p32, t32 = p.astype(np.float32), t.astype(np.float32)
    for reduction in REDUCTIONS:
        out = spec(p32, t32, reduction=reduction)
        assert out.dtype == np.float32
        close(out, spec(p32.astype(np.float64), t32.astype(np.float64), reduction=reduction), rtol=1e-6)
        assert spec.g(p32, t32, reduction=reduction).dtype == np.float32


@pytest.mark.parametrize("spec", SPEC_PARAMS)
def test_half_precision_computes_in_float32(rng, spec):
    p, t = pair(rng, (4, 3), kinks=spec.kinks)
    p16, t16 = p.astype(np.float16), t.astype(np.float16)
    ref = spec(p16.astype(np.float64), t16.astype(np.float64), reduction="sum")
    out = spec(p16, t16, reduction="sum")
    assert out.dtype == np.float32
    close(out, ref, rtol=1e-6)
    assert spec(p16, t16, reduction="mean").dtype == np.float32
    assert spec(p16, t16, reduction="none").dtype == np.float16
    g = spec.g(p16, t16, reduction="mean")
    assert g.dtype == np.float16 and g.shape == p.shape
    ph = torch.from_numpy(p).to(torch.bfloat16)
    th = torch.from_numpy(t).to(torch.bfloat16)
    assert spec(ph, th).dtype == torch.float32
    assert spec(ph, th, reduction="none").dtype == torch.bfloat16


def test_float16_sum_beyond_float16_range():
    p = np.full(100, 300.0, dtype=np.float16)  # each square 90000 > 65504
    t = np.zeros(100, dtype=np.float16)
    for x, y in [(p, t), (torch.from_numpy(p), torch.from_numpy(t))]:
        out = losslab.mse(x, y, reduction="sum")
        assert out.dtype in (np.float32, torch.float32)
        close(float(out), 9.0e6)
        close(float(losslab.mse(x, y)), 9.0e4)
        close(float(losslab.rmse(x, y)), 300.0)
    # small enough squares are summed past 65504 as well
    p = np.full(1000, 10.0, dtype=np.float16)
    close(losslab.mse(p, np.zeros(1000, dtype=np.float16), reduction="sum"), 1.0e5)
    # "none" must return float16, which cannot hold 90000: a clear error, not inf
    with pytest.raises(ValueError, match=r"the mse overflowed float16 although every input is finite"):
        losslab.mse(np.full(2, 300.0, dtype=np.float16), np.zeros(2, dtype=np.float16), reduction="none")


def test_large_float64_values():
    # 1e150 squared is 1e300: still finite in float64, computed exactly
    p = np.full(100, 1e150)
    close(losslab.mse(p, np.zeros(100)), 1e300)
    close(losslab.mse(p, -p, reduction="sum"), 4e302)
    close(G.mse(p, -p, reduction="sum"), np.full(100, 4e150))
    # 1e155 squared overflows: a ValueError naming the overflow, on every backend, even under -W error
    big = np.array([1e155, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"the mse overflowed float64 although every input is finite; rescale"):
            losslab.mse(big, np.zeros(2))
    with pytest.raises(ValueError, match=r"the mse overflowed (torch\.)?float64"):
        losslab.mse(torch.from_numpy(big), torch.zeros(2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"the huber overflowed float64"):
        losslab.huber(np.array([1e308]), np.array([-1e308]))


def test_zero_dimensional_inputs():
    close(losslab.mse(np.array(1.0), np.array(3.0)), 4.0)
    close(losslab.huber(np.array(1.0), np.array(3.0), reduction="none"), 1.5)
    close(G.mse(np.array(1.0), np.array(3.0)), -4.0)
    close(losslab.rmse(np.array(1.0), np.array(3.0)), 2.0)
    close(G.rmse(np.array(1.0), np.array(3.0)), -1.0)


# ================================================================ other backends
jax = pytest.importorskip("jax")
jnp = jax.numpy


def _np32(*arrays):
    return [np.asarray(a, dtype=np.float32) for a in arrays]


@pytest.mark.parametrize(
    "fn,kw",
    [(losslab.mse, {}), (losslab.huber, {"delta": 0.7}), (losslab.mae, {}), (losslab.pinball, {"quantile": 0.3})],
    ids=["mse", "huber", "mae", "pinball"],
)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_jax_jit_matches_numpy(rng, fn, kw, reduction):
    p, t = _np32(*pair(rng, (5, 3), kinks=(0.0, 0.7)))
    w = rng.uniform(0.5, 2.0, size=5).astype(np.float32)
    jitted = jax.jit(lambda a, b, c: fn(a, b, reduction=reduction, weight=c, **kw))
    out = jitted(jnp.asarray(p), jnp.asarray(t), jnp.asarray(w))
    assert isinstance(out, jax.Array) and out.dtype == jnp.float32
    close(np.asarray(out), fn(p, t, reduction=reduction, weight=w, **kw), rtol=1e-5)
    gfn = getattr(G, fn.__name__)
    g = jax.jit(lambda a, b: gfn(a, b, reduction=reduction, **kw))(jnp.asarray(p), jnp.asarray(t))
    close(np.asarray(g), gfn(p, t, reduction=reduction, **kw), rtol=1e-5, atol=1e-7)


def test_jax_grad_of_loss_matches_closed_form(rng):
    p, t = _np32(*pair(rng, (6,), kinks=(0.0, 0.7)))
    for fn, kw in [(losslab.mse, {}), (losslab.huber, {"delta": 0.7}), (losslab.rmse, {})]:
        auto = jax.grad(lambda a, fn=fn, kw=kw: fn(a, jnp.asarray(t), **kw))(jnp.asarray(p))
        close(np.asarray(auto), getattr(G, fn.__name__)(p, t, **kw), rtol=1e-5, atol=1e-7)


def test_jax_jit_multi_quantile_and_rmse(rng):
    t = rng.standard_normal(5).astype(np.float32)
    p = rng.standard_normal((5, 2)).astype(np.float32)
    out = jax.jit(lambda a, b: losslab.pinball(a, b, quantile=[0.2, 0.8]))(jnp.asarray(p), jnp.asarray(t))
    close(np.asarray(out), losslab.pinball(p, t, quantile=[0.2, 0.8]), rtol=1e-5)
    out = jax.jit(losslab.rmse)(jnp.asarray(p), jnp.asarray(p + 1.0))
    close(np.asarray(out), 1.0, rtol=1e-5)


def test_jax_jit_skips_value_checks():
    # NaN cannot be seen while tracing: it propagates instead of raising
    out = jax.jit(losslab.mse)(jnp.asarray([0.0, jnp.nan]), jnp.zeros(2))
    assert np.isnan(np.asarray(out))
    # shape checks still run while tracing
    with pytest.raises(ValueError, match="`target` must have the shape of `pred`"):
        jax.jit(losslab.mse)(jnp.zeros(3), jnp.zeros(2))


ALL_FNS = [
    (losslab.mse, G.mse, {}),
    (losslab.mae, G.mae, {}),
    (losslab.huber, G.huber, {"delta": 0.7}),
    (losslab.pinball, G.pinball, {"quantile": 0.3}),
]


@pytest.mark.parametrize("fn,gfn,kw", ALL_FNS, ids=["mse", "mae", "huber", "pinball"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_array_api_strict(rng, fn, gfn, kw, reduction):
    p, t = pair(rng, (4, 3), kinks=(0.0, 0.7))
    w = rng.uniform(0.5, 2.0, size=4)
    a, b, c = xs.asarray(p), xs.asarray(t), xs.asarray(w)
    out = fn(a, b, reduction=reduction, weight=c, **kw)
    assert isinstance(out, StrictArray) and out.dtype == xs.float64
    close(np.asarray(out), fn(p, t, reduction=reduction, weight=w, **kw))
    g = gfn(a, b, reduction=reduction, weight=c, **kw)
    assert isinstance(g, StrictArray) and g.shape == (4, 3)
    close(np.asarray(g), gfn(p, t, reduction=reduction, weight=w, **kw))


def test_array_api_strict_rmse_and_quantiles(rng):
    p, t = pair(rng, (4, 2))
    out = losslab.rmse(xs.asarray(p), xs.asarray(t))
    assert isinstance(out, StrictArray)
    close(np.asarray(out), losslab.rmse(p, t))
    assert isinstance(G.rmse(xs.asarray(p), xs.asarray(t)), StrictArray)
    out = losslab.pinball(xs.asarray(p), xs.asarray(t[:, 0]), quantile=[0.3, 0.6], reduction="none")
    assert isinstance(out, StrictArray)
    close(np.asarray(out), losslab.pinball(p, t[:, 0], quantile=[0.3, 0.6], reduction="none"))
    with pytest.raises(ValueError, match=r"`pred` contains NaN at index \(0, 1\)"):
        losslab.mse(xs.asarray(np.array([[0.0, np.nan]])), xs.asarray(np.zeros((1, 2))))


def test_jax_jit_closed_over_concrete_arrays(rng):
    # concrete arrays captured by a jitted function: the value checks must not call bool() on tracers
    p, t = _np32(*pair(rng, (6,), kinks=(0.0, 0.7)))
    pj, tj = jnp.asarray(p), jnp.asarray(t)
    for name, kw in [("mse", {}), ("mae", {}), ("huber", {"delta": 0.7}), ("pinball", {"quantile": 0.3})]:
        out = jax.jit(lambda name=name, kw=kw: getattr(G, name)(pj, tj, **kw))()
        close(np.asarray(out), getattr(G, name)(p, t, **kw), rtol=1e-5, atol=1e-7)
        out = jax.jit(lambda x, name=name, kw=kw: getattr(losslab, name)(x, tj, **kw))(pj)
        close(np.asarray(out), getattr(losslab, name)(p, t, **kw), rtol=1e-5)
    close(np.asarray(jax.jit(lambda: losslab.rmse(pj, tj))()), losslab.rmse(p, t), rtol=1e-5)


def test_jax_eager_arrays_are_checked():
    with pytest.raises(ValueError, match=r"`pred` contains NaN at index 1"):
        losslab.mse(jnp.asarray([0.0, jnp.nan]), jnp.zeros(2))
    with pytest.raises(ValueError, match=r"`target` contains inf at index 0"):
        G.mae(jnp.zeros(2), jnp.asarray([jnp.inf, 0.0]))
