"""Negative log-likelihoods with a parameter: Gaussian (learned variance), Laplace, Poisson.

These are the likelihoods behind the regression losses: ``gaussian_nll``
with unit variance is ``mse / 2`` plus a constant, ``laplace_nll`` with unit
scale is ``mae`` plus a constant. Each loss sits beside its gradient w.r.t.
the first argument.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from .._array import is_concrete, lgamma, numel
from .._checks import traced_check, wants_traced
from .._options import as_float
from .._types import Reduction
from .._validation import check_positive, fmt, position, value_at
from ._common import finish, prepare_pair, quiet, require_finite

__all__ = [
    "gaussian_nll",
    "gaussian_nll_grad",
    "laplace_nll",
    "laplace_nll_grad",
    "poisson_nll",
    "poisson_nll_grad",
]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _check_scalar_parameter(name: str, value: Any) -> None:
    """Check a number before it is converted to the compute dtype, so the message shows it as given."""
    if isinstance(value, numbers.Number) or not hasattr(value, "shape"):
        check_positive(name, value)


def _positive_parameter(P, name: str, value: Any, given: Any) -> Any:
    """A positive scalar, or a positive array of the prediction's shape (no broadcasting)."""
    if not hasattr(value, "shape"):
        return check_positive(name, value)
    xp = P.xp
    if value.ndim == 0:  # a 0-d array is a scalar: it broadcasts without ambiguity
        if not hasattr(given, "shape") and is_concrete(value) and float(value) == 0:  # given > 0: checked
            raise ValueError(
                f"`{name}` = {given!r} underflows to 0 in {value.dtype}; compute in float64 or rescale the data"
            )
        if is_concrete(value):
            check_positive(name, as_float(value))
        elif wants_traced(value):
            traced_check(xp, (value > 0) & (value < math.inf), f"`{name}` must be positive and finite")
        return value
    if tuple(value.shape) != tuple(P.pred.shape):
        raise ValueError(
            f"`{name}` must be a positive number or an array of shape {tuple(P.pred.shape)} "
            f"(one per prediction); got shape {tuple(value.shape)}"
        )
    if not is_concrete(value):
        if wants_traced(value) and numel(value):
            traced_check(xp, (value > 0) & (value < math.inf), f"`{name}` must be positive and finite")
    elif numel(value):
        bad = ~((value > 0) & (value < math.inf))
        any_bad = xp.any(bad)  # traced when `value` is a concrete array closed over by a jitted function
        if not is_concrete(any_bad):
            if wants_traced(any_bad):
                traced_check(xp, ~bad, f"`{name}` must be positive and finite")
        elif bool(any_bad):
            pos = position(xp, bad)
            raise ValueError(f"`{name}` must be positive and finite; got {value_at(value, pos)!r} at index {fmt(pos)}")
    return value


def _log(xp, v):
    return math.log(v) if isinstance(v, float) else xp.log(v)


# ------------------------------------------------------------------ Gaussian
#   l = (log v + (t - m)^2 / v) / 2  [+ log(2 pi) / 2]        dl/dm = (m - t) / v
@quiet
def _gaussian(mean, target, var, full, reduction, weight, grad):
    _check_scalar_parameter("var", var)
    given = var
    P, (var,) = prepare_pair(mean, target, weight, names=("mean", "target"), extra=(var,), extra_names=("var",))
    var = _positive_parameter(P, "var", var, given)
    xp, m, t = P.xp, P.pred, P.target
    if grad:
        values = (m - t) / var
    else:
        r = t - m
        values = 0.5 * (_log(xp, var) + r * r / var)
        if full:
            values = values + _HALF_LOG_2PI
    return finish(P, values, reduction, grad=grad, name="Gaussian NLL")


def gaussian_nll(
    mean: Any, target: Any, *, var: Any = 1.0, full: bool = False, reduction: Reduction = "mean", weight: Any = None
) -> Any:
    r"""Gaussian negative log-likelihood with variance ``var`` (fixed or learned).

    .. math:: l = \tfrac12\left(\log \sigma^2 + \frac{(t-\mu)^2}{\sigma^2}\right)
              \ [+\ \tfrac12\log 2\pi \text{ if full}]

    ``var`` is a positive number, a 0-d array or an array of ``mean``'s shape
    (a heteroscedastic model's predicted variance; autograd and ``jax.grad``
    flow into it, and it may be traced under ``jax.jit``: checked when its
    values are readable, see :mod:`losslab._checks`). Seed 000's precision is :math:`\beta = 1/\sigma^2`. With
    ``var=1`` this is ``mse / 2`` (+ the constant), which is why minimising
    MSE is maximum likelihood under Gaussian noise.

    Unlike ``torch.nn.functional.gaussian_nll_loss`` the variance is not
    clamped at 1e-6: a tiny but positive variance is used as given, a zero or
    negative one is an error.

    References: Bishop (2006), PRML, sec. 1.2.5; Nix & Weigend (1994).

    >>> import numpy as np
    >>> float(gaussian_nll(np.array([0.0]), np.array([2.0]), var=4.0))  # (log 4 + 1) / 2
    1.1931471805599454
    """
    return _gaussian(mean, target, var, full, reduction, weight, grad=False)


