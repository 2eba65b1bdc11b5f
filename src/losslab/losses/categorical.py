"""Categorical cross-entropy on logits, and label smoothing.

``cross_entropy`` is the Categorical negative log-likelihood with the
softmax (canonical) link, so its gradient w.r.t. the logits is
``softmax(z) - target``, the seeds' "prediction minus target" on the logit
scale. It is computed with log-sum-exp; ``log(softmax(z))`` never appears.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._array import as_arrays, compute_dtype, is_concrete, logsumexp, numel, softmax, to_float
from .._reduction import coefficients, prepare_weight, reduce, scale_grad
from .._validation import (
    check_closed_unit,
    check_range,
    check_row_sums,
    finalize,
    first_error,
    fmt,
    nonfinite_error,
    overflow_error,
    position,
    row_sum_tolerance,
)
from ..kernels import subtract_at

__all__ = ["cross_entropy", "cross_entropy_grad", "smooth_labels"]


def _as_indices(xp, t):
    """Integer or boolean class indices in the namespace's index dtype.

    PyTorch gathers only with int64 indices (and reads uint8 as a mask), so
    int8/int16/int32/uint8 targets are cast, as are booleans.
    """
    info = xp.__array_namespace_info__()
    dtype = info.default_dtypes(device=getattr(t, "device", None))["indexing"]
    return t if t.dtype == dtype else xp.astype(t, dtype)


def _row(pos: tuple[int, ...], what: str = "row") -> str:
    """'row 3' / 'row (1, 2)' for a batch, 'the single distribution' for one 1-d distribution."""
    return f"{what} {fmt(pos)}" if pos else "the single distribution"


class Classes:
    """Logits moved to a trailing class axis, and the target resolved against them."""

    __slots__ = ("xp", "z", "target", "hard", "mask", "cw", "out_dtype", "axis", "C", "weight")

    def __init__(
        self, logits, target, weight=None, class_weight=None, ignore_index=None, axis=-1, names=("logits", "target")
    ):
        xp, z, t, w, cw = as_arrays(logits, target, weight, class_weight, names=(*names, "weight", "class_weight"))
        z = to_float(xp, z, names[0])
        self.out_dtype = z.dtype
        cdt = compute_dtype(xp, z.dtype)
        if z.ndim == 0:
            raise ValueError(f"`{names[0]}` must have a class axis; got a 0-d array")
        if not -z.ndim <= axis < z.ndim:
            raise ValueError(f"`axis` must be in [-{z.ndim}, {z.ndim - 1}] for {z.ndim}-d `{names[0]}`; got {axis}")
        self.axis = axis % z.ndim
        z = xp.moveaxis(z, self.axis, -1) if self.axis != z.ndim - 1 else z
        self.z = xp.astype(z, cdt) if z.dtype != cdt else z
        self.C = C = z.shape[-1]
        if C == 0:
            raise ValueError(f"`{names[0]}` has 0 classes along axis {axis}")
        batch = tuple(z.shape[:-1])
        self.xp, self.weight, self.mask = xp, w, None
        self.hard = t is not None and xp.isdtype(t.dtype, ("integral", "bool"))
        if t is None:
            pass
        elif self.hard:
            if tuple(t.shape) != batch:
                raise ValueError(
                    f"`{names[1]}` of class indices must have shape {batch} (the logits' shape without "
                    f"axis {axis}); got {tuple(t.shape)}"
                )
            t = _as_indices(xp, t)
            valid = None if ignore_index is None else t != ignore_index
            if is_concrete(t) and numel(t):
                bad = (t < 0) | (t >= C)
                if valid is not None:
                    bad = bad & valid
                if bool(xp.any(bad)):
                    pos = position(xp, bad)
                    extra = "" if ignore_index is None else f" or ignore_index={ignore_index}"
                    raise ValueError(
                        f"`{names[1]}` must hold class indices in [0, {C - 1}]{extra}; got "
                        f"{int(t[pos])} at index {fmt(pos)}"
                    )
            if valid is not None:
                t = xp.where(valid, t, xp.zeros_like(t))
                self.mask = xp.astype(valid, cdt)
        elif xp.isdtype(t.dtype, "real floating"):
            if tuple(t.shape) == batch:
                raise TypeError(
                    f"`{names[1]}` has a floating dtype ({t.dtype}) but the shape of class indices "
                    f"{batch}: cast it to an integer dtype, or pass class probabilities of shape "
                    f"{tuple(xp.moveaxis(self.z, -1, self.axis).shape)}"
                )
            if t.ndim != z.ndim or tuple(xp.moveaxis(t, self.axis, -1).shape) != tuple(z.shape):
                raise ValueError(
                    f"`{names[1]}` must be class indices of shape {batch} or class probabilities of "
                    f"the logits' shape; got {tuple(t.shape)}"
                )
            if ignore_index is not None:
                raise ValueError(
                    "`ignore_index` applies to integer class targets only; for probability targets "
                    "give the rows to skip weight 0"
                )
            check_range(xp, names[1], t, 0.0, 1.0, what="class probabilities")  # in the caller's layout
            t = xp.moveaxis(t, self.axis, -1) if self.axis != z.ndim - 1 else t
            t = xp.astype(t, cdt) if t.dtype != cdt else t
        else:
            raise TypeError(f"`{names[1]}` must hold class indices or probabilities; got dtype {t.dtype}")
        self.target = t
        if cw is not None:
            if tuple(cw.shape) != (C,):
                raise ValueError(f"`class_weight` must have shape ({C},) (one per class); got {tuple(cw.shape)}")
            cw = xp.astype(to_float(xp, cw, "class_weight"), cdt)
            # Concreteness of the derived mask, not of ``cw``: a concrete array closed
            # over by a jitted function still yields tracers inside the trace.
            bad = ~((cw >= 0) & (cw < math.inf))
            if is_concrete(bad) and bool(xp.any(bad)):
                pos = position(xp, bad)
                raise ValueError(
                    f"`class_weight` must be finite and non-negative; got {float(cw[pos])!r} at index {fmt(pos)}"
                )
        self.cw = cw

    def onehot(self, t=None):
        xp = self.xp
        t = self.target if t is None else t
        classes = xp.arange(self.C, dtype=t.dtype, device=getattr(t, "device", None))
        return xp.astype(xp.expand_dims(t, axis=-1) == classes, self.z.dtype)

    def picked(self, values):
        """values[..., target] for hard targets."""
        xp = self.xp
        return xp.take_along_axis(values, xp.expand_dims(self.target, axis=-1), axis=-1)[..., 0]

    def check_soft_rows(self):
        if not self.hard:
            tol = row_sum_tolerance(self.xp, self.out_dtype, self.C)
            check_row_sums(self.xp, "target", self.xp.sum(self.target, axis=-1), tol)

    def caller_layout(self, x):
        """``x`` (class axis last) with the class axis back at ``axis``, so positions match the input."""
        return x if self.axis == x.ndim - 1 else self.xp.moveaxis(x, -1, self.axis)

    def diagnose(self, alpha=0.0):
        """Name the reason a cross-entropy came out non-finite."""
        xp, z = self.xp, self.z

        def masked_target():
            neg = z == -math.inf
            all_neg = xp.all(neg, axis=-1)
            if self.mask is not None:
                all_neg = all_neg & (self.mask > 0)
            if bool(xp.any(all_neg)):
                pos = position(xp, all_neg)
                return ValueError(f"{_row(pos)} of `logits` is -inf for every class; no distribution remains")
            if self.hard:
                hit = self.picked(xp.astype(neg, z.dtype)) > 0
                if self.mask is not None:
                    hit = hit & (self.mask > 0)
                if bool(xp.any(hit)):
                    pos = position(xp, hit)
                    return ValueError(
                        f"the target class {int(self.target[pos])} of {_row(pos, 'sample')} has logit -inf "
                        f"(probability 0), so its cross-entropy is infinite; unmask the target class"
                    )
                if alpha > 0 and bool(xp.any(neg)):
                    return ValueError(
                        "`label_smoothing` puts probability on every class, but some logits are -inf "
                        "(masked): the smoothed cross-entropy is infinite; drop masked classes or "
                        "use label_smoothing=0"
                    )
            else:
                hit = xp.any(neg & (self.target > 0), axis=-1)
                if bool(xp.any(hit)):
                    pos = position(xp, hit)
                    return ValueError(
                        f"`target` gives positive probability to a class whose logit is -inf in {_row(pos)}"
                    )
            return None

        return first_error(
            lambda: nonfinite_error(xp, "logits", self.caller_layout(z), allow_neg_inf=True),
            lambda: None if self.hard else nonfinite_error(xp, "target", self.caller_layout(self.target)),
            masked_target,
            lambda: overflow_error("cross-entropy", self.out_dtype),
        )


def _smoothed_soft_target(K: Classes, alpha: float):
    return K.target if not alpha else (1.0 - alpha) * K.target + alpha / K.C


def _coefficients(K: Classes, reduction: str, weight):
    """Effective per-sample weights: sample weight x ignore mask; mean divides by the
    summed weights of the target classes (PyTorch's class-weight semantics)."""
    xp = K.xp
    batch = tuple(K.z.shape[:-1])
    w = prepare_weight(xp, weight, batch, K.z.dtype)
    if K.mask is not None:
        w = K.mask if w is None else w * K.mask
    total = None
    if reduction == "mean" and K.cw is not None and K.hard:
        wy = xp.take(K.cw, xp.reshape(K.target, (-1,)), axis=0)
        wy = xp.reshape(wy, batch)
        total = xp.sum(wy if w is None else wy * w)
    if K.cw is not None and K.hard:
        zero = "the summed class weights of the targets are 0"
    else:
        zero = "the total weight is 0"
    if reduction == "mean" and K.mask is not None and is_concrete(K.mask) and not bool(xp.any(K.mask > 0)):
        zero = "every target is `ignore_index`"
    return coefficients(xp, batch, reduction, w, total=total, zero_total=zero)


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
        if alpha:
            if K.cw is None:
                uniform = lse - xp.mean(z, axis=-1)
            else:
                uniform = (xp.sum(K.cw) * lse - xp.sum(z * K.cw, axis=-1)) / K.C
            nll = (1.0 - alpha) * nll + alpha * uniform
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
            g = s - alpha / K.C if alpha else s
            g = subtract_at(xp, g, K.target, 1.0 - alpha)
        else:
            wy = K.picked(xp.broadcast_to(K.cw, z.shape))
            g = s * xp.expand_dims((1.0 - alpha) * wy + alpha * xp.sum(K.cw) / K.C, axis=-1)
            if alpha:
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
    if K.hard and not alpha:
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
    alpha = check_closed_unit("label_smoothing", label_smoothing)
    K = Classes(logits, target, weight, class_weight, ignore_index, axis)
    K.check_soft_rows()
    c = _coefficients(K, reduction, K.weight)
    xp = K.xp
    # Non-finite inputs are diagnosed from the result by ``finalize``; NumPy's
    # warnings about them (inf - inf, log(0)) would only precede that error.
    with np.errstate(all="ignore"):
        if grad:
            _check_support(K, alpha)
            g, probe = _ce_grad_values(K, alpha)
            finalize(xp, probe, lambda: K.diagnose(alpha))
            g = scale_grad(xp, g, c, K.out_dtype, axis=-1, inplace=True)
            return xp.moveaxis(g, -1, K.axis) if K.axis != g.ndim - 1 else g
        out = reduce(xp, _ce_values(K, alpha), c, reduction, K.out_dtype)
        return finalize(xp, out, lambda: K.diagnose(alpha))


def cross_entropy(
    logits: Any,
    target: Any,
    *,
    axis: int = -1,
    class_weight: Any = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
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
    label_smoothing : float in [0, 1]
        Targets become ``(1 - a) t + a / C`` (Szegedy et al. 2016).
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
    return _cross_entropy(logits, target, axis, class_weight, ignore_index, label_smoothing, reduction, weight, False)


def cross_entropy_grad(
    logits: Any,
    target: Any,
    *,
    axis: int = -1,
    class_weight: Any = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
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
    return _cross_entropy(logits, target, axis, class_weight, ignore_index, label_smoothing, reduction, weight, True)


def smooth_labels(target: Any, num_classes: int, alpha: float) -> Any:
    r"""Label smoothing: :math:`(1 - \alpha)\,t + \alpha / K`.

    ``target`` is integer class indices (shape ``(...)``; returned as
    ``(..., K)`` probabilities) or class probabilities with a trailing axis of
    length ``num_classes``, each row summing to 1 (checked). Every row of the
    result sums to 1. ``alpha = 0`` turns class indices into one-hot rows.

    >>> import numpy as np
    >>> smooth_labels(np.array([0, 2]), 3, 0.3).round(3).tolist()
    [[0.8, 0.1, 0.1], [0.1, 0.1, 0.8]]
    """
    alpha = check_closed_unit("alpha", alpha)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"`num_classes` must be a positive integer; got {num_classes!r}")
    xp, t = as_arrays(target, names=("target",))
    if xp.isdtype(t.dtype, ("integral", "bool")):
        t = _as_indices(xp, t)
        if is_concrete(t) and numel(t) and not (bool(xp.min(t) >= 0) and bool(xp.max(t) < num_classes)):
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
    return (1.0 - alpha) * probs + alpha / num_classes
