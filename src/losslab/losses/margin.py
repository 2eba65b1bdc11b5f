"""Margin losses on real-valued scores: binary hinge and squared hinge, multiclass hinge.

The score plays the logit's part (its sign, or the largest of a row, is the prediction), but no
probability is modelled: the loss is 0 once the right answer leads by the margin, so the minimiser
is any score beyond it. Binary targets are labels in {-1, 1} or {0, 1} (0 means -1), as Keras's
``Hinge``; the multiclass hinge is Crammer & Singer's by default (``optax.multiclass_hinge_loss``)
or Weston & Watkins's sum over the wrong classes (``torch.nn.functional.multi_margin_loss`` up to
its division by the number of classes).
"""

from __future__ import annotations

from typing import Any, Literal

from .._array import is_concrete, moveaxis, numel
from .._checks import traced_check, wants_traced
from .._reduction import reduce, scale_grad
from .._types import Reduction
from .._validation import finalize, fmt, position, value_at
from ..kernels import subtract_at
from ._common import finish, prepare_pair, quiet, require_finite
from ._hard import check_at_least, class_diagnosis, drop_ignored, hard_classes, target_weight
from .categorical import _coefficients

__all__ = [
    "hinge",
    "hinge_grad",
    "multiclass_hinge",
    "multiclass_hinge_grad",
    "squared_hinge",
    "squared_hinge_grad",
]

Form = Literal["crammer_singer", "weston_watkins"]


# ------------------------------------------------------------------- binary
def _signed_labels(P):
    """The target as -1/+1 labels: {-1, 1} and {0, 1} are accepted (0 means -1), checked when readable."""
    xp, t = P.xp, P.target
    if not is_concrete(t):
        if wants_traced(t) and numel(t):
            traced_check(xp, (t == 1.0) | (t == 0.0) | (t == -1.0), "`target` must hold labels in {-1, 1} or {0, 1}")
    elif numel(t):
        bad = ~((t == 1.0) | (t == 0.0) | (t == -1.0))  # NaN included
        if bool(xp.any(bad)):
            pos = position(xp, bad)
            raise ValueError(
                f"`target` must hold binary labels in {{-1, 1}} or {{0, 1}}; got {value_at(t, pos)!r} at index "
                f"{fmt(pos)}. Hinge losses take hard labels: threshold label probabilities, or use "
                f"binary_cross_entropy_with_logits for them"
            )
        if bool(xp.any(t == 0.0)) and bool(xp.any(t == -1.0)):
            pos = position(xp, t == 0.0)
            raise ValueError(
                f"`target` mixes the labels 0 (at index {fmt(pos)}) and -1, which would both mean the negative "
                f"class; use one convention, {{-1, 1}} or {{0, 1}}"
            )
    return xp.where(t == 0.0, -xp.ones_like(t), t)


#   h = 1 - y s (y in {-1, 1})     hinge: l = max(0, h)      dl/ds = -y [h > 0]
#                                  squared: l = max(0, h)^2  dl/ds = -2 y max(0, h)
def _relu(xp, h):
    """max(0, h) as ``where``: NaN and -inf propagate as NaN (``h - h``), and autograd's slope at the kink is 0."""
    return xp.where(h > 0, h, h - h)


def _hinge_value(xp, s, y):
    return _relu(xp, 1.0 - y * s)


def _hinge_deriv(xp, s, y):
    return xp.where(1.0 - y * s > 0, -y, xp.zeros_like(y))


def _squared_hinge_value(xp, s, y):
    r = _relu(xp, 1.0 - y * s)
    return r * r


def _squared_hinge_deriv(xp, s, y):
    h = 1.0 - y * s
    return xp.where(h > 0, -2.0 * y * h, h - h)  # +0.0, not -0.0, off the violation


@quiet
def _binary(kernel, pred, target, reduction, weight, grad, name, bounded=False):
    P, _ = prepare_pair(pred, target, weight)
    y = _signed_labels(P)
    if bounded:  # the derivative stays finite for infinite scores: check them up front
        require_finite(P)
    return finish(P, kernel(P.xp, P.pred, y), reduction, grad=grad, name=name)


