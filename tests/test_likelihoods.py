"""The likelihoods behind the losses: nll, links, natural gradients and the exact NLL -> loss map.

For every family ``nll(link(m), t) == scale * loss(arg, t) + offset(t)`` where ``arg`` is the
mean ``m`` when ``loss_argument == "mean"`` and the natural parameter ``link(m)`` when it is
``"natural"``. NLLs are checked against scipy.stats, gradients against torch autograd.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import scipy.special as sps
import scipy.stats as st
import torch

import losslab
from losslab import grad as G
from losslab.likelihoods import Bernoulli, Categorical, Gaussian, Laplace, Likelihood, Poisson

C = 4


def _data(lik: Likelihood, rng: np.random.Generator, n: int = 12):
    """Random (mean, target) in the family's domain."""
    if isinstance(lik, (Gaussian, Laplace)):
        return 2.0 * rng.standard_normal(n), 2.0 * rng.standard_normal(n)
    if isinstance(lik, Bernoulli):
        return rng.uniform(0.02, 0.98, n), rng.integers(0, 2, n).astype(np.float64)
    if isinstance(lik, Categorical):
        return rng.dirichlet(np.full(C, 1.5), n) * 0.96 + 0.01, rng.integers(0, C, n)
    if isinstance(lik, Poisson):
        m = rng.uniform(0.1, 6.0, n)
        return m, rng.poisson(m).astype(np.float64)
    raise NotImplementedError(type(lik))


FAMILIES = [
    pytest.param(Gaussian(), id="gaussian-var1"),
    pytest.param(Gaussian(var=0.3), id="gaussian-var0.3"),
    pytest.param(Gaussian(var=4.0), id="gaussian-var4"),
    pytest.param(Laplace(), id="laplace-b1"),
    pytest.param(Laplace(scale_b=0.25), id="laplace-b0.25"),
    pytest.param(Laplace(scale_b=3.0), id="laplace-b3"),
    pytest.param(Bernoulli(), id="bernoulli"),
    pytest.param(Categorical(), id="categorical"),
    pytest.param(Poisson(), id="poisson"),
]
CANONICAL = [p for p in FAMILIES if p.values[0].canonical]


def _seed(lik) -> int:
    return sum(map(ord, repr(lik)))


# ======================================================= the NLL -> loss map
@pytest.mark.parametrize("lik", FAMILIES)
def test_nll_is_affine_in_the_loss(lik):
    rng = np.random.default_rng(_seed(lik))
    m, t = _data(lik, rng)
    eta = lik.link(m)
    arg = {"mean": m, "natural": eta}[lik.loss_argument]
    lhs = lik.nll(eta, t)
    rhs = lik.scale * lik.loss(arg, t) + lik.offset(t)
    assert np.shape(lhs) == np.shape(t)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12, atol=1e-12)
    # the loss is the registry's / package's function of that name, per element
    fn = getattr(losslab, lik.loss_name)
    kw = {"axis": lik.axis} if isinstance(lik, Categorical) else {}
    np.testing.assert_allclose(lik.loss(arg, t), fn(arg, t, reduction="none", **kw), rtol=1e-15)
    assert losslab.registry.get(lik.loss_name).likelihood == type(lik).__name__


@pytest.mark.parametrize("lik", FAMILIES)
def test_minimising_the_loss_is_maximum_likelihood(lik):
    """The map is increasing (scale > 0) with a target-only offset, so argmins agree."""
    rng = np.random.default_rng(_seed(lik) + 1)
    m, t = _data(lik, rng)
    m2, _ = _data(lik, rng)
    assert lik.scale > 0
    d_nll = lik.nll(lik.link(m), t) - lik.nll(lik.link(m2), t)
    arg = (lambda x: x) if lik.loss_argument == "mean" else lik.link
    d_loss = lik.loss(arg(m), t) - lik.loss(arg(m2), t)
    np.testing.assert_allclose(d_nll, lik.scale * d_loss, rtol=1e-10, atol=1e-12)


