"""Every loss on every backend and dtype: namespace, dtype, values and gradients.

The matrix runs each loss of :data:`losslab.registry.LOSSES` on NumPy,
PyTorch (CPU), JAX and array-api-strict in float32 and float64, plus float16
(NumPy, PyTorch, JAX) and bfloat16 (PyTorch, JAX). The reference is always
the NumPy float64 result on the *same rounded inputs*, so the tolerance only
measures the computation: reduced half-precision results must be as
accurate as a float32 computation (they are accumulated and returned in
float32), per-element ones within a rounding of their own dtype.
"""

from __future__ import annotations

import inspect
import math

import array_api_compat as aac
import numpy as np
import pytest

import losslab
from losslab.registry import LOSSES

try:
    import torch
except ImportError:  # pragma: no cover - torch is a test dependency
    torch = None

try:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)  # float64 and int64 arrays in JAX
except ImportError:  # pragma: no cover - jax is a test dependency
    jax = jnp = None

try:
    import array_api_strict as xps
except ImportError:  # pragma: no cover
    xps = None


# ----------------------------------------------------------------- backends
class Backend:
    """How to make arrays of one library from NumPy, and read them back as float64."""

    def __init__(self, name, dtypes, from_numpy, to_numpy, dtype, is_array):
        self.name, self.dtypes = name, dtypes
        self._from_numpy, self._to_numpy, self._dtype, self.is_array = from_numpy, to_numpy, dtype, is_array

    def asarray(self, a: np.ndarray, dtype: str):
        """Floating arrays go to ``dtype``; integer arrays (class indices) stay int64."""
        return self._from_numpy(a, dtype if a.dtype.kind == "f" else None)

    def to_numpy(self, x) -> np.ndarray:
        """float64 (or int64) NumPy copy; exact for every floating dtype here."""
        return self._to_numpy(x)

    def dtype(self, name: str):
        return self._dtype(name)

    def __repr__(self) -> str:
        return self.name


def _np_to(a, dt):
    return a.astype(dt) if dt else a


def _np_back(x):
    x = np.asarray(x)
    return x.astype(np.float64) if x.dtype.kind == "f" else x


BACKENDS: dict[str, Backend] = {
    "numpy": Backend(
        "numpy",
        ("float32", "float64", "float16"),
        _np_to,
        _np_back,
        np.dtype,
        lambda x: isinstance(x, (np.ndarray, np.generic)),
    )
}

if torch is not None:

    def _torch_to(a, dt):
        t = torch.as_tensor(a)
        return t.to(getattr(torch, dt)) if dt else t

    def _torch_back(x):
        x = x.detach().cpu()
        return x.to(torch.float64).numpy() if x.is_floating_point() else x.numpy()

    BACKENDS["torch"] = Backend(
        "torch",
        ("float32", "float64", "float16", "bfloat16"),
        _torch_to,
        _torch_back,
        lambda n: getattr(torch, n),
        lambda x: isinstance(x, torch.Tensor),
    )

