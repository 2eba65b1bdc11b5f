# ruff: noqa: E501 -- the tables of bad inputs keep one case per line
"""nll_loss and kl_divergence_log on log-probabilities: torch's nll_loss and kl_div(log_target=True), optax, siblings, checks."""

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

NLL, GNLL = losslab.nll_loss, G.nll_loss
KLL, GKLL = losslab.kl_divergence_log, G.kl_divergence_log
REDUCTIONS = ("mean", "sum", "none")
N, C = 7, 4
CW = np.array([0.5, 2.0, 1.0, 3.0])


def _logits(shape=(N, C), seed=0):
    return np.random.default_rng(seed).normal(scale=2.0, size=shape)


def _lp(shape=(N, C), seed=0):
    return sps.log_softmax(_logits(shape, seed), axis=-1)


def _labels(seed=1):
    y = np.random.default_rng(seed).integers(0, C, size=N)
    y[:C] = np.arange(C)
    return y


# ====================================================================== NLL
TORCH_OPTIONS = [({}, {}), ({"class_weight": CW}, {"weight": CW}), ({"ignore_index": -100}, {}),
                 ({"ignore_index": 2, "class_weight": CW}, {"ignore_index": 2, "weight": CW})]  # fmt: skip


@pytest.mark.parametrize(("ours", "theirs"), TORCH_OPTIONS, ids=["plain", "weight", "ignore-100", "ignore2-weight"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_matches_torch_values_and_autograd(ours, theirs, reduction):
    lp, y = torch.as_tensor(_lp()), torch.as_tensor(_labels())
    y[[1, 5]] = -100 if ours.get("ignore_index") == -100 else y[[1, 5]]
    t_opts = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in theirs.items()}
    o_opts = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in ours.items()}
    want = F.nll_loss(lp, y, reduction=reduction, **t_opts)
    torch.testing.assert_close(NLL(lp, y, reduction=reduction, **o_opts), want, rtol=1e-15, atol=0)
    x = lp.clone().requires_grad_(True)
    F.nll_loss(x, y, reduction=reduction, **t_opts).sum().backward()
    torch.testing.assert_close(GNLL(lp, y, reduction=reduction, **o_opts), x.grad, rtol=1e-15, atol=0)
    x = lp.clone().requires_grad_(True)
    NLL(x, y, reduction=reduction, **o_opts).sum().backward()
    torch.testing.assert_close(x.grad, GNLL(lp, y, reduction=reduction, **o_opts), rtol=1e-15, atol=0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_torch_layout_n_c_d1(reduction):
    lp = torch.log_softmax(torch.as_tensor(np.random.default_rng(2).normal(size=(2, 3, 5))), dim=1)
    y = torch.as_tensor(np.random.default_rng(3).integers(0, 3, size=(2, 5)))
    y[0, 2] = -100
    w = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    want = F.nll_loss(lp, y, weight=w, reduction=reduction)
    torch.testing.assert_close(NLL(lp, y, axis=1, class_weight=w, ignore_index=-100, reduction=reduction), want, rtol=1e-15, atol=0)
    g = GNLL(lp, y, axis=1, class_weight=w, ignore_index=-100, reduction=reduction)
    assert g.shape == lp.shape
    x = lp.clone().requires_grad_(True)
    F.nll_loss(x, y, weight=w, reduction=reduction).sum().backward()
    torch.testing.assert_close(g, x.grad, rtol=1e-15, atol=0)


OPTION_SETS = [{}, {"class_weight": CW}, {"ignore_index": 2}, {"weight": np.linspace(0.1, 2.0, N)},
               {"class_weight": CW, "ignore_index": 1, "weight": np.linspace(0.1, 2.0, N)}]  # fmt: skip
IDS = ["plain", "cw", "ignore", "weight", "cw-ignore-weight"]


@pytest.mark.parametrize("opts", OPTION_SETS, ids=IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_of_log_softmax_is_cross_entropy(opts, reduction):
    z, y = _logits(), _labels()
    ce = losslab.cross_entropy(z, y, reduction=reduction, **opts)
    np.testing.assert_allclose(NLL(sps.log_softmax(z, axis=-1), y, reduction=reduction, **opts), ce, rtol=1e-14, atol=1e-15)
    # the chain rule through the log-softmax gives cross-entropy's gradient
    zt = torch.as_tensor(z).requires_grad_(True)
    topts = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in opts.items()}
    NLL(torch.log_softmax(zt, dim=-1), torch.as_tensor(y), reduction=reduction, **topts).sum().backward()
    np.testing.assert_allclose(zt.grad.numpy(), G.cross_entropy(z, y, reduction=reduction, **opts), rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("opts", OPTION_SETS, ids=IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_grad_matches_central_differences_and_jax(opts, reduction):
    lp, y = _lp(), _labels()
    g = GNLL(lp, y, reduction=reduction, **opts)
    np.testing.assert_allclose(g, numeric_grad(lambda x: NLL(x, y, reduction=reduction, **opts), lp), rtol=1e-6, atol=1e-9)
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    jopts = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in opts.items()}
    auto = jax.grad(lambda x: jnp.sum(NLL(x, jnp.asarray(y), reduction=reduction, **jopts)))(jnp.asarray(lp))
    np.testing.assert_allclose(np.asarray(auto), g, rtol=1e-15, atol=0)


def test_nll_certain_target_and_masked_classes():
    lp = np.array([[0.0, -np.inf, -np.inf], [math.log(0.5), math.log(0.5), -np.inf]])
    per = NLL(lp, np.array([0, 1]), reduction="none")
    assert per.tolist() == [0.0, math.log(2.0)] and math.copysign(1.0, per[0]) == 1.0  # +0.0
    assert np.all(np.isfinite(GNLL(lp, np.array([0, 1]))))


def test_nll_ignored_rows_may_hold_anything():
    lp = np.array([[math.log(0.5), math.log(0.5)], [np.nan, 3.0], [5.0, 7.0]])
    y = np.array([1, -100, -100])
    assert NLL(lp, y, ignore_index=-100) == pytest.approx(math.log(2.0), rel=1e-15)
    g = GNLL(lp, y, ignore_index=-100)
    assert g.tolist() == [[0.0, -1.0], [0.0, 0.0], [0.0, 0.0]]


@pytest.mark.parametrize("fn", [NLL, GNLL], ids=["loss", "grad"])
@pytest.mark.parametrize(
    ("lp", "y", "kw", "exc", "match"),
    [
        (_logits((2, 3)), np.array([0, 1]), {}, ValueError, r"`log_probs` must hold log-probabilities \(<= 0\); row 0 has .*: pass raw logits to losslab.cross_entropy instead, or normalise them with a log-softmax"),
        (np.log(np.array([[0.5, 0.25, 0.125], [0.2, 0.3, 0.5]])), np.array([0, 1]), {}, ValueError, r"`log_probs` must hold log-probabilities: exp\(log_probs\) of row 0 sums to 0.875, not 1 \(within 0.004\); pass raw logits"),
        (np.array([[0.2, 0.3, 0.5]]), np.array([0]), {}, ValueError, r"`log_probs` must hold log-probabilities \(<= 0\); row 0 has 0.5"),
        (np.array([[math.log(0.5), np.nan, math.log(0.5)]]), np.array([0]), {}, ValueError, r"`log_probs` contains NaN at index \(0, 1\)"),
        (np.array([[0.0, -np.inf]]), np.array([1]), {}, ValueError, r"the target class 1 of sample 0 has log-probability -inf, so its negative log-likelihood is infinite; unmask the target class"),
        (_lp((2, 4)), np.array([0.0, 1.0]), {}, TypeError, r"`target` must hold integer class indices; got a floating dtype.*negative log-likelihood is defined for hard labels.*use losslab.kl_divergence_log for log-probability targets"),
        (_lp((2, 4)), np.array([0, 4]), {}, ValueError, r"`target` must hold class indices in \[0, 3\]; got 4 at index 1"),
        (_lp((2, 4)), np.array([0, -100]), {}, ValueError, r"`target` must hold class indices in \[0, 3\]; got -100 at index 1"),
        (_lp((2, 4)), np.array([0, 1]), {"class_weight": np.ones(3)}, ValueError, r"`class_weight` must have shape \(4,\)"),
    ],
)  # fmt: skip
def test_nll_bad_input(fn, lp, y, kw, exc, match):
    with pytest.raises(exc, match=match):
        fn(lp, y, **kw)


def test_nll_checks_are_skipped_in_graphs():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    z = jnp.asarray(_logits().astype(np.float32))
    y = jnp.asarray(_labels())
    out = jax.jit(lambda a, b: NLL(a, b))(z, y)  # raw logits: no check under jit, torch's semantics
    np.testing.assert_allclose(out, -np.mean(np.asarray(z)[np.arange(N), _labels()]), rtol=1e-6)
    with losslab.value_checks("off"):
        NLL(np.asarray(z), np.asarray(y))


def test_nll_bfloat16_log_softmax_cast_to_float64_passes_the_row_check():
    lp = torch.log_softmax(torch.as_tensor(_logits((64, 50))), dim=-1).to(torch.bfloat16)
    y = torch.as_tensor(np.random.default_rng(0).integers(0, 50, 64))
    assert NLL(lp, y).dtype == torch.float32
    torch.testing.assert_close(NLL(lp.double(), y), F.nll_loss(lp.double(), y), rtol=1e-15, atol=0)


# ====================================================================== KL
def _pair(seed=0, shape=(N, C)):
    return _lp(shape, seed), _lp(shape, seed + 10)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_kl_log_matches_torch_kl_div_log_target(reduction):
    lp, lq = (torch.as_tensor(a) for a in _pair())
    theirs = {"mean": "batchmean", "sum": "sum", "none": "none"}[reduction]
    want = F.kl_div(lq, lp, log_target=True, reduction=theirs)
    got = KLL(lp, lq, reduction=reduction)
    torch.testing.assert_close(got, want.sum(-1) if reduction == "none" else want, rtol=1e-14, atol=1e-16)
    x = lp.clone().requires_grad_(True)
    F.kl_div(lq, x, log_target=True, reduction=theirs).sum().backward()
    torch.testing.assert_close(GKLL(lp, lq, reduction=reduction), x.grad, rtol=1e-13, atol=1e-16)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss:UserWarning")
def test_torch_kl_div_mean_divides_by_every_element():
    lp, lq = (torch.as_tensor(a) for a in _pair())
    torch.testing.assert_close(F.kl_div(lq, lp, log_target=True, reduction="mean"), KLL(lp, lq) / C, rtol=1e-14, atol=0)


def test_kl_log_matches_optax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    optax = pytest.importorskip("optax")
    lp, lq = _pair()
    want = optax.losses.kl_divergence_with_log_targets(jax.numpy.asarray(lq), jax.numpy.asarray(lp))
    np.testing.assert_allclose(KLL(lp, lq, reduction="none"), np.asarray(want), rtol=1e-13, atol=1e-16)
    auto = jax.grad(lambda a: jax.numpy.sum(optax.losses.kl_divergence_with_log_targets(jax.numpy.asarray(lq), a)))(jax.numpy.asarray(lp))
    np.testing.assert_allclose(GKLL(lp, lq, reduction="sum"), np.asarray(auto), rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_kl_log_of_logs_is_kl_divergence(reduction):
    p, q = (np.exp(a) for a in _pair())
    w = np.linspace(0.2, 2.0, N)
    np.testing.assert_allclose(KLL(np.log(p), np.log(q), reduction=reduction, weight=w), losslab.kl_divergence(p, q, reduction=reduction, weight=w), rtol=1e-12, atol=1e-15)
    # the gradient w.r.t. log p is p times kl_divergence's w.r.t. p
    np.testing.assert_allclose(GKLL(np.log(p), np.log(q), reduction=reduction, weight=w), p * G.kl_divergence(p, q, reduction=reduction, weight=w), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_kl_log_grad_matches_central_differences_and_autograd(reduction):
    lp, lq = _pair()
    g = GKLL(lp, lq, reduction=reduction)
    np.testing.assert_allclose(g, numeric_grad(lambda x: KLL(x, lq, reduction=reduction), lp), rtol=1e-6, atol=1e-9)
    x = torch.as_tensor(lp).requires_grad_(True)
    KLL(x, torch.as_tensor(lq), reduction=reduction).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), g, rtol=1e-13, atol=1e-16)
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    auto = jax.grad(lambda a: jax.numpy.sum(KLL(a, jax.numpy.asarray(lq), reduction=reduction)))(jax.numpy.asarray(lp))
    np.testing.assert_allclose(np.asarray(auto), g, rtol=1e-13, atol=1e-16)


def test_kl_log_zero_probabilities_and_underflow():
    """0 log 0 = 0 where peers give NaN; p > 0 = q gives inf; probabilities far below the smallest float keep their digits."""
    lp = np.array([[math.log(0.5), math.log(0.5), -np.inf]])
    lq = np.log(np.full((1, 3), 1 / 3))
    assert KLL(lp, lq) == pytest.approx(math.log(1.5), rel=1e-15)
    assert torch.isnan(F.kl_div(torch.as_tensor(lq), torch.as_tensor(lp), log_target=True, reduction="sum"))
    g = GKLL(lp, lq)
    assert g[0, 2] == 0.0 and np.all(np.isfinite(g))
    x = torch.as_tensor(lp).requires_grad_(True)
    KLL(x, torch.as_tensor(lq)).backward()
    torch.testing.assert_close(x.grad, torch.as_tensor(g), rtol=1e-14, atol=0)
    assert KLL(lq, lp) == math.inf  # q's third class has mass, p's none: KL(q || p) is infinite
    assert GKLL(lq, lp)[0, 2] == math.inf
    # p = (1 - e^-800, e^-800): the log-probabilities are exact where exp(log p) underflows to 0
    tiny = np.array([[0.0, -800.0]])
    uniform = np.log(np.full((1, 2), 0.5))
    assert float(KLL(tiny, uniform)) == pytest.approx(math.log(2.0), rel=1e-15)


@pytest.mark.parametrize("fn", [KLL, GKLL], ids=["loss", "grad"])
@pytest.mark.parametrize(
    ("a", "b", "exc", "match"),
    [
        (_logits(), _lp(), ValueError, r"`log_p` must hold log-probabilities \(<= 0\); row 0 has .*normalise with a log-softmax \(losslab.distillation_loss takes logits\)"),
        (_lp(), np.exp(_lp()), ValueError, r"`log_q` must hold log-probabilities \(<= 0\)"),
        (_lp(), _lp() - 1.0, ValueError, r"`log_q` must hold log-probabilities: exp\(log_q\) of row 0 sums to 0.367"),
        (_lp(), np.where(np.eye(N, C) > 0, np.nan, _lp()), ValueError, r"`log_q` contains NaN at index \(0, 0\)"),
        (_lp(), _lp((N, 3)), ValueError, r"`log_q` must have the shape of `log_p` \(7, 4\); got \(7, 3\)"),
        (np.array(0.0), np.array(0.0), ValueError, r"`log_p` must have a class axis; got a 0-d array"),
    ],
)  # fmt: skip
def test_kl_log_bad_input(fn, a, b, exc, match):
    with pytest.raises(exc, match=match):
        fn(a, b)


def test_kl_log_axis_and_single_distribution():
    lp, lq = (sps.log_softmax(_logits((3, C, 2), seed), axis=1) for seed in (0, 1))
    np.testing.assert_allclose(KLL(lp, lq, axis=1, reduction="none"), KLL(np.moveaxis(lp, 1, -1), np.moveaxis(lq, 1, -1), reduction="none"), rtol=1e-15)
    np.testing.assert_allclose(GKLL(lp, lq, axis=1), np.moveaxis(GKLL(np.moveaxis(lp, 1, -1), np.moveaxis(lq, 1, -1)), -1, 1), rtol=1e-15)
    a, b = np.log([0.5, 0.5]), np.log([0.9, 0.1])
    assert float(KLL(a, b)) == pytest.approx(float(losslab.kl_divergence(np.exp(a), np.exp(b))), rel=1e-14)
    with pytest.raises(ValueError, match=r"exp\(log_p\) of the single distribution sums to"):
        KLL(a - 1.0, b)


def test_public_api():
    from losslab.registry import LOSSES

    for name, fn, g, space in (("nll_loss", NLL, GNLL, "log-probabilities"), ("kl_divergence_log", KLL, GKLL, "log-probabilities")):
        assert name in losslab.__all__ and name in G.__all__
        assert LOSSES[name].fn is fn and LOSSES[name].grad is g and LOSSES[name].input_space == space


def test_checkify_reports_bad_rows_in_always_mode():
    jax = pytest.importorskip("jax")
    from jax.experimental import checkify

    jnp = jax.numpy
    z, y = jnp.asarray(_logits()), jnp.asarray(_labels())
    with losslab.value_checks("always"):
        err, _ = checkify.checkify(jax.jit(lambda a, b: NLL(a, b)))(z, y)
        assert "`log_probs` must hold log-probabilities" in err.get()
        err, _ = checkify.checkify(jax.jit(lambda a, b: NLL(a, b)))(jax.nn.log_softmax(z), y)
        assert err.get() is None
        err, _ = checkify.checkify(jax.jit(lambda a, b: KLL(a, b)))(jax.nn.log_softmax(z), z)
        assert "`log_q` must hold log-probabilities" in err.get()
