"""The shared helpers: stable primitives, namespaces and dtypes, reduction, checks and messages.

The primitives are compared with SciPy on inputs where the naive formula
fails (logits of +-1e4, ``-inf`` entries and rows); floating-point warnings
are errors here, so "no RuntimeWarning" is part of every assertion.
"""

from __future__ import annotations

import math
import re
import warnings

import array_api_compat as aac
import array_api_compat.numpy as xnp
import numpy as np
import pytest
from scipy import special

import losslab
from losslab import _array as A
from losslab import _reduction as R
from losslab import _validation as V
from losslab.kernels import blocks as K

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

try:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
except ImportError:  # pragma: no cover
    jax = jnp = None

try:
    import array_api_strict as xps
except ImportError:  # pragma: no cover
    xps = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")
needs_jax = pytest.mark.skipif(jax is None, reason="jax is not installed")
needs_strict = pytest.mark.skipif(xps is None, reason="array-api-strict is not installed")


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


def _namespaces():
    out = [pytest.param(lambda a: a, id="numpy")]
    if torch is not None:
        out.append(pytest.param(torch.as_tensor, id="torch"))
    if jax is not None:
        out.append(pytest.param(jnp.asarray, id="jax"))
    if xps is not None:
        out.append(pytest.param(xps.asarray, id="array_api_strict"))
    return out


def _np(x) -> np.ndarray:
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().numpy()
    if xps is not None and type(x).__module__.startswith("array_api_strict"):
        return np.from_dlpack(x)
    return np.asarray(x)


INF = math.inf
LOGITS = np.array(
    [
        [1e4, -1e4, 0.0, 3.0],
        [-1e4, -1e4, -1e4, -1e4],
        [1e4, 1e4 - 1.0, 1e4 - 2.0, -1e4],
        [-INF, 0.0, 1.0, -INF],
        [-INF, -INF, -INF, 5.0],
        [1e-300, -1e-300, 0.0, 1e308],
    ]
)
ALL_NEG_INF = np.array([[-INF, -INF, -INF]])


# ------------------------------------------------------------ stable math
@pytest.mark.parametrize("to", _namespaces())
def test_logsumexp_matches_scipy_on_extreme_rows(to):
    x = to(LOGITS)
    xp = aac.array_namespace(x)
    got = A.logsumexp(xp, x, axis=-1)
    assert aac.array_namespace(got) is xp
    np.testing.assert_allclose(_np(got), special.logsumexp(LOGITS, axis=-1), rtol=1e-15)
    keep = A.logsumexp(xp, x, axis=-1, keepdims=True)
    assert tuple(keep.shape) == (LOGITS.shape[0], 1)
    # along another axis
    np.testing.assert_allclose(_np(A.logsumexp(xp, x, axis=0)), special.logsumexp(LOGITS, axis=0), rtol=1e-15)


@pytest.mark.parametrize("to", _namespaces())
def test_logsumexp_of_all_neg_inf_row_is_neg_inf(to):
    x = to(np.concatenate([ALL_NEG_INF, [[0.0, 0.0, -INF]]]))
    got = _np(A.logsumexp(aac.array_namespace(x), x))
    assert got[0] == -INF
    assert got[1] == pytest.approx(math.log(2.0), rel=1e-15)


def test_logsumexp_nonfinite_rows_follow_scipy():
    x = np.array([[INF, 1e4, 0.0], [INF, -INF, 1.0], [math.nan, 1e4, 1.0], [-1e308, -INF, -INF]])
    got = A.logsumexp(xnp, x)
    np.testing.assert_array_equal(got, special.logsumexp(x, axis=-1))
    assert np.isposinf(got[0]) and np.isposinf(got[1]) and np.isnan(got[2])


