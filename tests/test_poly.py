# ruff: noqa: E501 -- the tables of bad inputs keep one case per line
"""poly1_cross_entropy (Leng et al. 2022): optax, the epsilon = 0 limit, gradients, soft targets, extremes, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as sps
import torch

import losslab
from conftest import numeric_grad
from losslab import grad as G

P1, GP1 = losslab.poly1_cross_entropy, G.poly1_cross_entropy
REDUCTIONS = ("mean", "sum", "none")
N, C = 7, 4
CW = np.array([0.5, 2.0, 1.0, 3.0])


def _z(shape=(N, C), scale=2.0, seed=0):
    return np.random.default_rng(seed).normal(scale=scale, size=shape)


def _labels(seed=1):
    y = np.random.default_rng(seed).integers(0, C, size=N)
    y[:C] = np.arange(C)
    return y


def _soft(seed=2):
    return np.random.default_rng(seed).dirichlet(np.ones(C), N)


@pytest.fixture(scope="module")
def optax_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return pytest.importorskip("optax"), jax


@pytest.mark.parametrize("epsilon", [-1.0, 0.0, 1.0, 2.0, 10.0])
@pytest.mark.parametrize("soft", [False, True], ids=["indices", "probs"])
def test_matches_optax_and_jax_grad(optax_jax, epsilon, soft):
    optax, jax = optax_jax
    jnp = jax.numpy
    z = _z()
    y = _soft() if soft else _labels()
    labels = jnp.asarray(y if soft else np.eye(C)[y])
    want = optax.losses.poly_loss_cross_entropy(jnp.asarray(z), labels, epsilon=epsilon)
    np.testing.assert_allclose(P1(z, y, epsilon=epsilon, reduction="none"), np.asarray(want), rtol=1e-13, atol=1e-15)
    auto = jax.grad(lambda x: jnp.sum(optax.losses.poly_loss_cross_entropy(x, labels, epsilon=epsilon)))(jnp.asarray(z))
    np.testing.assert_allclose(GP1(z, y, epsilon=epsilon, reduction="sum"), np.asarray(auto), rtol=1e-12, atol=1e-15)


def test_default_epsilon_is_one_not_optaxs_two(optax_jax):
    optax, jax = optax_jax
    z, y = _z(), _labels()
    np.testing.assert_allclose(P1(z, y, reduction="none"), np.asarray(optax.losses.poly_loss_cross_entropy(z, np.eye(C)[y], epsilon=1.0)), rtol=1e-13)
    assert not np.allclose(P1(z, y, reduction="none"), np.asarray(optax.losses.poly_loss_cross_entropy(z, np.eye(C)[y])))


OPTION_SETS = [{}, {"class_weight": CW}, {"ignore_index": 2}, {"weight": np.linspace(0.1, 2.0, N)},
               {"class_weight": CW, "ignore_index": 1, "weight": np.linspace(0.1, 2.0, N)}]  # fmt: skip
IDS = ["plain", "cw", "ignore", "weight", "cw-ignore-weight"]


def _reference(z, y, eps, *, class_weight=None, ignore_index=None, weight=None, reduction="mean"):
    p = sps.softmax(z, axis=-1)
    keep = np.ones(y.shape, bool) if ignore_index is None else y != ignore_index
    yy = np.where(keep, y, 0)
    py = p[np.arange(len(y)), yy]
    l = -np.log(py) + eps * (1 - py)
    cwy = np.ones(y.shape) if class_weight is None else class_weight[yy]
    c = np.where(keep, np.ones(y.shape) if weight is None else weight, 0.0)
    return {"none": c * cwy * l, "sum": np.sum(c * cwy * l), "mean": np.sum(c * cwy * l) / np.sum(c * cwy)}[reduction]


@pytest.mark.parametrize("opts", OPTION_SETS, ids=IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_formula_with_cross_entropys_options(opts, reduction):
    z, y = _z(), _labels()
    np.testing.assert_allclose(P1(z, y, epsilon=1.5, reduction=reduction, **opts), _reference(z, y, 1.5, reduction=reduction, **opts), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("soft", [False, True], ids=["indices", "probs"])
@pytest.mark.parametrize("opts", OPTION_SETS[:2] + OPTION_SETS[3:4], ids=["plain", "cw", "weight"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_epsilon_zero_is_cross_entropy_exactly(opts, reduction, soft):
    z, y = _z(), _soft() if soft else _labels()
    assert np.array_equal(P1(z, y, epsilon=0.0, reduction=reduction, **opts), losslab.cross_entropy(z, y, reduction=reduction, **opts))
    np.testing.assert_allclose(GP1(z, y, epsilon=0.0, reduction=reduction, **opts), G.cross_entropy(z, y, reduction=reduction, **opts), rtol=1e-14, atol=1e-17)


def test_soft_class_weighted_terms():
    """Probability targets with class weights: sum_c w_c t_c (-log p_c + eps (1 - p_c))."""
    z, t = _z(), _soft()
    p = sps.softmax(z, axis=-1)
    want = np.sum(CW * t * (-np.log(p) + 2.0 * (1 - p)), axis=-1)
    np.testing.assert_allclose(P1(z, t, epsilon=2.0, class_weight=CW, reduction="none"), want, rtol=1e-13)


GRAD_OPTIONS = [*OPTION_SETS, {"epsilon": -1.0}, {"epsilon": 5.0, "class_weight": CW}]
GRAD_IDS = [*IDS, "eps-1", "eps5-cw"]


@pytest.mark.parametrize("soft", [False, True], ids=["indices", "probs"])
@pytest.mark.parametrize("opts", GRAD_OPTIONS, ids=GRAD_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_grad_matches_central_differences_and_torch(opts, reduction, soft):
    if soft and "ignore_index" in opts:
        pytest.skip("ignore_index applies to class indices only")
    z, y = _z(), _soft() if soft else _labels()
    opts = {"epsilon": 1.5, **opts}
    g = GP1(z, y, reduction=reduction, **opts)
    np.testing.assert_allclose(g, numeric_grad(lambda x: P1(x, y, reduction=reduction, **opts), z), rtol=1e-6, atol=1e-9)
    zt = torch.as_tensor(z).requires_grad_(True)
    topts = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in opts.items()}
    P1(zt, torch.as_tensor(y), reduction=reduction, **topts).sum().backward()
    np.testing.assert_allclose(zt.grad.numpy(), g, rtol=1e-12, atol=1e-15)


def test_grad_is_cross_entropys_scaled_by_one_plus_eps_p_y():
    z, y = _z(), _labels()
    py = sps.softmax(z, axis=-1)[np.arange(N), y]
    np.testing.assert_allclose(GP1(z, y, epsilon=3.0), (1 + 3.0 * py)[:, None] * G.cross_entropy(z, y), rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_huge_logits_are_exact(dtype):
    z = np.array([[1e4, -1e4], [1e4, -1e4]], dtype=dtype)
    assert P1(z, np.array([0, 1]), reduction="none").tolist() == [0.0, 2e4 + 1.0]
    g = GP1(z, np.array([0, 1]), reduction="sum")
    assert g.tolist() == [[0.0, 0.0], [1.0, -1.0]]


def test_masked_classes_and_jax_jit():
    z = np.array([[1.0, -np.inf, 0.5, 2.0], [-np.inf, 0.0, -np.inf, -np.inf]])
    y = np.array([0, 1])
    per = P1(z, y, reduction="none")
    assert per[1] == 0.0 and per[0] == pytest.approx(float(P1(z[:1, [0, 2, 3]], np.array([0]))), rel=1e-14)
    with pytest.raises(ValueError, match="unmask the target class"):
        P1(z, np.array([1, 1]))
    with pytest.raises(ValueError, match="unmask the target class"):
        GP1(z, np.array([1, 1]))
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    zz, yy = _z(), _labels()
    f = jax.jit(lambda a, b: (P1(a, b, epsilon=2.0), GP1(a, b, epsilon=2.0)))
    val, g = f(jax.numpy.asarray(zz), jax.numpy.asarray(yy))
    np.testing.assert_allclose(val, P1(zz, yy, epsilon=2.0), rtol=1e-13)
    np.testing.assert_allclose(g, GP1(zz, yy, epsilon=2.0), rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("fn", [P1, GP1], ids=["loss", "grad"])
@pytest.mark.parametrize(
    ("kw", "exc", "match"),
    [
        ({"epsilon": -1.5}, ValueError, r"^`epsilon` must be finite and >= -1; got -1.5: below -1 the loss increases with p_y near 1"),
        ({"epsilon": math.inf}, ValueError, r"^`epsilon` must be finite and >= -1; got inf"),
        ({"epsilon": math.nan}, ValueError, r"^`epsilon` must be a number; got nan$"),
        ({"epsilon": "1"}, TypeError, r"^`epsilon` must be a real number; got str"),
        ({"label_smoothing": 0.1}, TypeError, r"unexpected keyword argument 'label_smoothing'"),
    ],
)  # fmt: skip
def test_bad_options(fn, kw, exc, match):
    with pytest.raises(exc, match=match):
        fn(_z(), _labels(), **kw)


def test_nonnegative_down_to_epsilon_minus_one():
    z, y = _z(scale=10.0), _labels()
    assert np.all(P1(z, y, epsilon=-1.0, reduction="none") >= 0)  # -log p >= 1 - p