def test_scales_and_offsets():
    assert Gaussian(var=2.0).scale == 0.25
    assert Gaussian(var=2.0).offset(np.zeros(3)) == pytest.approx(0.5 * math.log(4 * math.pi))
    assert Laplace(scale_b=2.0).scale == 0.5
    assert Laplace(scale_b=2.0).offset(np.zeros(3)) == pytest.approx(math.log(4.0))
    assert Bernoulli().scale == Categorical().scale == Poisson().scale == 1.0
    assert Bernoulli().offset(np.ones(2)) == 0.0
    np.testing.assert_allclose(Poisson().offset(np.array([0, 1, 2, 3, 10])), np.log([1, 1, 2, 6, 3628800]))
    assert [x.values[0].loss_argument for x in FAMILIES[::3]] == ["mean", "mean", "natural"]


def test_full_nlls_of_the_loss_module_are_the_likelihoods():
    """losslab's *_nll(..., full=True) are these likelihoods' nll exactly."""
    rng = np.random.default_rng(5)
    mu, t = rng.standard_normal(10), rng.standard_normal(10)
    np.testing.assert_allclose(
        losslab.gaussian_nll(mu, t, var=0.7, full=True, reduction="none"), Gaussian(var=0.7).nll(mu / 0.7, t)
    )
    np.testing.assert_allclose(
        losslab.laplace_nll(mu, t, scale=1.3, full=True, reduction="none"), Laplace(scale_b=1.3).nll(mu, t)
    )
    eta, k = rng.standard_normal(10), rng.poisson(2.0, 10).astype(float)
    np.testing.assert_allclose(losslab.poisson_nll(eta, k, full=True, reduction="none"), Poisson().nll(eta, k))


# ============================================================ against scipy
def test_gaussian_vs_scipy():
    rng = np.random.default_rng(10)
    for var in (0.05, 1.0, 9.0):
        mu, t = 3 * rng.standard_normal(20), 3 * rng.standard_normal(20)
        ref = -st.norm.logpdf(t, loc=mu, scale=math.sqrt(var))
        np.testing.assert_allclose(Gaussian(var=var).nll(mu / var, t), ref, rtol=1e-12)
    # the docstring's value: (1 + log 2 pi) / 2
    assert float(Gaussian().nll(np.array([0.0]), np.array([1.0]))[0]) == pytest.approx(-st.norm.logpdf(1.0))


def test_laplace_vs_scipy():
    rng = np.random.default_rng(11)
    for b in (0.1, 1.0, 5.0):
        m, t = 3 * rng.standard_normal(20), 3 * rng.standard_normal(20)
        np.testing.assert_allclose(Laplace(scale_b=b).nll(m, t), -st.laplace.logpdf(t, loc=m, scale=b), rtol=1e-12)


def test_bernoulli_vs_scipy():
    rng = np.random.default_rng(12)
    eta = 4 * rng.standard_normal(30)
    t = rng.integers(0, 2, 30)
    ref = -st.bernoulli.logpmf(t, sps.expit(eta))
    np.testing.assert_allclose(Bernoulli().nll(eta, t), ref, rtol=1e-10)
    np.testing.assert_allclose(Bernoulli().nll(eta, t.astype(float)), ref, rtol=1e-10)
    # exact for large logits, where 1 - sigmoid underflows
    assert float(Bernoulli().nll(np.array([800.0]), np.array([0.0]))[0]) == 800.0
    assert float(Bernoulli().nll(np.array([800.0]), np.array([1.0]))[0]) == 0.0


def test_poisson_vs_scipy():
    rng = np.random.default_rng(13)
    eta = rng.uniform(-2, 3, 30)
    k = rng.poisson(np.exp(eta))
    np.testing.assert_allclose(Poisson().nll(eta, k.astype(float)), -st.poisson.logpmf(k, np.exp(eta)), rtol=1e-11)
    np.testing.assert_allclose(Poisson().nll(eta, k), -st.poisson.logpmf(k, np.exp(eta)), rtol=1e-11)


