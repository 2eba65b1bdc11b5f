"""Noise-robust categorical losses on logits: the generalized cross-entropy.

``generalized_cross_entropy`` (Zhang & Sabuncu 2018) is the negative
Box-Cox transform of the target's softmax probability, ``(1 - p_y^q) / q``:
cross-entropy as ``q -> 0``, the bounded ``1 - p_y`` at ``q = 1``. Its
gradient w.r.t. the logits is cross-entropy's ``softmax(z) - onehot(y)``
scaled per sample by ``p_y^q``, so confidently mislabelled samples (small
``p_y``) pull less. It shares cross-entropy's target handling, weights and
reduction (:class:`losslab.losses.categorical.Classes`); ``p_y^q`` is
``exp(q * log_softmax(z)_y)``, never a power of a rounded probability.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._array import as_arrays, log_softmax, moveaxis, quiet
from .._kinds import is_numpy
from .._options import half_open_unit, in_namespace
from .._reduction import reduce, scale_grad
from .._types import Array, Reduction
from .._validation import finalize, first_error, nonfinite_error, overflow_error, position
from ..kernels import subtract_at
from .categorical import Classes, _coefficients, _row

__all__ = ["generalized_cross_entropy", "generalized_cross_entropy_grad"]


def _check_q(value: Any) -> Any:
    """``q`` in (0, 1] (a float, or a 0-d array); the message says where each side of the interval leads."""
    return half_open_unit(
        "q", value,
        below="q -> 0 is cross-entropy, so use losslab.cross_entropy for that limit",
        above="q = 1 already gives the bounded loss 1 - p_y; the paper's default is 0.7",
    )  # fmt: skip


def _classes(logits, target, weight, class_weight, ignore_index, axis) -> Classes:
    """Cross-entropy's :class:`Classes`, for integer class indices only.

    The loss is defined for hard labels (the paper's setting: noisy class
    labels); probability targets are refused with the way out, before
    ``Classes`` could suggest them.
    """
    xp, z, t = as_arrays(logits, target, names=("logits", "target"), required=2)
    if not xp.isdtype(t.dtype, ("integral", "bool")):
        what = "floating" if xp.isdtype(t.dtype, "real floating") else "non-integer"
        raise TypeError(
            f"`target` must hold integer class indices; got a {what} dtype ({t.dtype}). The generalized "
            f"cross-entropy is defined for hard labels: cast float-stored indices to an integer dtype, pass "
            f"target.argmax(axis) for one-hot rows, or use cross_entropy for class probabilities"
        )
    return Classes(z, t, weight, class_weight, ignore_index, axis)


def _log_p_target(K: Classes):
    """log softmax(z)_y per sample, <= 0; from ``log_softmax``, so exact for logits of any size."""
    xp = K.xp
    return _at_most_zero(xp, K.picked(log_softmax(xp, K.z, axis=-1)))


def _at_most_zero(xp, lp):
    """Rounding never makes a probability exceed 1. ``where``, not ``minimum``: autograd's
    ``minimum`` halves the gradient at a tie (p_y = 1 to rounding); NaN passes through."""
    return xp.where(lp > 0, xp.zeros_like(lp), lp)


def _target_weight(K: Classes):
    """class_weight[y] per sample, or None."""
    return None if K.cw is None else K.picked(K.xp.broadcast_to(K.cw, K.z.shape))


def _drop_ignored(K: Classes, x, expand: bool = False):
    """``x`` with ignored samples set to exactly 0, whatever their logits (NaN or all -inf rows)."""
    if K.mask is None:
        return x
    xp = K.xp
    keep = xp.expand_dims(K.mask, axis=-1) > 0 if expand else K.mask > 0
    return xp.where(keep, x, xp.zeros_like(x))


#   l = w_y (1 - p_y^q) / q = -w_y expm1(q log p_y) / q
#   dl/dz_k = -w_y p_y^(q-1) dp_y/dz_k = -w_y p_y^(q-1) p_y (δ_yk - p_k) = w_y p_y^q (p_k - δ_yk)
def _gce_values(K: Classes, q: float):
    xp = K.xp
    # expm1: no cancellation in 1 - p_y^q when q log p_y is small (q -> 0, or p_y -> 1).
    l = -xp.expm1(q * _log_p_target(K)) / q
    wy = _target_weight(K)
    if wy is not None:
        l = wy * l
    return _drop_ignored(K, l)


def _gce_grad_values(K: Classes, q: float):
    """``(g, probe)`` as in cross-entropy's gradient: rows, and a per-row value finite exactly when the row's is."""
    xp = K.xp
    lp = log_softmax(xp, K.z, axis=-1)
    lpy = _at_most_zero(xp, K.picked(lp))
    scale = xp.exp(q * lpy)  # p_y^q; 0 for a masked (-inf) target class
    wy = _target_weight(K)
    if wy is not None:
        scale = wy * scale
    # softmax from the log-softmax already computed (on NumPy in its own buffer): one n x C array.
    p = np.exp(lp, out=lp) if is_numpy(lp) else xp.exp(lp)
    # A row with no distribution (NaN, +inf, all -inf) has NaN in every entry: its first column decides.
    probe = _drop_ignored(K, p[..., :1], expand=True)
    g = subtract_at(xp, p, K.target, 1.0) * xp.expand_dims(scale, axis=-1)
    return _drop_ignored(K, g, expand=True), probe


def _diagnose(K: Classes):
    """Name the reason a generalized cross-entropy came out non-finite.

    A ``-inf`` target logit is not one: the loss is then its bound ``1/q``
    (and the row's gradient 0), unlike cross-entropy's ``+inf``.
    """
    xp, z = K.xp, K.z

    def no_distribution():
        all_neg = xp.all(z == -math.inf, axis=-1)
        if K.mask is not None:
            all_neg = all_neg & (K.mask > 0)
        if bool(xp.any(all_neg)):
            return ValueError(
                f"{_row(position(xp, all_neg))} of `logits` is -inf for every class; no distribution remains"
            )
        return None

    return first_error(
        lambda: nonfinite_error(xp, "logits", K.caller_layout(z), allow_neg_inf=True),
        no_distribution,
        lambda: overflow_error("generalized cross-entropy", K.out_dtype),
    )


def _generalized_cross_entropy(logits, target, q, axis, class_weight, ignore_index, reduction, weight, grad):
    q = _check_q(q)
    K = _classes(logits, target, weight, class_weight, ignore_index, axis)
    c = _coefficients(K, reduction, K.weight)
    xp = K.xp
    q = in_namespace(xp, q, K.z, "q")
    # Non-finite inputs are diagnosed from the result by ``finalize``; NumPy's
    # warnings about them (inf - inf) would only precede that error.
    with quiet(xp):
        if grad:
            g, probe = _gce_grad_values(K, q)
            finalize(xp, probe, lambda: _diagnose(K), traced="gradient")
            g = scale_grad(xp, g, c, K.out_dtype, axis=-1, inplace=True)
            return moveaxis(xp, g, -1, K.axis) if K.axis != g.ndim - 1 else g
        out = reduce(xp, _gce_values(K, q), c, reduction, K.out_dtype)
        return finalize(xp, out, lambda: _diagnose(K))


def generalized_cross_entropy(
    logits: Any,
    target: Any,
    *,
    q: float | Array = 0.7,
    axis: int = -1,
    class_weight: Any = None,
    ignore_index: int | None = None,
    reduction: Reduction = "mean",
    weight: Any = None,
) -> Any:
    r"""Generalized cross-entropy from logits (Zhang & Sabuncu 2018), robust to noisy labels.

    .. math:: l_i = \frac{1 - p_{i y_i}^{\,q}}{q}, \qquad p_i = \mathrm{softmax}(z_i)

    Limits: as :math:`q \to 0` it is the cross-entropy :math:`-\log p_y`
    (:func:`losslab.cross_entropy`); at :math:`q = 1` it is :math:`1 - p_y`,
    half the MAE of the probabilities, :math:`\lVert p - e_y\rVert_1 = 2(1 - p_y)`,
    which is bounded and so robust to label noise but slow to train. Values
    in between trade the two; the paper uses 0.7. Every sample's loss lies in
    :math:`[0, 1/q)`.

    Parameters
    ----------
    logits : array (..., C, ...), classes along ``axis``
    target : integer class indices of the logits' shape without ``axis``.
        Probability targets are refused (the loss is defined for hard
        labels); the error says how to convert.
    q : float in (0, 1], or a 0-d array
        A 0-d array of the logits' library may be traced (``jax.jit``) or learned (the loss is
        differentiable in ``q``); it is checked when its value is readable.
    axis : int
        The class axis (use ``axis=1`` for PyTorch's ``(N, C, d1, ...)`` layout).
    class_weight : array (C,), optional
        Rescales each sample by the weight of its target class; ``"mean"``
        divides by the summed weights of the targets' classes, as in
        :func:`losslab.cross_entropy` (PyTorch's semantics).
    ignore_index : int, optional
        Targets equal to it contribute exactly 0 whatever their logits, get
        gradient 0 and leave the mean's denominator, as in
        :func:`losslab.cross_entropy`.
    reduction, weight
        See :func:`losslab.mse`; ``weight`` is per sample (the batch shape).

    Numerics: :math:`p_y^q = \exp(q \log\mathrm{softmax}(z)_y)` with the
    log-softmax taken with the row maximum subtracted, and :math:`1 - p_y^q`
    as ``-expm1(q log p_y)``, so logits of +/-1e4 are exact and small ``q``
    keeps cross-entropy's precision. ``-inf`` logits mask classes; a masked
    target class has probability 0 and costs the bound :math:`1/q` (with
    gradient 0), not an error as in cross-entropy. A row of only ``-inf``, NaN
    or ``+inf`` logits is an error. Half precision accumulates in float32 and
    the reduced loss is returned in float32.

    References: Zhang & Sabuncu (2018), "Generalized Cross Entropy Loss for
    Training Deep Neural Networks with Noisy Labels", NeurIPS 31.

    >>> import numpy as np
    >>> z = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, -np.inf]])
    >>> generalized_cross_entropy(z, np.array([0, 1]), reduction="none").round(4).tolist()
    [0.1601, 0.5492]
    """
    return _generalized_cross_entropy(logits, target, q, axis, class_weight, ignore_index, reduction, weight, False)


def generalized_cross_entropy_grad(
    logits: Any,
    target: Any,
    *,
    q: float | Array = 0.7,
    axis: int = -1,
    class_weight: Any = None,
    ignore_index: int | None = None,
    reduction: Reduction = "mean",
    weight: Any = None,
) -> Any:
    r"""Gradient of :func:`generalized_cross_entropy` w.r.t. the logits: :math:`p_y^q\,(p - e_y)/n`.

    From :math:`\partial(-p_y^q/q)/\partial z_k = -p_y^{q-1}\,\partial p_y/\partial z_k
    = -p_y^q(\delta_{yk} - p_k)`: cross-entropy's gradient scaled per sample
    by :math:`p_y^q` (and by the target's class weight), then by the same
    per-sample coefficients as the loss (ignored samples get 0).

    >>> import numpy as np
    >>> generalized_cross_entropy_grad(np.array([[0.0, 0.0]]), np.array([0]), q=1.0).tolist()
    [[-0.25, 0.25]]
    """
    return _generalized_cross_entropy(logits, target, q, axis, class_weight, ignore_index, reduction, weight, True)
