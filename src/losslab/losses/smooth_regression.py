"""Smooth robust regression losses: log-cosh and smooth L1 (quadratic near the target, linear far).

Both behave like ``r^2 / 2`` for small residuals ``r = p - t`` and like ``|r|`` for large ones,
as :func:`losslab.huber` does: ``smooth_l1(beta)`` is Huber divided by its ``delta``
(``huber(delta) = delta * smooth_l1(beta=delta)``), ``log_cosh`` the smooth (infinitely
differentiable) member of the family, whose gradient is ``tanh(r)``. Each kernel sits beside its
derivative, as in :mod:`losslab.losses.regression`.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

from .._types import Reduction
from ._common import elementwise_grad, elementwise_loss
from ._hard import check_at_least
from .regression import _mae_deriv, _mae_value

__all__ = ["log_cosh", "log_cosh_grad", "smooth_l1", "smooth_l1_grad"]

_LOG2 = math.log(2.0)


# ----------------------------------------------------------------- log-cosh
#   l = log cosh(r) = log1p(2 sinh(r/2)^2)         (|r| < 1: no cancellation for small r)
#                   = |r| + log1p(exp(-2|r|)) - log 2   (|r| >= 1: no overflow of cosh)
#   dl/dp = tanh(r)
def _log_cosh_value(xp, p, t):
    r = p - t
    near = xp.abs(r) < 1.0
    # Each branch sees only its own inputs (the other gets a harmless 0 or 1), so the branch not
    # taken can neither overflow (sinh(400)^2) nor send a NaN into autograd's gradient.
    rn = xp.where(near, r, xp.zeros_like(r))
    af = xp.abs(xp.where(near, xp.ones_like(r), r))
    sh = xp.sinh(0.5 * rn)
    return xp.where(near, xp.log1p(2.0 * sh * sh), (af - _LOG2) + xp.log1p(xp.exp(-2.0 * af)))


def _log_cosh_deriv(xp, p, t):
    return xp.tanh(p - t)


def log_cosh(pred: Any, target: Any, *, reduction: Reduction = "mean", weight: Any = None) -> Any:
    r"""Log-cosh loss, :math:`l = \log\cosh(p - t)`.

    About :math:`r^2/2` for small residuals and :math:`|r| - \log 2` for large ones: Huber-like
    robustness with a smooth gradient, :math:`\tanh(r)` (Chen et al. 2019 use it for VAEs).

    Numerics: below :math:`|r| = 1` it is ``log1p(2 sinh(r/2)^2)`` (exact for tiny residuals, where
    ``optax.log_cosh``'s ``logaddexp(r, -r) - log 2`` and Keras's ``r + softplus(-2r) - log 2``
    cancel: at :math:`r = 10^{-8}` optax returns :math:`1.1\cdot10^{-16}` for :math:`5\cdot10^{-17}`);
    beyond, ``|r| + log1p(exp(-2|r|)) - log 2``, which never overflows (``cosh`` does at
    :math:`|r| > 710`). Half precision accumulates in float32. Arguments as in :func:`losslab.mse`.

    References: Chen, Liu & Xu (2019), "Log Hyperbolic Cosine Loss Improves Variational Auto-Encoder";
    Keras ``LogCosh``; optax ``log_cosh``.

    >>> import numpy as np
    >>> [f"{v:.6g}" for v in log_cosh(np.array([0.0, 1e-8, 2.0, 1e6]), np.zeros(4), reduction="none")]
    ['0', '5e-17', '1.325', '999999']
    """
    return elementwise_loss(_log_cosh_value, pred, target, reduction=reduction, weight=weight, name="log-cosh loss")


def log_cosh_grad(pred: Any, target: Any, *, reduction: Reduction = "mean", weight: Any = None) -> Any:
    r"""Gradient of :func:`log_cosh` w.r.t. ``pred``: :math:`\tanh(p - t)`, bounded by 1.

    >>> import numpy as np
    >>> log_cosh_grad(np.array([0.0, 1e6]), np.zeros(2), reduction="sum").tolist()
    [0.0, 1.0]
    """
    return elementwise_grad(_log_cosh_deriv, pred, target, reduction=reduction, weight=weight, bounded=True)


# ----------------------------------------------------------------- smooth L1
#   l = r^2 / (2 beta)    if |r| < beta         dl/dp = r / beta
#   l = |r| - beta / 2    otherwise             dl/dp = sign(r)      = clip(r, -beta, beta) / beta
def _smooth_l1_value(xp, p, t, *, beta):
    r = p - t
    inside = xp.abs(r) < beta
    ri = xp.where(inside, r, xp.zeros_like(r))  # no r^2 overflow (nor its NaN in autograd) outside
    return xp.where(inside, (0.5 / beta) * (ri * ri), xp.abs(r) - 0.5 * beta)


def _smooth_l1_deriv(xp, p, t, *, beta):
    return xp.clip(p - t, min=-beta, max=beta) / beta  # exactly +-1 outside, never an overflowing r / beta


def _check_beta(beta: Any) -> float:
    return check_at_least("beta", beta, 0.0, fix="beta = 0 is the absolute error (mae); torch's default is 1")


def smooth_l1(pred: Any, target: Any, *, beta: float = 1.0, reduction: Reduction = "mean", weight: Any = None) -> Any:
    r"""Smooth L1 loss (``torch.nn.SmoothL1Loss``): quadratic within ``beta`` of the target, linear outside.

    .. math:: l = \frac{r^2}{2\beta} \text{ if } |r| < \beta, \quad |r| - \frac{\beta}{2}
              \text{ otherwise}, \qquad r = p - t.

    ``beta -> 0`` is the absolute error, and ``beta=0`` gives :func:`losslab.mae` exactly (as torch).
    The relation to :func:`losslab.huber`: ``huber(delta=d) == d * smooth_l1(beta=d)``, so the linear
    part of smooth L1 always has slope 1 while Huber's has slope ``delta``; the gradient is
    :math:`\mathrm{clip}(r/\beta, -1, 1)`. Arguments as in :func:`losslab.mse`.

    References: Girshick (2015), "Fast R-CNN", ICCV (with beta = 1).

    >>> import numpy as np
    >>> smooth_l1(np.array([0.5, 3.0]), np.array([0.0, 0.0]), reduction="none").tolist()
    [0.125, 2.5]
    >>> smooth_l1(np.array([0.5, 3.0]), np.array([0.0, 0.0]), beta=2.0, reduction="none").tolist()
    [0.0625, 2.0]
    """
    beta = _check_beta(beta)
    value = partial(_smooth_l1_value, beta=beta) if beta else _mae_value
    return elementwise_loss(value, pred, target, reduction=reduction, weight=weight, name="smooth L1 loss")


def smooth_l1_grad(
    pred: Any, target: Any, *, beta: float = 1.0, reduction: Reduction = "mean", weight: Any = None
) -> Any:
    r"""Gradient of :func:`smooth_l1`: :math:`\mathrm{clip}(p - t, -\beta, \beta)/\beta`; ``sign(p - t)`` at ``beta=0``.

    >>> import numpy as np
    >>> smooth_l1_grad(np.array([0.5, 3.0]), np.array([0.0, 0.0]), beta=2.0, reduction="sum").tolist()
    [0.25, 1.0]
    """
    beta = _check_beta(beta)
    deriv = partial(_smooth_l1_deriv, beta=beta) if beta else _mae_deriv
    return elementwise_grad(deriv, pred, target, reduction=reduction, weight=weight, bounded=True)
