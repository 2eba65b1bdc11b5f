"""Array plumbing shared by every loss: one namespace per call, dtypes, stable primitives.

Everything here is written against the Python array API standard through
``array-api-compat``, so the same code runs on NumPy, PyTorch, JAX and
array-api-strict. The numerically delicate primitives (log-sum-exp,
log-sigmoid, softplus, ``xlogy``) live here once, so no loss ever writes
``log(softmax(x))`` or ``log(sigmoid(x))`` by hand.
"""

from __future__ import annotations

import contextlib
import math
import sys
from typing import Any

import array_api_compat as aac
import array_api_compat.numpy  # noqa: F401  (aac.numpy, the NumPy namespace)
import numpy as np

from ._checks import _torch_graph_active, readable
from ._kinds import device_of, is_jax, is_numpy, is_torch
from .kernels.blocks import blockwise, by_rows

__all__ = [
    "as_arrays",
    "compute_dtype",
    "float_eps",
    "is_concrete",
    "lgamma",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "numel",
    "sigmoid",
    "softmax",
    "softplus",
    "to_float",
    "xlogy",
]


def quiet(xp: Any) -> Any:
    """NumPy's floating-point warnings off (also for array-api-strict, which runs on NumPy).

    A loss computes first and checks its result after (see
    :func:`losslab._validation.finalize`), so NaN, inf and overflow in the
    inputs reach the arithmetic, where NumPy would warn before the loss
    raises its own error naming the culprit. torch and JAX do not warn, and
    dynamo cannot enter ``np.errstate``: they get a null context.
    """
    name = getattr(xp, "__name__", "")
    if name.endswith("torch") or name.startswith("jax"):
        return contextlib.nullcontext()
    return np.errstate(all="ignore")


_TORCH_XP: Any = None


def _torch_graph() -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and _torch_graph_active(torch)


def _namespace(arrays: list[Any]) -> Any:
    """array-api-compat's namespace, resolved without its generic machinery for torch and NumPy."""
    global _TORCH_XP
    if all(is_torch(a) for a in arrays):
        if _TORCH_XP is None:
            import array_api_compat.torch as xp_torch

            _TORCH_XP = xp_torch
        return _TORCH_XP
    if all(isinstance(a, np.ndarray) for a in arrays):
        return aac.numpy
    return aac.array_namespace(*arrays)


def _library(x: Any) -> str:
    """Short name of the library an array comes from, for error messages."""
    module = type(x).__module__.split(".")[0]
    return {"jaxlib": "jax", "builtins": "python"}.get(module, module)


def _convert_hint(library: str) -> str:
    return {
        "torch": "torch.as_tensor(x)",
        "jax": "jax.numpy.asarray(x)",
        "numpy": "numpy.asarray(x)",
    }.get(library, f"the {library} asarray function")


def _is_array(a: Any) -> bool:
    if isinstance(a, (np.ndarray, int, float, list, tuple)):  # Python numbers and sequences: not arrays
        return isinstance(a, np.ndarray)
    return is_torch(a) or aac.is_array_api_obj(a)


_MAGNITUDES = ("weight", "class_weight")  # arguments whose values must not underflow to 0 when cast


def _masked_error(name: str) -> TypeError:
    return TypeError(
        f"`{name}` is a NumPy masked array; losslab does not honour masks (a masked entry would still "
        f"count in the mean): pass `{name}.filled(value)` to fill the masked entries, or "
        f"`{name}.compressed()` (on every argument alike) to drop them, or give them weight 0"
    )


def _check_narrowing(name: str, value: Any, floating: Any) -> None:
    """Refuse Python numbers and sequences whose conversion to the inputs' float dtype
    (``floating``) sends a finite value to infinity, or a non-zero weight to 0, judged on the host
    before any conversion: torch turns ``[1e-50] * 3`` into float32 zeros itself, and ``1e300``
    would be reported as the ``inf`` that nobody wrote."""
    from ._validation import lost_in_cast

    try:
        host = np.dtype(str(floating).rsplit(".", 1)[-1])
        if host.kind != "f" or host.itemsize >= 8:
            return  # Python floats are float64: nothing to lose
        wide = np.asarray(value)
    except (TypeError, ValueError):
        return  # not numbers (reported by the conversion) or a dtype NumPy does not know
    if wide.dtype.kind != "f" or host.itemsize >= wide.itemsize:
        return
    with np.errstate(all="ignore"):
        narrow = wide.astype(host)
    err = lost_in_cast(
        aac.numpy, name, wide, narrow, "the inputs' dtype", at_index=False, magnitudes=name in _MAGNITUDES
    )
    if err is not None:
        raise err


