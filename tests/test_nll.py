"""Negative log-likelihoods (Gaussian, Laplace, Poisson) and their gradients.

References: ``torch.nn.functional.gaussian_nll_loss`` and ``poisson_nll_loss``,
and ``scipy.stats`` log-densities for ``full=True``. Gradients w.r.t. the first
argument are checked against float64 central differences and against torch
autograd of the losslab functions; the gradient w.r.t. a learned variance
(or scale) is checked by autograd against the derivative written out by hand.
"""

from __future__ import annotations

import math
import warnings

import array_api_strict as xs
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from array_api_strict._array_object import Array as StrictArray
from scipy import stats
from scipy.special import gammaln

import losslab
from conftest import expected_reduced, full_weight, numeric_grad
from losslab import grad as G

RTOL = 1e-12
REDUCTIONS = ["mean", "sum", "none"]
LOG_2PI = math.log(2 * math.pi)


def close(actual, expected, rtol=RTOL, atol=0.0):
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected, rtol=rtol, atol=atol)


def gaussian_case(rng, shape):
    m = rng.standard_normal(shape)
    t = rng.standard_normal(shape)
    v = rng.uniform(0.2, 3.0, size=shape)
    return m, t, v


def laplace_case(rng, shape):
    """Residuals at least 0.1 away from the kink of |t - m|."""
    t = rng.standard_normal(shape)
    m = t + rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 2.0, size=shape)
    return m, t, rng.uniform(0.3, 2.5, size=shape)


def poisson_case(rng, shape):
    eta = 0.7 * rng.standard_normal(shape)
    t = rng.poisson(np.exp(eta)).astype(np.float64)
    return eta, t


def coef(w, shape, reduction):
    """d(reduced)/d(per-element loss): the weights, normalised under "mean"."""
    wf = full_weight(w, shape)
    return wf / wf.sum() if reduction == "mean" else wf


def make_weight(kind, rng, shape):
    if kind is None:
        return None
    if kind == "element":
        return rng.uniform(0.2, 3.0, size=shape)
    return rng.uniform(0.2, 3.0, size=shape[0])


# ============================================================ reference values
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("var_kind", ["array", "scalar"])
def test_gaussian_matches_torch(rng, reduction, full, var_kind):
    m, t, v = gaussian_case(rng, (6, 3))
    var = v if var_kind == "array" else 0.37
    tvar = torch.from_numpy(v) if var_kind == "array" else var
    expected = F.gaussian_nll_loss(
        torch.from_numpy(m), torch.from_numpy(t), tvar, full=full, reduction=reduction
    ).numpy()
    close(losslab.gaussian_nll(m, t, var=var, full=full, reduction=reduction), expected)
    tvar2 = torch.from_numpy(v) if var_kind == "array" else var
    got = losslab.gaussian_nll(torch.from_numpy(m), torch.from_numpy(t), var=tvar2, full=full, reduction=reduction)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
    close(got.numpy(), expected)


@pytest.mark.parametrize("var_kind", ["array", "scalar", "0-d"])
def test_gaussian_full_is_scipy_logpdf(rng, var_kind):
    m, t, v = gaussian_case(rng, (10,))
    var = {"array": v, "scalar": 1.7, "0-d": np.array(1.7)}[var_kind]
    ref = -stats.norm.logpdf(t, loc=m, scale=np.sqrt(np.asarray(var)))
    close(losslab.gaussian_nll(m, t, var=var, full=True, reduction="none"), ref)
    close(losslab.gaussian_nll(m, t, var=var, full=True), ref.mean())
    close(losslab.gaussian_nll(m, t, var=var, full=False, reduction="none"), ref - 0.5 * LOG_2PI)


def test_gaussian_unit_variance_is_half_mse(rng):
    m, t, _ = gaussian_case(rng, (5, 2))
    for reduction in REDUCTIONS:
        close(
            losslab.gaussian_nll(m, t, reduction=reduction),
            0.5 * np.asarray(losslab.mse(m, t, reduction=reduction)),
        )
    close(losslab.gaussian_nll(m, t, full=True), 0.5 * losslab.mse(m, t) + 0.5 * LOG_2PI)
    close(G.gaussian_nll(m, t), 0.5 * G.mse(m, t))


