"""Regression losses on real-valued predictions: squared, absolute, Huber, pinball.

Each loss sits beside its gradient; the two kernels of a loss are written on
adjacent lines so that one can be checked against the other at a glance.
All of them take ``pred`` first, ``target`` second, and the keyword-only
``reduction`` ("mean", "sum", "none") and ``weight`` (see
:mod:`losslab._reduction`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Set
from functools import partial
from typing import Any

import numpy as np

from .._array import as_arrays, is_concrete
from .._checks import traced_check, wants_traced
from .._kinds import is_torch
from .._options import in_namespace, is_array_option, open_unit, positive, same_library
from .._reduction import coefficients, prepare_weight, reduce, scale_grad
from .._types import Array, Reduction
from .._validation import finalize, fmt, position, value_at
from ..kernels import sum_blocks
from ._common import elementwise_grad, elementwise_loss, finish, prepare_pair, quiet, require_finite

__all__ = [
    "huber",
    "huber_grad",
    "mae",
    "mae_grad",
    "mse",
    "mse_grad",
    "pinball",
    "pinball_grad",
    "rmse",
    "rmse_grad",
]


# ----------------------------------------------------------------- squared
#   l = (p - t)^2                    dl/dp = 2 (p - t)
def _mse_value(xp, p, t):
    r = p - t
    return r * r


def _squares(xp, p, t):
    r = p - t
    if is_torch(r):  # torch's vecdot needs moveaxis (no vmap rule) and autocast runs it in bfloat16
        return xp.sum(r * r)
    return xp.vecdot(r, r)  # sum of squares without the array of squares


def _mse_total(xp, p, t):
    return sum_blocks(xp, _squares, xp.reshape(p, (-1,)), xp.reshape(t, (-1,)))


_mse_value.total = _mse_total  # type: ignore[attr-defined]  # a function attribute read by getattr


def _mse_deriv(xp, p, t):
    return 2.0 * (p - t)


def mse(pred: Any, target: Any, *, reduction: Reduction = "mean", weight: Any = None) -> Any:
    r"""Mean squared error, :math:`\frac{1}{n}\sum_i (p_i - t_i)^2`.

    The negative log-likelihood of a Gaussian with unit variance, up to the
    affine map ``nll = mse / 2 + log(2 pi) / 2`` (see
    :class:`losslab.likelihoods.Gaussian`).

    Parameters
    ----------
    pred, target : array, any shape (the same for both)
        Predictions and targets. Integer targets are cast to ``pred``'s dtype.
    reduction : {"mean", "sum", "none"}
        ``"mean"`` is ``sum(w * l) / sum(w)``; ``"none"`` returns ``w * l``.
    weight : array of ``pred``'s shape or of shape ``(n,)``, optional
        Non-negative weights, per element or per sample (leading axis).

    Numerics: half-precision inputs are squared and summed in float32. A
    non-finite input raises ``ValueError`` naming its position.

    References: Bishop (2006), PRML, sec. 1.2.5.

    >>> import numpy as np
    >>> float(mse(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0])))
    1.3333333333333333
    """
    if is_torch(pred):  # torch's fused kernel where it computes exactly this (see kernels.torch_fused)
        from ..kernels import torch_fused

        out = torch_fused.mse(pred, target, reduction, weight)
        if out is not None:
            return out
    return elementwise_loss(_mse_value, pred, target, reduction=reduction, weight=weight, name="mse")


def mse_grad(pred: Any, target: Any, *, reduction: Reduction = "mean", weight: Any = None) -> Any:
    r"""Gradient of :func:`mse` w.r.t. ``pred``: :math:`2 (p - t) / n` (times ``w / sum(w)``).

    >>> import numpy as np
    >>> mse_grad(np.array([1.0, 2.0]), np.array([0.0, 0.0])).tolist()
    [1.0, 2.0]
    """
    return elementwise_grad(_mse_deriv, pred, target, reduction=reduction, weight=weight)


# ---------------------------------------------------------------- absolute
#   l = |p - t|                      dl/dp = sign(p - t)   (0 at p = t)
def _mae_value(xp, p, t):
    return xp.abs(p - t)


def _mae_deriv(xp, p, t):
    return xp.sign(p - t)


def mae(pred: Any, target: Any, *, reduction: Reduction = "mean", weight: Any = None) -> Any:
    r"""Mean absolute error, :math:`\frac{1}{n}\sum_i |p_i - t_i|`.

    The Laplace negative log-likelihood with unit scale, up to the constant
    ``log 2``. Its minimiser is the (weighted) median, which is why it is
    robust to outliers in the target. Arguments as in :func:`mse`.

    >>> import numpy as np
    >>> float(mae(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 6.0])))
    1.0
    """
    return elementwise_loss(_mae_value, pred, target, reduction=reduction, weight=weight, name="mae")


def mae_grad(pred: Any, target: Any, *, reduction: Reduction = "mean", weight: Any = None) -> Any:
    r"""Gradient of :func:`mae`: :math:`\mathrm{sign}(p - t)/n`, the subgradient 0 at ``p == t``.

    >>> import numpy as np
    >>> mae_grad(np.array([3.0, 0.0]), np.array([1.0, 0.0]), reduction="sum").tolist()
    [1.0, 0.0]
    """
    return elementwise_grad(_mae_deriv, pred, target, reduction=reduction, weight=weight, bounded=True)


# --------------------------------------------------------------------- rmse
def _sqrt0(xp, ms):
    """sqrt with derivative 0 at 0 (the subgradient at an exact fit; autograd's 1/(2 sqrt 0) * 0 is NaN)."""
    zero = ms == 0
    return xp.where(zero, xp.zeros_like(ms), xp.sqrt(xp.where(zero, xp.ones_like(ms), ms)))


def _rmse_parts(pred, target, weight):
    P, _ = prepare_pair(pred, target, weight)
    xp = P.xp
    c = coefficients(xp, P.pred.shape, "mean", prepare_weight(xp, P.weight, P.pred.shape, P.pred.dtype))
    r = P.pred - P.target
    value = _sqrt0(xp, reduce(xp, r * r, c, "mean", P.out_dtype))
    # The squares over- or underflow long before the rmse does (|r| = 1e200 or 1e-200 in
    # float64): then rescale by the largest |r|, rmse = m sqrt(mean((r / m)^2)). Only
    # on that rare path, so the common case costs no extra pass.
    tiny = math.sqrt(float(xp.finfo(r.dtype).smallest_normal))
    if is_concrete(value) and not (bool(value >= tiny) and bool(value < math.inf)):
        m = xp.max(xp.abs(r)) if r.ndim else xp.abs(r)
        if bool(xp.isfinite(m)) and bool(m > 0):
            s = r / m
            value = m * xp.sqrt(reduce(xp, s * s, c, "mean", P.out_dtype))
    return P, c, r, value


@quiet
def rmse(pred: Any, target: Any, *, weight: Any = None) -> Any:
    r"""Root mean squared error, :math:`\sqrt{\sum_i w_i (p_i - t_i)^2 / \sum_i w_i}`.

    Always reduced (a per-element square root would just be the absolute
    error), so it takes no ``reduction``. In the target's units.

    >>> import numpy as np
    >>> float(rmse(np.array([0.0, 0.0]), np.array([3.0, 4.0])))  # sqrt((9 + 16) / 2)
    3.5355339059327378
    """
    P, _, _, value = _rmse_parts(pred, target, weight)
    return finalize(P.xp, value, lambda: P.diagnose("rmse"))


@quiet
def rmse_grad(pred: Any, target: Any, *, weight: Any = None) -> Any:
    r"""Gradient of :func:`rmse`: :math:`c_i (p_i - t_i) / \mathrm{rmse}`, with
    :math:`c_i = w_i/\sum w`; 0 where the rmse is 0 (the subgradient).

    >>> import numpy as np
    >>> rmse_grad(np.array([0.0, 0.0]), np.array([3.0, 4.0])).round(4).tolist()
    [-0.4243, -0.5657]
    """
    P, c, r, value = _rmse_parts(pred, target, weight)
    xp = P.xp
    # 0 only where the rmse is exactly 0; a NaN rmse must stay NaN so that it is diagnosed.
    zero = value == 0
    g = xp.where(zero, xp.zeros_like(r), r / xp.where(zero, xp.ones_like(value), value))
    return finalize(xp, scale_grad(xp, g, c, P.out_dtype), lambda: P.diagnose("gradient"))


# -------------------------------------------------------------------- huber
#   l = r^2 / 2            if |r| <= delta        dl/dp = r
#   l = delta (|r| - delta/2)  otherwise          dl/dp = delta sign(r)     (r = p - t)
def _huber_value(xp, p, t, *, delta):
    delta = in_namespace(xp, delta, p, "delta")
    a = xp.abs(p - t)
    return xp.where(a <= delta, 0.5 * a * a, delta * (a - 0.5 * delta))


def _huber_deriv(xp, p, t, *, delta):
    delta = in_namespace(xp, delta, p, "delta")
    return xp.clip(p - t, min=-delta, max=delta)


def huber(
    pred: Any, target: Any, *, delta: float | Array = 1.0, reduction: Reduction = "mean", weight: Any = None
) -> Any:
    r"""Huber loss: quadratic within ``delta`` of the target, linear outside.

    .. math:: l = \tfrac12 r^2 \text{ if } |r| \le \delta, \quad
              \delta(|r| - \tfrac12\delta) \text{ otherwise}, \qquad r = p - t.

    Matches ``torch.nn.functional.huber_loss`` (not ``smooth_l1_loss``, which
    divides by ``beta``). Its gradient is the residual clipped to
    ``[-delta, delta]``, so one outlier cannot dominate an update. ``delta`` is a positive number
    or a 0-d array of the inputs' library (traced under ``jax.jit``, or learned: the loss is
    differentiable in it), checked when its value is readable.

    References: Huber (1964), Ann. Math. Statist. 35(1).

    >>> import numpy as np
    >>> huber(np.array([0.5, 3.0]), np.array([0.0, 0.0]), reduction="none").tolist()
    [0.125, 2.5]
    """
    delta = positive("delta", delta)
    return elementwise_loss(
        partial(_huber_value, delta=delta), pred, target, reduction=reduction, weight=weight, name="huber"
    )


def huber_grad(
    pred: Any, target: Any, *, delta: float | Array = 1.0, reduction: Reduction = "mean", weight: Any = None
) -> Any:
    r"""Gradient of :func:`huber`: :math:`\mathrm{clip}(p - t, -\delta, \delta) / n`.

    >>> import numpy as np
    >>> huber_grad(np.array([0.5, 3.0]), np.array([0.0, 0.0]), reduction="sum").tolist()
    [0.5, 1.0]
    """
    delta = positive("delta", delta)
    return elementwise_grad(
        partial(_huber_deriv, delta=delta), pred, target, reduction=reduction, weight=weight, bounded=True
    )


# ------------------------------------------------------------------ pinball
#   l = max(q (t - p), (q - 1)(t - p))          dl/dp = -q if t > p, 1 - q if t < p, 0 if equal
def _pinball_value(xp, p, t, *, q):
    r = t - p
    return xp.maximum(q * r, (q - 1.0) * r)


def _pinball_deriv(xp, p, t, *, q):
    # s = sign(p - t) in {-1, 0, 1}: s/2 + s^2 (1/2 - q) is -q, 0, 1 - q; a NaN input stays NaN
    # (and is then diagnosed), where a comparison-based `where` would turn it into a 0.
    s = xp.sign(p - t)
    return s * (0.5 + s * (0.5 - q))


def _quantile_value(name, v):
    """A quantile given as a number (NumPy scalars included) or a 0-d array, checked.

    NumPy scalars and 0-d arrays are reported as Python numbers; a torch or JAX 0-d
    array is kept (traced under ``jax.jit``, differentiable) and checked when readable.
    """
    if isinstance(v, np.generic):
        v = v.item()
    return open_unit(name, v)


def _check_quantile_array(xp, q):
    """A 1-d array of quantiles, each in (0, 1): named by its index when readable, else traced."""
    ok = (q > 0) & (q < 1)
    if not is_concrete(ok):  # also a concrete array closed over by a jitted function
        if wants_traced(ok):
            traced_check(xp, ok, "`quantile` must hold quantiles in (0, 1)")
    elif not bool(xp.all(ok)):
        pos = position(xp, ~ok)
        open_unit(f"quantile[{fmt(pos)}]", value_at(q, pos))  # raises the scalar message


def _quantile_axis(pred_arr, k):
    if pred_arr.ndim == 0 or pred_arr.shape[-1] != k:
        raise ValueError(
            f"with {k} quantiles `pred` must have a trailing quantile axis of length "
            f"{k}; got shape {tuple(pred_arr.shape)}"
        )


def _quantile_array(pred_arr, target, weight, quantile):
    """K quantiles as a torch / JAX array of the inputs' library: used as it is (traced, differentiable)."""
    _quantile_axis(pred_arr, quantile.shape[0])
    P, _ = prepare_pair(pred_arr, target, weight, target_shape=tuple(pred_arr.shape[:-1]))
    P.target = P.xp.expand_dims(P.target, axis=-1)
    q = in_namespace(P.xp, quantile, P.pred, "quantile")
    _check_quantile_array(P.xp, q)
    return P, q


def _quantiles(pred, target, weight, quantile):
    """Returns the prepared inputs with target expanded to the quantile axis."""
    if isinstance(quantile, numbers.Number) or getattr(quantile, "ndim", None) == 0:
        q = _quantile_value("quantile", quantile)
        P, _ = prepare_pair(pred, target, weight)
        return P, in_namespace(P.xp, q, P.pred, "quantile")
    if is_array_option(quantile):
        if quantile.ndim != 1:
            raise ValueError(
                f"`quantile` must be a number in (0, 1), a non-empty sequence of them or a 1-d array; "
                f"got an array of shape {tuple(quantile.shape)}"
            )
        _, pred_arr = as_arrays(pred, names=("pred",))
        if not isinstance(quantile, np.ndarray) and same_library(quantile, pred_arr) and quantile.shape[0]:
            return _quantile_array(pred_arr, target, weight, quantile)
    if isinstance(quantile, (Set, Mapping)):  # no order to pair the quantiles with `pred`'s last axis
        raise TypeError(
            f"`quantile` must be a number in (0, 1) or an ordered sequence of them (a list, tuple or 1-d "
            f"array: the k-th quantile goes with the k-th entry of `pred`'s last axis); got an unordered "
            f"{type(quantile).__name__}: pass sorted(quantile) or a list"
        )
    try:
        if isinstance(quantile, (str, bytes)):
            raise TypeError
        values = list(quantile)
    except TypeError:
        raise TypeError(
            f"`quantile` must be a number in (0, 1) or a non-empty sequence of them; "
            f"got {type(quantile).__name__} {quantile!r}"
        ) from None
    xp, pred_arr = as_arrays(pred, names=("pred",))
    qs = [_quantile_value(f"quantile[{i}]", v) for i, v in enumerate(values)]
    if not qs:
        raise ValueError("`quantile` must be a number in (0, 1) or a non-empty sequence of them; got []")
    _quantile_axis(pred_arr, len(qs))
    P, _ = prepare_pair(pred_arr, target, weight, target_shape=tuple(pred_arr.shape[:-1]))
    xp = P.xp
    P.target = xp.expand_dims(P.target, axis=-1)
    device = getattr(P.pred, "device", None)
    if all(isinstance(v, float) for v in qs):
        return P, xp.asarray(qs, dtype=P.pred.dtype, device=device)
    # some are arrays (traced, or learned): stacked, so that autograd reaches each
    parts = [
        in_namespace(xp, v, P.pred, f"quantile[{i}]")
        if is_array_option(v)
        else xp.asarray(v, dtype=P.pred.dtype, device=device)
        for i, v in enumerate(qs)
    ]
    return P, xp.stack(parts)


@quiet
def _pinball_run(kernel, pred, target, quantile, reduction, weight, grad):
    P, q = _quantiles(pred, target, weight, quantile)
    if grad:  # the derivative is bounded: an infinite input would give a finite gradient
        require_finite(P)
    return finish(P, kernel(P.xp, P.pred, P.target, q=q), reduction, grad=grad, name="pinball loss")


def pinball(
    pred: Any, target: Any, *, quantile: float | Array = 0.5, reduction: Reduction = "mean", weight: Any = None
) -> Any:
    r"""Pinball (quantile) loss, minimised by the ``quantile``-th conditional quantile.

    .. math:: l = \max\big(q (t - p),\ (q - 1)(t - p)\big)

    ``quantile`` is a number in (0, 1), or a sequence of K of them; then
    ``pred`` has a trailing axis of length K (one prediction per quantile)
    and ``target`` has ``pred.shape[:-1]``. At ``q = 0.5`` it is half the
    absolute error. Matches ``sklearn.metrics.mean_pinball_loss``.

    A quantile may also be a 0-d array, and K quantiles a 1-d array (or a
    sequence of 0-d arrays), of the inputs' library: traced under ``jax.jit``
    or learned (the loss is differentiable in them), checked when readable.

    References: Koenker & Bassett (1978), Econometrica 46(1).

    >>> import numpy as np
    >>> float(pinball(np.array([0.0]), np.array([1.0]), quantile=0.9))
    0.9
    >>> pinball(np.array([[0.0, 0.0]]), np.array([1.0]), quantile=[0.1, 0.9], reduction="none").tolist()
    [[0.1, 0.9]]
    """
    return _pinball_run(_pinball_value, pred, target, quantile, reduction, weight, grad=False)


def pinball_grad(
    pred: Any, target: Any, *, quantile: Any = 0.5, reduction: Reduction = "mean", weight: Any = None
) -> Any:
    r"""Gradient of :func:`pinball`: :math:`-q` below the target, :math:`1 - q` above, 0 on it.

    >>> import numpy as np
    >>> pinball_grad(np.array([0.0, 2.0]), np.array([1.0, 1.0]), quantile=0.9, reduction="sum").round(6).tolist()
    [-0.9, 0.1]
    """
    return _pinball_run(_pinball_deriv, pred, target, quantile, reduction, weight, grad=True)