@pytest.mark.parametrize("to", _namespaces())
def test_log_softmax_and_softmax_match_scipy(to):
    x = to(LOGITS)
    xp = aac.array_namespace(x)
    ls, sm = _np(A.log_softmax(xp, x)), _np(A.softmax(xp, x))
    ref_ls, ref_sm = special.log_softmax(LOGITS, axis=-1), special.softmax(LOGITS, axis=-1)
    np.testing.assert_allclose(ls, ref_ls, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(sm, ref_sm, rtol=1e-15, atol=1e-300)
    assert ls[0, 1] == -2e4  # exact for logits of any magnitude
    assert np.isneginf(ls[3, 0]) and sm[3, 0] == 0.0  # a masked class stays masked
    np.testing.assert_allclose(sm.sum(axis=-1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(_np(A.softmax(xp, x, axis=0)), special.softmax(LOGITS, axis=0), rtol=1e-14)


def test_log_softmax_and_softmax_of_all_neg_inf_row_are_nan_without_warning():
    x = np.concatenate([ALL_NEG_INF, [[0.0, 1.0, -INF]]])
    ls, sm = A.log_softmax(xnp, x), A.softmax(xnp, x)
    assert np.all(np.isnan(ls[0])) and np.all(np.isnan(sm[0]))  # as SciPy: no distribution
    np.testing.assert_allclose(ls[1], special.log_softmax(x[1]))
    np.testing.assert_allclose(sm[1], special.softmax(x[1]))


def test_half_precision_primitives_keep_dtype():
    x = LOGITS[:3].astype(np.float32)
    assert A.logsumexp(xnp, x).dtype == np.float32
    assert A.log_softmax(xnp, x).dtype == np.float32
    assert A.softmax(xnp, x).dtype == np.float32
    np.testing.assert_allclose(A.logsumexp(xnp, x), special.logsumexp(x, axis=-1), rtol=1e-6)


EXTREME = np.array([-1e4, -800.0, -40.0, -1.0, -1e-20, 0.0, 1e-20, 1.0, 40.0, 800.0, 1e4, -INF, INF])


@pytest.mark.parametrize("to", _namespaces())
@pytest.mark.parametrize(
    ("name", "ref"),
    [
        ("softplus", lambda v: np.logaddexp(0.0, v)),
        ("log_sigmoid", special.log_expit),
        ("sigmoid", special.expit),
    ],
)
def test_sigmoid_family_matches_scipy(to, name, ref):
    x = to(EXTREME)
    got = _np(getattr(A, name)(aac.array_namespace(x), x))
    np.testing.assert_allclose(got, ref(EXTREME), rtol=2e-16, atol=0)


def test_softplus_is_exact_in_the_tails():
    x = np.array([1e4, -1e4, 50.0, -50.0])
    np.testing.assert_array_equal(A.softplus(xnp, x), [1e4, 0.0, 50.0, math.exp(-50.0)])
    np.testing.assert_array_equal(A.log_sigmoid(xnp, -x), [-1e4, 0.0, -50.0, -math.exp(-50.0)])


XLOGY_X = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1.0, -1.0, 2.0, 1.0, 1e-300, 3.0, -2.0, 1.0])
XLOGY_Y = np.array([0.0, 1.0, -1.0, INF, math.nan, 0.0, 0.0, 3.0, -1.0, 1e-300, INF, 0.5, math.nan])


@pytest.mark.parametrize("to", _namespaces())
def test_xlogy_matches_scipy(to):
    x, y = to(XLOGY_X), to(XLOGY_Y)
    got = _np(A.xlogy(aac.array_namespace(x), x, y))
    np.testing.assert_allclose(got, special.xlogy(XLOGY_X, XLOGY_Y), rtol=1e-15, equal_nan=True)


@needs_torch
def test_xlogy_gradient_is_finite_at_zero():
    p = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64, requires_grad=True)
    A.xlogy(aac.array_namespace(p), torch.ones(3, dtype=torch.float64), p + 1.0).sum().backward()
    assert torch.isfinite(p.grad).all()
    np.testing.assert_allclose(p.grad.numpy(), 1.0 / (p.detach().numpy() + 1.0))


LGAMMA_X = np.array([1e-300, 1e-3, 0.5, 1.0, 2.0, 3.5, 10.0, 171.5, 1e4, 1e300, 0.0, -0.5, -2.5, INF])


@pytest.mark.parametrize("to", _namespaces())
def test_lgamma_matches_scipy(to):
    x = to(LGAMMA_X)
    xp = aac.array_namespace(x)
    got = A.lgamma(xp, x)
    assert aac.array_namespace(got) is xp and got.dtype == x.dtype
    np.testing.assert_allclose(_np(got), special.gammaln(LGAMMA_X), rtol=1e-13)


@needs_strict
def test_lgamma_keeps_float32_on_array_api_strict():
    x = xps.asarray([0.5, 3.0, 100.0], dtype=xps.float32)
    got = A.lgamma(xps, x)
    assert got.dtype == xps.float32
    np.testing.assert_allclose(np.from_dlpack(got), special.gammaln([0.5, 3.0, 100.0]), rtol=1e-6)


@needs_jax
def test_lgamma_under_jit_and_grad():
    x = jnp.asarray([0.5, 3.0, 10.0])
    np.testing.assert_allclose(jax.jit(lambda a: A.lgamma(jnp, a))(x), special.gammaln(np.asarray(x)), rtol=1e-14)
    np.testing.assert_allclose(jax.grad(lambda a: A.lgamma(jnp, a).sum())(x), special.digamma(np.asarray(x)))


# ------------------------------------------------------------------ sum_log
def _levels(dtype, floor):
    finfo = np.finfo(dtype)
    return max(int(math.floor(math.log2(math.log(finfo.smallest_normal) / math.log(floor)))), 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 15, 16, 17, 31, 33, 1001, 4097])
