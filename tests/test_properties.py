"""Mathematical properties, checked with hypothesis.

Registry-driven: non-negativity ("nonnegative"), zero at the target
("zero_at_target") and the minimum at the target for every loss with a
target. Loss-specific: shift invariance of logits, KL >= 0, CE = H + KL,
Huber's bounds, pinball convexity. And the stable primitives of
``losslab._array`` against ``scipy.special`` on extreme values, with warnings
as errors.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.special as sps
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import losslab
from conftest import NUM_CLASSES, call, make_case, specs_where, target_as_pred
from losslab import _array
from losslab.registry import LOSSES

SETTINGS = settings(max_examples=50, deadline=None, derandomize=True, database=None)

seeds = st.integers(0, 2**32 - 1)
scales = st.sampled_from([1e-3, 0.3, 1.0, 5.0, 50.0, 1e3])
floors = st.sampled_from([0.0, 1e-9, 1e-3, 0.05])
sizes = st.integers(1, 7)


def _case(spec, seed, n, scale, floor, cols=None):
    return make_case(spec, np.random.default_rng(seed), n=n, scale=scale, floor=floor, cols=cols)


def _per_sample(spec, case, **kw):
    """The "none" output (the reduced value for rmse), as a float64 array."""
    return np.asarray(call(spec, case, reduction="none" if spec.has("reducible") else None, **kw), dtype=np.float64)


# ------------------------------------------------------- registry properties
@pytest.mark.parametrize("spec", specs_where(lambda s: s.has("nonnegative")))
@SETTINGS
@given(seed=seeds, n=sizes, scale=scales, floor=floors, weighted=st.booleans())
@example(seed=0, n=5, scale=1e3, floor=0.0, weighted=False)  # distillation_loss rounded to -1.8e-203 before the clamp
def test_nonnegative(spec, seed, n, scale, floor, weighted):
    case = _case(spec, seed, n, scale, floor)
    w = np.random.default_rng(seed).uniform(0.0, 3.0, size=n) if weighted else None
    out = _per_sample(spec, case, weight=w)
    assert np.all(out >= 0), f"negative loss {out.min()!r}"
    if spec.has("reducible"):
        assert float(call(spec, case, reduction="sum", weight=w)) >= 0
        assert float(call(spec, case, reduction="mean", weight=np.ones(n))) >= 0


@pytest.mark.parametrize("spec", specs_where(lambda s: s.has("zero_at_target")))
@SETTINGS
@given(seed=seeds, n=sizes, scale=scales, floor=floors)
def test_zero_at_target(spec, seed, n, scale, floor):
    case = _case(spec, seed, n, scale, floor)
    out = _per_sample(spec, case, pred=target_as_pred(spec, case))
    assert np.all(out == 0), out


def test_zero_at_target_tags():
    """Losses without the tag are indeed not 0 at the target (so the tag is informative)."""
    rng = np.random.default_rng(0)
    for spec in LOSSES.values():
        if spec.has("zero_at_target") or spec.target_kind == "none" or spec.input_space == "logits":
            continue
        case = make_case(spec, rng)
        assert np.any(_per_sample(spec, case, pred=target_as_pred(spec, case)) != 0), spec.name


def _minimiser(spec, case):
    """(best prediction, target) per sample: the prediction that minimises each sample's loss."""
    t = case.target
    dtype = case.pred.dtype
    C = NUM_CLASSES
    if spec.target_kind == "counts":
        t = np.maximum(t, 1.0)  # the minimiser of exp(eta) - t eta is log t: -inf for t = 0
        return np.log(t), t
    if spec.target_kind == "binary" and spec.input_space == "logits":
        a = case.options.get("label_smoothing", 0.0)
        if not a:  # hard labels: the loss decreases towards +-inf (focal, hinge), reached at 1e4 to every digit
            return np.where(t > 0, 1e4, -1e4).astype(dtype), t
        ts = (1 - a) * t + a / 2
        return np.log(ts) - np.log1p(-ts), t
    if spec.target_kind == "class" and spec.input_space in ("logits", "log-probabilities"):
        a = case.options.get("label_smoothing", 0.0)
        with np.errstate(divide="ignore"):  # a = 0: the minimiser is log(onehot), -inf off the target class
            return np.log((1 - a) * np.eye(C, dtype=dtype)[t] + a / C), t
    return target_as_pred(spec, case), t