def _widen_extension(name: str, a: Any) -> Any:
    """A NumPy array of one of ml_dtypes' extension types, as a standard NumPy dtype.

    ``bfloat16`` and the ``float8_*`` / ``float4_*`` types (what JAX hands to NumPy) are not
    dtypes the array API knows, so NumPy's namespace cannot even ask whether they are floating.
    Every value of theirs is exact in float32, which is what half precision computes in here
    (see :func:`compute_dtype`): they are widened to float32, and the result is float32, as
    for torch's bfloat16 reductions. The sub-byte integers (``int4``, ``uint4``...) become int32.
    """
    if not isinstance(a, (np.ndarray, np.generic)) or not a.dtype.type.__module__.startswith("ml_dtypes"):
        return a
    import ml_dtypes

    try:
        ml_dtypes.finfo(a.dtype)
        return np.asarray(a, dtype=np.float32)
    except ValueError:
        pass
    try:
        ml_dtypes.iinfo(a.dtype)
        return np.asarray(a, dtype=np.int32)
    except ValueError:
        raise TypeError(
            f"`{name}` has dtype {a.dtype}, which losslab cannot compute in; convert it with "
            f"`{name}.astype(np.float32)`"
        ) from None


def as_arrays(*args: Any, names: tuple[str, ...], required: int = 0) -> tuple[Any, ...]:
    """Resolve one array namespace for ``args`` and return ``(xp, *arrays)``.

    The first ``required`` arguments (the loss's inputs) must be given: ``None``
    there is a TypeError naming the argument. Other ``None`` entries pass
    through untouched. NumPy masked arrays are refused, naming ``.filled()`` and
    ``.compressed()``: a loss cannot honour a mask halfway. Python scalars, lists and tuples
    are converted into the namespace (and onto the device) of the first real
    array; if there is none, NumPy is used. Floating values are converted at
    that array's compute dtype, not the library's default float, so that
    ``var=0.1`` next to float64 torch tensors is not rounded through float32;
    a Python value that this conversion would send to infinity (or a weight it
    would send to 0) is refused, naming it. NumPy arrays of ml_dtypes' types
    (``bfloat16``...) are widened to float32 first (:func:`_widen_extension`).
    Arrays from two different
    libraries are an error, never a silent conversion: the message names both
    arguments and how to convert.
    """
    for name, a in zip(names[:required], args[:required], strict=False):
        if a is None:
            raise TypeError(f"`{name}` is required; got None")
    arrays = [(n, a) for n, a in zip(names, args, strict=False) if a is not None and _is_array(a)]
    for name, a in arrays:
        if isinstance(a, np.ma.MaskedArray):
            raise _masked_error(name)
    if any(isinstance(a, (np.ndarray, np.generic)) and a.dtype.type.__module__ != "numpy" for _, a in arrays):
        args = tuple(_widen_extension(n, a) for n, a in zip(names, args, strict=False)) + args[len(names) :]
        arrays = [(n, _widen_extension(n, a)) for n, a in arrays]
    if arrays:
        try:
            xp = _namespace([a for _, a in arrays])
        except TypeError:
            first_name, first = arrays[0]
            for name, a in arrays[1:]:
                if _library(a) != _library(first):
                    lib = _library(first)
                    raise TypeError(
                        f"`{name}` is a {_library(a)} array but `{first_name}` is a {lib} array; "
                        f"all array arguments must come from one library: convert `{name}` "
                        f"with {_convert_hint(lib)}"
                    ) from None
            raise
        like = arrays[0][1]
        device = device_of(like)
        floating = compute_dtype(xp, like.dtype) if xp.isdtype(like.dtype, "real floating") else None
        # On the host values of Python numbers: free on any device, but not while torch builds a graph
        # (dynamo would break it at NumPy's conversion).
        narrowing = floating is not None and not _torch_graph()
    else:
        xp = aac.array_namespace(np.empty(0))
        device = floating = None
        narrowing = False
    out = []
    for name, a in zip(names, args, strict=False):
        if a is None or _is_array(a):
            out.append(a)
            continue
        try:
            converted = xp.asarray(a, device=device) if device is not None else xp.asarray(a)
        except (TypeError, ValueError, RuntimeError) as exc:  # torch raises RuntimeError
            raise TypeError(
                f"`{name}` must be an array or a (nested) sequence of numbers; got {type(a).__name__}: {exc}"
            ) from None
        converted = _widen_extension(name, converted)  # an ml_dtypes scalar (``bfloat16(0.5)``)
        if getattr(converted.dtype, "kind", None) == "O":  # NumPy wraps anything in an object array
            raise TypeError(
                f"`{name}` must be an array or a (nested) sequence of numbers; got {type(a).__name__} {a!r:.60}"
            )
        if narrowing:
            _check_narrowing(name, a, floating)
        if floating is not None and xp.isdtype(converted.dtype, "real floating") and converted.dtype != floating:
            converted = xp.asarray(a, dtype=floating, device=device)
        out.append(converted)
    return (xp, *out)


