"""The value-check modes: "auto" (default), "always" (checkify under a JAX trace), "off".

Under ``jax.jit`` no value can be read. In "always" mode every shared value check becomes a
``jax.experimental.checkify`` check, so ``checkify.checkify(jax.jit(f))`` reports what the eager
call would raise; in "auto" mode those checks are skipped (and no checkify check is staged, so the
plain ``jax.jit`` works). The mode is read when a function is traced: each case builds a fresh
function, since ``jax.jit`` caches the trace of the mode it first saw.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import losslab
from losslab.losses.categorical import cross_entropy_grad
from losslab.losses.regression import mae_grad

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
checkify = pytest.importorskip("jax.experimental.checkify")

Z = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
NAN = math.nan


def _ce(z, t, **kw):
    return losslab.cross_entropy(z, t, **kw)


# (id, function of jax arrays, inputs, the message checkify reports)
CASES = [
    ("label-range", _ce, (Z, [0, 3]), "`target` must hold class indices in [0, 2]"),
    ("label-negative", _ce, (Z, [-1, 0]), "`target` must hold class indices in [0, 2]"),
    ("label-ignore", lambda z, t: _ce(z, t, ignore_index=-100), (Z, [5, -100]),
     "`target` must hold class indices in [0, 2] or ignore_index=-100"),
    ("smooth-labels", lambda t: losslab.smooth_labels(t, 3, 0.1), ([0, 4],),
     "`target` must hold class indices in [0, 2]"),
    ("log-loss-label", losslab.log_loss, ([[0.5, 0.5], [0.1, 0.9]], [0, 2]),
     "`target` must hold class indices in [0, 1]"),
    ("soft-range", _ce, (Z, [[1.5, -0.5, 0.0], [0.2, 0.4, 0.4]]), "`target` must hold class probabilities in [0, 1]"),
    ("soft-rows", _ce, (Z, [[0.5, 0.5, 0.0], [0.2, 0.2, 0.2]]), "`target` rows must sum to 1"),
    ("probs-range", losslab.binary_cross_entropy, ([1.5, 0.5], [1.0, 0.0]),
     "`probs` must hold probabilities in [0, 1]"),
    ("kl-rows", losslab.kl_divergence, ([0.5, 0.6], [0.5, 0.5]), "`p` rows must sum to 1"),
    ("log-loss-rows", losslab.log_loss, ([[0.5, 0.6], [0.1, 0.9]], [0, 1]), "`probs` rows must sum to 1"),
    ("weight-negative", lambda p, t, w: losslab.mse(p, t, weight=w), ([1.0, 2.0], [0.0, 0.0], [1.0, -1.0]),
     "`weight` must be finite and non-negative"),
    ("weight-nan", lambda p, t, w: losslab.mse(p, t, weight=w), ([1.0, 2.0], [0.0, 0.0], [1.0, NAN]),
     "`weight` must be finite and non-negative"),
    ("class-weight", lambda z, t, w: _ce(z, t, class_weight=w), (Z, [0, 1], [1.0, -1.0, 1.0]),
     "`class_weight` must be finite and non-negative"),
    ("pos-weight", lambda z, t, w: losslab.binary_cross_entropy_with_logits(z, t, pos_weight=w),
     ([1.0, 2.0], [0.0, 1.0], -2.0), "`pos_weight` must be positive and finite"),
    ("zero-total", lambda p, t, w: losslab.mse(p, t, weight=w), ([1.0, 2.0], [0.0, 0.0], [0.0, 0.0]),
     "the total `weight` is 0 under reduction='mean'"),
    ("all-ignored", lambda z, t: _ce(z, t, ignore_index=-100), (Z, [-100, -100]),
     "the total weight is 0 under reduction='mean'"),
    ("nonfinite-loss", losslab.mse, ([NAN, 1.0], [0.0, 0.0]),
     "the loss is not finite: an input holds NaN/inf or is out of its domain"),
    ("nonfinite-ce", _ce, ([[NAN, 0.0, 0.0], [0.0, 1.0, 0.0]], [0, 1]), "the loss is not finite"),
    ("nonfinite-grad", cross_entropy_grad, ([[math.inf, 0.0, 0.0], [0.0, 1.0, 0.0]], [0, 1]),
     "the gradient is not finite"),
    ("bounded-grad", mae_grad, ([math.inf, 1.0], [0.0, 0.0]), "`pred` and `target` must be finite"),
    ("poisson-target", losslab.poisson_nll, ([0.0, 1.0], [1.0, -2.0]),
     "`target` must hold non-negative counts for the Poisson likelihood"),
    ("smoothing", lambda z, t, a: _ce(z, t, label_smoothing=a), (Z, [0, 1], 1.5),
     "`label_smoothing` must be in [0, 1]"),
    ("temperature", lambda s, t, T: losslab.distillation_loss(s, t, temperature=T), (Z, Z, -1.0),
     "`temperature` must be positive and finite"),
    ("quantiles", lambda p, t, q: losslab.pinball(p, t, quantile=q), ([[0.0, 1.0]], [0.5], [0.5, 1.5]),
     "`quantile` must hold quantiles in (0, 1)"),
    ("var", lambda m, t, v: losslab.gaussian_nll(m, t, var=v), ([0.0, 1.0], [0.5, 0.5], [1.0, 0.0]),
     "`var` must be positive and finite"),
]  # fmt: skip
IDS = [c[0] for c in CASES]


def _inputs(args):
    return [jnp.asarray(a) for a in args]


def _fresh(fn):
    """A new function object each time, so that jax.jit traces again (under the current mode)."""
    return lambda *a: fn(*a)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_always_mode_checkify_reports_under_jit(case):
    _, fn, args, message = case
    with losslab.value_checks("always"):
        err, _ = checkify.checkify(jax.jit(_fresh(fn)))(*_inputs(args))
    assert err.get() is not None, "no checkify error"
    assert ("losslab: " + message) in err.get()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_always_mode_checkify_under_vmap_and_grad(case):
    _, fn, args, message = case
    xs = _inputs(args)
    batched = [jnp.stack([x, x]) for x in xs]
    with losslab.value_checks("always"):
        err, _ = checkify.checkify(jax.jit(jax.vmap(_fresh(fn))))(*batched)
        assert err.get() is not None and message in err.get()
        if jnp.issubdtype(xs[0].dtype, jnp.floating):  # w.r.t. the first input; a gradient is summed
            err, _ = checkify.checkify(jax.jit(jax.grad(lambda *a: jnp.sum(fn(*a)))))(*xs)
            assert err.get() is not None and message in err.get()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_auto_mode_stages_no_check(case):
    _, fn, args, _ = case
    xs = _inputs(args)
    jax.jit(_fresh(fn))(*xs)  # a staged checkify check without checkify.checkify would raise here
    err, _ = checkify.checkify(jax.jit(_fresh(fn)))(*xs)
    assert err.get() is None


def test_always_mode_passes_valid_inputs_and_keeps_values():
    z, t = jnp.asarray(Z), jnp.asarray([0, 2])
    expected = losslab.cross_entropy(Z, np.array([0, 2]), label_smoothing=0.1)
    with losslab.value_checks("always"):
        err, out = checkify.checkify(jax.jit(lambda z, t, a: losslab.cross_entropy(z, t, label_smoothing=a)))(z, t, 0.1)
    assert err.get() is None
    np.testing.assert_allclose(float(out), expected, rtol=1e-6)


def test_always_mode_without_checkify_is_refused_by_jax():
    with losslab.value_checks("always"), pytest.raises(ValueError, match="checkify"):
        jax.jit(_fresh(losslab.mse))(jnp.ones(2), jnp.ones(2))


def test_always_mode_on_eager_arrays_raises_the_eager_errors():
    with losslab.value_checks("always"):
        with pytest.raises(ValueError, match=re.escape("`target` must hold class indices in [0, 2]; got 3 at index 1")):
            losslab.cross_entropy(jnp.asarray(Z), jnp.asarray([0, 3]))
        with pytest.raises(ValueError, match=re.escape("`weight` must be finite and non-negative; got -1.0 at")):
            losslab.mse(np.ones(2), np.zeros(2), weight=np.array([1.0, -1.0]))


# ---------------------------------------------------------------- "off"
def test_off_mode_skips_eager_checks_on_numpy():
    """With the checks off the library's own indexing and arithmetic decide (documented in _checks)."""
    with losslab.value_checks("off"):
        # a negative label is a NumPy index from the end: class 2 of row 1, no error
        out = losslab.cross_entropy(Z, np.array([0, -1]), reduction="none")
        np.testing.assert_allclose(out, losslab.cross_entropy(Z, np.array([0, 2]), reduction="none"))
        # a label >= C is an index error of NumPy's own, not losslab's ValueError
        with pytest.raises(IndexError):
            losslab.cross_entropy(Z, np.array([0, 3]))
        # NaN in, NaN out; probabilities out of range give a number; negative weights are used
        assert math.isnan(losslab.mse(np.array([NAN, 1.0]), np.zeros(2)))
        assert math.isfinite(losslab.binary_cross_entropy(np.array([1.5, 0.5]), np.array([1.0, 0.0])))
        w = np.array([2.0, -1.0])
        assert losslab.mse(np.ones(2), np.zeros(2), weight=w, reduction="sum") == 1.0
        # option checks are static (not value checks of arrays): they still run
        with pytest.raises(ValueError, match="`label_smoothing` must be in"):
            losslab.cross_entropy(Z, np.array([0, 1]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="must hold class indices"):  # back to "auto" after the block
        losslab.cross_entropy(Z, np.array([0, -1]))


# ---------------------------------------------------------------- modes
def test_modes_set_get_and_restore():
    assert losslab.get_value_checks() == "auto"
    previous = losslab.set_value_checks("off")
    try:
        assert previous == "auto" and losslab.get_value_checks() == "off"
        with losslab.value_checks("always"):
            assert losslab.get_value_checks() == "always"
        assert losslab.get_value_checks() == "off"
    finally:
        losslab.set_value_checks(previous)
    with pytest.raises(RuntimeError), losslab.value_checks("off"):
        raise RuntimeError
    assert losslab.get_value_checks() == "auto"
    with pytest.raises(ValueError, match="`mode` must be one of 'auto', 'always' or 'off'; got 'on'"):
        losslab.set_value_checks("on")
