"""Binary cross-entropy: the Bernoulli negative log-likelihood, from probabilities or logits.

Prefer :func:`binary_cross_entropy_with_logits`: it is exact for logits of
any size (log-sigmoid, never ``log(sigmoid(x))``) and its gradient is the
seeds' error signal ``sigmoid(z) - t``. The probability form has to clip.
"""

from __future__ import annotations

from typing import Any

from .._array import float_eps, is_concrete, numel, quiet, sigmoid, softplus
from .._checks import traced_check, wants_traced
from .._kinds import is_torch
from .._options import closed_unit, in_namespace, nonzero
from .._types import Array, Reduction
from .._validation import check_range, fmt, position, value_at
from ._common import finish, prepare_pair

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
]


# ------------------------------------------------------------ probabilities
#   l = -(t log p + (1 - t) log(1 - p)),  each log floored at log(eps)
#   dl/dp = -t / p + (1 - t) / (1 - p)    (0 where the floor is active)
def _bce_probs(probs, target, reduction, weight, grad):
    P, _ = prepare_pair(probs, target, weight, names=("probs", "target"))
    xp, p, t = P.xp, P.pred, P.target
    check_range(xp, "probs", p, 0.0, 1.0)
    check_range(xp, "target", t, 0.0, 1.0, what="labels or label probabilities")
    eps = float_eps(xp, p.dtype)
    p_lo = xp.maximum(p, xp.asarray(eps, dtype=p.dtype))
    p_hi = xp.minimum(p, xp.asarray(1.0 - eps, dtype=p.dtype))
    if grad:
        values = -t * xp.astype(p >= eps, p.dtype) / p_lo + (1.0 - t) * xp.astype(p <= 1.0 - eps, p.dtype) / (
            1.0 - p_hi
        )
    else:
        values = -t * xp.log(p_lo) - (1.0 - t) * xp.log1p(-p_hi)  # no -0.0 at p = t
    return finish(P, values, reduction, grad=grad, name="binary cross-entropy")


def binary_cross_entropy(probs: Any, target: Any, *, reduction: Reduction = "mean", weight: Any = None) -> Any:
    r"""Binary cross-entropy from probabilities (the Bernoulli NLL).

    .. math:: l = -\big(t \log p + (1 - t)\log(1 - p)\big)

    ``target`` holds labels 0/1 (bool, int or float) or label probabilities
    in [0, 1]; ``probs`` must lie in [0, 1] (anything else is an error).

    Numerics: ``log(0)`` is never evaluated. Each log is floored at
    ``log(eps)`` with ``eps`` the machine epsilon of the compute dtype
    (2.2e-16 for float64, so a confident miss costs at most 36.04 nats;
    float32: 15.94). Predictions that are right with certainty cost exactly 0
    (``p = 1, t = 1``). This equals scikit-learn's ``log_loss`` clipping and
    differs from PyTorch, which clamps the log at -100. The gradient is that
    of the floored function, so it is 0 where the floor is active: train on
    logits instead.

    >>> import numpy as np
    >>> binary_cross_entropy(np.array([0.9, 1.0, 0.0]), np.array([1, 1, 1]), reduction="none").round(4).tolist()
    [0.1054, 0.0, 36.0437]
    """
    return _bce_probs(probs, target, reduction, weight, grad=False)


def binary_cross_entropy_grad(probs: Any, target: Any, *, reduction: Reduction = "mean", weight: Any = None) -> Any:
    r"""Gradient of :func:`binary_cross_entropy` w.r.t. ``probs``: :math:`-t/p + (1-t)/(1-p)`.

    >>> import numpy as np
    >>> binary_cross_entropy_grad(np.array([0.5, 0.5]), np.array([1.0, 0.0]), reduction="sum").tolist()
    [-2.0, 2.0]
    """
    return _bce_probs(probs, target, reduction, weight, grad=True)


# ------------------------------------------------------------------- logits
#   t' = (1 - a) t + a / 2
#   l = w+ t' softplus(-z) + (1 - t') softplus(z)       (softplus(-z) = -log sigmoid(z))
#   dl/dz = (1 - t') sigmoid(z) - w+ t' sigmoid(-z)     (= sigmoid(z) - t' when w+ = 1)
def _pos_weight(P, pos_weight):
    """``pos_weight`` (already in the logits' namespace and compute dtype) checked: shape, > 0, finite."""
    if pos_weight is None:
        return 1.0
    xp = P.xp
    last = P.pred.shape[-1:] if P.pred.ndim else ()
    if tuple(pos_weight.shape) not in ((), tuple(P.pred.shape), tuple(last)):
        raise ValueError(
            f"`pos_weight` must be a number (or 0-d array), an array of shape {tuple(last)} (one per "
            f"output of the last axis) or of the logits' shape {tuple(P.pred.shape)}; got "
            f"{tuple(pos_weight.shape)}"
        )
    if numel(pos_weight):
        bad = ~((pos_weight > 0) & (pos_weight < float("inf")))  # concrete unless traced (also when closed over)
        if not is_concrete(bad):
            if wants_traced(bad):
                traced_check(xp, ~bad, "`pos_weight` must be positive and finite")
        elif bool(xp.any(bad)):
            if pos_weight.ndim == 0:
                raise ValueError(f"`pos_weight` must be positive and finite; got {float(pos_weight)!r}")
            pos = position(xp, bad)
            raise ValueError(
                f"`pos_weight` must be positive and finite; got {value_at(pos_weight, pos)!r} at index {fmt(pos)}"
            )
    return pos_weight