def gaussian_nll_grad(
    mean: Any, target: Any, *, var: Any = 1.0, full: bool = False, reduction: Reduction = "mean", weight: Any = None
) -> Any:
    r"""Gradient of :func:`gaussian_nll` w.r.t. ``mean``: :math:`(\mu - t)/\sigma^2`, per element.

    >>> import numpy as np
    >>> gaussian_nll_grad(np.array([0.0]), np.array([2.0]), var=4.0).tolist()
    [-0.5]
    """
    return _gaussian(mean, target, var, full, reduction, weight, grad=True)


# ------------------------------------------------------------------- Laplace
#   l = log b + |t - m| / b  [+ log 2]                        dl/dm = sign(m - t) / b
@quiet
def _laplace(mean, target, scale, full, reduction, weight, grad):
    _check_scalar_parameter("scale", scale)
    given = scale
    P, (scale,) = prepare_pair(mean, target, weight, names=("mean", "target"), extra=(scale,), extra_names=("scale",))
    scale = _positive_parameter(P, "scale", scale, given)
    xp, m, t = P.xp, P.pred, P.target
    if grad:
        require_finite(P)  # sign(m - t) is finite even where m or t is infinite
        values = xp.sign(m - t) / scale
    else:
        values = _log(xp, scale) + xp.abs(t - m) / scale
        if full:
            values = values + math.log(2.0)
    return finish(P, values, reduction, grad=grad, name="Laplace NLL")


def laplace_nll(
    mean: Any, target: Any, *, scale: Any = 1.0, full: bool = False, reduction: Reduction = "mean", weight: Any = None
) -> Any:
    r"""Laplace negative log-likelihood with scale ``b``.

    .. math:: l = \log b + \frac{|t - \mu|}{b}\ [+ \log 2 \text{ if full}]

    With ``scale=1`` it is :func:`~losslab.mae` (+ ``log 2`` when ``full``):
    MAE is maximum likelihood under Laplace noise, as MSE is under Gaussian.
    ``scale`` is a positive number, a 0-d array or an array of ``mean``'s shape
    (traced under ``jax.jit`` or learned, as ``var`` in :func:`gaussian_nll`).

    >>> import numpy as np
    >>> float(laplace_nll(np.array([0.0]), np.array([3.0])))
    3.0
    """
    return _laplace(mean, target, scale, full, reduction, weight, grad=False)


def laplace_nll_grad(
    mean: Any, target: Any, *, scale: Any = 1.0, full: bool = False, reduction: Reduction = "mean", weight: Any = None
) -> Any:
    r"""Gradient of :func:`laplace_nll` w.r.t. ``mean``: :math:`\mathrm{sign}(\mu - t)/b`.

    >>> import numpy as np
    >>> laplace_nll_grad(np.array([0.0]), np.array([3.0]), scale=2.0).tolist()
    [-0.5]
    """
    return _laplace(mean, target, scale, full, reduction, weight, grad=True)


# ------------------------------------------------------------------- Poisson
#   l = exp(eta) - t eta  [+ log t!]                          dl/deta = exp(eta) - t
@quiet
def _poisson(log_rate, target, full, reduction, weight, grad):
    P, _ = prepare_pair(log_rate, target, weight, names=("log_rate", "target"))
    xp, eta, t = P.xp, P.pred, P.target
    ok = xp.min(t) >= 0 if is_concrete(t) and numel(t) else None
    if ok is None and wants_traced(t) and numel(t):
        traced_check(xp, t >= 0, "`target` must hold non-negative counts for the Poisson likelihood")
    if ok is not None and is_concrete(ok) and not bool(ok):
        bad = ~(t >= 0)
        pos = position(xp, bad)
        raise ValueError(
            f"`target` must hold non-negative counts for the Poisson likelihood; got "
            f"{value_at(t, pos)!r} at index {fmt(pos)}"
        )
    if grad:
        require_finite(P)  # exp(-inf) - t is finite although the loss is not defined there
        values = xp.exp(eta) - t
    else:
        values = xp.exp(eta) - t * eta
        if full:
            values = values + lgamma(xp, t + 1.0)
    return finish(P, values, reduction, grad=grad, name="Poisson NLL")


def poisson_nll(
    log_rate: Any, target: Any, *, full: bool = False, reduction: Reduction = "mean", weight: Any = None
) -> Any:
    r"""Poisson negative log-likelihood of counts, from the log-rate :math:`\eta = \log\lambda`.

    .. math:: l = e^{\eta} - t\,\eta\ [+ \log t! \text{ if full}]

    The log is the Poisson's canonical link, so the gradient is
    :math:`e^\eta - t`: prediction minus target again. ``full`` adds the exact
    :math:`\log\Gamma(t+1)` (PyTorch's ``full=True`` uses Stirling's
    approximation instead). Targets must be non-negative; non-integer targets
    are accepted (the formula extends through the Gamma function).

    >>> import numpy as np
    >>> float(poisson_nll(np.array([0.0]), np.array([2.0])))  # e^0 - 2 * 0
    1.0
    """
    return _poisson(log_rate, target, full, reduction, weight, grad=False)


def poisson_nll_grad(
    log_rate: Any, target: Any, *, full: bool = False, reduction: Reduction = "mean", weight: Any = None
) -> Any:
    r"""Gradient of :func:`poisson_nll` w.r.t. the log-rate: :math:`e^\eta - t`.

    >>> import numpy as np
    >>> poisson_nll_grad(np.array([0.0]), np.array([2.0])).tolist()
    [-1.0]
    """
    return _poisson(log_rate, target, full, reduction, weight, grad=True)