@pytest.mark.parametrize("kind", ["uniform", "log-uniform", "eps", "eps-or-1", "near-1"])
def test_sum_log_accuracy(dtype, n, kind):
    """sum_log(x) = sum(log x) for eps <= x <= 1: an error of at most 2**k ulp per input
    (the rounding of the products of 2**k numbers) on top of the logs' own rounding."""
    rng = np.random.default_rng(n)
    eps = float(np.finfo(dtype).eps)
    x = {
        "uniform": lambda: rng.uniform(eps, 1.0, n),
        "log-uniform": lambda: np.exp(rng.uniform(math.log(eps), 0.0, n)),
        "eps": lambda: np.full(n, eps),
        "eps-or-1": lambda: np.where(rng.uniform(size=n) < 0.5, eps, 1.0),
        "near-1": lambda: 1.0 - rng.uniform(0.0, 1e-3, n),
    }[kind]()
    x = np.maximum(x.astype(dtype), dtype(eps))
    got = K.sum_log(xnp, x, eps)
    assert got.dtype == dtype
    logs = np.log(x.astype(np.float64))
    exact = math.fsum(logs)
    k = _levels(dtype, eps)
    assert k == (4 if dtype == np.float64 else 2)  # the docstring's numbers
    bound = 2**k * n * eps + 4 * eps * float(np.sum(np.abs(logs)))
    assert abs(float(got) - exact) <= bound
    ref = float(np.sum(np.log(x)))
    assert abs(float(got) - ref) <= 2 * bound


def test_sum_log_products_do_not_underflow():
    """2**k copies of eps multiply to eps**(2**k), still a normal number."""
    for dtype in (np.float64, np.float32):
        eps = float(np.finfo(dtype).eps)
        x = np.full(64, eps, dtype=dtype)
        assert float(K.sum_log(xnp, x, eps)) == pytest.approx(64 * math.log(eps), rel=4 * eps)


def test_sum_log_edge_cases():
    assert float(K.sum_log(xnp, np.ones(0), 1e-16)) == 0.0
    assert float(K.sum_log(xnp, np.array([0.25]), 1e-16)) == math.log(0.25)
    assert float(K.sum_log(xnp, np.array([0.5, 0.25, 0.125]), 0.1)) == pytest.approx(math.log(0.5**6), rel=1e-15)
    # floor >= 1: no pairing at all
    assert float(K.sum_log(xnp, np.array([2.0, 3.0]), 1.0)) == pytest.approx(math.log(6.0), rel=1e-15)


@needs_jax
def test_sum_log_under_jit():
    x = jnp.asarray(np.linspace(0.01, 1.0, 37))
    eps = float(np.finfo(np.float64).eps)
    got = jax.jit(lambda a: K.sum_log(jnp, a, eps))(x)
    assert float(got) == pytest.approx(float(np.sum(np.log(np.asarray(x)))), rel=1e-14)


# ------------------------------------------------------ dtypes and namespaces
def test_compute_dtype_numpy():
    assert A.compute_dtype(xnp, np.float16) == np.float32
    assert A.compute_dtype(xnp, np.float32) == np.float32
    assert A.compute_dtype(xnp, np.float64) == np.float64


@needs_torch
def test_compute_dtype_torch():
    xp = aac.array_namespace(torch.ones(1))
    assert A.compute_dtype(xp, torch.float16) == torch.float32
    assert A.compute_dtype(xp, torch.bfloat16) == torch.float32
    assert A.compute_dtype(xp, torch.float32) == torch.float32
    assert A.compute_dtype(xp, torch.float64) == torch.float64


@needs_jax
def test_compute_dtype_jax():
    assert A.compute_dtype(jnp, jnp.bfloat16) == jnp.float32
    assert A.compute_dtype(jnp, jnp.float16) == jnp.float32
    assert A.compute_dtype(jnp, jnp.float64) == jnp.float64


def test_float_eps_and_to_float():
    assert A.float_eps(xnp, np.float64) == np.finfo(np.float64).eps
    assert A.float_eps(xnp, np.float32) == float(np.finfo(np.float32).eps)
    assert A.to_float(xnp, np.array([1, 2]), "x").dtype == np.float64
    assert A.to_float(xnp, np.array([True]), "x").dtype == np.float64
    x = np.ones(2, dtype=np.float16)
    assert A.to_float(xnp, x, "x") is x
    with pytest.raises(TypeError, match=re.escape("`x` must hold real numbers; got dtype complex128")):
        A.to_float(xnp, np.array([1 + 1j]), "x")


@needs_torch
def test_to_float_uses_the_namespace_default():
    xp = aac.array_namespace(torch.ones(1))
    assert A.to_float(xp, torch.tensor([1, 2]), "x").dtype == torch.get_default_dtype()


def test_as_arrays_python_input_goes_to_numpy():
    xp, a, b, c, d = A.as_arrays([1.0, 2.0], [[1, 2]], None, 3.5, names=("a", "b", "c", "d"))
    assert xp is xnp
    assert isinstance(a, np.ndarray) and a.dtype == np.float64
    assert isinstance(b, np.ndarray) and b.dtype == np.int64 and b.shape == (1, 2)
    assert c is None
    assert isinstance(d, np.ndarray) and d.shape == () and float(d) == 3.5


def test_as_arrays_passes_arrays_through():
    x = np.arange(3.0)
    xp, y = A.as_arrays(x, names=("x",))
    assert y is x and xp is aac.array_namespace(x)
    s = np.float32(2.0)
    assert A.as_arrays(s, names=("s",))[1] is s


