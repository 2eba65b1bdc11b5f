"""The one reduction mechanism: per-element coefficients ``c``.

Every loss computes its per-element (or per-sample) values ``l`` and asks
:func:`coefficients` for ``c`` such that

* ``reduction="sum"``:  result = sum(c * l), with c = w (or 1),
* ``reduction="mean"``: result = sum(c * l), with c = w / sum(w) (or 1/n),
* ``reduction="none"``: result = c * l, with c = w (or 1).

Its gradient is then ``c * dl`` where ``dl`` is the per-element derivative,
so the loss and its gradient cannot disagree about weights, ignored targets
or denominators. ``"none"`` returns the weighted per-element losses, and its
gradient is that of their sum.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._array import is_concrete, numel, prod, quiet
from ._checks import traced_check, wants_traced
from ._kinds import is_numpy, is_torch
from ._validation import check_reduction, dtype_name, fmt, position, value_at

Coefficient = Any  # None (meaning 1), a Python float, or an array broadcastable to the loss


def is_scalar(c: Coefficient) -> bool:
    """A coefficient shared by every element: a float, or a 0-d array (``1 / n`` while
    ``torch.jit.trace`` records shapes as tensors)."""
    return isinstance(c, float) or (c is not None and getattr(c, "ndim", None) == 0)


def prepare_weight(xp: Any, weight: Any, loss_shape: tuple[int, ...], dtype: Any) -> Any:
    """Validate per-sample weights and shape them to broadcast against the loss.

    ``weight`` must have the loss's shape (one weight per loss element) or
    ``(n,)`` where ``n`` is the loss's leading dimension (one weight per sample,
    shared by the sample's elements). Anything else is an error, never a
    silent broadcast. Weights must be finite and non-negative.
    """
    if weight is None:
        return None
    if not xp.isdtype(weight.dtype, ("real floating", "integral", "bool")):
        raise TypeError(f"`weight` must hold real numbers; got dtype {weight.dtype}")
    loss_shape = tuple(loss_shape)
    per_sample = False
    if tuple(weight.shape) != loss_shape:
        per_sample = weight.ndim == 1 and len(loss_shape) > 1 and weight.shape[0] == loss_shape[0]
        if not per_sample:
            hint = f" or ({loss_shape[0]},) (one per sample)" if len(loss_shape) > 1 else ""
            raise ValueError(
                f"`weight` must have shape {loss_shape} (one per loss element){hint}; got {tuple(weight.shape)}"
            )
    w = xp.astype(weight, dtype) if weight.dtype != dtype else weight
    if not is_concrete(w):
        if wants_traced(w) and numel(w):
            traced_check(xp, (w >= 0) & (w < float("inf")), "`weight` must be finite and non-negative")
    elif numel(w):
        if w.dtype != weight.dtype and xp.isdtype(weight.dtype, "real floating"):
            _check_cast(xp, weight, w)
        # Checked in the shape the caller gave, so that the index is one of theirs.
        bad = ~((w >= 0) & (w < float("inf")))
        if bool(xp.any(bad)):
            pos = position(xp, bad)
            raise ValueError(f"`weight` must be finite and non-negative; got {value_at(w, pos)!r} at index {fmt(pos)}")
    if per_sample:
        w = xp.reshape(w, (loss_shape[0],) + (1,) * (len(loss_shape) - 1))
    return w


def _check_cast(xp: Any, weight: Any, w: Any) -> None:
    """Refuse weights that the cast to the loss's (narrower) dtype sent to 0 or to infinity."""
    lost = ((weight > 0) & (w == 0)) | ((weight < float("inf")) & (w == float("inf")))
    if bool(xp.any(lost)):
        pos = position(xp, lost)
        v = value_at(weight, pos)
        what = "underflows to 0" if value_at(w, pos) == 0 else "overflows to inf"
        raise ValueError(
            f"`weight` holds {v!r} at index {fmt(pos)}, which {what} in {dtype_name(w.dtype)} (the loss's "
            f"dtype); rescale the weights (under reduction='mean' only their ratios matter) or compute in float64"
        )