def hinge(pred: Any, target: Any, *, reduction: Reduction = "mean", weight: Any = None) -> Any:
    r"""Hinge loss of real-valued scores, :math:`l = \max(0,\ 1 - y\,s)`, labels :math:`y \in \{-1, 1\}`.

    ``target`` holds labels in {-1, 1} or in {0, 1} (0 is the negative class, converted to -1 as
    Keras's ``Hinge`` does); anything else, and an array mixing 0 and -1, is an error (checked where
    value checks run, see :mod:`losslab._checks`; where they are skipped 0 still maps to -1 and other
    values pass as they are).
    ``optax.hinge_loss`` takes {-1, 1} only: there a 0 label silently costs 1 whatever the score.
    The margin is 1, the scale of the scores sets it. Infinite scores are an error.

    References: Cortes & Vapnik (1995), "Support-vector networks", Machine Learning 20.

    >>> import numpy as np
    >>> hinge(np.array([2.0, 0.3, 0.3, -1.0]), np.array([1, 1, 0, 0]), reduction="none").tolist()
    [0.0, 0.7, 1.3, 0.0]
    """
    return _binary(_hinge_value, pred, target, reduction, weight, False, "hinge loss")


def hinge_grad(pred: Any, target: Any, *, reduction: Reduction = "mean", weight: Any = None) -> Any:
    r"""Gradient of :func:`hinge`: :math:`-y` where :math:`y s < 1`, else 0 (the subgradient 0 at the kink).

    >>> import numpy as np
    >>> hinge_grad(np.array([2.0, 0.3, 0.3]), np.array([1, 1, -1]), reduction="sum").tolist()
    [0.0, -1.0, 1.0]
    """
    return _binary(_hinge_deriv, pred, target, reduction, weight, True, "gradient", bounded=True)


def squared_hinge(pred: Any, target: Any, *, reduction: Reduction = "mean", weight: Any = None) -> Any:
    r"""Squared hinge loss, :math:`l = \max(0,\ 1 - y\,s)^2`, labels as in :func:`hinge`.

    Keras's ``SquaredHinge`` (the L2-SVM loss): differentiable everywhere, with a gradient that
    grows with the violation. Labels in {-1, 1} or {0, 1}, as :func:`hinge`.

    >>> import numpy as np
    >>> squared_hinge(np.array([2.0, 0.5, -1.0]), np.array([1, 1, 1]), reduction="none").tolist()
    [0.0, 0.25, 4.0]
    """
    return _binary(_squared_hinge_value, pred, target, reduction, weight, False, "squared hinge loss")


def squared_hinge_grad(pred: Any, target: Any, *, reduction: Reduction = "mean", weight: Any = None) -> Any:
    r"""Gradient of :func:`squared_hinge`: :math:`-2y\max(0,\ 1 - y s)`.

    >>> import numpy as np
    >>> squared_hinge_grad(np.array([2.0, 0.5, -1.0]), np.array([1, 1, 0]), reduction="sum").tolist()
    [0.0, -1.0, 0.0]
    """
    return _binary(_squared_hinge_deriv, pred, target, reduction, weight, True, "gradient")


# --------------------------------------------------------------- multiclass
#   d_k = m + s_k - s_y for k != y, d_y = 0 (exactly: subtract_at)
#   crammer_singer: l = max_k d_k          dl/ds = onehot(argmax d) - onehot(y)   (ties share the 1)
#   weston_watkins: l = sum_k max(0, d_k)  dl/ds_k = [d_k > 0] (k != y),  dl/ds_y = -sum_k [d_k > 0]
def _check_form(form: Any) -> str:
    if form not in ("crammer_singer", "weston_watkins"):
        raise ValueError(
            f"`form` must be 'crammer_singer' (the largest violation, optax's multiclass_hinge_loss) or "
            f"'weston_watkins' (the sum of violations, torch's multi_margin_loss times the number of classes); "
            f"got {form!r}"
        )
    return form


def _margins(K, m):
    xp, s = K.xp, K.z
    d = (s - xp.expand_dims(K.picked(s), axis=-1)) + m  # a fresh array: subtract_at may write into it
    return subtract_at(xp, d, K.target, m)  # the target's own entry is (s_y - s_y) + m - m = 0 exactly


