"""Focal losses (Lin et al. 2017): cross-entropies that down-weight the examples already fitted.

``sigmoid_focal_loss`` is binary cross-entropy on logits times ``alpha_t (1 - p_t)^gamma``, per
element (multi-label detection heads); ``focal_loss`` is categorical cross-entropy on logits times
``(1 - p_y)^gamma``, per sample. Both take the modulating factor in log space,
``(1 - p_t)^gamma = exp(gamma log(1 - p_t))``, with ``log(1 - p_t)`` from log-sigmoids or from
``-expm1(log_softmax(z)_y)``, never from a rounded probability: logits of +/-1e4 are exact, and
``gamma < 1`` (whose ``x^gamma`` has an infinite slope at 0) gives no ``0 * inf`` in autograd.
``gamma = 0`` gives back the cross-entropies.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._array import log_softmax, moveaxis, quiet, sigmoid, softplus
from .._kinds import is_numpy
from .._reduction import reduce, scale_grad
from .._types import Reduction
from .._validation import _real, check_range, finalize
from ..kernels import subtract_at
from ._common import finish, prepare_pair
from ._hard import check_at_least, class_diagnosis, drop_ignored, hard_classes, target_weight
from .categorical import _coefficients
from .robust_categorical import _at_most_zero

__all__ = ["focal_loss", "focal_loss_grad", "sigmoid_focal_loss", "sigmoid_focal_loss_grad"]


def _check_gamma(gamma: Any) -> float:
    return check_at_least("gamma", gamma, 0.0, fix="gamma = 0 is the cross-entropy; the paper uses 2")


def _check_alpha(alpha: Any) -> float | None:
    if alpha is None:
        return None
    v = _real("alpha", alpha)
    if not 0.0 <= v <= 1.0:
        raise ValueError(
            f"`alpha` must be in [0, 1] or None; got {alpha!r}: alpha weighs the positives (t = 1) and "
            f"1 - alpha the negatives; alpha=None turns the weighting off (torchvision's alpha=-1)"
        )
    return v


# ------------------------------------------------------------------ sigmoid
#   1 - p_t = t sigmoid(-z) + (1 - t) sigmoid(z),   L = log(1 - p_t) = logaddexp(log t - sp, log(1 - t) - sn)
#   l = a_t exp(g L) ce,   ce = t sn + (1 - t) sp,   sp = softplus(z), sn = softplus(-z)
#   dl/dz = a_t exp(g L) (g ce dL/dz + dce/dz),   dL/dz = (1 - 2t) sigmoid(z) sigmoid(-z) / (1 - p_t)
#                                                 dce/dz = (1 - t) sigmoid(z) - t sigmoid(-z)
def _log_one_minus_pt(xp, t, sp, sn):
    """log(1 - p_t) <= 0; log t and log(1 - t) are -inf at the hard labels, never evaluated there
    (no warning; autograd sees no log 0)."""
    neg_inf = xp.full_like(t, -math.inf)
    pos, neg = t > 0, t < 1
    log_t = xp.where(pos, xp.log(xp.where(pos, t, xp.ones_like(t))), neg_inf)
    log_1mt = xp.where(neg, xp.log1p(-xp.where(neg, t, xp.zeros_like(t))), neg_inf)
    return _at_most_zero(xp, xp.logaddexp(log_t - sp, log_1mt - sn))


def _sigmoid_focal(logits, target, alpha, gamma, reduction, weight, grad):
    a, g = _check_alpha(alpha), _check_gamma(gamma)
    P, _ = prepare_pair(logits, target, weight, names=("logits", "target"))
    xp, z, t = P.xp, P.pred, P.target
    check_range(xp, "target", t, 0.0, 1.0, what="labels or label probabilities")
    # Non-finite inputs are diagnosed from the result by ``finish``; NumPy's warnings would only precede it.
    with quiet(xp):
        sp, sn = softplus(xp, z), softplus(xp, -z)
        ce = t * sn + (1.0 - t) * sp  # an infinite logit gives 0 * inf = NaN: an error, as in BCE
        L = _log_one_minus_pt(xp, t, sp, sn) if g else None
        w = xp.exp(g * L) if g else None
        if grad:
            values = (1.0 - t) * sigmoid(xp, z) - t * sigmoid(xp, -z)
            if g:
                dL = (1.0 - 2.0 * t) * xp.exp(-(sp + sn) - L)
                values = w * (g * ce * dL + values)
            values = values + (z - z)  # the derivative is bounded: infinite logits must still be an error
        else:
            values = w * ce if g else ce
        if a is not None:
            values = (a * t + (1.0 - a) * (1.0 - t)) * values
        return finish(P, values, reduction, grad=grad, name="sigmoid focal loss")


def sigmoid_focal_loss(
    logits: Any,
    target: Any,
    *,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
    reduction: Reduction = "mean",
    weight: Any = None,
) -> Any:
    r"""Sigmoid focal loss (Lin et al. 2017) on logits :math:`z`, per element, :math:`p = \sigma(z)`.

    .. math:: l = -\alpha_t\,(1 - p_t)^\gamma \log p_t, \qquad
              p_t = t p + (1 - t)(1 - p), \quad \alpha_t = \alpha t + (1 - \alpha)(1 - t)

    that is binary cross-entropy (:func:`losslab.binary_cross_entropy_with_logits`) scaled by
    :math:`\alpha_t (1 - p_t)^\gamma`: well-classified elements (:math:`p_t \to 1`) cost little,
    so the many easy negatives of a dense detector do not swamp the few hard examples.

    Parameters
    ----------
    logits : array, any shape
    target : array of ``logits``' shape: labels 0/1 or label probabilities in [0, 1] (as torchvision
        and optax, :math:`1 - p_t = t\,\sigma(-z) + (1 - t)\,\sigma(z)` for soft labels).
    alpha : float in [0, 1] or None
        Weighs the positives by ``alpha`` and the negatives by ``1 - alpha``. The default 0.25 is the
        paper's and ``torchvision.ops.sigmoid_focal_loss``'s (which turns it off with ``alpha < 0``);
        ``None`` turns it off, the default of ``optax.sigmoid_focal_loss``.
    gamma : float >= 0
        The focusing exponent (the paper's 2). ``gamma = 0`` with ``alpha=None`` is binary cross-entropy.
    reduction, weight
        See :func:`losslab.mse`. torchvision's default reduction is ``"none"``, the paper's a sum
        normalised by the number of positive anchors (``reduction="sum"`` divided by it).

    Numerics: :math:`(1 - p_t)^\gamma = \exp(\gamma \log(1 - p_t))` with :math:`\log(1 - p_t)` the
    log-sum-exp of :math:`\log t + \log\sigma(-z)` and :math:`\log(1 - t) + \log\sigma(z)`, and the
    cross-entropy from softplus: logits of +/-1e4 are exact (a confident hit costs 0, a confident miss
    :math:`(1 - \alpha)\cdot 10^4`), and no power of 0 is differentiated. Infinite logits are an error,
    as in :func:`losslab.binary_cross_entropy_with_logits`; half precision accumulates in float32.

    References: Lin, Goyal, Girshick, He & Dollár (2017), "Focal Loss for Dense Object Detection", ICCV.

    >>> import numpy as np
    >>> z, t = np.array([2.0, -1.0, 1e4, 1e4]), np.array([1, 1, 1, 0])
    >>> sigmoid_focal_loss(z, t, reduction="none").round(5).tolist()
    [0.00045, 0.17547, 0.0, 7500.0]
    """
    return _sigmoid_focal(logits, target, alpha, gamma, reduction, weight, False)


def sigmoid_focal_loss_grad(
    logits: Any,
    target: Any,
    *,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
    reduction: Reduction = "mean",
    weight: Any = None,
) -> Any:
    r"""Gradient of :func:`sigmoid_focal_loss` w.r.t. the logits.

    .. math:: \alpha_t (1 - p_t)^\gamma \Big(\gamma\,\mathrm{ce}\,
              \frac{(1 - 2t)\,\sigma(z)\sigma(-z)}{1 - p_t} + (1 - t)\,\sigma(z) - t\,\sigma(-z)\Big)

    (for hard labels the fraction is :math:`-\sigma(z)` at ``t = 1`` and :math:`\sigma(-z)` at ``t = 0``),
    scaled by the per-element coefficients of the reduction.

    >>> import numpy as np
    >>> sigmoid_focal_loss_grad(np.array([0.0, -1e4]), np.array([1, 1]), alpha=None, reduction="sum").tolist()
    [-0.29828679513998635, -1.0]
    """
    return _sigmoid_focal(logits, target, alpha, gamma, reduction, weight, True)


# -------------------------------------------------------------- categorical
#   u = log softmax(z)_y <= 0,  q = 1 - p_y = -expm1(u),  w = q^g = exp(g log q)
#   l = -w_y q^g u                                dl/dz = w_y s (softmax(z) - onehot(y)),
#   s = q^g - g q^(g-1) p_y u = q^g (1 + g p_y rho),  rho = -u / q = u / expm1(u) in [1, inf)
def _modulation(xp, u, gamma):
    """``(1 - p_y)^gamma`` from ``u = log p_y``; 0 where ``p_y`` rounds to 1 (the double ``where``
    keeps autograd from differentiating ``log 0``)."""
    q = -xp.expm1(u)
    pos = q > 0
    return xp.where(pos, xp.exp(gamma * xp.log(xp.where(pos, q, xp.ones_like(q)))), xp.zeros_like(q))


def _focal(logits, target, gamma, axis, class_weight, ignore_index, reduction, weight, grad):
    g = _check_gamma(gamma)
    K = hard_classes(logits, target, weight, class_weight, ignore_index, axis, loss="focal loss",
                     fix="use losslab.cross_entropy for class probabilities")  # fmt: skip
    c = _coefficients(K, reduction, K.weight)
    xp = K.xp
    wy = target_weight(K)
    with quiet(xp):
        lp = log_softmax(xp, K.z, axis=-1)
        u = _at_most_zero(xp, K.picked(lp))
        if grad:
            s = xp.ones_like(u)
            if g:
                neg = u < 0
                us = xp.where(neg, u, -xp.ones_like(u))
                rho = xp.where(neg, us / xp.expm1(us), xp.ones_like(u))  # -> 1 as p_y -> 1
                s = _modulation(xp, u, g) * (1.0 + g * xp.exp(u) * rho)
            if wy is not None:
                s = wy * s
            # One value per sample, finite exactly when the row's gradient is: 0 * u is NaN for a
            # NaN row and for a target class at -inf (whose loss is infinite, so the gradient is an error).
            finalize(xp, drop_ignored(K, s + 0.0 * u), lambda: class_diagnosis(K, "focal loss"))
            p = np.exp(lp, out=lp) if is_numpy(lp) else xp.exp(lp)
            out = drop_ignored(K, subtract_at(xp, p, K.target, 1.0) * xp.expand_dims(s, axis=-1), expand=True)
            out = scale_grad(xp, out, c, K.out_dtype, axis=-1, inplace=True)
            return moveaxis(xp, out, -1, K.axis)
        l = (_modulation(xp, u, g) * (0.0 - u)) if g else 0.0 - u
        if wy is not None:
            l = wy * l
        out = reduce(xp, drop_ignored(K, l), c, reduction, K.out_dtype)
        return finalize(xp, out, lambda: class_diagnosis(K, "focal loss"))


def focal_loss(
    logits: Any,
    target: Any,
    *,
    gamma: float = 2.0,
    axis: int = -1,
    class_weight: Any = None,
    ignore_index: int | None = None,
    reduction: Reduction = "mean",
    weight: Any = None,
) -> Any:
    r"""Categorical focal loss from logits (Lin et al. 2017), per sample.

    .. math:: l_i = -(1 - p_{i y_i})^\gamma \log p_{i y_i}, \qquad p_i = \mathrm{softmax}(z_i)

    Cross-entropy scaled by :math:`(1 - p_y)^\gamma`: ``gamma = 0`` is :func:`losslab.cross_entropy`,
    larger values discount the samples already classified with confidence. There is no ``alpha``:
    per-class weighting is ``class_weight`` (as the multi-class ``alpha_t`` of the paper's eq. 5).

    Parameters
    ----------
    logits : array (..., C, ...), classes along ``axis``
    target : integer class indices of the logits' shape without ``axis``. Probability targets are
        refused (the error says how to convert).
    gamma : float >= 0
    axis, class_weight, ignore_index, reduction, weight
        As in :func:`losslab.cross_entropy`: ``class_weight[y]`` rescales each sample and ``"mean"``
        divides by the summed weights of the targets' classes (PyTorch's semantics); ignored samples
        contribute exactly 0 whatever their logits, and leave the denominator.

    Numerics: :math:`\log p_y` from the log-softmax with the row maximum subtracted, and
    :math:`1 - p_y = -\mathrm{expm1}(\log p_y)` (no cancellation of its own: its relative error is
    that of :math:`\log p_y`, about eps / (1 - p_y): 1e-7 at 1 - p_y = 4e-9), so logits of +/-1e4
    are exact. ``-inf`` logits mask classes; a masked target class has
    an infinite loss and is an error (for the gradient too), as in cross-entropy. Half precision
    accumulates in float32.

    References: Lin, Goyal, Girshick, He & Dollár (2017), "Focal Loss for Dense Object Detection", ICCV;
    Mukhoti et al. (2020), "Calibrating Deep Neural Networks using Focal Loss", NeurIPS.

    >>> import numpy as np
    >>> z = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, -np.inf]])
    >>> focal_loss(z, np.array([0, 1]), reduction="none").round(4).tolist()
    [0.0041, 0.1733]
    """
    return _focal(logits, target, gamma, axis, class_weight, ignore_index, reduction, weight, False)


def focal_loss_grad(
    logits: Any,
    target: Any,
    *,
    gamma: float = 2.0,
    axis: int = -1,
    class_weight: Any = None,
    ignore_index: int | None = None,
    reduction: Reduction = "mean",
    weight: Any = None,
) -> Any:
    r"""Gradient of :func:`focal_loss` w.r.t. the logits: cross-entropy's :math:`p - e_y` scaled per sample.

    .. math:: \frac{\partial l}{\partial z} = (1 - p_y)^\gamma\Big(1 + \gamma\,p_y
              \frac{-\log p_y}{1 - p_y}\Big)\,(p - e_y)

    (times the target's class weight and the reduction's coefficient); the fraction tends to 1 as
    :math:`p_y \to 1` and is evaluated as ``u / expm1(u)``, ``u = log p_y``.

    >>> import numpy as np
    >>> focal_loss_grad(np.array([[0.0, 0.0]]), np.array([0]), gamma=1.0).round(6).tolist()
    [[-0.423287, 0.423287]]
    """
    return _focal(logits, target, gamma, axis, class_weight, ignore_index, reduction, weight, True)