def test_gaussian_docstring_value():
    close(losslab.gaussian_nll(np.array([0.0]), np.array([2.0]), var=4.0), (math.log(4.0) + 1.0) / 2)


@pytest.mark.parametrize("scale_kind", ["array", "scalar"])
def test_laplace_full_is_scipy_logpdf(rng, scale_kind):
    m, t, b = laplace_case(rng, (10,))
    scale = b if scale_kind == "array" else 0.8
    ref = -stats.laplace.logpdf(t, loc=m, scale=scale)
    close(losslab.laplace_nll(m, t, scale=scale, full=True, reduction="none"), ref)
    close(losslab.laplace_nll(m, t, scale=scale, full=True, reduction="sum"), ref.sum())
    close(losslab.laplace_nll(m, t, scale=scale, reduction="none"), ref - math.log(2.0))


def test_laplace_unit_scale_is_mae(rng):
    m, t, _ = laplace_case(rng, (4, 3))
    for reduction in REDUCTIONS:
        close(losslab.laplace_nll(m, t, reduction=reduction), losslab.mae(m, t, reduction=reduction))
    close(G.laplace_nll(m, t), G.mae(m, t))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_poisson_matches_torch(rng, reduction):
    eta, t = poisson_case(rng, (7, 3))
    expected = F.poisson_nll_loss(
        torch.from_numpy(eta), torch.from_numpy(t), log_input=True, full=False, reduction=reduction
    ).numpy()
    close(losslab.poisson_nll(eta, t, reduction=reduction), expected)
    got = losslab.poisson_nll(torch.from_numpy(eta), torch.from_numpy(t), reduction=reduction)
    close(got.numpy(), expected)


def test_poisson_full_is_scipy_logpmf(rng):
    eta, t = poisson_case(rng, (20,))
    t[:3] = [0.0, 1.0, 25.0]  # 0! = 1! = 1, and a large count (exact lgamma, not Stirling)
    ref = -stats.poisson.logpmf(t, np.exp(eta))
    close(losslab.poisson_nll(eta, t, full=True, reduction="none"), ref)
    close(losslab.poisson_nll(eta, t, full=True), ref.mean())
    close(losslab.poisson_nll(eta, t, reduction="none"), ref - gammaln(t + 1))
    # integer targets are cast to the prediction's dtype
    close(losslab.poisson_nll(eta, t.astype(np.int64), full=True, reduction="none"), ref)


def test_poisson_non_integer_targets_extend_through_gamma():
    eta = np.array([0.3, -0.2])
    t = np.array([0.5, 2.25])
    close(losslab.poisson_nll(eta, t, full=True, reduction="none"), np.exp(eta) - t * eta + gammaln(t + 1.0))


def test_poisson_docstring_value():
    close(losslab.poisson_nll(np.array([0.0]), np.array([2.0])), 1.0)
    close(G.poisson_nll(np.array([0.0]), np.array([2.0])), [-1.0])


# ============================================================ reductions, weights
NLLS = {
    "gaussian": (losslab.gaussian_nll, G.gaussian_nll),
    "gaussian-full": (lambda *a, **k: losslab.gaussian_nll(*a, full=True, **k), G.gaussian_nll),
    "laplace": (losslab.laplace_nll, G.laplace_nll),
    "poisson": (losslab.poisson_nll, G.poisson_nll),
    "poisson-full": (lambda *a, **k: losslab.poisson_nll(*a, full=True, **k), G.poisson_nll),
}


def nll_case(name, rng, shape):
    """(first arg, target, options, per-element value formula, per-element derivative formula)."""
    if name.startswith("gaussian"):
        m, t, v = gaussian_case(rng, shape)
        const = 0.5 * LOG_2PI if name.endswith("full") else 0.0
        return m, t, {"var": v}, 0.5 * (np.log(v) + (t - m) ** 2 / v) + const, (m - t) / v
    if name == "laplace":
        m, t, b = laplace_case(rng, shape)
        return m, t, {"scale": b}, np.log(b) + np.abs(t - m) / b, np.sign(m - t) / b
    eta, t = poisson_case(rng, shape)
    const = gammaln(t + 1) if name.endswith("full") else 0.0
    return eta, t, {}, np.exp(eta) - t * eta + const, np.exp(eta) - t


