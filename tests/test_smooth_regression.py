# ruff: noqa: E501 -- the tables of bad inputs keep one case per line
"""log_cosh and smooth_l1: optax, torch's smooth_l1_loss, precision for tiny and huge residuals, the Huber relation, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losslab
from conftest import numeric_grad
from losslab import grad as G

LC, GLC = losslab.log_cosh, G.log_cosh
SL1, GSL1 = losslab.smooth_l1, G.smooth_l1
REDUCTIONS = ("mean", "sum", "none")


def _pair(shape=(6, 3), scale=3.0, seed=0):
    rng = np.random.default_rng(seed)
    return scale * rng.normal(size=shape), scale * rng.normal(size=shape)


@pytest.fixture(scope="module")
def optax_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return pytest.importorskip("optax"), jax


# ----------------------------------------------------------------- log-cosh
def test_log_cosh_matches_optax_and_its_gradient(optax_jax):
    optax, jax = optax_jax
    p, t = _pair()
    np.testing.assert_allclose(LC(p, t, reduction="none"), np.asarray(optax.losses.log_cosh(p, t)), rtol=1e-14, atol=1e-15)
    auto = jax.grad(lambda x: jax.numpy.sum(optax.losses.log_cosh(x, t)))(jax.numpy.asarray(p))
    np.testing.assert_allclose(GLC(p, t, reduction="sum"), np.asarray(auto), rtol=1e-14, atol=1e-16)


def test_log_cosh_exact_for_tiny_residuals_where_optax_cancels(optax_jax):
    """log cosh r against mpmath: losslab within 2 ulp everywhere; optax's logaddexp(r, -r) - log 2 loses
    every digit below 1e-8 (+122% at 1e-8, and 0 or 2.2e-16 at 1e-10)."""
    optax, _ = optax_jax
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    r = np.array([1e-300, 1e-12, 1e-8, 1e-4, 0.3, 0.99, 1.0, 1.01, 5.0, 30.0, 700.0, 1e6, 1e300])
    exact = np.array([float(mpmath.log(mpmath.cosh(mpmath.mpf(x)))) for x in r])
    got = LC(r, np.zeros_like(r), reduction="none")
    np.testing.assert_allclose(got, exact, rtol=4.5e-16, atol=0)
    np.testing.assert_allclose(LC(-r, np.zeros_like(r), reduction="none"), exact, rtol=4.5e-16, atol=0)
    theirs = np.asarray(optax.losses.log_cosh(r[2:3]))
    assert abs(theirs[0] / exact[2] - 1) > 1.0  # optax: 1.1e-16 for 5e-17


def test_log_cosh_huge_residuals_and_gradient():
    r = np.array([800.0, -1e300, 1e300])
    assert LC(r, np.zeros(3), reduction="none").tolist() == [800.0 - math.log(2.0), 1e300, 1e300]
    assert GLC(r, np.zeros(3), reduction="sum").tolist() == [1.0, -1.0, 1.0]
    rt = torch.tensor(r, requires_grad=True)
    LC(rt, torch.zeros(3, dtype=torch.float64), reduction="sum").backward()
    assert rt.grad.tolist() == [1.0, -1.0, 1.0]  # no NaN from the branch not taken (sinh(400)^2 = inf)
    x = torch.tensor([0.0, 1e-8, 0.7, 1.0, -3.0], dtype=torch.float64, requires_grad=True)
    LC(x, torch.zeros(5, dtype=torch.float64), reduction="sum").backward()
    torch.testing.assert_close(x.grad, torch.tanh(x.detach()), rtol=1e-15, atol=0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_log_cosh_grad_matches_central_differences(reduction):
    p, t = _pair(scale=1.0)
    w = np.linspace(0.5, 1.5, 6)
    g = GLC(p, t, reduction=reduction, weight=w)
    np.testing.assert_allclose(g, numeric_grad(lambda x: LC(x, t, reduction=reduction, weight=w), p), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(g, {"none": 1.0, "sum": 1.0, "mean": 1 / w.sum() / 3}[reduction] * w[:, None] * np.tanh(p - t), rtol=1e-14)


def test_log_cosh_between_huber_bounds():
    """r^2/2 - r^4/12 <= log cosh r <= r^2/2, and |r| - log 2 <= log cosh r <= |r|."""
    r = np.linspace(-20, 20, 4001)
    l = LC(r, np.zeros_like(r), reduction="none")
    assert np.all(l <= 0.5 * r * r * (1 + 1e-15)) and np.all(l >= 0.5 * r * r - r**4 / 12 - 1e-15)
    assert np.all(l >= np.abs(r) - math.log(2) - 1e-13) and np.all(l <= np.abs(r))


# ----------------------------------------------------------------- smooth L1
@pytest.mark.parametrize("beta", [0.0, 1e-3, 0.5, 1.0, 3.0])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_smooth_l1_matches_torch_values_and_autograd(beta, reduction):
    p, t = _pair()
    pt, tt = torch.as_tensor(p), torch.as_tensor(t)
    torch.testing.assert_close(SL1(pt, tt, beta=beta, reduction=reduction), F.smooth_l1_loss(pt, tt, beta=beta, reduction=reduction), rtol=1e-15, atol=1e-15)
    x = pt.clone().requires_grad_(True)
    F.smooth_l1_loss(x, tt, beta=beta, reduction=reduction).sum().backward()
    torch.testing.assert_close(GSL1(pt, tt, beta=beta, reduction=reduction), x.grad, rtol=1e-15, atol=0)
    x = pt.clone().requires_grad_(True)
    SL1(x, tt, beta=beta, reduction=reduction).sum().backward()
    torch.testing.assert_close(x.grad, GSL1(pt, tt, beta=beta, reduction=reduction), rtol=1e-15, atol=0)


def test_smooth_l1_default_is_torchs():
    p, t = _pair()
    assert SL1(p, t) == pytest.approx(float(F.smooth_l1_loss(torch.as_tensor(p), torch.as_tensor(t))), rel=1e-15)


@pytest.mark.parametrize("delta", [0.1, 1.0, 2.5])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_huber_is_delta_times_smooth_l1(delta, reduction):
    p, t = _pair()
    w = np.linspace(0.2, 2.0, 6)
    np.testing.assert_allclose(losslab.huber(p, t, delta=delta, reduction=reduction, weight=w), delta * SL1(p, t, beta=delta, reduction=reduction, weight=w), rtol=1e-14)
    np.testing.assert_allclose(G.huber(p, t, delta=delta, reduction=reduction, weight=w), delta * GSL1(p, t, beta=delta, reduction=reduction, weight=w), rtol=1e-14)


def test_smooth_l1_beta_zero_is_mae_exactly_and_small_beta_tends_to_it():
    p, t = _pair()
    assert np.array_equal(SL1(p, t, beta=0.0, reduction="none"), losslab.mae(p, t, reduction="none"))
    assert np.array_equal(GSL1(p, t, beta=0.0), G.mae(p, t))
    gap = losslab.mae(p, t) - SL1(p, t, beta=1e-6)
    assert 0 <= gap <= 0.5e-6


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_smooth_l1_grad_matches_central_differences_and_jax(reduction):
    p, t = _pair(scale=1.0)
    g = GSL1(p, t, beta=0.7, reduction=reduction)
    np.testing.assert_allclose(g, numeric_grad(lambda x: SL1(x, t, beta=0.7, reduction=reduction), p), rtol=1e-6, atol=1e-9)
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    auto = jax.grad(lambda x: jnp.sum(SL1(x, jnp.asarray(t), beta=0.7, reduction=reduction)))(jnp.asarray(p))
    np.testing.assert_allclose(np.asarray(auto), g, rtol=1e-14, atol=0)


def test_smooth_l1_huge_residuals_and_tiny_beta():
    r = np.array([1e300, -1e300, 1e-300])
    assert SL1(r, np.zeros(3), beta=1e-300, reduction="none").tolist() == [1e300, 1e300, 0.5e-300]
    assert GSL1(r, np.zeros(3), beta=1e-300, reduction="sum").tolist() == [1.0, -1.0, 1.0]  # no r / beta overflow
    x = torch.tensor([1e300, 0.0], dtype=torch.float64, requires_grad=True)
    SL1(x, torch.zeros(2, dtype=torch.float64), reduction="sum").backward()
    assert x.grad.tolist() == [1.0, 0.0]


@pytest.mark.parametrize("fn", [LC, GLC, SL1, GSL1], ids=["log_cosh", "log_cosh_grad", "smooth_l1", "smooth_l1_grad"])
def test_non_finite_inputs_raise(fn):
    for bad, what in ((np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "-inf")):
        with pytest.raises(ValueError, match=f"`pred` contains {what} at index 1"):
            fn(np.array([0.0, bad]), np.zeros(2))
    with pytest.raises(ValueError, match=r"`target` contains NaN at index 0"):
        fn(np.zeros(2), np.array([np.nan, 0.0]))


@pytest.mark.parametrize("fn", [SL1, GSL1], ids=["loss", "grad"])
@pytest.mark.parametrize(
    ("beta", "exc", "match"),
    [
        (-1.0, ValueError, r"^`beta` must be finite and >= 0; got -1.0: beta = 0 is the absolute error \(mae\); torch's default is 1$"),
        (math.inf, ValueError, r"^`beta` must be finite and >= 0; got inf"),
        (math.nan, ValueError, r"^`beta` must be a number; got nan$"),
        (None, TypeError, r"^`beta` must be a real number; got NoneType None$"),
    ],
)  # fmt: skip
def test_smooth_l1_bad_beta(fn, beta, exc, match):
    with pytest.raises(exc, match=match):
        fn(np.zeros(2), np.ones(2), beta=beta)


def test_half_precision_accumulates_in_float32():
    rng = np.random.default_rng(2)
    p = (rng.normal(size=100000) * 20).astype(np.float16)
    t = np.zeros(100000, dtype=np.float16)
    for fn in (LC, SL1):
        out = fn(p, t, reduction="sum")
        assert out.dtype == np.float32 and float(out) > 65504
        assert float(out) == pytest.approx(float(fn(p.astype(np.float64), t.astype(np.float64), reduction="sum")), rel=1e-5)
        assert fn(p, t, reduction="none").dtype == np.float16


def test_public_api():
    from losslab.registry import LOSSES

    for name, fn, g in (("log_cosh", LC, GLC), ("smooth_l1", SL1, GSL1)):
        assert name in losslab.__all__ and name in G.__all__ and LOSSES[name].fn is fn and LOSSES[name].grad is g