@pytest.mark.parametrize("spec", specs_where(lambda s: s.target_kind != "none"))
@SETTINGS
@given(seed=seeds, n=sizes, scale=st.sampled_from([0.3, 1.0, 5.0]), floor=st.sampled_from([1e-6, 0.05]))
def test_minimum_at_target(spec, seed, n, scale, floor):
    """No prediction beats the Bayes-optimal one for the sample's own target, sample by sample."""
    case = _case(spec, seed, n, scale, floor)
    best, target = _minimiser(spec, case)
    at_best = _per_sample(spec, case, pred=best, target=target)
    other = _per_sample(spec, case, target=target)
    assert np.all(other >= at_best - 1e-12 * (1 + np.abs(at_best)))


# --------------------------------------------------------- shift invariance
shifts = st.one_of(st.floats(-1e3, 1e3), st.sampled_from([0.0, 1e3, -1e3, 700.0, -745.0]))


@SETTINGS
@given(seed=seeds, n=sizes, scale=scales, data=st.data(), smoothing=st.sampled_from([0.0, 0.1, 1.0]))
def test_cross_entropy_shift_invariance(seed, n, scale, data, smoothing):
    rng = np.random.default_rng(seed)
    z = scale * rng.standard_normal((n, NUM_CLASSES))
    c = np.array(data.draw(st.lists(shifts, min_size=n, max_size=n)))[:, None]
    for target in (rng.integers(0, NUM_CLASSES, n), rng.dirichlet(np.ones(NUM_CLASSES), n)):
        for reduction in ("mean", "sum", "none"):
            kw = {"label_smoothing": smoothing, "reduction": reduction}
            np.testing.assert_allclose(
                losslab.cross_entropy(z + c, target, **kw), losslab.cross_entropy(z, target, **kw), atol=1e-9
            )
            np.testing.assert_allclose(
                losslab.grad.cross_entropy(z + c, target, **kw), losslab.grad.cross_entropy(z, target, **kw), atol=1e-12
            )


@SETTINGS
@given(seed=seeds, n=sizes, scale=scales, data=st.data(), temperature=st.floats(0.25, 20.0))
def test_distillation_shift_invariance(seed, n, scale, data, temperature):
    rng = np.random.default_rng(seed)
    s, t = scale * rng.standard_normal((2, n, NUM_CLASSES))
    a = np.array(data.draw(st.lists(shifts, min_size=n, max_size=n)))[:, None]
    b = np.array(data.draw(st.lists(shifts, min_size=n, max_size=n)))[:, None]
    y = rng.integers(0, NUM_CLASSES, n)
    for kw in ({}, {"target": y, "alpha": 0.4}):
        kw = {"temperature": temperature, "reduction": "none", **kw}
        np.testing.assert_allclose(
            losslab.distillation_loss(s + a, t + b, **kw), losslab.distillation_loss(s, t, **kw), atol=1e-9
        )
        np.testing.assert_allclose(
            losslab.grad.distillation_loss(s + a, t + b, **kw), losslab.grad.distillation_loss(s, t, **kw), atol=1e-12
        )


@SETTINGS
@given(seed=seeds, n=sizes, scale=scales, data=st.data())
def test_decomposition_shift_invariance(seed, n, scale, data):
    rng = np.random.default_rng(seed)
    z = scale * rng.standard_normal((n, NUM_CLASSES))
    p = rng.dirichlet(np.ones(NUM_CLASSES), n)
    c = np.array(data.draw(st.lists(shifts, min_size=n, max_size=n)))[:, None]
    shifted = losslab.cross_entropy_decomposition(p, z + c, reduction="none")
    plain = losslab.cross_entropy_decomposition(p, z, reduction="none")
    for a, b in zip(shifted, plain, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-9)


# ------------------------------------------------------- information theory
def _probs(rng, n, zeros):
    """Rows on the simplex; with ``zeros`` some entries are exactly 0 (never a whole row)."""
    p = rng.dirichlet(np.full(NUM_CLASSES, 0.7), n)
    if zeros:
        p[rng.random(p.shape) < 0.3] = 0.0
        p[np.arange(n), rng.integers(0, NUM_CLASSES, n)] += 0.5
        p /= p.sum(axis=-1, keepdims=True)
    return p


