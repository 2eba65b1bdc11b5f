"""Poly-1 cross-entropy (Leng et al. 2022, PolyLoss): cross-entropy plus ``epsilon (1 - p_t)``.

Cross-entropy's Taylor series in ``1 - p_t`` is ``sum_j (1 - p_t)^j / j``; Poly-1 changes the first
coefficient from 1 to ``1 + epsilon``. Its gradient w.r.t. the logits is cross-entropy's scaled per
sample by ``1 + epsilon p_y`` for class indices. It shares cross-entropy's targets (indices or
probabilities), weights and reduction (:class:`losslab.losses.categorical.Classes`).
"""

from __future__ import annotations

from typing import Any

from .._array import moveaxis, quiet, softmax
from .._reduction import reduce, scale_grad
from .._types import Reduction
from .._validation import finalize
from ..kernels import subtract_at
from ._hard import check_at_least, drop_ignored, target_weight
from .categorical import Classes, _ce_values, _check_support, _coefficients
from .robust_categorical import _log_p_target

__all__ = ["poly1_cross_entropy", "poly1_cross_entropy_grad"]


def _check_epsilon(value: Any) -> float:
    return check_at_least(
        "epsilon", value, -1.0,
        fix="below -1 the loss increases with p_y near 1, so its minimum leaves the target (Leng et al. 2022)",
    )  # fmt: skip


def _soft_target(K: Classes):
    return K.target if K.cw is None else K.target * K.cw


#   hard: l = w_y (lse(z) - z_y + e (1 - p_y))           dl/dz = w_y (1 + e p_y) (p - onehot(y))
#   soft: l = sum_c t_c (lse(z) - z_c + e (1 - p_c))     dl/dz = p sum(t) - t + e p (<t, p> - t)
#   (t carries the class weights: t_c w_c)
def _poly1(logits, target, epsilon, axis, class_weight, ignore_index, reduction, weight, grad):
    eps = _check_epsilon(epsilon)
    K = Classes(logits, target, weight, class_weight, ignore_index, axis)
    K.check_soft_rows()
    c = _coefficients(K, reduction, K.weight)
    xp = K.xp
    # Non-finite inputs are diagnosed from the result; NumPy's warnings would only precede that error.
    with quiet(xp):
        if grad:
            _check_support(K, 0.0)  # a target class at -inf: infinite loss, so the gradient is an error too
            p = softmax(xp, K.z, axis=-1)
            # A row with no distribution has NaN in every entry of its softmax: the first column decides.
            finalize(xp, drop_ignored(K, p[..., :1], expand=True), K.diagnose)
            if K.hard:
                scale = 1.0 + eps * K.picked(p) if eps else xp.ones(K.target.shape, dtype=p.dtype)
                wy = target_weight(K)
                if wy is not None:
                    scale = wy * scale
                g = drop_ignored(K, subtract_at(xp, p, K.target, 1.0) * xp.expand_dims(scale, axis=-1), expand=True)
            else:
                t = _soft_target(K)
                g = p * xp.sum(t, axis=-1, keepdims=True) - t
                if eps:
                    g = g + eps * p * (xp.sum(t * p, axis=-1, keepdims=True) - t)
            g = scale_grad(xp, g, c, K.out_dtype, axis=-1, inplace=True)
            return moveaxis(xp, g, -1, K.axis)
        values = _ce_values(K, 0.0)
        if eps and K.hard:
            term = -xp.expm1(_log_p_target(K))  # 1 - p_y without cancellation
            wy = target_weight(K)
            values = values + eps * drop_ignored(K, term if wy is None else wy * term)
        elif eps:
            t = _soft_target(K)
            values = values + eps * xp.sum(t * (1.0 - softmax(xp, K.z, axis=-1)), axis=-1)
        out = reduce(xp, values, c, reduction, K.out_dtype)
        return finalize(xp, out, K.diagnose)


def poly1_cross_entropy(
    logits: Any,
    target: Any,
    *,
    epsilon: float = 1.0,
    axis: int = -1,
    class_weight: Any = None,
    ignore_index: int | None = None,
    reduction: Reduction = "mean",
    weight: Any = None,
) -> Any:
    r"""Poly-1 cross-entropy from logits (Leng et al. 2022).

    .. math:: l_i = -\log p_{i y_i} + \epsilon\,(1 - p_{i y_i}), \qquad p_i = \mathrm{softmax}(z_i)

    and for class probabilities :math:`t` :math:`\sum_c t_c\,(-\log p_c + \epsilon (1 - p_c))`, as
    ``optax.poly_loss_cross_entropy``. ``epsilon = 0`` is :func:`losslab.cross_entropy`; positive values
    push harder on samples the model already gets right (the paper uses 2 for ImageNet, which is also
    optax's default; -1 for detection). For ``epsilon >= -1`` the loss is non-negative and decreasing in
    :math:`p_y`; below -1 it would reward doubt, so ``epsilon < -1`` is refused.

    Parameters
    ----------
    logits, target, axis, class_weight, ignore_index, reduction, weight
        As in :func:`losslab.cross_entropy`: class indices or probability rows; with class weights
        each term is weighted by its class, and ``"mean"`` over class indices divides by the summed
        weights of the targets' classes.
    epsilon : float >= -1

    Numerics: the cross-entropy term is :func:`losslab.cross_entropy`'s (log-sum-exp with the row
    maximum subtracted); :math:`1 - p_y = -\mathrm{expm1}(\log\mathrm{softmax}(z)_y)`, so logits of
    +/-1e4 are exact. ``-inf`` logits mask classes as in cross-entropy. Half precision accumulates in
    float32.

    References: Leng, Tan, Liu, Cubuk, Shi, Cheng, Anguelov & Tan (2022), "PolyLoss: A Polynomial
    Expansion Perspective of Classification Loss Functions", ICLR.

    >>> import numpy as np
    >>> z = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, -np.inf]])
    >>> poly1_cross_entropy(z, np.array([0, 1]), reduction="none").round(4).tolist()
    [0.3261, 1.1931]
    """
    return _poly1(logits, target, epsilon, axis, class_weight, ignore_index, reduction, weight, False)


def poly1_cross_entropy_grad(
    logits: Any,
    target: Any,
    *,
    epsilon: float = 1.0,
    axis: int = -1,
    class_weight: Any = None,
    ignore_index: int | None = None,
    reduction: Reduction = "mean",
    weight: Any = None,
) -> Any:
    r"""Gradient of :func:`poly1_cross_entropy` w.r.t. the logits: :math:`(1 + \epsilon p_y)(p - e_y)`.

    From :math:`\partial(1 - p_y)/\partial z = p_y (p - e_y)`. For probability targets (with class
    weights folded into :math:`t`): :math:`p \sum_c t_c - t + \epsilon\,p \odot (\langle t, p\rangle - t)`.

    >>> import numpy as np
    >>> poly1_cross_entropy_grad(np.array([[0.0, 0.0]]), np.array([0])).tolist()
    [[-0.75, 0.75]]
    """
    return _poly1(logits, target, epsilon, axis, class_weight, ignore_index, reduction, weight, True)