def is_concrete(*arrays: Any) -> bool:
    """True when value checks may read these arrays' values (see :mod:`losslab._checks`).

    False for JAX tracers and for any JAX array while JAX traces (inside
    ``jax.jit``, ``jax.grad``...), for lazy arrays such as Dask's, for torch
    tensors while torch compiles, exports, traces or runs a ``torch.func``
    transform, and for accelerator tensors unless checks are "always" on.
    Shape checks always run; only value checks ask this.
    """
    return all(readable(a) for a in arrays)


def compute_dtype(xp: Any, dtype: Any) -> Any:
    """The dtype a loss accumulates in: float32 for float16/bfloat16, else ``dtype``."""
    return xp.float32 if xp.finfo(dtype).bits < 32 else dtype


def float_eps(xp: Any, dtype: Any) -> float:
    """Machine epsilon of a floating dtype (the clipping floor for probabilities)."""
    return float(xp.finfo(dtype).eps)


def to_float(xp: Any, x: Any, name: str) -> Any:
    """Return ``x`` as a floating array; integers and booleans go to the default float.

    Complex input is refused: no loss here is defined for it.
    """
    if xp.isdtype(x.dtype, "real floating"):
        return x
    if xp.isdtype(x.dtype, ("integral", "bool")):
        info = xp.__array_namespace_info__()
        default = info.default_dtypes(device=device_of(x))["real floating"]
        return xp.astype(x, default)
    raise TypeError(f"`{name}` must hold real numbers; got dtype {x.dtype}")


# ---------------------------------------------------------------- stable math
def _const(xp: Any, value: float, like: Any) -> Any:
    """A 0-d array of ``like``'s dtype and device: a fill value that ``where`` broadcasts."""
    return xp.asarray(value, dtype=like.dtype, device=device_of(like))


def _shift(xp: Any, m: Any) -> Any:
    """The shift that makes ``exp(x - shift)`` safe, from the row maxima ``m``.

    A finite maximum is used as is. A row of ``-inf`` is shifted by 0 (its sum
    of exponentials is then 0). A row holding ``+inf`` or NaN is shifted by the
    dtype's largest number, so its finite entries underflow to 0 instead of
    overflowing, and the infinity or NaN alone decides the result.
    """
    fallback = xp.where(m == -math.inf, _const(xp, 0.0, m), _const(xp, xp.finfo(m.dtype).max, m))
    return xp.where(xp.isfinite(m), m, fallback)


