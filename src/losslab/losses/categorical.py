"""Categorical cross-entropy on logits, and label smoothing.

``cross_entropy`` is the Categorical negative log-likelihood with the
softmax (canonical) link, so its gradient w.r.t. the logits is
``softmax(z) - target``, the seeds' "prediction minus target" on the logit
scale. It is computed with log-sum-exp; ``log(softmax(z))`` never appears.
"""

from __future__ import annotations

import math
import numbers
import sys
from typing import Any

from .._array import as_arrays, is_concrete, logsumexp, moveaxis, numel, quiet, softmax
from .._checks import traced_check, wants_traced
from .._kinds import is_numpy, is_torch
from .._options import as_float, closed_unit, in_namespace, nonzero
from .._reduction import reduce, scale_grad
from .._types import Array, Reduction
from .._validation import (
    check_range,
    check_row_sums,
    finalize,
    fmt,
    position,
    row_sum_tolerance,
)
from ..kernels import subtract_at
from . import fused
from ._classes import Classes, _as_indices, _coefficients, _label_range, _row  # noqa: F401  (re-exported)

__all__ = ["cross_entropy", "cross_entropy_grad", "smooth_labels"]


#: From this many logits on, NumPy and CPU torch inputs take the fused kernel (``fused.py``); below,
#: the generic path's few array calls cost no more than the kernel's setup.
_FUSED_MIN = 1 << 12


def _smoothed_soft_target(K: Classes, alpha: Any):
    return (1.0 - alpha) * K.target + alpha / K.C if nonzero(alpha) else K.target


def _per_row(K: Classes, value: Any):
    """A float as it is; an option array broadcast to one value per row (for ``subtract_at``)."""
    return value if isinstance(value, float) or value.ndim else K.xp.broadcast_to(value, K.target.shape)


def _smoothing_term(xp, alpha: Any, uniform):
    """``alpha * uniform`` with ``0 * inf = 0``: a smoothing of 0 given as an array costs nothing
    on a row with masked (-inf) classes, exactly as the number 0 does."""
    if isinstance(alpha, float):
        return alpha * uniform
    inf = uniform == math.inf
    zero = xp.zeros_like(uniform)
    return xp.where(inf, xp.where(alpha > 0, uniform, zero), alpha * xp.where(inf, zero, uniform))


#   hard:  l = lse(z) - z_y                       dl/dz = softmax(z) - onehot(y)
#   soft:  l = sum_c t_c (lse(z) - z_c)           dl/dz = softmax(z) sum_c t_c - t
#   class weights w, smoothing a (t' = (1 - a) onehot + a/C):
#          l = sum_c w_c t'_c (lse - z_c)         dl/dz = softmax(z) sum_c w_c t'_c - w * t'
def _ce_values(K: Classes, alpha: float):
    xp, z = K.xp, K.z
    lse = logsumexp(xp, z, axis=-1)
    if K.hard:
        nll = lse - K.picked(z)
        if K.cw is not None:
            wy = K.picked(xp.broadcast_to(K.cw, z.shape))
            nll = wy * nll
        if nonzero(alpha):
            if K.cw is None:
                uniform = lse - xp.mean(z, axis=-1)
            else:
                uniform = (xp.sum(K.cw) * lse - xp.sum(z * K.cw, axis=-1)) / K.C
            nll = (1.0 - alpha) * nll + _smoothing_term(xp, alpha, uniform)
        # Ignored samples are exactly 0 whatever their logits (masked or -inf rows).
        return nll if K.mask is None else xp.where(K.mask > 0, nll, xp.zeros_like(nll))
    t = _smoothed_soft_target(K, alpha)
    if K.cw is not None:
        t = t * K.cw
    neg_logp = xp.expand_dims(lse, axis=-1) - z
    return xp.sum(xp.where(t > 0, t * neg_logp, xp.zeros_like(t)), axis=-1)


def _ce_grad_values(K: Classes, alpha: float):
    """``(g, probe)``: the per-sample gradient rows, and a per-row value that is finite
    exactly when that row's softmax is, so the result check reads n values, not n x C."""
    xp, z = K.xp, K.z
    s = softmax(xp, z, axis=-1)
    # A row with no distribution (NaN, +inf, all -inf) has a softmax of NaN in every
    # entry, so its first column decides; ignored rows contribute 0 whatever they hold.
    probe = s[..., :1]
    if K.mask is not None:
        probe = xp.where(xp.expand_dims(K.mask, axis=-1) > 0, probe, xp.zeros_like(probe))
    if K.hard:
        # softmax * sum_c w_c t'_c - w * t', with t' = (1 - a) onehot(y) + a / C: the one-hot
        # part is one subtraction per row (subtract_at), never an n x C matrix.
        if K.cw is None:
            g = s - alpha / K.C if nonzero(alpha) else s
            g = subtract_at(xp, g, K.target, _per_row(K, 1.0 - alpha))
        else:
            wy = K.picked(xp.broadcast_to(K.cw, z.shape))
            g = s * xp.expand_dims((1.0 - alpha) * wy + alpha * xp.sum(K.cw) / K.C, axis=-1)
            if nonzero(alpha):
                g = g - (alpha / K.C) * K.cw
            g = subtract_at(xp, g, K.target, (1.0 - alpha) * wy)
    else:
        t = _smoothed_soft_target(K, alpha)
        if K.cw is not None:
            t = t * K.cw
        g = s * xp.sum(t, axis=-1, keepdims=True) - t
    if K.mask is not None:
        g = xp.where(xp.expand_dims(K.mask, axis=-1) > 0, g, xp.zeros_like(g))
    return g, probe