@SETTINGS
@given(seed=seeds, n=sizes, zeros=st.booleans(), closeness=st.sampled_from([1.0, 0.3, 1e-3]))
def test_kl_nonnegative(seed, n, zeros, closeness):
    """KL(p || q) >= 0, and equals scipy's sum of ``rel_entr`` (p may have zeros, q > 0)."""
    rng = np.random.default_rng(seed)
    p = _probs(rng, n, zeros)
    q = (1 - closeness) * p + closeness * _probs(rng, n, False)
    kl = np.asarray(losslab.kl_divergence(p, q, reduction="none"))
    assert np.all(kl >= 0), kl
    np.testing.assert_allclose(kl, sps.rel_entr(p, q).sum(axis=-1), rtol=1e-10, atol=1e-15)


@SETTINGS
@given(seed=seeds, n=sizes, zeros=st.booleans())
def test_kl_zero_at_equal_distributions(seed, n, zeros):
    p = _probs(np.random.default_rng(seed), n, zeros)
    assert np.all(np.asarray(losslab.kl_divergence(p, p, reduction="none")) == 0)
    q = p.copy()
    q[:, 0] = 0.0
    q /= q.sum(axis=-1, keepdims=True)
    if np.any(p[:, 0] > 0):  # p > 0 = q somewhere: KL is +inf, returned as such
        assert np.isinf(losslab.kl_divergence(p, q, reduction="sum"))


def test_kl_nonnegative_when_nearly_equal():
    rng = np.random.default_rng(0)
    p = _probs(rng, 64, False)
    q = (1 - 1e-8) * p + 1e-8 * _probs(rng, 64, False)
    assert np.all(np.asarray(losslab.kl_divergence(p, q, reduction="none")) >= 0)


@SETTINGS
@given(
    seed=seeds,
    n=sizes,
    scale=scales,
    zeros=st.booleans(),
    reduction=st.sampled_from(["mean", "sum", "none"]),
    weighted=st.booleans(),
)
def test_cross_entropy_is_entropy_plus_kl(seed, n, scale, zeros, reduction, weighted):
    rng = np.random.default_rng(seed)
    p = _probs(rng, n, zeros)
    z = scale * rng.standard_normal((n, NUM_CLASSES))
    kw = {"reduction": reduction, "weight": rng.uniform(0.1, 2.0, n) if weighted else None}
    d = losslab.cross_entropy_decomposition(p, z, **kw)
    h, kl, ce = (np.asarray(x) for x in d)
    np.testing.assert_allclose(ce, h + kl, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ce, losslab.cross_entropy(z, p, **kw), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h, losslab.entropy(p, **kw), rtol=1e-12, atol=1e-15)
    assert np.all(kl >= -1e-12 * (1 + np.abs(ce)))
    q = sps.softmax(z, axis=-1)
    if q.min() > 1e-250:  # kl_divergence takes probabilities: q must not underflow
        np.testing.assert_allclose(kl, losslab.kl_divergence(p, q, **kw), rtol=1e-8, atol=1e-10)


# ------------------------------------------------------------------ Huber
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@SETTINGS
@given(
    pred=hnp.arrays(np.float64, st.integers(1, 8), elements=finite),
    data=st.data(),
    delta=st.floats(1e-3, 1e3),
)
def test_huber_bounds(pred, data, delta):
    """0 <= huber <= r^2 / 2, huber <= delta |r|, and = r^2 / 2 where |r| <= delta."""
    target = data.draw(hnp.arrays(np.float64, pred.shape, elements=finite))
    r = pred - target
    h = np.asarray(losslab.huber(pred, target, delta=delta, reduction="none"))
    slack = 1 + 4 * np.finfo(np.float64).eps
    assert np.all(h >= 0)
    assert np.all(h <= 0.5 * r * r * slack)
    assert np.all(h <= delta * np.abs(r) * slack)
    inside = np.abs(r) <= delta
    np.testing.assert_array_equal(h[inside], 0.5 * r[inside] ** 2)