NLL_IDS = list(NLLS)


@pytest.mark.parametrize("name", NLL_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("wkind", [None, "element", "sample"])
def test_reduction_and_weights_match_formula(rng, name, reduction, wkind):
    fn, gfn = NLLS[name]
    shape = (5, 3)
    x, t, opts, value, deriv = nll_case(name, rng, shape)
    w = make_weight(wkind, rng, shape)
    got = fn(x, t, **opts, reduction=reduction, weight=w)
    assert tuple(np.shape(got)) == (shape if reduction == "none" else ())
    close(got, expected_reduced(value, w, reduction))
    close(gfn(x, t, **opts, reduction=reduction, weight=w), coef(w, shape, reduction) * deriv)


@pytest.mark.parametrize("name", NLL_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_unit_weight_is_unweighted(rng, name, reduction):
    fn, gfn = NLLS[name]
    x, t, opts, _, _ = nll_case(name, rng, (6, 2))
    plain = fn(x, t, **opts, reduction=reduction)
    close(fn(x, t, **opts, reduction=reduction, weight=np.ones((6, 2))), plain)
    close(fn(x, t, **opts, reduction=reduction, weight=np.ones(6, dtype=np.int32)), plain)
    close(gfn(x, t, **opts, reduction=reduction, weight=np.ones(6)), gfn(x, t, **opts, reduction=reduction))


def _take(opts, idx):
    return {k: v[idx] for k, v in opts.items()}


@pytest.mark.parametrize("name", NLL_IDS)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_integer_weights_repeat_rows_and_zero_drops(rng, name, reduction):
    fn, _ = NLLS[name]
    x, t, opts, _, _ = nll_case(name, rng, (5, 2))
    k = np.array([2, 0, 1, 3, 1])
    idx = np.repeat(np.arange(5), k)
    close(fn(x, t, **opts, reduction=reduction, weight=k), fn(x[idx], t[idx], **_take(opts, idx), reduction=reduction))
    keep = k > 0
    w = k.astype(np.float64)
    close(
        fn(x, t, **opts, reduction=reduction, weight=w),
        fn(x[keep], t[keep], **_take(opts, keep), reduction=reduction, weight=w[keep]),
    )


# ================================================================ gradients
def scalar_of(fn, reduction, **kw):
    def f(x):
        out = fn(x, reduction=reduction, **kw)
        return np.sum(out) if reduction == "none" else out

    return f


@pytest.mark.parametrize("name", NLL_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("wkind", [None, "element", "sample"])
def test_gradient_central_differences(rng, name, reduction, wkind):
    fn, gfn = NLLS[name]
    shape = (4, 3)
    x, t, opts, _, _ = nll_case(name, rng, shape)
    w = make_weight(wkind, rng, shape)
    g = gfn(x, t, **opts, reduction=reduction, weight=w)
    assert g.shape == shape and g.dtype == np.float64
    fd = numeric_grad(scalar_of(lambda a, **kw: fn(a, t, **opts, **kw), reduction, weight=w), x)
    close(g, fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", NLL_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("wkind", [None, "element", "sample"])
def test_gradient_matches_torch_autograd(rng, name, reduction, wkind):
    fn, gfn = NLLS[name]
    shape = (5, 2)
    x, t, opts, _, _ = nll_case(name, rng, shape)
    w = make_weight(wkind, rng, shape)
    topts = {k: torch.from_numpy(v) for k, v in opts.items()}
    wt = None if w is None else torch.from_numpy(w)
    xt = torch.tensor(x, requires_grad=True)
    out = fn(xt, torch.from_numpy(t), **topts, reduction=reduction, weight=wt)
    (out.sum() if reduction == "none" else out).backward()
    close(gfn(x, t, **opts, reduction=reduction, weight=w), xt.grad.numpy(), atol=1e-15)
    gt = gfn(xt.detach(), torch.from_numpy(t), **topts, reduction=reduction, weight=wt)
    assert isinstance(gt, torch.Tensor) and gt.dtype == torch.float64
    close(gt.numpy(), xt.grad.numpy(), atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradient_with_scalar_parameter(rng, reduction):
    m, t, _ = gaussian_case(rng, (6,))
    for fn, gfn, opt in [
        (losslab.gaussian_nll, G.gaussian_nll, {"var": 0.3}),
        (losslab.laplace_nll, G.laplace_nll, {"scale": 0.3}),
    ]:
        g = gfn(m, t, **opt, reduction=reduction)
        close(
            g, numeric_grad(scalar_of(lambda a, fn=fn, opt=opt, **kw: fn(a, t, **opt, **kw), reduction), m), rtol=1e-6
        )
        mt = torch.tensor(m, requires_grad=True)
        out = fn(mt, torch.from_numpy(t), **opt, reduction=reduction)
        (out.sum() if reduction == "none" else out).backward()
        close(g, mt.grad.numpy(), atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("wkind", [None, "element", "sample"])
def test_learned_variance_autograd(rng, reduction, wkind):
    shape = (5, 3)
    m, t, v = gaussian_case(rng, shape)
    w = make_weight(wkind, rng, shape)
    mt = torch.tensor(m, requires_grad=True)
    vt = torch.tensor(v, requires_grad=True)
    out = losslab.gaussian_nll(
        mt, torch.from_numpy(t), var=vt, reduction=reduction, weight=None if w is None else torch.from_numpy(w)
    )
    (out.sum() if reduction == "none" else out).backward()
    assert vt.grad is not None
    c = coef(w, shape, reduction)
    r = t - m
    close(vt.grad.numpy(), c * 0.5 * (1.0 / v - r**2 / v**2))
    close(mt.grad.numpy(), c * (m - t) / v)


def test_learned_scale_autograd(rng):
    m, t, b = laplace_case(rng, (8,))
    bt = torch.tensor(b, requires_grad=True)
    losslab.laplace_nll(torch.from_numpy(m), torch.from_numpy(t), scale=bt).backward()
    close(bt.grad.numpy(), (1.0 / b - np.abs(t - m) / b**2) / 8)


def test_learned_variance_optimum_is_squared_residual(rng):
    # d/dvar vanishes at var = r^2: the variance a heteroscedastic model learns
    m, t, _ = gaussian_case(rng, (6,))
    vt = torch.tensor((t - m) ** 2, requires_grad=True)
    losslab.gaussian_nll(torch.from_numpy(m), torch.from_numpy(t), var=vt).backward()
    close(vt.grad.numpy(), np.zeros(6), atol=1e-12)


# ================================================================ bad input
NLL_FNS = [
    pytest.param(losslab.gaussian_nll, "mean", id="gaussian"),
    pytest.param(losslab.laplace_nll, "mean", id="laplace"),
    pytest.param(losslab.poisson_nll, "log_rate", id="poisson"),
    pytest.param(G.gaussian_nll, "mean", id="grad-gaussian"),
    pytest.param(G.laplace_nll, "mean", id="grad-laplace"),
    pytest.param(G.poisson_nll, "log_rate", id="grad-poisson"),
]


@pytest.mark.parametrize("fn,first", NLL_FNS)
def test_non_finite_first_argument_is_named(fn, first):
    for bad, what in [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "-inf")]:
        x = np.array([[0.1, 0.2], [0.3, bad]])
        with pytest.raises(ValueError, match=rf"`{first}` contains {what} at index \(1, 1\).*drop or impute"):
            fn(x, np.ones((2, 2)))
        with warnings.catch_warnings():  # no NumPy RuntimeWarning in front of the error
            warnings.simplefilter("error")
            with pytest.raises(ValueError, match=rf"`{first}` contains {what}"):
                fn(x, np.ones((2, 2)), reduction="sum")


@pytest.mark.parametrize("fn,first", NLL_FNS)
def test_non_finite_target_is_named(fn, first):
    t = np.array([1.0, np.inf, 2.0])
    with pytest.raises(ValueError, match=r"`target` contains inf at index 1"):
        fn(np.zeros(3), t)
    if first == "mean":
        with pytest.raises(ValueError, match=r"`target` contains NaN at index 2"):
            fn(np.zeros(3), np.array([1.0, 0.0, np.nan]))
    else:  # the Poisson count check sees the NaN first
        with pytest.raises(ValueError, match=r"`target` must hold non-negative counts.*got nan at index 2"):
            fn(np.zeros(3), np.array([1.0, 0.0, np.nan]))


@pytest.mark.parametrize("fn,first", NLL_FNS)
def test_shape_mismatch(fn, first):
    with pytest.raises(ValueError, match=rf"`target` must have the shape of `{first}` \(3,\); got \(3, 1\)"):
        fn(np.zeros(3), np.zeros((3, 1)))


@pytest.mark.parametrize("fn", [losslab.gaussian_nll, G.gaussian_nll])
def test_bad_variance(fn):
    m, t = np.zeros(3), np.ones(3)
    for v in [0, 0.0, -1.0, np.inf, -np.inf]:
        with pytest.raises(ValueError, match=rf"`var` must be positive and finite; got {v!r}$"):
            fn(m, t, var=v)
    with pytest.raises(ValueError, match=r"`var` must be a number; got nan"):
        fn(m, t, var=float("nan"))
    with pytest.raises(TypeError, match=r"`var` must be a real number; got bool True"):
        fn(m, t, var=True)
    with pytest.raises(ValueError, match=r"`var` must be positive and finite; got 0.0 at index 1"):
        fn(m, t, var=np.array([1.0, 0.0, 2.0]))
    with pytest.raises(ValueError, match=r"`var` must be positive and finite; got -2.0 at index \(1, 0\)"):
        fn(np.zeros((2, 2)), np.ones((2, 2)), var=np.array([[1.0, 1.0], [-2.0, 1.0]]))
    with pytest.raises(ValueError, match=r"`var` must be positive and finite; got nan at index 2"):
        fn(m, t, var=np.array([1.0, 1.0, np.nan]))
    with pytest.raises(ValueError, match=r"`var` must be positive and finite; got inf at index 0"):
        fn(m, t, var=np.array([np.inf, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"`var` must be positive and finite; got -1.0"):
        fn(m, t, var=np.array(-1.0))
    with pytest.raises(
        ValueError,
        match=r"`var` must be a positive number or an array of shape \(3,\) \(one per prediction\); got shape \(2,\)",
    ):
        fn(m, t, var=np.ones(2))
    with pytest.raises(ValueError, match=r"array of shape \(3, 2\).*got shape \(2,\)"):
        fn(np.zeros((3, 2)), np.ones((3, 2)), var=np.ones(2))  # never broadcast silently
    with pytest.raises(TypeError, match=r"`var` must hold real numbers; got dtype complex128"):
        fn(m, t, var=np.ones(3, dtype=np.complex128))
    with pytest.raises(TypeError, match=r"`var` is a torch array but `mean` is a numpy array.*numpy.asarray"):
        fn(m, t, var=torch.ones(3))


@pytest.mark.parametrize("fn", [losslab.laplace_nll, G.laplace_nll])
def test_bad_scale(fn):
    m, t = np.zeros(3), np.ones(3)
    with pytest.raises(ValueError, match=r"`scale` must be positive and finite; got 0.0$"):
        fn(m, t, scale=0.0)
    with pytest.raises(ValueError, match=r"`scale` must be positive and finite; got -2.0 at index 1"):
        fn(m, t, scale=np.array([1.0, -2.0, 2.0]))
    with pytest.raises(ValueError, match=r"`scale` must be a positive number or an array of shape \(3,\)"):
        fn(m, t, scale=np.ones(4))


@pytest.mark.parametrize("fn", [losslab.poisson_nll, G.poisson_nll])
def test_negative_poisson_target(fn):
    with pytest.raises(
        ValueError, match=r"`target` must hold non-negative counts for the Poisson likelihood; got -1.0 at index 1"
    ):
        fn(np.zeros(3), np.array([1.0, -1.0, 2.0]))
    with pytest.raises(ValueError, match=r"got -3.0 at index \(0, 1\)"):
        fn(np.zeros((2, 2)), np.array([[1.0, -3.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"got -1.0 at index 0"):
        fn(torch.zeros(2, dtype=torch.float64), torch.tensor([-1.0, 1.0], dtype=torch.float64))


@pytest.mark.parametrize("fn,first", NLL_FNS)
def test_bad_weight_reduction_empty(fn, first):
    with pytest.raises(ValueError, match=r"`weight` must have shape \(3,\) \(one per loss element\); got \(4,\)"):
        fn(np.zeros(3), np.ones(3), weight=np.ones(4))
    with pytest.raises(
        ValueError,
        match=r"`weight` must have shape \(3, 2\) \(one per loss element\) or \(3,\) \(one per sample\); got \(2,\)",
    ):
        fn(np.zeros((3, 2)), np.ones((3, 2)), weight=np.ones(2))
    with pytest.raises(ValueError, match=r"`weight` must be finite and non-negative; got -0.5 at index 2"):
        fn(np.zeros(3), np.ones(3), weight=np.array([1.0, 1.0, -0.5]))
    with pytest.raises(ValueError, match=r"total `weight` is 0 under reduction='mean'"):
        fn(np.zeros(3), np.ones(3), weight=np.zeros(3))
    with pytest.raises(ValueError, match=r"`reduction` must be one of 'mean', 'sum' or 'none'; got 'average'"):
        fn(np.zeros(3), np.ones(3), reduction="average")
    with pytest.raises(ValueError, match=r"the input is empty \(loss shape \(0, 2\)\).*use reduction='sum'"):
        fn(np.zeros((0, 2)), np.ones((0, 2)))
    assert fn(np.zeros((0, 2)), np.ones((0, 2)), reduction="none").shape == (0, 2)


@pytest.mark.parametrize("fn,first", NLL_FNS)
def test_mixed_namespaces_and_complex(fn, first):
    with pytest.raises(TypeError, match=rf"`target` is a numpy array but `{first}` is a torch array.*torch.as_tensor"):
        fn(torch.zeros(3, dtype=torch.float64), np.ones(3))
    with pytest.raises(TypeError, match=rf"`{first}` must hold real numbers; got dtype complex128"):
        fn(np.zeros(3, dtype=np.complex128), np.ones(3))
    with pytest.raises(TypeError, match=r"`target` must hold real numbers; got dtype complex64"):
        fn(np.zeros(3), np.ones(3, dtype=np.complex64))


# ================================================================ extremes
def test_tiny_variance_with_zero_residual_is_finite():
    m = np.array([0.5, -1.0])
    for var in [1e-300, np.full(2, 1e-300), np.array(1e-300)]:
        out = losslab.gaussian_nll(m, m.copy(), var=var, reduction="none")
        close(out, np.full(2, 0.5 * math.log(1e-300)))
        assert np.all(G.gaussian_nll(m, m.copy(), var=var) == 0.0)
    mt = torch.from_numpy(m)
    close(losslab.gaussian_nll(mt, mt.clone(), var=1e-300).numpy(), 0.5 * math.log(1e-300))
    # not clamped (torch clamps var at eps=1e-6): the tiny variance is used as given
    z = np.zeros(2)
    close(losslab.gaussian_nll(z, z + 1e-151, var=1e-300, reduction="none"), 0.5 * (math.log(1e-300) + 1e-2), rtol=1e-9)


def test_tiny_variance_underflowing_float32_is_reported():
    m = np.zeros(2, dtype=np.float32)
    with pytest.raises(ValueError, match=r"`var` = 1e-300 underflows to 0 in float32; compute in float64"):
        losslab.gaussian_nll(m, m, var=1e-300)


def test_tiny_variance_overflowing_residual_is_an_overflow_error():
    with pytest.raises(ValueError, match=r"the Gaussian NLL overflowed float64 although every input is finite"):
        losslab.gaussian_nll(np.zeros(1), np.ones(1), var=1e-310)


def test_scalar_parameters_keep_float64_precision_on_torch():
    # a Python float is not rounded through torch's float32 default
    m = torch.zeros(1, dtype=torch.float64)
    t = torch.ones(1, dtype=torch.float64)
    close(losslab.gaussian_nll(m, t, var=0.1).item(), 0.5 * (math.log(0.1) + 10.0), rtol=1e-15)
    close(losslab.laplace_nll(m, t, scale=0.1).item(), math.log(0.1) + 10.0, rtol=1e-15)
    close(G.gaussian_nll(m, t, var=0.1).numpy(), [-10.0], rtol=1e-15)


def test_poisson_extremes():
    # a large negative log-rate with a zero count is a (near-)zero loss, not an error
    close(losslab.poisson_nll(np.array([-700.0]), np.array([0.0])), np.exp(-700.0))
    # exp overflow is reported as such
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"the Poisson NLL overflowed float64 although every input is finite"):
            losslab.poisson_nll(np.array([800.0]), np.array([1.0]))


def test_half_precision_reduces_in_float32(rng):
    m, t, v = gaussian_case(rng, (4, 3))
    m16, t16, v16 = (a.astype(np.float16) for a in (m, t, v))
    out = losslab.gaussian_nll(m16, t16, var=v16)
    assert out.dtype == np.float32
    m64, t64, v64 = (a.astype(np.float64) for a in (m16, t16, v16))
    close(out, losslab.gaussian_nll(m64, t64, var=v64), rtol=1e-6)
    assert losslab.gaussian_nll(m16, t16, var=v16, reduction="none").dtype == np.float16
    assert G.gaussian_nll(m16, t16, var=v16).dtype == np.float16
    eta = torch.from_numpy(m).to(torch.bfloat16)
    assert losslab.poisson_nll(eta, torch.ones(4, 3, dtype=torch.bfloat16)).dtype == torch.float32
    assert losslab.laplace_nll(eta, eta.clone(), reduction="none").dtype == torch.bfloat16
    # float16 counts summed past 65504
    big = np.full(10, 12.0, dtype=np.float16)  # exp(12) = 162755 per element
    out = losslab.poisson_nll(big, np.zeros(10, dtype=np.float16), reduction="sum")
    assert out.dtype == np.float32
    close(out, 10 * np.exp(12.0), rtol=1e-6)


# ================================================================ other backends
jax = pytest.importorskip("jax")
jnp = jax.numpy


def f32(*arrays):
    return [np.asarray(a, dtype=np.float32) for a in arrays]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("full", [False, True])
def test_jax_jit_gaussian_matches_numpy(rng, reduction, full):
    m, t, v = f32(*gaussian_case(rng, (5, 3)))
    w = rng.uniform(0.5, 2.0, size=5).astype(np.float32)
    fn = jax.jit(lambda a, b, c, d: losslab.gaussian_nll(a, b, var=c, full=full, reduction=reduction, weight=d))
    out = fn(jnp.asarray(m), jnp.asarray(t), jnp.asarray(v), jnp.asarray(w))
    assert isinstance(out, jax.Array) and out.dtype == jnp.float32
    close(np.asarray(out), losslab.gaussian_nll(m, t, var=v, full=full, reduction=reduction, weight=w), rtol=1e-5)
    g = jax.jit(lambda a, b: G.gaussian_nll(a, b, var=0.5, reduction=reduction))(jnp.asarray(m), jnp.asarray(t))
    close(np.asarray(g), G.gaussian_nll(m, t, var=0.5, reduction=reduction), rtol=1e-5)


def test_jax_grad_into_variance(rng):
    m, t, v = f32(*gaussian_case(rng, (6,)))
    dv = jax.grad(lambda var: losslab.gaussian_nll(jnp.asarray(m), jnp.asarray(t), var=var), argnums=0)(jnp.asarray(v))
    r = t.astype(np.float64) - m
    close(np.asarray(dv), 0.5 * (1.0 / v - r**2 / v.astype(np.float64) ** 2) / 6, rtol=1e-5)
    dm = jax.jit(jax.grad(lambda a: losslab.gaussian_nll(a, jnp.asarray(t), var=jnp.asarray(v))))(jnp.asarray(m))
    close(np.asarray(dm), G.gaussian_nll(m, t, var=v), rtol=1e-5)


def test_jax_jit_laplace_and_poisson(rng):
    eta, t = f32(*poisson_case(rng, (6,)))
    for full in [False, True]:
        out = jax.jit(lambda a, b, full=full: losslab.poisson_nll(a, b, full=full))(jnp.asarray(eta), jnp.asarray(t))
        close(np.asarray(out), losslab.poisson_nll(eta, t, full=full), rtol=1e-5)
    out = jax.jit(lambda a, b: losslab.laplace_nll(a, b, scale=2.0))(jnp.asarray(eta), jnp.asarray(t))
    close(np.asarray(out), losslab.laplace_nll(eta, t, scale=2.0), rtol=1e-5)


def test_jax_jit_skips_value_checks():
    # a negative count, a NaN and a negative variance array cannot be seen while tracing
    out = jax.jit(losslab.poisson_nll)(jnp.zeros(2), jnp.asarray([1.0, jnp.nan]))
    assert np.isnan(np.asarray(out))
    out = jax.jit(lambda a, b, v: losslab.gaussian_nll(a, b, var=v))(jnp.zeros(2), jnp.ones(2), -jnp.ones(2))
    assert np.isnan(np.asarray(out))
    with pytest.raises(ValueError, match=r"`var` must be a positive number or an array of shape \(2,\)"):
        jax.jit(lambda a, b, v: losslab.gaussian_nll(a, b, var=v))(jnp.zeros(2), jnp.ones(2), jnp.ones(3))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_array_api_strict(rng, reduction):
    m, t, v = gaussian_case(rng, (4, 3))
    eta, counts = poisson_case(rng, (4, 3))
    cases = [
        (losslab.gaussian_nll, G.gaussian_nll, m, t, {"var": v, "full": True}),
        (losslab.laplace_nll, G.laplace_nll, m, t, {"scale": v}),
        (losslab.poisson_nll, G.poisson_nll, eta, counts, {"full": True}),
    ]
    for fn, gfn, x, y, opts in cases:
        sopts = {k: xs.asarray(a) if isinstance(a, np.ndarray) else a for k, a in opts.items()}
        out = fn(xs.asarray(x), xs.asarray(y), **sopts, reduction=reduction)
        assert isinstance(out, StrictArray) and out.dtype == xs.float64
        close(np.asarray(out), fn(x, y, **opts, reduction=reduction))
        g = gfn(xs.asarray(x), xs.asarray(y), **sopts, reduction=reduction)
        assert isinstance(g, StrictArray)
        close(np.asarray(g), gfn(x, y, **opts, reduction=reduction))
    with pytest.raises(ValueError, match=r"`target` must hold non-negative counts.*got -1.0 at index 0"):
        losslab.poisson_nll(xs.asarray(np.zeros(2)), xs.asarray(np.array([-1.0, 1.0])))
    with pytest.raises(ValueError, match=r"`var` must be positive and finite; got 0.0 at index 1"):
        losslab.gaussian_nll(xs.asarray(np.zeros(2)), xs.asarray(np.ones(2)), var=xs.asarray(np.array([1.0, 0.0])))


def test_jax_jit_closed_over_concrete_arrays(rng):
    # concrete arrays captured by a jitted function: the value checks must not call bool() on tracers
    eta, t = f32(*poisson_case(rng, (6,)))
    m, y, v = f32(*gaussian_case(rng, (6,)))
    tj, vj, mj, yj = jnp.asarray(t), jnp.asarray(v), jnp.asarray(m), jnp.asarray(y)
    for full in [False, True]:
        out = jax.jit(lambda a, full=full: losslab.poisson_nll(a, tj, full=full))(jnp.asarray(eta))
        close(np.asarray(out), losslab.poisson_nll(eta, t, full=full), rtol=1e-5)
    close(np.asarray(jax.jit(lambda a: G.poisson_nll(a, tj))(jnp.asarray(eta))), G.poisson_nll(eta, t), rtol=1e-5)
    out = jax.jit(lambda a: losslab.gaussian_nll(a, yj, var=vj))(mj)
    close(np.asarray(out), losslab.gaussian_nll(m, y, var=v), rtol=1e-5)
    out = jax.jit(lambda: G.laplace_nll(mj, yj, scale=vj))()
    close(np.asarray(out), G.laplace_nll(m, y, scale=v), rtol=1e-5)


def test_jax_eager_arrays_are_checked():
    with pytest.raises(ValueError, match=r"`var` must be positive and finite; got -1.0 at index 1"):
        losslab.gaussian_nll(jnp.zeros(2), jnp.ones(2), var=jnp.asarray([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"`target` must hold non-negative counts.*got -2.0 at index 0"):
        losslab.poisson_nll(jnp.zeros(2), jnp.asarray([-2.0, 1.0]))