def _exp_shifted(xp: Any, x: Any, axis: int) -> tuple[Any, Any, Any]:
    """``(e, s, m)``: ``e = exp(x - shift(m))``, its row sums ``s`` and the row maxima ``m``.

    On NumPy the exponential is taken in place in the subtraction's buffer:
    one temporary the size of ``x`` instead of two (it is what a 500 MiB
    logits matrix costs). The result is the same array-API computation.
    """
    m = xp.max(x, axis=axis, keepdims=True)
    e = x - _shift(xp, m)
    if is_numpy(e):
        np.exp(e, out=e)
    else:
        e = xp.exp(e)
    return e, xp.sum(e, axis=axis, keepdims=True), m


def _logsumexp(xp: Any, x: Any, axis: int = -1, keepdims: bool = False) -> Any:
    """log(sum(exp(x))) along ``axis`` without overflow, as ``scipy.special.logsumexp``.

    The row maximum is subtracted first. A row whose entries are all ``-inf``
    gives ``-inf`` (the log of an empty sum), not NaN; a row holding ``+inf``
    gives ``+inf`` and one holding NaN gives NaN, all without floating-point
    warnings: the log's argument is never 0 and no ``inf - inf`` is formed.
    PyTorch tensors use ``torch.logsumexp``, one fused kernel with the same
    semantics.
    """
    if is_torch(x):
        import torch

        return torch.logsumexp(x, dim=axis, keepdim=keepdims)
    _, s, m = _exp_shifted(xp, x, axis)
    # s >= 1 for every row whose maximum is not NaN; for those, log(1) + NaN = NaN.
    out = xp.log(xp.where(s > 0, s, _const(xp, 1.0, s))) + m
    return out if keepdims else xp.squeeze(out, axis=axis)


def _log_softmax(xp: Any, x: Any, axis: int = -1) -> Any:
    """(x - max) - log(sum(exp(x - max))), as ``scipy.special.log_softmax``.

    Exact for logits of any magnitude (the shift is subtracted before, not
    after, the log-sum-exp, so no ulp of a large maximum is lost); ``-inf``
    stays ``-inf``. A row with no distribution (all ``-inf``, or holding
    ``+inf`` or NaN) comes out NaN, without a floating-point warning.
    PyTorch tensors use ``torch.log_softmax`` (same semantics, fused).
    """
    if is_torch(x):
        import torch

        return torch.log_softmax(x, dim=axis)
    m = xp.max(x, axis=axis, keepdims=True)
    shifted = x - _shift(xp, m)
    s = xp.sum(xp.exp(shifted), axis=axis, keepdims=True)
    # s is in [1, C] for an ordinary row; 0 (all -inf) or inf (+inf) mean no distribution.
    return shifted - xp.log(xp.where((s > 0) & (s < math.inf), s, _const(xp, math.nan, s)))


def _softmax(xp: Any, x: Any, axis: int = -1) -> Any:
    """exp(x - max) / sum(exp(x - max)); a row of all ``-inf`` (or holding ``+inf``) gives NaN.

    PyTorch tensors use ``torch.softmax``; NumPy divides in place.
    """
    if is_torch(x):
        import torch

        return torch.softmax(x, dim=axis)
    e, s, _ = _exp_shifted(xp, x, axis)
    # s is in [1, C] for an ordinary row; 0 (all -inf) or inf (+inf) mean no distribution.
    s = xp.where((s > 0) & (s < math.inf), s, _const(xp, math.nan, s))
    if is_numpy(e):
        return np.divide(e, s, out=e)
    return e / s


def logsumexp(xp: Any, x: Any, axis: int = -1, keepdims: bool = False) -> Any:
    """log(sum(exp(x))) along ``axis``; see :func:`_logsumexp` for the numerics."""
    if blockwise(x, axis):
        out = by_rows(xp, _logsumexp, x, keep_last=False)
        return xp.expand_dims(out, axis=-1) if keepdims else out
    return _logsumexp(xp, x, axis=axis, keepdims=keepdims)


def log_softmax(xp: Any, x: Any, axis: int = -1) -> Any:
    """x - logsumexp(x) along ``axis``; see :func:`_log_softmax` for the numerics."""
    return by_rows(xp, _log_softmax, x, keep_last=True) if blockwise(x, axis) else _log_softmax(xp, x, axis)


