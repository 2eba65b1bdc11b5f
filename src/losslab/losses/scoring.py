"""Proper scoring rules on predicted probabilities: log loss and the Brier score.

These are the metric forms (probabilities in, labels in), as in
scikit-learn, but validated without extra passes: row sums come from one
matrix-vector product, the range from one ``min``, and the loss reads only
the probability of each sample's own class.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._array import as_arrays, compute_dtype, float_eps, is_concrete, row_sums, to_float
from .._checks import traced_check, wants_traced
from .._reduction import coefficients, is_scalar, prepare_weight, reduce, scale_grad
from .._types import Reduction
from .._validation import (
    check_index_cast,
    check_nonempty,
    check_range,
    check_row_sums,
    finalize,
    fmt,
    label_at,
    overflow_error,
    position,
    row_sum_tolerance,
)
from ..kernels import sum_log
from ..kernels.native import brier_sum, log_loss_sum

__all__ = ["brier_score", "brier_score_grad", "log_loss", "log_loss_grad"]

_EPS64 = float(np.finfo(np.float64).eps)


def _plain_arrays(probs: Any, target: Any) -> tuple[Any, Any]:
    """Python lists as NumPy arrays, so that a list and its array take the same (compiled) path."""
    return (
        np.asarray(probs) if isinstance(probs, (list, tuple)) else probs,
        np.asarray(target) if isinstance(target, (list, tuple)) else target,
    )


def _host(probs: Any) -> bool:
    """NumPy arrays and Python sequences, the only inputs the compiled kernels may take."""
    return isinstance(probs, (np.ndarray, list, tuple))


def _item(x):
    """A plain Python value (or list) of an array element, for messages: 'z', not np.str_('z')."""
    return x.tolist() if hasattr(x, "tolist") else x


class Scored:
    """Probabilities (n,) or (n, C) and the class index of every sample."""

    __slots__ = ("xp", "p", "y", "binary", "out_dtype", "weight")

    def __init__(self, probs, target, weight, labels):
        names = ("probs", "target", "weight", "labels")
        xp, p, y, w, labels = as_arrays(probs, target, weight, labels, names=names, required=2)
        p = to_float(xp, p, "probs")
        self.out_dtype = p.dtype
        cdt = compute_dtype(xp, p.dtype)
        p = xp.astype(p, cdt) if p.dtype != cdt else p
        if p.ndim not in (1, 2):
            raise ValueError(
                f"`probs` must be 1-d (binary: probability of class 1) or 2-d (n, C); got shape {tuple(p.shape)}"
            )
        check_nonempty("probs", p)
        if y.ndim != 1 or y.shape[0] != p.shape[0]:
            raise ValueError(
                f"`target` must have shape ({p.shape[0]},) (one label per row of `probs`); got {tuple(y.shape)}"
            )
        self.binary = p.ndim == 1
        C = 2 if self.binary else p.shape[1]
        y = self._indices(xp, y, labels, C)
        if not is_concrete(y):
            if wants_traced(y):
                traced_check(xp, (y >= 0) & (y < C), f"`target` must hold class indices in [0, {C - 1}]")
        elif not (bool(xp.min(y) >= 0) and bool(xp.max(y) < C)):
            pos = position(xp, (y < 0) | (y >= C))
            raise ValueError(
                f"`target` must hold class indices in [0, {C - 1}] (columns of `probs`); got {int(y[pos])} "
                f"at index {fmt(pos)}; pass `labels=` to map other label values"
            )
        # Validation folded into the work: one min over the input (rows summing to 1
        # with no negative entry cannot exceed 1), row sums by one matvec.
        if self.binary:
            check_range(xp, "probs", p, 0.0, 1.0)
        else:
            check_range(xp, "probs", p, 0.0, 1.0, check_max=False)
            check_row_sums(xp, "probs", row_sums(xp, p), row_sum_tolerance(xp, self.out_dtype, C))
        self.xp, self.p, self.y, self.weight = xp, p, y, w

    @staticmethod
    def _indices(xp, y, labels, C):
        # The namespace's index dtype: PyTorch gathers only with int32/int64.
        index = xp.__array_namespace_info__().default_dtypes(device=getattr(y, "device", None))["indexing"]
        if labels is None:
            what = f"`target` must hold class indices in [0, {C - 1}] (columns of `probs`)"
            if xp.isdtype(y.dtype, "real floating") and is_concrete(y):
                # Labels stored as floats (0.0 / 1.0, as scikit-learn and binary_cross_entropy take them)
                # are class indices when every one is integral; checked before the cast, which would
                # wrap or saturate a huge value (1e300) and warn.
                bad = ~((y >= 0) & (y < C))  # NaN fails both
                if bool(xp.any(bad)):
                    pos = position(xp, bad)
                    raise ValueError(f"{what}; got {label_at(y, pos)} at index {fmt(pos)}")
                frac = y != xp.floor(y)
                if bool(xp.any(frac)):
                    pos = position(xp, frac)
                    raise ValueError(
                        f"`target` must hold class indices; got the non-integral {label_at(y, pos)} at index "
                        f"{fmt(pos)}. Round the labels, or pass `labels=` listing the label values in column order"
                    )
                return xp.astype(y, index)
            if not xp.isdtype(y.dtype, ("integral", "bool")):
                raise TypeError(
                    f"`target` must hold integer class indices; got dtype {y.dtype}. Cast with "
                    f"astype(int), or pass `labels=` listing the label values in column order"
                )
            check_index_cast(xp, y, index, C, what)
            return y if y.dtype == index else xp.astype(y, index)
        if labels.ndim != 1 or labels.shape[0] != C:
            raise ValueError(
                f"`labels` must list {C} label values, one per column of `probs`; got shape {tuple(labels.shape)}"
            )
        match = xp.expand_dims(y, axis=-1) == labels
        dup = xp.sum(xp.astype(xp.expand_dims(labels, axis=-1) == labels, xp.int32), axis=-1) > 1
        if not is_concrete(dup):  # not labels: a concrete array closed over by a jitted function yields tracers
            if wants_traced(dup):
                traced_check(xp, ~dup, "`labels` must list distinct values")
        elif bool(xp.any(dup)):
            pos = position(xp, dup)
            raise ValueError(f"`labels` must list distinct values; {_item(labels[pos])!r} at index {fmt(pos)} repeats")
        found = xp.any(match, axis=-1)
        if not is_concrete(found):
            if wants_traced(found):
                traced_check(xp, found, "every `target` value must be in `labels`")
        elif not bool(xp.all(found)):
            pos = position(xp, ~found)
            raise ValueError(
                f"`target` value {_item(y[pos])!r} at index {fmt(pos)} is not in `labels` "
                f"{_item(labels)!r}; add it to `labels` (one column of `probs` per label)"
            )
        return xp.astype(xp.argmax(xp.astype(match, xp.int8), axis=-1), index)

    def p_true(self):
        """Probability given to each sample's own class."""
        xp = self.xp
        if self.binary:
            return xp.where(self.y == 1, self.p, 1.0 - self.p)
        n, C = self.p.shape
        # A flat gather reads one element per row: half the time of take_along_axis.
        rows = xp.arange(n, dtype=self.y.dtype, device=getattr(self.y, "device", None))
        return xp.take(xp.reshape(self.p, (-1,)), rows * C + self.y, axis=0)

    def onehot(self):
        xp = self.xp
        classes = xp.arange(self.p.shape[1], dtype=self.y.dtype, device=getattr(self.y, "device", None))
        return xp.astype(xp.expand_dims(self.y, axis=-1) == classes, self.p.dtype)

    def coefficients(self, reduction):
        n = (self.p.shape[0],)
        return coefficients(self.xp, n, reduction, prepare_weight(self.xp, self.weight, n, self.p.dtype))


