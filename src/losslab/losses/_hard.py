"""Helpers shared by the losses of hard class labels (focal, multiclass hinge, NLL) and their options.

``hard_classes`` is cross-entropy's :class:`~losslab.losses.categorical.Classes` for integer class
indices only, refusing probability targets with the way out; ``class_diagnosis`` names the reason
such a loss came out non-finite; ``check_at_least`` checks a real option bounded below (``gamma >= 0``,
``margin >= 0``, ``epsilon >= -1``), which :mod:`losslab._validation` has no helper for yet.
"""

from __future__ import annotations

import math
from typing import Any

from .._array import as_arrays
from .._validation import _real, first_error, nonfinite_error, overflow_error, position
from .categorical import Classes, _row


def check_at_least(name: str, value: Any, low: float, *, fix: str = "") -> float:
    """A finite real option ``>= low``; ``fix`` says what to do instead (shown after the value)."""
    v = _real(name, value)
    if not low <= v < math.inf:
        raise ValueError(f"`{name}` must be finite and >= {low:g}; got {value!r}" + (f": {fix}" if fix else ""))
    return v


def hard_classes(
    logits: Any,
    target: Any,
    weight: Any,
    class_weight: Any,
    ignore_index: int | None,
    axis: int,
    *,
    loss: str,
    fix: str,
    names: tuple[str, str] = ("logits", "target"),
) -> Classes:
    """:class:`Classes` for integer class indices only; floating targets are refused naming ``loss`` and ``fix``."""
    xp, _, t = as_arrays(logits, target, names=names, required=2)
    if t is not None and not xp.isdtype(t.dtype, ("integral", "bool")):
        what = "floating" if xp.isdtype(t.dtype, "real floating") else "non-integer"
        raise TypeError(
            f"`{names[1]}` must hold integer class indices; got a {what} dtype ({t.dtype}). The {loss} is "
            f"defined for hard labels: cast float-stored indices to an integer dtype, pass target.argmax(axis) "
            f"for one-hot rows, or {fix}"
        )
    return Classes(logits, target, weight, class_weight, ignore_index, axis, names=names)


def target_weight(K: Classes) -> Any:
    """class_weight[y] per sample, or None."""
    return None if K.cw is None else K.picked(K.xp.broadcast_to(K.cw, K.z.shape))


def drop_ignored(K: Classes, x: Any, expand: bool = False) -> Any:
    """``x`` with ignored samples set to exactly 0, whatever their inputs (NaN or all -inf rows)."""
    if K.mask is None:
        return x
    xp = K.xp
    keep = xp.expand_dims(K.mask, axis=-1) > 0 if expand else K.mask > 0
    return xp.where(keep, x, xp.zeros_like(x))


def class_diagnosis(K: Classes, loss: str, *, what: str = "logit", arg: str = "logits"):
    """Name the reason a hard-label loss came out non-finite: a NaN or +inf input, a row of only
    ``-inf``, a target class at ``-inf`` (probability or score 0 / -inf), else an overflow."""
    xp, z = K.xp, K.z

    def keep(hit):
        return hit if K.mask is None else hit & (K.mask > 0)

    def rows():
        all_neg = keep(xp.all(z == -math.inf, axis=-1))
        if bool(xp.any(all_neg)):
            pos = position(xp, all_neg)
            return ValueError(f"{_row(pos)} of `{arg}` is -inf for every class; no distribution remains")
        hit = keep(K.picked(xp.astype(z == -math.inf, z.dtype)) > 0)
        if bool(xp.any(hit)):
            pos = position(xp, hit)
            return ValueError(
                f"the target class {int(K.target[pos])} of {_row(pos, 'sample')} has {what} -inf, so its {loss} "
                f"is infinite; unmask the target class"
            )
        return None

    def nonfinite():
        bad = xp.isnan(z) | (z == math.inf)
        if K.mask is not None:  # ignored rows may hold anything
            bad = bad & (xp.expand_dims(K.mask, axis=-1) > 0)
        if not bool(xp.any(bad)):
            return None
        return nonfinite_error(xp, arg, K.caller_layout(xp.where(bad, z, xp.zeros_like(z))), allow_neg_inf=True)

    return first_error(nonfinite, rows, lambda: overflow_error(loss, K.out_dtype))