def softmax(xp: Any, x: Any, axis: int = -1) -> Any:
    """exp(x) / sum(exp(x)) along ``axis``; see :func:`_softmax` for the numerics."""
    return by_rows(xp, _softmax, x, keep_last=True) if blockwise(x, axis) else _softmax(xp, x, axis)


def softplus(xp: Any, x: Any) -> Any:
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)); never overflows.

    Libraries with autograd get the same values from two smooth branches instead:
    through the kinks of max and |x|, torch's second derivative at x = 0 came out
    0, not 1/4. Each branch sees only inputs of its own sign, so the branch not
    taken can neither overflow nor send a NaN into the gradient.
    """
    if getattr(xp, "__name__", "").endswith("numpy"):
        return xp.maximum(x, xp.zeros_like(x)) + xp.log1p(xp.exp(-xp.abs(x)))
    pos = x > 0
    zero = xp.zeros_like(x)
    x_pos, x_neg = xp.where(pos, x, zero), xp.where(pos, zero, x)
    return xp.where(pos, x_pos + xp.log1p(xp.exp(-x_pos)), xp.log1p(xp.exp(x_neg)))


def log_sigmoid(xp: Any, x: Any) -> Any:
    """log(sigmoid(x)) = -softplus(-x), exact for large |x|."""
    return -softplus(xp, -x)


def sigmoid(xp: Any, x: Any) -> Any:
    """1 / (1 + exp(-x)) evaluated on exp(-|x|) so that no branch overflows."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def xlogy(xp: Any, x: Any, y: Any) -> Any:
    """x * log(y) with the convention 0 * log(0) = 0, as ``scipy.special.xlogy``.

    ``log`` is only evaluated at positive ``y``: ``x log 0`` is ``-inf`` (or
    ``+inf`` for negative ``x``), a negative ``y`` gives NaN, and ``x = 0``
    gives 0 for every ``y`` but NaN, all without floating-point warnings.
    """
    zero = x == 0
    positive = y > 0
    log_y = xp.log(xp.where(positive, y, _const(xp, 1.0, y)))
    log_nonpositive = xp.where(y == 0, _const(xp, -math.inf, y), _const(xp, math.nan, y))
    log_y = xp.where(positive, log_y, log_nonpositive)
    safe_x = xp.where(zero, _const(xp, 1.0, x), x)  # no 0 * inf
    return xp.where(zero & ~xp.isnan(y), _const(xp, 0.0, x), safe_x * log_y)


def lgamma(xp: Any, x: Any) -> Any:
    """log Gamma(x), which the array API standard does not define.

    Dispatched to the library's own special function so autograd and jit keep
    working: ``torch.lgamma``, ``jax.scipy.special.gammaln`` and
    ``scipy.special.gammaln`` for NumPy-like arrays.
    """
    if is_torch(x):
        import torch

        return torch.lgamma(x)
    if is_jax(x):
        from jax.scipy.special import gammaln

        return gammaln(x)
    from scipy import special

    if is_numpy(x):
        return special.gammaln(x)
    # array-api-strict and other namespaces: round-trip through NumPy.
    host = np.from_dlpack(x)
    return xp.asarray(special.gammaln(host), dtype=x.dtype, device=device_of(x))


def row_sums(xp: Any, p: Any) -> Any:
    """Sums along the last axis. NumPy: one matrix-vector product (BLAS, no temporary); torch and
    others: a sum, which autocast leaves in the input's precision (it runs matmul in bfloat16)."""
    if isinstance(p, np.ndarray) and p.ndim == 2:
        return p @ np.ones(p.shape[1], dtype=p.dtype)
    return xp.sum(p, axis=-1)


def moveaxis(xp: Any, x: Any, source: int, destination: int) -> Any:
    """``xp.moveaxis``, a no-op when the axis is already in place; ``torch.movedim`` for torch
    tensors (it has a vmap batching rule, array-api-compat's ``moveaxis`` has none)."""
    if source % x.ndim == destination % x.ndim:
        return x
    if is_torch(x):
        return x.movedim(source, destination)
    return xp.moveaxis(x, source, destination)


def prod(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def numel(x: Any) -> int:
    """Number of elements (``x.size`` is a method on torch tensors)."""
    return math.prod(tuple(x.shape))