# ------------------------------------------------------------------ log loss
#   l = -log max(p_y, eps)                dl/dp_y = -1 / p_y  (0 where p_y < eps), 0 elsewhere
def log_loss(probs: Any, target: Any, *, labels: Any = None, reduction: Reduction = "mean", weight: Any = None) -> Any:
    r"""Log loss (cross-entropy from probabilities): :math:`-\frac1n\sum_i \log p_{i, y_i}`.

    Parameters
    ----------
    probs : array (n, C), rows summing to 1; or (n,) the probability of class 1
    target : array (n,) of integer class indices (0/1 or bool when binary)
    labels : sequence of C distinct values, optional
        The label value of each column (binary 1-d: ``[negative, positive]``);
        ``target`` then holds label values.

    Rows that do not sum to 1 (beyond rounding, see
    :func:`losslab._validation.row_sum_tolerance`) and probabilities outside
    [0, 1] are errors (scikit-learn only warns).

    Numerics: :math:`p_{y}` is floored at the dtype's ``eps``, as scikit-learn
    does, so a certain miss costs ``-log(eps)`` (36.04 in float64) rather than
    inf, and a certain hit costs exactly 0. Only :math:`p_y` is read after the
    checks, so it costs one matvec, one ``min`` and ``n`` logs.

    References: Good (1952), J. R. Stat. Soc. B 14(1); Gneiting & Raftery (2007).

    >>> import numpy as np
    >>> round(float(log_loss(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([0, 1]))), 6)  # -(log .9 + log .8)/2
    0.164252
    >>> round(float(log_loss(np.array([0.9, 0.2]), np.array(["y", "n"]), labels=np.array(["n", "y"]))), 6)
    0.164252
    """
    if labels is None and weight is None and reduction in ("mean", "sum") and _host(probs):
        # plain float64 NumPy input: one compiled pass (None when the kernel or the input does not fit)
        total = log_loss_sum(
            *_plain_arrays(probs, target), _EPS64, row_sum_tolerance(np, np.float64, np.shape(probs)[-1])
        )
        if total is not None:
            return np.float64(total * (1.0 / np.shape(probs)[0]) if reduction == "mean" else total)
    S = Scored(probs, target, weight, labels)
    xp = S.xp
    eps = float_eps(xp, S.p.dtype)
    pt = xp.maximum(S.p_true(), xp.asarray(eps, dtype=S.p.dtype))
    c = S.coefficients(reduction)
    if c is None or is_scalar(c):  # unweighted "sum"/"mean": fewer logs
        out = 0.0 - sum_log(xp, pt, eps) if reduction != "none" else 0.0 - xp.log(pt)  # 0.0 - : no -0.0
        out = out if c is None else out * c
        if reduction == "none" and out.dtype != S.out_dtype:
            out = xp.astype(out, S.out_dtype)
    else:
        out = reduce(xp, 0.0 - xp.log(pt), c, reduction, S.out_dtype)
    return finalize(xp, out, lambda: overflow_error("log loss", S.out_dtype))