# ---------------------------------------------------------------- pinball
@SETTINGS
@given(
    a=hnp.arrays(np.float64, st.integers(1, 8), elements=st.floats(-1e3, 1e3)),
    data=st.data(),
    lam=st.floats(0.0, 1.0),
    q=st.floats(0.01, 0.99),
)
def test_pinball_convex_along_a_line(a, data, lam, q):
    b = data.draw(hnp.arrays(np.float64, a.shape, elements=st.floats(-1e3, 1e3)))
    t = data.draw(hnp.arrays(np.float64, a.shape, elements=st.floats(-1e3, 1e3)))
    w = data.draw(hnp.arrays(np.float64, a.shape, elements=st.floats(0.0, 10.0)))
    tol = 1e-12 * (1 + np.abs(a) + np.abs(b) + np.abs(t))
    for kw in ({"reduction": "none"}, {"reduction": "sum", "weight": w}):

        def L(p, kw=kw):
            return np.asarray(losslab.pinball(p, t, quantile=q, **kw))

        mid = L(lam * a + (1 - lam) * b)
        assert np.all(mid <= lam * L(a) + (1 - lam) * L(b) + (tol if kw["reduction"] == "none" else tol @ (1 + w)))


# ----------------------------------------------------- primitives vs scipy
extreme = st.one_of(
    st.sampled_from([1e4, -1e4, -np.inf, 0.0, 709.0, -745.0, 1e-300]),
    st.floats(-1e4, 1e4),
)
extreme_or_inf = st.one_of(extreme, st.just(np.inf))
matrices = hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=5), elements=extreme)


def _quietly(fn, *args, **kw):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def _loudly(fn, *args, **kw):
    """Call ``fn`` with every warning (NumPy floating-point ones included) raised as an error."""
    with warnings.catch_warnings(), np.errstate(divide="raise", over="raise", invalid="raise", under="ignore"):
        warnings.simplefilter("error")
        return fn(*args, **kw)


def _same(actual, expected):
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=1e-13, atol=1e-300)


@SETTINGS
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=5), elements=extreme_or_inf))
def test_logsumexp_matches_scipy(x):
    """Rows of only -inf give -inf, rows holding +inf give +inf, all without warnings."""
    for axis in (-1, 0):
        for keepdims in (False, True):
            _same(
                _loudly(_array.logsumexp, np, x, axis=axis, keepdims=keepdims),
                _quietly(sps.logsumexp, x, axis=axis, keepdims=keepdims),
            )


@SETTINGS
@given(x=matrices)
def test_log_softmax_matches_scipy(x):
    """-inf entries stay -inf; a row of only -inf has no distribution (NaN, as scipy), without warnings."""
    _same(_loudly(_array.log_softmax, np, x), _quietly(sps.log_softmax, x, axis=-1))
    _same(_loudly(_array.softmax, np, x), _quietly(sps.softmax, x, axis=-1))


def test_log_softmax_exact_for_large_logits():
    """The shift comes off before the log-sum-exp: no ulp of a large maximum is lost."""
    x = np.array([[1e12, 1e12, 1e12 - 1.0], [1e4, 1e4, 1e4 - 1.0], [1e15, 1e15, -1e15]])
    np.testing.assert_allclose(_array.log_softmax(np, x), sps.log_softmax(x, axis=-1), rtol=1e-14)


@SETTINGS
@given(x=hnp.arrays(np.float64, st.integers(1, 10), elements=extreme_or_inf))
def test_softplus_and_sigmoid_match_scipy(x):
    _same(_loudly(_array.softplus, np, x), _quietly(sps.softplus, x))
    _same(_loudly(_array.log_sigmoid, np, x), _quietly(sps.log_expit, x))
    _same(_loudly(_array.sigmoid, np, x), _quietly(sps.expit, x))


@SETTINGS
@given(
    x=hnp.arrays(np.float64, 6, elements=st.one_of(st.just(0.0), st.floats(-1e3, 1e3))),
    data=st.data(),
)
def test_xlogy_matches_scipy(x, data):
    """0 log y = 0 (y = 0 included) and x log 0 = -inf, without warnings."""
    y = data.draw(hnp.arrays(np.float64, 6, elements=st.one_of(st.just(0.0), st.floats(0.0, 1e300))))
    _same(_loudly(_array.xlogy, np, x, y), _quietly(sps.xlogy, x, y))