def test_categorical_vs_log_softmax():
    rng = np.random.default_rng(14)
    eta = 3 * rng.standard_normal((8, 5))
    y = rng.integers(0, 5, 8)
    ref = -sps.log_softmax(eta, axis=-1)[np.arange(8), y]
    np.testing.assert_allclose(Categorical().nll(eta, y), ref, rtol=1e-12)
    ref_pmf = -np.log(st.multinomial.pmf(np.eye(5)[y], n=1, p=sps.softmax(eta, axis=-1)))
    np.testing.assert_allclose(Categorical().nll(eta, y), ref_pmf, rtol=1e-10)
    # shift invariance of the natural parameter
    np.testing.assert_allclose(Categorical().nll(eta + rng.standard_normal((8, 1)), y), ref, rtol=1e-10)


def test_categorical_class_axis():
    rng = np.random.default_rng(15)
    eta = rng.standard_normal((3, 4, 5))  # (N, C, d)
    y = rng.integers(0, 4, (3, 5))
    lik = Categorical(axis=1)
    ref = -np.take_along_axis(sps.log_softmax(eta, axis=1), y[:, None, :], axis=1)[:, 0, :]
    np.testing.assert_allclose(lik.nll(eta, y), ref, rtol=1e-12)
    np.testing.assert_allclose(lik.nll(eta, y), lik.loss(eta, y), rtol=1e-12)
    np.testing.assert_allclose(lik.nll(eta, y), Categorical(axis=-2).nll(eta, y), rtol=1e-15)
    onehot = np.moveaxis(np.eye(4)[y], -1, 1)
    np.testing.assert_allclose(lik.natural_grad(eta, y), sps.softmax(eta, axis=1) - onehot, atol=1e-15)