@needs_torch
def test_as_arrays_python_input_joins_the_first_array():
    t = torch.ones(2, dtype=torch.float32)
    xp, w, tt, b = A.as_arrays(None, t, [1, 2], names=("w", "t", "b"))
    assert w is None and tt is t
    assert isinstance(b, torch.Tensor) and b.device == t.device
    assert xp is aac.array_namespace(t)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [([[1.0, 2.0], [3.0]], "got list"), ({"a": 1}, "got dict"), ([1.0, None], "got list"), (object(), "got object")],
)
def test_as_arrays_refuses_non_numeric_input(value, fragment):
    with pytest.raises(TypeError, match=r"`target` must be an array or a \(nested\) sequence of numbers; " + fragment):
        A.as_arrays(np.zeros(2), value, names=("pred", "target"))


@needs_torch
def test_as_arrays_refuses_non_numeric_input_next_to_torch():
    with pytest.raises(TypeError, match=r"`target` must be an array or a \(nested\) sequence of numbers; got dict"):
        A.as_arrays(torch.zeros(2), {"a": 1}, names=("pred", "target"))


def test_as_arrays_keeps_string_labels():
    xp, labels = A.as_arrays(["n", "y"], names=("labels",))
    assert labels.dtype.kind == "U"


@needs_torch
def test_as_arrays_mixed_libraries_name_both_and_the_fix():
    with pytest.raises(TypeError) as info:
        A.as_arrays(np.zeros(2), None, torch.zeros(2), names=("pred", "weight", "target"))
    assert str(info.value) == (
        "`target` is a torch array but `pred` is a numpy array; all array arguments must come from "
        "one library: convert `target` with numpy.asarray(x)"
    )
    with pytest.raises(TypeError, match=re.escape("convert `b` with torch.as_tensor(x)")):
        A.as_arrays(torch.zeros(2), np.zeros(2), names=("a", "b"))


@needs_jax
def test_as_arrays_mixed_jax_hint():
    with pytest.raises(TypeError, match=re.escape("`b` is a numpy array but `a` is a jax array")) as info:
        A.as_arrays(jnp.zeros(2), np.zeros(2), names=("a", "b"))
    assert "jax.numpy.asarray(x)" in str(info.value)


def test_numel_and_is_concrete():
    assert A.numel(np.zeros((2, 3))) == 6 and A.numel(np.zeros(())) == 1 and A.numel(np.zeros((0, 4))) == 0
    assert A.is_concrete(np.zeros(2), None)
    assert A.is_concrete()


@needs_torch
def test_numel_torch():
    assert A.numel(torch.zeros(2, 5)) == 10


@needs_jax
def test_is_concrete_jax_eager_vs_traced():
    x = jnp.zeros(2)
    assert A.is_concrete(x)  # an eager JAX array can be inspected: value checks run
    seen = []
    jax.jit(lambda a: seen.append(A.is_concrete(a)) or a)(x)
    jax.grad(lambda a: seen.append(A.is_concrete(a)) or jnp.sum(a))(x)
    jax.vmap(lambda a: seen.append(A.is_concrete(a)) or a)(x)
    assert seen == [False, False, False]
    # A concrete array closed over by a jitted function: operations on it are traced.
    jax.jit(lambda a: seen.append(A.is_concrete(x)) or a)(x)
    assert seen[-1] is False
    assert A.is_concrete(x)  # and concrete again after the trace


@needs_jax
def test_value_checks_on_closed_over_jax_array_under_jit():
    """No bool() on a tracer: a check of a closed-over concrete array is skipped while tracing."""
    w = jnp.asarray([1.0, -1.0])

    def f(loss):
        c = R.coefficients(jnp, (2,), "mean", R.prepare_weight(jnp, w, (2,), loss.dtype))
        V.check_range(jnp, "w", w, 0.0, 1.0)
        return R.reduce(jnp, loss, c, "mean", loss.dtype)

    out = jax.jit(f)(jnp.asarray([1.0, 3.0]))
    assert not bool(jnp.isfinite(out))  # total weight 0: 1/0 under jit, unchecked
    with pytest.raises(ValueError, match="`weight` must be finite and non-negative; got -1.0 at index 1"):
        f(jnp.asarray([1.0, 3.0]))


# ---------------------------------------------------------------- reduction
def test_prepare_weight_full_and_per_sample_shapes():
    assert R.prepare_weight(xnp, None, (3, 2), np.float64) is None
    w = R.prepare_weight(xnp, np.arange(6.0).reshape(3, 2), (3, 2), np.float64)
    assert w.shape == (3, 2)
    w = R.prepare_weight(xnp, np.array([1, 2, 3]), (3, 2, 4), np.float32)
    assert w.shape == (3, 1, 1) and w.dtype == np.float32
    w = R.prepare_weight(xnp, np.array([True, False]), (2,), np.float64)
    assert w.dtype == np.float64 and w.tolist() == [1.0, 0.0]
    assert R.prepare_weight(xnp, np.asarray(2.0), (), np.float64).shape == ()