def log_loss_grad(
    probs: Any, target: Any, *, labels: Any = None, reduction: Reduction = "mean", weight: Any = None
) -> Any:
    r"""Gradient of :func:`log_loss` w.r.t. ``probs``: :math:`-1/p_{i,y_i}` at the true class, 0 elsewhere.

    Binary 1-d input: :math:`-1/p` where the label is 1 and :math:`1/(1-p)` where it is 0.

    >>> import numpy as np
    >>> log_loss_grad(np.array([[0.5, 0.5]]), np.array([1])).tolist()
    [[0.0, -2.0]]
    """
    S = Scored(probs, target, weight, labels)
    xp = S.xp
    eps = float_eps(xp, S.p.dtype)
    pt = S.p_true()
    inv = xp.where(pt >= eps, -1.0 / xp.maximum(pt, xp.asarray(eps, dtype=pt.dtype)), xp.zeros_like(pt))
    c = S.coefficients(reduction)
    if S.binary:
        g = xp.where(S.y == 1, inv, -inv)
        return finalize(xp, scale_grad(xp, g, c, S.out_dtype), lambda: None, traced=None)
    g = xp.where(S.onehot() > 0, xp.expand_dims(inv, axis=-1), xp.zeros_like(S.p))
    return finalize(xp, scale_grad(xp, g, c, S.out_dtype, axis=-1), lambda: None, traced=None)


# --------------------------------------------------------------------- Brier
#   binary:     l = (p - y)^2                   dl/dp = 2 (p - y)
#   multiclass: l = sum_c (p_c - [y = c])^2     dl/dp = 2 (p - onehot(y))
def brier_score(
    probs: Any, target: Any, *, labels: Any = None, reduction: Reduction = "mean", weight: Any = None
) -> Any:
    r"""Brier score, the mean squared error of predicted probabilities (a proper scoring rule).

    Binary (``probs`` 1-d, probability of class 1): :math:`(p - y)^2`, in
    [0, 1], as ``sklearn.metrics.brier_score_loss``. Multiclass (``probs``
    (n, C)): Brier's original :math:`\sum_c (p_c - \mathbb 1[y = c])^2`, in
    [0, 2]. For a binary problem given as two columns the multiclass form is
    exactly twice the 1-d one. Inputs are checked as in :func:`log_loss`.

    References: Brier (1950), Monthly Weather Review 78(1); Murphy (1973).

    >>> import numpy as np
    >>> float(brier_score(np.array([0.9, 0.2]), np.array([1, 0])))  # (0.01 + 0.04) / 2
    0.025
    >>> round(float(brier_score(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 0]))), 12)
    0.05
    """
    if labels is None and weight is None and reduction in ("mean", "sum") and _host(probs) and np.ndim(probs) == 2:
        # plain float64 NumPy input: one compiled pass (None when the kernel or the input does not fit)
        total = brier_sum(*_plain_arrays(probs, target), row_sum_tolerance(np, np.float64, np.shape(probs)[-1]))
        if total is not None:
            return np.float64(total * (1.0 / np.shape(probs)[0]) if reduction == "mean" else total)
    S = Scored(probs, target, weight, labels)
    xp = S.xp
    if S.binary:
        r = S.p - xp.astype(S.y, S.p.dtype)
        values = r * r
    else:
        # sum_c p_c^2 - 2 p_y + 1, without forming the one-hot matrix.
        values = xp.sum(S.p * S.p, axis=-1) - 2.0 * S.p_true() + 1.0
        values = xp.maximum(values, xp.zeros_like(values))
    out = reduce(xp, values, S.coefficients(reduction), reduction, S.out_dtype)
    return finalize(xp, out, lambda: overflow_error("Brier score", S.out_dtype))


def brier_score_grad(
    probs: Any, target: Any, *, labels: Any = None, reduction: Reduction = "mean", weight: Any = None
) -> Any:
    r"""Gradient of :func:`brier_score` w.r.t. ``probs``: :math:`2(p - \mathrm{onehot}(y))`.

    >>> import numpy as np
    >>> brier_score_grad(np.array([0.9, 0.2]), np.array([1, 0]), reduction="sum").round(6).tolist()
    [-0.2, 0.4]
    """
    S = Scored(probs, target, weight, labels)
    xp = S.xp
    c = S.coefficients(reduction)
    if S.binary:
        g = 2.0 * (S.p - xp.astype(S.y, S.p.dtype))
        return scale_grad(xp, g, c, S.out_dtype)
    return scale_grad(xp, 2.0 * (S.p - S.onehot()), c, S.out_dtype, axis=-1)