# =================================================== gradients (torch autograd)
@pytest.mark.parametrize("lik", CANONICAL)
def test_natural_grad_is_autograd_and_mean_minus_target(lik):
    rng = np.random.default_rng(_seed(lik) + 2)
    m, t = _data(lik, rng)
    eta = np.asarray(lik.link(m))
    eta_t = torch.tensor(eta, requires_grad=True)
    t_t = torch.tensor(t)
    lik.nll(eta_t, t_t).sum().backward()
    ng = lik.natural_grad(eta, t)
    np.testing.assert_allclose(ng, eta_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    target = np.eye(C)[t] if isinstance(lik, Categorical) else t
    np.testing.assert_allclose(ng, lik.mean(eta) - target, rtol=1e-13, atol=1e-15)
    # in torch too
    ng_t = lik.natural_grad(torch.tensor(eta), t_t)
    assert isinstance(ng_t, torch.Tensor)
    np.testing.assert_allclose(ng_t.numpy(), ng, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("lik", FAMILIES)
def test_natural_grad_is_the_scaled_loss_gradient(lik):
    """Chain rule through the map: d nll/d eta = scale * d loss/d arg * d arg/d eta."""
    rng = np.random.default_rng(_seed(lik) + 3)
    m, t = _data(lik, rng)
    eta = np.asarray(lik.link(m))
    loss_grad = getattr(G, lik.loss_name)
    if lik.loss_argument == "natural":
        expected = lik.scale * loss_grad(eta, t, reduction="none")
    else:
        dm_deta = {Gaussian: getattr(lik, "var", 1.0), Laplace: 1.0}[type(lik)]
        expected = lik.scale * loss_grad(lik.mean(eta), t, reduction="none") * dm_deta
    np.testing.assert_allclose(lik.natural_grad(eta, t), expected, rtol=1e-12, atol=1e-14)


def test_laplace_is_not_canonical():
    lik = Laplace(scale_b=2.0)
    assert lik.canonical is False
    assert all(p.values[0].canonical for p in FAMILIES if not isinstance(p.values[0], Laplace))
    rng = np.random.default_rng(20)
    m, t = rng.standard_normal(10), rng.standard_normal(10)
    g = lik.natural_grad(m, t)
    np.testing.assert_allclose(g, np.sign(m - t) / 2.0)
    assert not np.allclose(g, lik.mean(m) - t)  # "mean - target" does not hold
    mt = torch.tensor(m, requires_grad=True)
    lik.nll(mt, torch.tensor(t)).sum().backward()
    np.testing.assert_allclose(mt.grad.numpy(), g)


# ======================================================================= links
@pytest.mark.parametrize("lik", FAMILIES)
def test_link_and_mean_are_inverses(lik):
    rng = np.random.default_rng(_seed(lik) + 4)
    m, _ = _data(lik, rng)
    np.testing.assert_allclose(lik.mean(lik.link(m)), m, rtol=1e-12, atol=1e-14)
    eta = np.asarray(lik.link(m)) + 0.3 * rng.standard_normal(np.shape(m))
    back = np.asarray(lik.link(lik.mean(eta)))
    if isinstance(lik, Categorical):  # defined up to a constant per row
        back = back - eta
        np.testing.assert_allclose(back - back.mean(-1, keepdims=True), 0.0, atol=1e-12)
        np.testing.assert_allclose(lik.mean(eta).sum(-1), 1.0, rtol=1e-14)
    else:
        np.testing.assert_allclose(back, eta, rtol=1e-10, atol=1e-12)


def test_canonical_links():
    x = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(Bernoulli().link(x), sps.logit(x))
    np.testing.assert_allclose(Bernoulli().mean(np.array([-2.0, 0.0, 3.0])), sps.expit([-2.0, 0.0, 3.0]))
    np.testing.assert_allclose(Poisson().link(x), np.log(x))
    np.testing.assert_allclose(Gaussian(var=2.0).link(x), x / 2.0)
    np.testing.assert_allclose(Gaussian(var=2.0).mean(x), 2.0 * x)
    np.testing.assert_allclose(Laplace(scale_b=3.0).link(x), x)


def test_python_sequences_are_accepted():
    assert np.allclose(Gaussian(var=2.0).mean([1.0, 2.0]), [2.0, 4.0])
    assert np.allclose(Gaussian(var=2.0).link([1.0, 2.0]), [0.5, 1.0])
    assert np.allclose(Gaussian(var=2.0).natural_grad([1.0], [0.5]), [1.5])
    assert np.allclose(Bernoulli().natural_grad([0.0], [1.0]), [-0.5])
    assert np.allclose(Poisson().nll([0.0, 0.0], [0, 2]), [1.0, 1.0 + math.log(2)])


def test_torch_dtype_is_kept():
    eta = torch.zeros(3, dtype=torch.float32)
    t = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float32)
    for lik in (Gaussian(var=2.0), Laplace(), Bernoulli(), Poisson()):
        tt = t.clamp(max=1.0) if isinstance(lik, Bernoulli) else t
        assert lik.nll(eta, tt).dtype == torch.float32, lik
        assert lik.natural_grad(eta, tt).dtype == torch.float32, lik


# ================================================================= bad input
@pytest.mark.parametrize("value", [0, -1.0, float("inf"), float("nan")])
def test_bad_parameters(value):
    msg = "must be a number; got nan" if value != value else f"must be positive and finite; got {value!r}"
    with pytest.raises(ValueError, match=re.escape(f"`var` {msg}")):
        Gaussian(var=value)
    with pytest.raises(ValueError, match=re.escape(f"`scale_b` {msg}")):
        Laplace(scale_b=value)


def test_parameter_type_and_immutability():
    with pytest.raises(TypeError, match=re.escape("`var` must be a real number; got str '1'")):
        Gaussian(var="1")
    g = Gaussian(var=2)
    assert g.var == 2.0 and isinstance(g.var, float)
    with pytest.raises(AttributeError):
        g.var = 3.0  # frozen
    assert Gaussian(var=2.0) == Gaussian(var=2) and hash(Gaussian(var=2.0)) == hash(Gaussian(var=2))


def test_mixed_libraries_refused():
    with pytest.raises(TypeError, match="`target` is a torch array but `eta` is a numpy array"):
        Bernoulli().nll(np.zeros(2), torch.zeros(2))