@pytest.mark.parametrize(
    ("shape", "loss_shape", "message"),
    [
        ((3,), (5, 3), "`weight` must have shape (5, 3) (one per loss element) or (5,) (one per sample); got (3,)"),
        ((5, 1), (5, 3), "`weight` must have shape (5, 3) (one per loss element) or (5,) (one per sample); got (5, 1)"),
        ((4,), (5,), "`weight` must have shape (5,) (one per loss element); got (4,)"),
        ((1,), (), "`weight` must have shape () (one per loss element); got (1,)"),
    ],
)
def test_prepare_weight_bad_shape_message(shape, loss_shape, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        R.prepare_weight(xnp, np.ones(shape), loss_shape, np.float64)


@pytest.mark.parametrize(
    ("weight", "loss_shape", "message"),
    [
        ([1.0, 2.0, -1.0], (3,), "got -1.0 at index 2"),
        ([1.0, 2.0, -1.0], (3, 4), "got -1.0 at index 2"),  # per-sample: the caller's index, not (2, 0)
        ([1.0, math.nan], (2,), "got nan at index 1"),
        ([[1.0, 1.0], [INF, 1.0]], (2, 2), "got inf at index (1, 0)"),
    ],
)
def test_prepare_weight_bad_value_names_position(weight, loss_shape, message):
    with pytest.raises(ValueError, match=re.escape("`weight` must be finite and non-negative; " + message)):
        R.prepare_weight(xnp, np.array(weight), loss_shape, np.float64)


def test_prepare_weight_refuses_complex():
    with pytest.raises(TypeError, match="`weight` must hold real numbers; got dtype complex128"):
        R.prepare_weight(xnp, np.ones(2, dtype=complex), (2,), np.float64)


def test_coefficients_semantics():
    w = np.array([1.0, 3.0])
    assert R.coefficients(xnp, (2, 3), "sum") is None
    assert R.coefficients(xnp, (2, 3), "none") is None
    assert R.coefficients(xnp, (2, 3), "mean") == pytest.approx(1 / 6)
    assert R.coefficients(xnp, (2, 3), "sum", w) is w
    assert R.coefficients(xnp, (2, 3), "none", w) is w
    np.testing.assert_allclose(R.coefficients(xnp, (2,), "mean", w), [0.25, 0.75])
    # per-sample weights (2, 1) against a (2, 3) loss: each weight counts 3 times
    c = R.coefficients(xnp, (2, 3), "mean", R.prepare_weight(xnp, w, (2, 3), np.float64))
    np.testing.assert_allclose(c, [[1 / 12], [3 / 12]])
    # an explicit denominator
    np.testing.assert_allclose(R.coefficients(xnp, (2,), "mean", w, total=np.asarray(8.0)), [1 / 8, 3 / 8])
    assert float(R.coefficients(xnp, (2,), "mean", None, total=np.asarray(4.0))) == 0.25


def test_coefficients_unknown_reduction():
    with pytest.raises(ValueError, match=re.escape("`reduction` must be one of 'mean', 'sum' or 'none'; got 'avg'")):
        R.coefficients(xnp, (2,), "avg")
    with pytest.raises(ValueError, match="got None"):
        V.check_reduction(None)


def test_coefficients_zero_total_under_mean():
    msg = "the total `weight` is 0 under reduction='mean', so the mean is undefined; use reduction='sum'"
    with pytest.raises(ValueError, match=re.escape(msg)):
        R.coefficients(xnp, (3,), "mean", np.zeros(3))
    with pytest.raises(ValueError, match="^every target is ignored under reduction='mean'"):
        R.coefficients(xnp, (3,), "mean", np.zeros(3), zero_total="every target is ignored")
    # zero total is fine for "sum" and "none"
    assert R.coefficients(xnp, (3,), "sum", np.zeros(3)) is not None


def test_coefficients_empty_input():
    with pytest.raises(ValueError, match=re.escape("the input is empty (loss shape (0, 3)); the mean of no elements")):
        R.coefficients(xnp, (0, 3), "mean")
    loss = np.zeros((0, 3))
    assert float(R.reduce(xnp, loss, R.coefficients(xnp, (0, 3), "sum"), "sum", np.float64)) == 0.0
    assert R.reduce(xnp, loss, None, "none", np.float64).shape == (0, 3)


@needs_jax
def test_coefficients_traced_total_is_not_checked():
    w = jnp.zeros(3)
    c = jax.jit(lambda a: R.coefficients(jnp, (3,), "mean", a))(w)
    assert np.all(np.isnan(np.asarray(c)))  # 0 / 0: no concrete value, no check
    with pytest.raises(ValueError, match="the total `weight` is 0"):
        R.coefficients(jnp, (3,), "mean", w)  # eager JAX is checked


def test_reduce_semantics():
    loss = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert float(R.reduce(xnp, loss, None, "sum", np.float64)) == 10.0
    assert float(R.reduce(xnp, loss, 0.25, "mean", np.float64)) == 2.5
    w = np.array([[0.0], [2.0]])
    assert float(R.reduce(xnp, loss, w, "sum", np.float64)) == 14.0
    np.testing.assert_array_equal(R.reduce(xnp, loss, w, "none", np.float64), [[0.0, 0.0], [6.0, 8.0]])
    np.testing.assert_array_equal(R.reduce(xnp, loss, None, "none", np.float64), loss)


def test_reduce_half_precision_dtypes():
    loss = np.full(4, 40000.0, dtype=np.float32)  # a float16 sum would overflow at 65504
    out = R.reduce(xnp, loss, None, "sum", np.float16)
    assert out.dtype == np.float32 and float(out) == 160000.0
    assert R.reduce(xnp, loss, 0.25, "mean", np.float16).dtype == np.float32
    none = R.reduce(xnp, np.array([1.0, 2.0], dtype=np.float32), None, "none", np.float16)
    assert none.dtype == np.float16


def test_scale_grad_semantics():
    dl = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(R.scale_grad(xnp, dl, None, np.float64), dl)
    np.testing.assert_array_equal(R.scale_grad(xnp, dl, 0.5, np.float64), dl / 2)
    # per-sample coefficients of the batch shape, expanded along the class axis
    c = np.array([0.0, 2.0])
    np.testing.assert_array_equal(R.scale_grad(xnp, dl, c, np.float64, axis=-1), dl * c[:, None])
    np.testing.assert_array_equal(R.scale_grad(xnp, dl, 0.5, np.float64, axis=-1), dl / 2)
    assert R.scale_grad(xnp, dl.astype(np.float32), 0.5, np.float16).dtype == np.float16


def test_weighted_mean_equals_loss_mean_formula():
    """sum(c * l) with c from coefficients is sum(w l) / sum(w) (per-sample weights counted per element)."""
    rng = np.random.default_rng(0)
    loss, w = rng.uniform(size=(4, 3)), rng.uniform(size=4)
    pw = R.prepare_weight(xnp, w, loss.shape, np.float64)
    got = R.reduce(xnp, loss, R.coefficients(xnp, loss.shape, "mean", pw), "mean", np.float64)
    assert float(got) == pytest.approx(float(np.sum(w[:, None] * loss) / (3 * np.sum(w))), rel=1e-14)


# ----------------------------------------------------------------- finalize
class _Diagnosis:
    def __init__(self, result):
        self.calls, self.result = 0, result

    def __call__(self):
        self.calls += 1
        return self.result


def test_finalize_finite_result_does_not_scan():
    d = _Diagnosis(ValueError("never"))
    x = np.array([1.0, 2.0])
    assert V.finalize(xnp, x, d) is x
    assert d.calls == 0


def test_finalize_returns_legit_inf_when_diagnosis_is_none():
    d = _Diagnosis(None)
    x = np.array([1.0, INF])
    assert V.finalize(xnp, x, d) is x
    assert d.calls == 1


def test_finalize_raises_the_diagnosis():
    with pytest.raises(ValueError, match="culprit"):
        V.finalize(xnp, np.float64(math.nan), _Diagnosis(ValueError("culprit")))


@needs_jax
def test_finalize_is_skipped_for_traced_values():
    d = _Diagnosis(ValueError("must not run under jit"))
    out = jax.jit(lambda a: V.finalize(jnp, a / 0.0, d))(jnp.ones(2))
    assert d.calls == 0 and bool(jnp.all(jnp.isinf(out)))
    with pytest.raises(ValueError, match="must not run under jit"):  # eager JAX is concrete: checked
        V.finalize(jnp, jnp.asarray([INF]), d)


@needs_torch
def test_finalize_torch():
    with pytest.raises(ValueError, match="bad"):
        V.finalize(aac.array_namespace(torch.ones(1)), torch.tensor(math.nan), _Diagnosis(ValueError("bad")))


def test_first_error_and_nonfinite_error():
    assert V.first_error(lambda: None, lambda: None) is None
    err = V.first_error(lambda: None, lambda: ValueError("a"), lambda: ValueError("b"))
    assert str(err) == "a"
    x = np.array([[0.0, 1.0], [-INF, math.nan]])
    err = V.nonfinite_error(xnp, "logits", x)
    assert str(err).startswith("`logits` contains -inf at index (1, 0); the loss is undefined there")
    err = V.nonfinite_error(xnp, "logits", x, allow_neg_inf=True)
    assert str(err).startswith("`logits` contains NaN at index (1, 1)")
    assert V.nonfinite_error(xnp, "x", np.array([1, 2])) is None  # integers are always finite
    assert V.nonfinite_error(xnp, "x", None) is None
    assert "the mse overflowed float32 although every input is finite" in str(
        V.overflow_error("mse", np.dtype(np.float32))
    )


@pytest.mark.parametrize("to", _namespaces())
def test_position_and_nonfinite_error_in_every_namespace(to):
    x = to(np.array([[0.0, 1.0, 2.0], [3.0, math.nan, INF]]))
    xp = aac.array_namespace(x)
    assert V.position(xp, xp.isnan(x)) == (1, 1)
    assert V.fmt((1, 1)) == "(1, 1)" and V.fmt((4,)) == "4"
    err = V.nonfinite_error(xp, "pred", x)
    assert str(err).startswith("`pred` contains NaN at index (1, 1)")
    assert V.nonfinite_error(xp, "pred", x[:1, ...]) is None


def test_value_checks_of_0d_arrays():
    """A 0-d array has the index (): ``nonzero`` (which refuses 0-d input) is not called."""
    assert V.position(xnp, np.asarray(True)) == ()
    assert V.fmt(()) == "()"
    assert str(V.nonfinite_error(xnp, "pred", np.asarray(math.nan))).startswith("`pred` contains NaN at index ();")
    with pytest.raises(ValueError, match=re.escape("`p` must hold probabilities in [0, 1]; got 1.5 at index ()")):
        V.check_range(xnp, "p", np.asarray(1.5), 0.0, 1.0)
    with pytest.raises(ValueError, match=re.escape("row () sums to 0.5")):
        V.check_row_sums(xnp, "p", np.asarray(0.5), 1e-4)
    with pytest.raises(ValueError, match=re.escape("`weight` must be finite and non-negative; got -1.0 at index ()")):
        R.prepare_weight(xnp, np.asarray(-1.0), (), np.float64)


# --------------------------------------------------------------- value checks
def test_check_range_messages():
    V.check_range(xnp, "probs", np.array([0.0, 0.5, 1.0]), 0.0, 1.0)
    with pytest.raises(ValueError, match=re.escape("`probs` must hold probabilities in [0, 1]; got 1.5 at index 2")):
        V.check_range(xnp, "probs", np.array([0.0, 0.5, 1.5]), 0.0, 1.0)
    with pytest.raises(ValueError, match=re.escape("got -0.25 at index (1, 0)")):
        V.check_range(xnp, "p", np.array([[0.0, 1.0], [-0.25, 1.0]]), 0.0, 1.0)
    with pytest.raises(ValueError, match=re.escape("`t` must hold labels in [0, 1]; got nan at index 1")):
        V.check_range(xnp, "t", np.array([0.0, math.nan]), 0.0, 1.0, what="labels")
    V.check_range(xnp, "p", np.array([0.5, 7.0]), 0.0, 1.0, check_max=False)  # max not checked
    with pytest.raises(ValueError, match="got -1.0 at index 0"):
        V.check_range(xnp, "p", np.array([-1.0, 7.0]), 0.0, 1.0, check_max=False)
    V.check_range(xnp, "p", np.zeros((0, 3)), 0.0, 1.0)  # empty: nothing to check


@needs_torch
def test_check_range_torch_nan():
    with pytest.raises(ValueError, match="got nan at index 0"):
        V.check_range(aac.array_namespace(torch.ones(1)), "p", torch.tensor([math.nan, 0.5]), 0.0, 1.0)


@needs_jax
def test_check_range_skipped_under_jit_but_run_eagerly():
    jax.jit(lambda a: V.check_range(jnp, "p", a, 0.0, 1.0) or a)(jnp.asarray([2.0]))
    with pytest.raises(ValueError, match="got 2.0 at index 0"):
        V.check_range(jnp, "p", jnp.asarray([2.0]), 0.0, 1.0)


def test_row_sum_tolerance():
    assert V.row_sum_tolerance(xnp, np.float64, 3) == 1e-4
    assert V.row_sum_tolerance(xnp, np.float32, 10) == 1e-4
    assert V.row_sum_tolerance(xnp, np.float32, 1000) == pytest.approx(8000 * float(np.finfo(np.float32).eps))
    assert V.row_sum_tolerance(xnp, np.float16, 4) == pytest.approx(32 * float(np.finfo(np.float16).eps))


def test_check_row_sums_messages():
    V.check_row_sums(xnp, "probs", np.array([1.0, 1.0 + 5e-5, 1.0 - 5e-5]), 1e-4)
    msg = (
        "`probs` rows must sum to 1 (within 0.0001); row 1 sums to 0.9. "
        "Normalise the rows, or pass logits to the loss's logits form"
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        V.check_row_sums(xnp, "probs", np.array([1.0, 0.9]), 1e-4)
    with pytest.raises(ValueError, match=re.escape("row (0, 1) sums to nan")):
        V.check_row_sums(xnp, "q", np.array([[1.0, math.nan]]), 1e-4)
    with pytest.raises(ValueError, match=re.escape("(within 0.03)")):
        V.check_row_sums(xnp, "q", np.array([1.5]), 0.03125)
    V.check_row_sums(xnp, "q", np.zeros(0), 1e-4)


# ----------------------------------------------------------------- options
@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (V.check_positive, [1e-300, 2, 3.5, np.float32(0.5), 10**400 // 10**399], [0, 0.0, -1.0, INF, 10**400]),
        (V.check_open_unit, [1e-9, 0.5, np.float64(0.999)], [0, 0.0, 1, 1.0, -0.1, 1.5, INF]),
        (V.check_closed_unit, [0, 0.0, 0.5, 1, 1.0], [-1e-12, 1.0000001, INF, -INF]),
    ],
)
def test_option_checkers_values(check, good, bad):
    for v in good:
        out = check("opt", v)
        assert isinstance(out, float) and out == float(v)
    expected = {
        V.check_positive: "`opt` must be positive and finite; got ",
        V.check_open_unit: "`opt` must be in (0, 1); got ",
        V.check_closed_unit: "`opt` must be in [0, 1]; got ",
    }[check]
    for v in bad:
        with pytest.raises(ValueError, match=re.escape(expected)):
            check("opt", v)


@pytest.mark.parametrize("check", [V.check_positive, V.check_open_unit, V.check_closed_unit])
def test_option_checkers_types_and_nan(check):
    with pytest.raises(TypeError, match=re.escape("`delta` must be a real number; got bool True")):
        check("delta", True)
    with pytest.raises(TypeError, match=re.escape("`delta` must be a real number; got str '0.5'")):
        check("delta", "0.5")
    with pytest.raises(TypeError, match=re.escape("`delta` must be a real number; got NoneType None")):
        check("delta", None)
    with pytest.raises(TypeError, match="`delta` must be a real number; got complex"):
        check("delta", 0.5 + 0j)
    with pytest.raises(ValueError, match=re.escape("`delta` must be a number; got nan")):
        check("delta", math.nan)
    with pytest.raises(ValueError, match=re.escape("`delta` must be a number; got nan")):
        check("delta", np.float64("nan"))


def test_check_positive_message_shows_the_value():
    with pytest.raises(ValueError, match=re.escape("`temperature` must be positive and finite; got -2")):
        V.check_positive("temperature", -2)
    with pytest.raises(ValueError, match=re.escape("`quantile` must be in (0, 1); got 1.5")):
        V.check_open_unit("quantile", 1.5)


def test_shape_checks():
    V.check_same_shape("pred", np.zeros(3), "target", np.zeros(3))
    with pytest.raises(ValueError, match=re.escape("`target` must have the shape of `pred` (3,); got (3, 1); losslab")):
        V.check_same_shape("pred", np.zeros(3), "target", np.zeros((3, 1)))
    with pytest.raises(ValueError, match=re.escape("got (2,). Use axis=")):
        V.check_same_shape("a", np.zeros(3), "b", np.zeros(2), hint="Use axis=")
    with pytest.raises(ValueError, match=re.escape("`probs` is empty (shape (0, 2))")):
        V.check_nonempty("probs", np.zeros((0, 2)))
    with pytest.raises(TypeError, match="`x` must be a floating-point array; got dtype int64. Cast it"):
        V.check_floating("x", xnp, np.zeros(2, dtype=np.int64), "Cast it")


# ------------------------------------------------- row blocks (large inputs)
@pytest.mark.parametrize("lib", ["numpy", "torch"])
@pytest.mark.parametrize("name", ["logsumexp", "softmax", "log_softmax"])
def test_row_blocks_match_one_shot(monkeypatch, lib, name):
    """Large inputs go through _by_rows; shrink the block so small ones do, and compare."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 5, 6)) * 30
    x[0, 1] = -np.inf  # a row with no distribution
    x[2, 3, 4] = -np.inf  # a masked class
    x[4, 0, 2] = np.nan
    x[5, 2, 1] = np.inf
    x = np.swapaxes(np.swapaxes(x, 0, 1), 0, 1)  # same values, not C-contiguous
    if lib == "torch":
        torch = pytest.importorskip("torch")
        x = torch.from_numpy(x)
    xp = aac.array_namespace(x)
    whole = getattr(A, f"_{name}")(xp, x, axis=-1)
    monkeypatch.setattr(K, "_BLOCK", 12)  # two rows of 6 per block, 35 rows: a ragged last block
    assert K.blockwise(x, -1)
    blocked = getattr(A, name)(xp, x, axis=-1)
    np.testing.assert_array_equal(np.asarray(blocked), np.asarray(whole))


def test_row_blocks_skip_autograd_and_other_axes(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(K, "_BLOCK", 12)
    x = torch.randn(10, 6, dtype=torch.float64)
    assert K.blockwise(x, -1) and not K.blockwise(x, 0)
    assert not K.blockwise(x.clone().requires_grad_(), -1)
    z = x.clone().requires_grad_()
    losslab.cross_entropy(z, torch.arange(10) % 6).backward()
    assert torch.allclose(z.grad, losslab.grad.cross_entropy(x, torch.arange(10) % 6))


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_sum_blocks_matches_one_shot(monkeypatch, lib):
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal(103), rng.standard_normal(103)
    if lib == "torch":
        torch = pytest.importorskip("torch")
        a, b = torch.from_numpy(a), torch.from_numpy(b)
    xp = aac.array_namespace(a)
    expected = float(losslab.mse(a, b, reduction="sum"))
    monkeypatch.setattr(K, "_BLOCK", 10)  # 11 blocks, the last one ragged
    calls = []

    def squares(xp, p, t):
        calls.append(p.shape[0])
        r = p - t
        return xp.vecdot(r, r)

    assert float(K.sum_blocks(xp, squares, a, b)) == pytest.approx(expected, rel=1e-14)
    assert calls == [10] * 10 + [3]
    assert float(losslab.mse(a, b, reduction="sum")) == pytest.approx(expected, rel=1e-14)