def _check_support(K: Classes, alpha: float):
    """Raise where the loss is infinite although its gradient is finite.

    softmax gives a masked (``-inf``) class probability 0, so ``softmax - t``
    stays finite even when the target needs that class; the loss there is
    +inf and the gradient must be an error too. One value per sample: the
    smallest logit among the classes the (smoothed, weighted) target uses.
    """
    xp, z = K.xp, K.z
    if not is_concrete(z):
        return
    if K.hard and (not nonzero(alpha) or (is_concrete(alpha) and as_float(alpha) == 0)):
        needed = K.picked(z)
    elif K.hard:
        needed = xp.min(z, axis=-1)
    else:
        t = _smoothed_soft_target(K, alpha)
        if K.cw is not None:
            t = t * K.cw
        needed = xp.min(xp.where(t > 0, z, xp.zeros_like(z)), axis=-1)
    if K.mask is not None:
        needed = xp.where(K.mask > 0, needed, xp.zeros_like(needed))
    finalize(xp, needed, lambda: K.diagnose(alpha))


def _cross_entropy(logits, target, axis, class_weight, ignore_index, label_smoothing, reduction, weight, grad):
    alpha = closed_unit("label_smoothing", label_smoothing)
    K = Classes(logits, target, weight, class_weight, ignore_index, axis)
    K.check_soft_rows()
    c = _coefficients(K, reduction, K.weight)
    xp = K.xp
    alpha = in_namespace(xp, alpha, K.z, "label_smoothing")
    # Non-finite inputs are diagnosed from the result by ``finalize``; NumPy's
    # warnings about them (inf - inf, log(0)) would only precede that error.
    with quiet(xp):
        if grad:
            _check_support(K, alpha)
            g, probe = _ce_grad_values(K, alpha)
            finalize(xp, probe, lambda: K.diagnose(alpha), traced="gradient")
            g = scale_grad(xp, g, c, K.out_dtype, axis=-1, inplace=True)
            return moveaxis(xp, g, -1, K.axis) if K.axis != g.ndim - 1 else g
        out = reduce(xp, _ce_values(K, alpha), c, reduction, K.out_dtype)
        return finalize(xp, out, lambda: K.diagnose(alpha))


def cross_entropy(
    logits: Any,
    target: Any,
    *,
    axis: int = -1,
    class_weight: Any = None,
    ignore_index: int | None = None,
    label_smoothing: float | Array = 0.0,
    reduction: Reduction = "mean",
    weight: Any = None,
) -> Any:
    r"""Categorical cross-entropy from logits (softmax + negative log-likelihood).

    .. math:: l_i = \log\sum_c e^{z_{ic}} - \sum_c t_{ic} z_{ic}

    Parameters
    ----------
    logits : array (..., C, ...), classes along ``axis``
    target : integer class indices of the logits' shape without ``axis``, or
        class probabilities (soft labels) of the logits' shape, rows summing to 1.
    axis : int
        The class axis (use ``axis=1`` for PyTorch's ``(N, C, d1, ...)`` layout).
    class_weight : array (C,), optional
        Rescales each class. With integer targets ``"mean"`` divides by the
        summed weights of the targets' classes (PyTorch's semantics); with
        probability targets it divides by the number (or weight) of samples.
    ignore_index : int, optional
        Integer targets equal to it contribute exactly 0 whatever their logits
        (even a row of ``-inf``), get gradient 0 and leave the mean's
        denominator; if every target is ignored, ``"mean"`` is an error
        (PyTorch returns NaN). Not allowed with probability targets.
    label_smoothing : float in [0, 1], or a 0-d array
        Targets become ``(1 - a) t + a / C`` (Szegedy et al. 2016). A 0-d array of the logits'
        library may be traced (``jax.jit``) or learned (``jax.grad``, torch autograd); it is
        checked when its value is readable (see :mod:`losslab._options`).
    reduction, weight
        See :func:`losslab.mse`; ``weight`` is per sample (the batch shape).

    Numerics: log-sum-exp with the row maximum subtracted, so logits of
    +/-1e4 are exact; ``-inf`` logits mask classes (probability 0) and are
    allowed unless the target (or smoothing) needs that class, which is
    reported as an error rather than returned as inf (by the gradient too,
    although ``softmax - t`` would be finite there). Half precision
    accumulates in float32 and the reduced loss is returned in float32.

    References: Bishop (2006), PRML, sec. 4.3.4; Müller, Kornblith & Hinton (2019).

    >>> import numpy as np
    >>> z = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, -np.inf]])
    >>> cross_entropy(z, np.array([0, 1]), reduction="none").round(4).tolist()
    [0.1698, 0.6931]
    """
    args = (logits, target, axis, class_weight, ignore_index, label_smoothing, reduction, weight)
    if is_torch(logits):
        from ..kernels import torch_fused

        if logits.device.type == "cpu" and logits.numel() >= _FUSED_MIN and not torch_fused.graph_active():
            from ..kernels import torch_ce

            # Only a temporary (no Python reference but this frame's) may lend its buffer to its gradient.
            temporary = sys.getrefcount(logits) == torch_ce.TEMPORARY_REFS + 1  # + the ``args`` tuple
            out = torch_ce.cross_entropy(*args, temporary)
            if out is not None:
                return out
        out = torch_fused.cross_entropy(*args)  # torch's kernel where it computes exactly this
        if out is not None:
            return out
    elif is_numpy(logits) and numel(logits) >= _FUSED_MIN:  # one read of the logits (kernels/_ce.c)
        res = fused._numpy(*args, None, False)
        if res is not None:
            return res[0]
    return _cross_entropy(*args, False)