@quiet
def _multiclass(scores, target, margin, form, axis, class_weight, ignore_index, reduction, weight, grad):
    m = check_at_least("margin", margin, 0.0, fix="margin = 0 is the multiclass perceptron loss")
    form = _check_form(form)
    K = hard_classes(scores, target, weight, class_weight, ignore_index, axis, loss="multiclass hinge loss",
                     fix="use cross_entropy for class probabilities", names=("scores", "target"))  # fmt: skip
    c = _coefficients(K, reduction, K.weight)
    xp = K.xp
    d = _margins(K, m)
    if form == "crammer_singer":
        value = xp.max(d, axis=-1)  # >= d_y = 0; NaN propagates
    else:
        # 0 * max(s): a NaN or an all -inf row stays NaN, although the `where` drops NaN margins.
        value = xp.sum(xp.where(d > 0, d, xp.zeros_like(d)), axis=-1) + 0.0 * xp.max(K.z, axis=-1)
    wy = target_weight(K)
    if wy is not None:
        value = wy * value

    def diagnose():
        return class_diagnosis(K, "multiclass hinge loss", what="score", arg="scores")

    if not grad:
        return finalize(xp, reduce(xp, drop_ignored(K, value), c, reduction, K.out_dtype), diagnose)
    finalize(xp, drop_ignored(K, value), diagnose)  # one value per sample, finite exactly when its row is
    if form == "crammer_singer":
        top = xp.astype(d == xp.max(d, axis=-1, keepdims=True), d.dtype)
        g = subtract_at(xp, top / xp.sum(top, axis=-1, keepdims=True), K.target, 1.0)
    else:
        hit = xp.astype(d > 0, d.dtype)  # d_y = 0: the target's own entry is never a violation
        g = subtract_at(xp, hit, K.target, xp.sum(hit, axis=-1))
    if wy is not None:
        g = g * xp.expand_dims(wy, axis=-1)
    g = scale_grad(xp, drop_ignored(K, g, expand=True), c, K.out_dtype, axis=-1, inplace=True)
    return moveaxis(xp, g, -1, K.axis)


def multiclass_hinge(
    scores: Any,
    target: Any,
    *,
    margin: float = 1.0,
    form: Form = "crammer_singer",
    axis: int = -1,
    class_weight: Any = None,
    ignore_index: int | None = None,
    reduction: Reduction = "mean",
    weight: Any = None,
) -> Any:
    r"""Multiclass hinge loss of real-valued scores, per sample.

    .. math:: \text{crammer\_singer:}\quad l = \max\big(0,\ \max_{k \ne y}(m + s_k - s_y)\big)
              \qquad \text{weston\_watkins:}\quad l = \sum_{k \ne y} \max(0,\ m + s_k - s_y)

    ``"crammer_singer"`` (the default) charges the largest violation of the margin, as
    ``optax.multiclass_hinge_loss`` (margin 1) and scikit-learn's ``hinge_loss``. ``"weston_watkins"``
    charges every violating class: ``torch.nn.functional.multi_margin_loss`` (with ``p=1``) is this
    divided by the number of classes C; and torch's ``reduction="mean"`` with ``weight`` divides by the
    number of samples, where losslab divides by the summed weights of the targets' classes (as
    :func:`losslab.cross_entropy`). The two forms agree for two classes.

    Parameters
    ----------
    scores : array (..., C, ...), classes along ``axis``
    target : integer class indices of the scores' shape without ``axis``
    margin : float >= 0 (0 is the multiclass perceptron loss)
    form : "crammer_singer" or "weston_watkins"
    axis, class_weight, ignore_index, reduction, weight
        As in :func:`losslab.cross_entropy`.

    ``-inf`` scores mask classes (they never violate the margin); a target class at ``-inf``, NaN
    or ``+inf`` scores are an error. Ties of the largest violation share the subgradient evenly,
    as autograd's ``max`` does.

    References: Crammer & Singer (2001), JMLR 2; Weston & Watkins (1999), ESANN.

    >>> import numpy as np
    >>> s = np.array([[2.0, 1.5, -1.0], [0.0, 0.2, 0.1]])
    >>> multiclass_hinge(s, np.array([0, 0]), reduction="none").tolist()
    [0.5, 1.2]
    >>> multiclass_hinge(s, np.array([0, 0]), form="weston_watkins", reduction="none").round(6).tolist()
    [0.5, 2.3]
    """
    return _multiclass(scores, target, margin, form, axis, class_weight, ignore_index, reduction, weight, False)


def multiclass_hinge_grad(
    scores: Any,
    target: Any,
    *,
    margin: float = 1.0,
    form: Form = "crammer_singer",
    axis: int = -1,
    class_weight: Any = None,
    ignore_index: int | None = None,
    reduction: Reduction = "mean",
    weight: Any = None,
) -> Any:
    r"""Gradient of :func:`multiclass_hinge` w.r.t. the scores.

    Crammer-Singer: :math:`e_{k^*} - e_y` with :math:`k^*` the most violating class (0 when no class
    violates the margin; tied maxima share the 1). Weston-Watkins: 1 at every violating class and
    minus their number at the target.

    >>> import numpy as np
    >>> multiclass_hinge_grad(np.array([[2.0, 1.5, -1.0]]), np.array([0]), reduction="sum").tolist()
    [[-1.0, 1.0, 0.0]]
    """
    return _multiclass(scores, target, margin, form, axis, class_weight, ignore_index, reduction, weight, True)
