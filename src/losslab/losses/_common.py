"""The skeleton shared by the elementwise losses: prepare, reduce, check the result.

An elementwise loss is two small kernels, ``value(xp, p, t) -> l`` and
``deriv(xp, p, t) -> dl/dp``, written side by side in its module. This file
turns such a pair into the public loss and its gradient, so the argument
handling, the weights, the reduction and the error messages are the same
for every one of them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from .._array import as_arrays, compute_dtype, is_concrete, to_float
from .._checks import traced_check, wants_traced
from .._kinds import is_jax, is_torch
from .._reduction import coefficients, prepare_weight, reduce, scale_grad
from .._validation import check_same_shape, finalize, first_error, nonfinite_error, overflow_error

Kernel = Callable[[Any, Any, Any], Any]


def quiet(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``fn`` with NumPy's floating-point warnings off, unless its inputs are torch or JAX arrays.

    A loss computes first and checks its result after (see
    :func:`losslab._validation.finalize`), so NaN, inf and overflow in the
    inputs reach the arithmetic: ``inf - inf``, ``exp(1000)``, a float32 loss
    cast back to float16. NumPy (and array-api-strict, which runs on it) would
    warn there, before the loss raises its own ``ValueError`` naming the
    culprit; under ``-W error`` the warning would even replace that error.
    Both branches of a ``where`` are evaluated too, so a warning may come from
    a value that is never used. torch and JAX do not warn, and dynamo cannot
    enter ``np.errstate``, so their calls go straight through.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if any(is_torch(a) or is_jax(a) for a in args):
            return fn(*args, **kwargs)
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return wrapper


class Prepared:
    """Inputs of one call, converted to one namespace and the compute dtype."""

    __slots__ = ("xp", "pred", "target", "weight", "out_dtype", "names")

    def __init__(self, xp, pred, target, weight, out_dtype, names):
        self.xp, self.pred, self.target, self.weight = xp, pred, target, weight
        self.out_dtype, self.names = out_dtype, names

    def diagnose(self, what: str = "loss", extra: Callable[[], Exception | None] | None = None):
        """The first non-finite input, else ``extra``'s finding, else an overflow error."""
        xp, (pn, tn) = self.xp, self.names
        return first_error(
            lambda: nonfinite_error(xp, pn, self.pred),
            lambda: nonfinite_error(xp, tn, self.target),
            extra or (lambda: None),
            lambda: overflow_error(what, self.out_dtype),
        )


def require_finite(P: Prepared) -> None:
    """Raise the diagnosis unless ``P.pred`` and ``P.target`` are finite.

    For gradients whose per-element derivative is bounded (``sign``, a clip, a
    quantile step), where an infinite input gives a finite, meaningless
    gradient that the result check cannot catch: ``sign(p - inf) = -1``.
    Skipped while tracing, like every value check.
    """
    xp = P.xp
    if not is_concrete(P.pred, P.target):
        if wants_traced(P.pred):
            ok = xp.all(xp.isfinite(P.pred)) & xp.all(xp.isfinite(P.target))
            traced_check(xp, ok, f"`{P.names[0]}` and `{P.names[1]}` must be finite")
        return
    ok = xp.all(xp.isfinite(P.pred)) & xp.all(xp.isfinite(P.target))
    # A concrete JAX array closed over by a jitted function still gives a traced `ok`.
    if not is_concrete(ok) or bool(ok):
        return
    raise P.diagnose()


def prepare_pair(
    pred: Any,
    target: Any,
    weight: Any = None,
    *,
    names: tuple[str, str] = ("pred", "target"),
    target_shape: tuple[int, ...] | None = None,
    extra: tuple[Any, ...] = (),
    extra_names: tuple[str, ...] = (),
) -> tuple[Prepared, tuple[Any, ...]]:
    """Resolve the namespace, check dtypes and shapes, cast to the compute dtype.

    ``target`` must have ``pred``'s shape (or ``target_shape`` when given).
    Integer and boolean targets are cast to the prediction's float dtype.
    ``extra`` arrays (learned variances, scales) join the namespace check and
    are returned cast to the compute dtype (None and Python scalars pass).
    """
    names_all = (*names, "weight", *extra_names)
    xp, pred, target, weight, *extra_arrays = as_arrays(pred, target, weight, *extra, names=names_all, required=2)
    pred = to_float(xp, pred, names[0])
    out_dtype = pred.dtype
    cdt = compute_dtype(xp, out_dtype)
    if not xp.isdtype(target.dtype, ("real floating", "integral", "bool")):
        raise TypeError(f"`{names[1]}` must hold real numbers; got dtype {target.dtype}")
    if target_shape is None:
        check_same_shape(names[0], pred, names[1], target)
    elif tuple(target.shape) != tuple(target_shape):
        raise ValueError(f"`{names[1]}` must have shape {tuple(target_shape)}; got {tuple(target.shape)}")
    pred = xp.astype(pred, cdt) if pred.dtype != cdt else pred
    target = xp.astype(target, cdt) if target.dtype != cdt else target
    extra = tuple(
        xp.astype(to_float(xp, e, n), cdt) if hasattr(e, "dtype") else e
        for e, n in zip(extra_arrays, extra_names, strict=True)
    )
    return Prepared(xp, pred, target, weight, out_dtype, names), extra


def finish(
    P: Prepared,
    values: Any,
    reduction: str,
    *,
    grad: bool,
    name: str,
    extra: Callable[[], Exception | None] | None = None,
) -> Any:
    """Weight and reduce per-element ``values`` (a loss, or a derivative when ``grad``).

    The result is checked for finiteness; on failure the inputs are scanned
    to name the culprit (``extra`` adds loss-specific findings).
    """
    xp = P.xp
    shape = tuple(values.shape)
    c = coefficients(xp, shape, reduction, prepare_weight(xp, P.weight, shape, P.pred.dtype))
    if grad:
        out = scale_grad(xp, values, c, P.out_dtype)
    else:
        out = reduce(xp, values, c, reduction, P.out_dtype)
    what = "gradient" if grad else name
    return finalize(xp, out, lambda: P.diagnose(what, extra), traced="gradient" if grad else "loss")


@quiet
def elementwise_loss(
    value: Kernel,
    pred: Any,
    target: Any,
    *,
    reduction: str,
    weight: Any,
    name: str = "loss",
) -> Any:
    """Public loss from a value kernel ``value(xp, p, t)``.

    A kernel may carry ``value.total(xp, p, t)``, the unweighted sum of its
    values computed without the per-element array (``mse``: one dot product
    of the residual with itself); it serves unweighted ``"mean"``/``"sum"``.
    """
    P, _ = prepare_pair(pred, target, weight)
    total = getattr(value, "total", None)
    if total is not None and P.weight is None and reduction in ("mean", "sum"):
        c = coefficients(P.xp, tuple(P.pred.shape), reduction)
        out = total(P.xp, P.pred, P.target)
        return finalize(P.xp, out if c is None else out * c, lambda: P.diagnose(name))
    return finish(P, value(P.xp, P.pred, P.target), reduction, grad=False, name=name)


@quiet
def elementwise_grad(
    deriv: Kernel, pred: Any, target: Any, *, reduction: str, weight: Any, bounded: bool = False
) -> Any:
    """Gradient of the public loss w.r.t. its first argument, from ``deriv(xp, p, t)``.

    ``bounded``: the derivative stays finite for infinite inputs, so they are
    checked up front (see :func:`require_finite`).
    """
    P, _ = prepare_pair(pred, target, weight)
    if bounded:
        require_finite(P)
    return finish(P, deriv(P.xp, P.pred, P.target), reduction, grad=True, name="gradient")