if jax is not None:

    def _jax_to(a, dt):
        return jnp.asarray(a, dtype=jnp.dtype(dt)) if dt else jnp.asarray(a)

    def _jax_back(x):
        x = np.asarray(x)
        return x.astype(np.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x

    BACKENDS["jax"] = Backend(
        "jax",
        ("float32", "float64", "float16", "bfloat16"),
        _jax_to,
        _jax_back,
        jnp.dtype,
        lambda x: isinstance(x, jax.Array),
    )

if xps is not None:

    def _strict_to(a, dt):
        return xps.asarray(a, dtype=getattr(xps, dt)) if dt else xps.asarray(a)

    BACKENDS["array_api_strict"] = Backend(
        "array_api_strict",
        ("float32", "float64"),
        _strict_to,
        lambda x: _np_back(np.from_dlpack(x)),
        lambda n: getattr(xps, n),
        lambda x: isinstance(x, xps.Array) if hasattr(xps, "Array") else type(x).__module__.startswith("array_api_s"),
    )

HALF = ("float16", "bfloat16")
# Relative tolerance by the dtype of the result: one or two roundings of that
# dtype (the computation itself is float32 or float64).
RTOL = {"float64": 1e-10, "float32": 2e-5, "float16": 2e-3, "bfloat16": 1.6e-2}


# ------------------------------------------------------------------- inputs
N, K, C = 5, 3, 4
REAL_VALUED = ("mse", "mae", "huber", "pinball", "rmse", "gaussian_nll", "laplace_nll", "log_cosh", "smooth_l1")
BINARY_SCORES = ("binary_cross_entropy_with_logits", "sigmoid_focal_loss", "hinge", "squared_hinge")
CLASS_SCORES = ("cross_entropy", "generalized_cross_entropy", "focal_loss", "poly1_cross_entropy", "multiclass_hinge")
PROB_ROWS = ("log_loss", "brier_score")


def _prob_rows(rng, n, c, denom=64):
    """Rows of positive multiples of 1/64 summing to exactly 1: exact in every dtype here,
    so rounding the inputs to bfloat16 keeps them valid distributions (and every entry is
    positive, so entropy and KL gradients are finite)."""
    return (1 + rng.multinomial(denom - c, np.full(c, 1.0 / c), size=n)) / denom


def make_inputs(name: str, seed: int = 0) -> list[np.ndarray]:
    """Valid positional inputs (NumPy, float64 or int64) for loss ``name``."""
    rng = np.random.default_rng(seed)
    if name in REAL_VALUED:
        return [rng.normal(size=(N, K)), rng.normal(size=(N, K))]
    if name == "poisson_nll":
        return [0.5 * rng.normal(size=(N, K)), rng.poisson(2.0, size=(N, K)).astype(np.float64)]
    if name == "binary_cross_entropy":
        return [rng.uniform(0.05, 0.95, size=(N, K)), rng.integers(0, 2, size=(N, K)).astype(np.float64)]
    if name in BINARY_SCORES:
        return [2.0 * rng.normal(size=(N, K)), rng.integers(0, 2, size=(N, K)).astype(np.float64)]
    if name in CLASS_SCORES:
        return [2.0 * rng.normal(size=(N, C)), rng.integers(0, C, size=N)]
    if name in PROB_ROWS:
        return [_prob_rows(rng, N, C), rng.integers(0, C, size=N)]
    if name == "entropy":
        return [_prob_rows(rng, N, C)]
    if name == "kl_divergence":
        return [_prob_rows(rng, N, C), _prob_rows(rng, N, C)]
    if name == "nll_loss":
        return [np.log(_prob_rows(rng, N, C)), rng.integers(0, C, size=N)]
    if name == "kl_divergence_log":
        return [np.log(_prob_rows(rng, N, C)), np.log(_prob_rows(rng, N, C))]
    if name == "distillation_loss":
        return [2.0 * rng.normal(size=(N, C)), 2.0 * rng.normal(size=(N, C))]
    raise AssertionError(f"no input builder for loss {name!r}: add one to make_inputs")


def test_every_registered_loss_has_inputs():
    for name in LOSSES:
        args = make_inputs(name)
        assert LOSSES[name].grad is not None, name
        assert getattr(losslab.grad, name) is LOSSES[name].grad
        # The float64 NumPy inputs are valid: the loss and its gradient are finite.
        assert np.isfinite(LOSSES[name].fn(*args, **LOSSES[name].options))
        assert np.all(np.isfinite(LOSSES[name].grad(*args, **LOSSES[name].options)))


def reductions(spec) -> tuple[str | None, ...]:
    return ("mean", "sum", "none") if spec.has("reducible") else (None,)


def options(spec, reduction: str | None) -> dict:
    kw = dict(spec.options)
    if reduction is not None:
        kw["reduction"] = reduction
    return kw


def expected_dtype(dtype: str, reduction: str | None) -> str:
    """float16/bfloat16 reduce in float32 and return float32; "none" keeps the input's dtype."""
    return "float32" if dtype in HALF and reduction != "none" else dtype


def assert_close(got: np.ndarray, ref: np.ndarray, dtype: str, what: str) -> None:
    rtol = RTOL[dtype]
    ref = np.asarray(ref, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * scale, err_msg=what)


MATRIX = [
    pytest.param(b, dt, name, id=f"{b}-{dt}-{name}")
    for b, backend in BACKENDS.items()
    for dt in backend.dtypes
    for name in LOSSES
]


@pytest.mark.parametrize(("backend", "dtype", "name"), MATRIX)
def test_backend_dtype_matrix(backend, dtype, name):
    B, spec = BACKENDS[backend], LOSSES[name]
    xs = [B.asarray(a, dtype) for a in make_inputs(name)]
    rounded = [B.to_numpy(x) for x in xs]  # the inputs the backend actually sees, exactly
    xp = aac.array_namespace(xs[0])
    in_dtype = B.dtype(dtype)
    assert xs[0].dtype == in_dtype
    for reduction in reductions(spec):
        kw = options(spec, reduction)
        what = f"{name}({backend}, {dtype}, reduction={reduction})"

        out = spec.fn(*xs, **kw)
        assert B.is_array(out), f"{what} returned {type(out)}"
        assert aac.array_namespace(out) is xp, what
        assert aac.device(out) == aac.device(xs[0]), what
        want = expected_dtype(dtype, reduction)
        assert out.dtype == B.dtype(want), f"{what}: dtype {out.dtype}, expected {want}"
        ref = spec.fn(*rounded, **kw)
        assert tuple(out.shape) == tuple(np.shape(ref)), what
        assert_close(B.to_numpy(out), ref, want, what)

        g = spec.grad(*xs, **kw)
        assert B.is_array(g), f"grad {what} returned {type(g)}"
        assert aac.array_namespace(g) is xp, what
        assert tuple(g.shape) == tuple(xs[0].shape), what
        assert g.dtype == in_dtype, f"grad {what}: dtype {g.dtype}, expected {dtype}"
        assert_close(B.to_numpy(g), spec.grad(*rounded, **kw), dtype, "grad " + what)


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("name", list(LOSSES))
def test_weighted_mean_matches_numpy(backend, name):
    """Per-sample weights from the same namespace take the same path on every backend."""
    B, spec = BACKENDS[backend], LOSSES[name]
    args = make_inputs(name)
    w = np.linspace(0.0, 2.0, N)
    kw = options(spec, "mean" if spec.has("reducible") else None)
    xs = [B.asarray(a, "float64") for a in args]
    out = spec.fn(*xs, weight=B.asarray(w, "float64"), **kw)
    g = spec.grad(*xs, weight=B.asarray(w, "float64"), **kw)
    assert_close(B.to_numpy(out), spec.fn(*args, weight=w, **kw), "float64", name)
    assert_close(B.to_numpy(g), spec.grad(*args, weight=w, **kw), "float64", "grad " + name)
    assert aac.array_namespace(out) is aac.array_namespace(xs[0])


# -------------------------------------------------------------------- torch
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


@needs_torch
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
@pytest.mark.parametrize("name", list(LOSSES))
def test_torch_autograd_matches_closed_form(name, dtype):
    B, spec = BACKENDS["torch"], LOSSES[name]
    xs = [B.asarray(a, dtype) for a in make_inputs(name)]
    for reduction in ("mean", "none") if spec.has("reducible") else (None,):
        kw = options(spec, reduction)
        x0 = xs[0].detach().clone().requires_grad_(True)
        out = spec.fn(x0, *xs[1:], **kw)
        assert out.requires_grad, f"{name}: the result is detached from the autograd graph"
        (out.sum() if reduction == "none" else out).backward()
        assert x0.grad is not None and x0.grad.dtype == x0.dtype
        assert torch.isfinite(x0.grad).all(), name
        closed = spec.grad(*xs, **kw)
        assert_close(B.to_numpy(x0.grad), B.to_numpy(closed), dtype, f"{name} reduction={reduction}")


# ---------------------------------------------------------------------- JAX
needs_jax = pytest.mark.skipif(jax is None, reason="jax is not installed")


@needs_jax
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("name", list(LOSSES))
def test_jax_jit_matches_eager(name, dtype):
    B, spec = BACKENDS["jax"], LOSSES[name]
    xs = [B.asarray(a, dtype) for a in make_inputs(name)]
    for reduction in ("mean", "none") if spec.has("reducible") else (None,):
        kw = options(spec, reduction)  # options are Python values: static under jit
        eager = spec.fn(*xs, **kw)
        jitted = jax.jit(lambda *a, kw=kw: spec.fn(*a, **kw))(*xs)
        assert isinstance(jitted, jax.Array)
        assert jitted.dtype == eager.dtype == B.dtype(expected_dtype(dtype, reduction))
        assert jitted.shape == eager.shape
        assert_close(B.to_numpy(jitted), B.to_numpy(eager), expected_dtype(dtype, reduction), name)
    if dtype == "float64":
        kw = options(spec, "mean" if spec.has("reducible") else None)
        g = jax.jit(lambda *a: spec.grad(*a, **kw))(*xs)
        assert g.dtype == xs[0].dtype and g.shape == xs[0].shape
        assert_close(B.to_numpy(g), B.to_numpy(spec.grad(*xs, **kw)), dtype, "jit grad " + name)


@needs_jax
@pytest.mark.parametrize("name", list(LOSSES))
def test_jax_grad_matches_closed_form(name):
    B, spec = BACKENDS["jax"], LOSSES[name]
    xs = [B.asarray(a, "float64") for a in make_inputs(name)]
    for reduction in ("mean", "none") if spec.has("reducible") else (None,):
        kw = options(spec, reduction)

        def scalar(x0, *rest, kw=kw, reduction=reduction):
            out = spec.fn(x0, *rest, **kw)
            return jnp.sum(out) if reduction == "none" else out

        auto = jax.grad(scalar)(*xs)
        assert auto.dtype == xs[0].dtype and auto.shape == xs[0].shape
        assert bool(jnp.all(jnp.isfinite(auto))), name
        assert_close(B.to_numpy(auto), B.to_numpy(spec.grad(*xs, **kw)), "float64", f"{name} {reduction}")


@needs_jax
def test_jax_eager_checks_values_but_jit_skips_them():
    """Eager JAX arrays are concrete: value checks run. Under jit only shape checks run."""
    p = jnp.asarray([0.5, 1.5])
    t = jnp.asarray([1.0, 0.0])
    with pytest.raises(ValueError, match=r"`probs` must hold probabilities in \[0, 1\]; got 1.5 at index 1"):
        losslab.binary_cross_entropy(p, t)
    with pytest.raises(ValueError, match="`pred` contains NaN at index 1"):
        losslab.mse(jnp.asarray([0.0, math.nan]), t)
    jitted = jax.jit(lambda a, b: losslab.mse(a, b))
    assert bool(jnp.isnan(jitted(jnp.asarray([0.0, math.nan]), t)))  # no concrete values: no check
    with pytest.raises(ValueError, match="must have the shape of `pred`"):
        jitted(jnp.zeros(2), jnp.zeros(3))


# --------------------------------------------------- mixing and Python input
_HINT = {
    "numpy": "numpy.asarray(x)",
    "torch": "torch.as_tensor(x)",
    "jax": "jax.numpy.asarray(x)",
    "array_api_strict": "the array_api_strict asarray function",
}
PAIRS = [
    (a, b)
    for a, b in [
        ("numpy", "torch"),
        ("torch", "numpy"),
        ("numpy", "jax"),
        ("jax", "torch"),
        ("numpy", "array_api_strict"),
        ("array_api_strict", "torch"),
    ]
    if a in BACKENDS and b in BACKENDS
]


@pytest.mark.parametrize(("first", "second"), PAIRS)
@pytest.mark.parametrize("name", [n for n in LOSSES if n != "entropy"])
def test_mixed_namespaces_raise_naming_both(name, first, second):
    spec = LOSSES[name]
    args = make_inputs(name)
    x0 = BACKENDS[first].asarray(args[0], "float64")
    x1 = BACKENDS[second].asarray(args[1], "float64")
    names = list(inspect.signature(spec.fn).parameters)[:2]
    for fn in (spec.fn, spec.grad):
        with pytest.raises(TypeError) as info:
            fn(x0, x1, **spec.options)
        msg = str(info.value)
        assert f"`{names[0]}`" in msg and f"`{names[1]}`" in msg, msg
        assert f"convert `{names[1]}` with {_HINT[first]}" in msg, msg


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch is not installed")
@pytest.mark.parametrize("name", list(LOSSES))
def test_foreign_weight_is_named(name):
    spec = LOSSES[name]
    args = make_inputs(name)
    w = torch.ones(N, dtype=torch.float64)
    with pytest.raises(TypeError) as info:
        spec.fn(*args, weight=w, **spec.options)
    msg = str(info.value)
    assert "`weight` is a torch array" in msg and "convert `weight` with numpy.asarray(x)" in msg, msg


@pytest.mark.parametrize("name", list(LOSSES))
def test_python_lists_give_numpy(name):
    spec = LOSSES[name]
    args = make_inputs(name)
    lists = [a.tolist() for a in args]
    for reduction in reductions(spec):
        kw = options(spec, reduction)
        out = spec.fn(*lists, **kw)
        assert isinstance(out, (np.ndarray, np.generic)), type(out)
        assert out.dtype == np.float64
        np.testing.assert_allclose(out, spec.fn(*args, **kw), rtol=1e-12, atol=0)
        g = spec.grad(*lists, **kw)
        assert isinstance(g, np.ndarray) and g.shape == args[0].shape and g.dtype == np.float64
        np.testing.assert_allclose(g, spec.grad(*args, **kw), rtol=1e-12, atol=0)


def test_python_list_joins_the_array_namespace():
    """A list next to an array goes into the array's namespace (and dtype rules follow the array)."""
    if "torch" not in BACKENDS:
        pytest.skip("torch is not installed")
    out = losslab.mse(torch.tensor([1.0, 2.0], dtype=torch.float32), [1.0, 4.0])
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    assert float(out) == 2.0
    out = losslab.cross_entropy([[0.0, 0.0]], torch.tensor([1]))
    assert isinstance(out, torch.Tensor)
    assert math.isclose(float(out), math.log(2.0), rel_tol=1e-6)