def cross_entropy_grad(
    logits: Any,
    target: Any,
    *,
    axis: int = -1,
    class_weight: Any = None,
    ignore_index: int | None = None,
    label_smoothing: float | Array = 0.0,
    reduction: Reduction = "mean",
    weight: Any = None,
) -> Any:
    r"""Gradient of :func:`cross_entropy` w.r.t. the logits: :math:`(\mathrm{softmax}(z) - t)/n`.

    With class weights and smoothed targets :math:`t'`:
    :math:`\mathrm{softmax}(z)\sum_c w_c t'_c - w \odot t'`, scaled by the same
    per-sample coefficients as the loss (ignored samples get 0).

    >>> import numpy as np
    >>> cross_entropy_grad(np.array([[0.0, 0.0]]), np.array([0])).tolist()
    [[-0.5, 0.5]]
    """
    if is_numpy(logits) and numel(logits) >= _FUSED_MIN:  # one pass, softmax and gradient (kernels/_ce.c)
        res = fused._numpy(logits, target, axis, class_weight, ignore_index, label_smoothing, reduction, weight,
                           None, True)  # fmt: skip
        if res is not None:
            return res[1]
    return _cross_entropy(logits, target, axis, class_weight, ignore_index, label_smoothing, reduction, weight, True)


def smooth_labels(target: Any, num_classes: int, alpha: float | Array) -> Any:
    r"""Label smoothing: :math:`(1 - \alpha)\,t + \alpha / K`.

    ``target`` is integer class indices (shape ``(...)``; returned as
    ``(..., K)`` probabilities) or class probabilities with a trailing axis of
    length ``num_classes``, each row summing to 1 (checked). Every row of the
    result sums to 1. ``alpha = 0`` turns class indices into one-hot rows.
    ``alpha`` may be a 0-d array of the target's library (traced or learned).

    >>> import numpy as np
    >>> smooth_labels(np.array([0, 2]), 3, 0.3).round(3).tolist()
    [[0.8, 0.1, 0.1], [0.1, 0.1, 0.8]]
    """
    alpha = closed_unit("alpha", alpha)
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ValueError(f"`num_classes` must be a positive integer; got {num_classes!r}")
    num_classes = int(num_classes)
    xp, t = as_arrays(target, names=("target",))
    if xp.isdtype(t.dtype, ("integral", "bool")):
        t = _as_indices(xp, t)
        if not is_concrete(t):
            if wants_traced(t) and numel(t):
                traced_check(xp, (t >= 0) & (t < num_classes), _label_range("target", num_classes, None))
        elif numel(t) and not (bool(xp.min(t) >= 0) and bool(xp.max(t) < num_classes)):
            bad = (t < 0) | (t >= num_classes)
            pos = position(xp, bad)
            raise ValueError(
                f"`target` must hold class indices in [0, {num_classes - 1}]; got {int(t[pos])} at index {fmt(pos)}"
            )
        info = xp.__array_namespace_info__()
        dtype = info.default_dtypes(device=getattr(t, "device", None))["real floating"]
        classes = xp.arange(num_classes, dtype=t.dtype, device=getattr(t, "device", None))
        probs = xp.astype(xp.expand_dims(t, axis=-1) == classes, dtype)
    elif xp.isdtype(t.dtype, "real floating"):
        if t.ndim == 0 or t.shape[-1] != num_classes:
            raise ValueError(
                f"`target` probabilities must have a trailing axis of length {num_classes}; got shape {tuple(t.shape)}"
            )
        check_range(xp, "target", t, 0.0, 1.0, what="class probabilities")
        check_row_sums(xp, "target", xp.sum(t, axis=-1), row_sum_tolerance(xp, t.dtype, num_classes))
        probs = t
    else:
        raise TypeError(f"`target` must hold class indices or probabilities; got dtype {t.dtype}")
    alpha = in_namespace(xp, alpha, probs, "alpha")
    return (1.0 - alpha) * probs + alpha / num_classes