def coefficients(
    xp: Any,
    loss_shape: tuple[int, ...],
    reduction: str,
    weight: Any = None,
    *,
    total: Any = None,
    zero_total: str = "the total `weight` is 0",
) -> Coefficient:
    """The coefficients ``c`` described in the module docstring.

    ``total`` overrides the denominator of ``"mean"``: an array whose sum is
    the denominator (cross-entropy with class weights divides by the summed
    weights of the target classes, ``w_i * class_weight[y_i]``).

    Weights whose sum overflows (three weights of 1e308) are divided by their
    largest first, which leaves every ratio ``w_i / sum(w)`` as it was: the
    weighted mean of equal huge weights is the unweighted mean, not 0. This
    runs only while values are readable (an overflowed total is rare, and a
    branch on it would break a compiled graph).
    """
    check_reduction(reduction)
    if reduction != "mean":
        return weight
    n = prod(tuple(loss_shape))
    if weight is None and total is None:
        if n == 0:
            raise ValueError(
                f"the input is empty (loss shape {tuple(loss_shape)}); the mean of no "
                f"elements is undefined: use reduction='sum' or pass data"
            )
        return 1.0 / n
    parts, repeat = (weight, n // numel(weight) if numel(weight) else 0) if total is None else (total, 1)
    with quiet(xp):  # an overflowing sum is handled below, without NumPy's warning
        total = xp.sum(parts) * repeat
    if not is_concrete(total):
        if wants_traced(total):
            traced_check(xp, total > 0, f"{zero_total} under reduction='mean', so the mean is undefined")
    elif not bool(total > 0):
        raise ValueError(
            f"{zero_total} under reduction='mean', so the mean is undefined; "
            f"use reduction='sum' or give some samples positive weight"
        )
    elif not bool(total < float("inf")):  # the weights are finite (checked), their sum overflowed
        scale = xp.max(parts)
        return (1.0 / scale if weight is None else weight / scale) / (xp.sum(parts / scale) * repeat)
    return (1.0 if weight is None else weight) / total


def reduce(xp: Any, loss: Any, c: Coefficient, reduction: str, out_dtype: Any) -> Any:
    """Apply ``c`` and reduce.

    Reduced results stay in the compute dtype (float32 for half-precision
    inputs, so a float16 sum beyond 65504 stays finite); ``"none"`` returns
    the input's dtype.
    """
    if reduction != "none" and is_scalar(c):
        return xp.sum(loss) * c  # unweighted mean: scale the sum, not every element
    if c is not None:
        loss = loss * c
    if reduction == "none":
        return xp.astype(loss, out_dtype) if loss.dtype != out_dtype else loss
    return xp.sum(loss)


def scale_grad(
    xp: Any, dl: Any, c: Coefficient, out_dtype: Any, *, axis: int | None = None, inplace: bool = False
) -> Any:
    """Gradient of the reduced loss: ``c * dl``, with ``c`` expanded along ``axis`` if given.

    ``inplace=True`` lets NumPy, and PyTorch outside autograd, scale ``dl`` in
    its own buffer (the caller owns it): no second array as large as the
    logits, whose fresh pages alone cost more than the multiplication.
    """
    if c is not None:
        if axis is not None and not is_scalar(c):
            c = xp.expand_dims(c, axis=axis)
        same = isinstance(c, float) or (not is_scalar(c) and c.dtype == dl.dtype)
        if inplace and same and is_numpy(dl):
            dl = np.multiply(dl, c, out=dl)
        elif inplace and same and is_torch(dl) and not dl.requires_grad:
            dl = dl.mul_(c)
        else:
            dl = dl * c
    return xp.astype(dl, out_dtype) if dl.dtype != out_dtype else dl