def _bce_logits(logits, target, pos_weight, label_smoothing, reduction, weight, grad):
    alpha = closed_unit("label_smoothing", label_smoothing)
    if isinstance(pos_weight, bool):
        raise TypeError(f"`pos_weight` must be a positive number or array; got bool {pos_weight!r}")
    P, (pw,) = prepare_pair(
        logits, target, weight, names=("logits", "target"), extra=(pos_weight,), extra_names=("pos_weight",)
    )
    xp, z, t = P.xp, P.pred, P.target
    pw = _pos_weight(P, pw)
    check_range(xp, "target", t, 0.0, 1.0, what="labels or label probabilities")
    if nonzero(alpha):  # an array takes the formula: exact at 0, since (1 - 0) t + 0 = t
        alpha = in_namespace(xp, alpha, z, "label_smoothing")
        t = (1.0 - alpha) * t + 0.5 * alpha
    # Non-finite inputs surface as NaN/inf in the result and are diagnosed by
    # ``finish``; NumPy's warnings about them would only precede that error.
    with quiet(xp):
        if grad:
            # sigmoid(+-inf) is finite, so ``z - z`` (NaN exactly where z is not
            # finite) makes infinite logits an error for the gradient as for the loss.
            values = (1.0 - t) * sigmoid(xp, z) - pw * t * sigmoid(xp, -z) + (z - z)
        else:
            values = pw * t * softplus(xp, -z) + (1.0 - t) * softplus(xp, z)
        return finish(P, values, reduction, grad=grad, name="binary cross-entropy")


def binary_cross_entropy_with_logits(
    logits: Any,
    target: Any,
    *,
    pos_weight: Any = None,
    label_smoothing: float | Array = 0.0,
    reduction: Reduction = "mean",
    weight: Any = None,
) -> Any:
    r"""Binary cross-entropy on logits :math:`z`, with :math:`p = \sigma(z)`.

    .. math:: l = -\big(w_+\, t \log\sigma(z) + (1 - t)\log\sigma(-z)\big)

    computed as ``w+ t softplus(-z) + (1 - t) softplus(z)``: exact for logits
    of any magnitude (``z = 1e4`` with ``t = 1`` costs exactly 0, with
    ``t = 0`` exactly 1e4). Infinite logits are an error (for the gradient too).

    Parameters
    ----------
    logits : array, any shape
    target : array of ``logits``' shape, labels 0/1 or probabilities in [0, 1]
    pos_weight : number, 0-d array, or array of shape ``(C,)`` (last axis) or ``logits.shape``
        Multiplies the positive term (PyTorch's ``pos_weight``): > 1 raises recall.
    label_smoothing : float in [0, 1], or a 0-d array
        Targets become ``(1 - a) t + a / 2``. A 0-d array of the logits' library may be traced
        (``jax.jit``) or learned (``jax.grad``, torch autograd); it is checked when its value is
        readable (see :mod:`losslab._options`).

    The gradient w.r.t. the logits is :math:`\sigma(z) - t` (canonical link),
    which never saturates for a confident mistake; compare MSE through a
    sigmoid, :math:`2(\sigma(z) - t)\sigma(z)(1-\sigma(z))`.

    References: Goodfellow, Bengio & Courville (2016), sec. 6.2.2.3.

    >>> import numpy as np
    >>> z, t = np.array([0.0, 1e4, 1e4]), np.array([1, 1, 0])
    >>> binary_cross_entropy_with_logits(z, t, reduction="none").round(4).tolist()
    [0.6931, 0.0, 10000.0]
    """
    if is_torch(logits):  # torch's fused kernel where it computes exactly this (see kernels.torch_fused)
        from ..kernels import torch_fused

        out = torch_fused.binary_cross_entropy_with_logits(
            logits, target, pos_weight, label_smoothing, reduction, weight
        )
        if out is not None:
            return out
    return _bce_logits(logits, target, pos_weight, label_smoothing, reduction, weight, grad=False)


def binary_cross_entropy_with_logits_grad(
    logits: Any,
    target: Any,
    *,
    pos_weight: Any = None,
    label_smoothing: float | Array = 0.0,
    reduction: Reduction = "mean",
    weight: Any = None,
) -> Any:
    r"""Gradient of :func:`binary_cross_entropy_with_logits` w.r.t. the logits: :math:`\sigma(z) - t`.

    With ``pos_weight`` it is :math:`(1 - t)\sigma(z) - w_+ t\,\sigma(-z)`.

    >>> import numpy as np
    >>> binary_cross_entropy_with_logits_grad(np.array([0.0, -1e4]), np.array([1, 1]), reduction="sum").tolist()
    [-0.5, -1.0]
    """
    return _bce_logits(logits, target, pos_weight, label_smoothing, reduction, weight, grad=True)
