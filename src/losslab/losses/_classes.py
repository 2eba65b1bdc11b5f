"""Logits with a class axis, and their target resolved against them: what every categorical loss shares.

:class:`Classes` moves the class axis last, casts to the compute dtype,
checks the target (class indices or probability rows), the class weights and
``ignore_index``, and diagnoses a non-finite result; :func:`_coefficients`
turns sample weights, the ignore mask and class weights into the one
reduction mechanism's coefficients.
"""

from __future__ import annotations

import math

from .._array import as_arrays, compute_dtype, is_concrete, moveaxis, numel, quiet, to_float
from .._checks import traced_check, wants_traced
from .._options import as_float
from .._reduction import coefficients, prepare_weight
from .._validation import (
    check_axis,
    check_index_cast,
    check_int,
    check_range,
    check_row_sums,
    first_error,
    fmt,
    lost_in_cast,
    nonfinite_error,
    overflow_error,
    position,
    row_sum_tolerance,
)


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


def _label_range(name: str, C: int, ignore_index: int | None) -> str:
    extra = "" if ignore_index is None else f" or ignore_index={ignore_index}"
    return f"`{name}` must hold class indices in [0, {C - 1}]{extra}"


class Classes:
    """Logits moved to a trailing class axis, and the target resolved against them."""

    __slots__ = ("xp", "z", "target", "hard", "mask", "cw", "out_dtype", "axis", "C", "weight")

    def __init__(
        self,
        logits,
        target,
        weight=None,
        class_weight=None,
        ignore_index=None,
        axis=-1,
        names=("logits", "target"),
        target_optional=False,
    ):
        if ignore_index is not None:
            ignore_index = check_int("ignore_index", ignore_index)
        xp, z, t, w, cw = as_arrays(
            logits,
            target,
            weight,
            class_weight,
            names=(*names, "weight", "class_weight"),
            required=1 if target_optional else 2,
        )
        z = to_float(xp, z, names[0])
        self.out_dtype = z.dtype
        cdt = compute_dtype(xp, z.dtype)
        if z.ndim == 0:
            raise ValueError(f"`{names[0]}` must have a class axis; got a 0-d array")
        axis = check_axis(axis, z.ndim, names[0])
        self.axis = axis % z.ndim
        z = moveaxis(xp, z, self.axis, -1) if self.axis != z.ndim - 1 else z
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
            index = xp.__array_namespace_info__().default_dtypes(device=getattr(t, "device", None))["indexing"]
            check_index_cast(xp, t, index, C, _label_range(names[1], C, ignore_index), ignore_index)
            t = _as_indices(xp, t)
            valid = None if ignore_index is None else t != ignore_index
            concrete = is_concrete(t)
            if numel(t) and (concrete or wants_traced(t)):
                bad = (t < 0) | (t >= C)
                if valid is not None:
                    bad = bad & valid
                if not concrete:
                    traced_check(xp, ~bad, _label_range(names[1], C, ignore_index))
                elif bool(xp.any(bad)):
                    pos = position(xp, bad)
                    got = f"got {int(t[pos])} at index {fmt(pos)}"
                    raise ValueError(f"{_label_range(names[1], C, ignore_index)}; {got}")
            if valid is not None and concrete and numel(t) and bool(xp.all(valid)):
                valid = None  # eager and nothing to ignore (torch's -100 default): the plain path
            if valid is not None:
                t = xp.where(valid, t, xp.zeros_like(t))
                self.mask = xp.astype(valid, cdt)
                # Ignored rows enter the arithmetic as zeros, so that whatever they hold (-inf, NaN)
                # autograd sends them exactly 0 (a NaN row's softmax times 0 would be NaN).
                self.z = xp.where(xp.expand_dims(valid, axis=-1), self.z, xp.zeros_like(self.z))
        elif xp.isdtype(t.dtype, "real floating"):
            if tuple(t.shape) == batch:
                raise TypeError(
                    f"`{names[1]}` has a floating dtype ({t.dtype}) but the shape of class indices "
                    f"{batch}: cast it to an integer dtype, or pass class probabilities of shape "
                    f"{tuple(moveaxis(xp, self.z, -1, self.axis).shape)}"
                )
            if t.ndim != z.ndim or tuple(moveaxis(xp, t, self.axis, -1).shape) != tuple(z.shape):
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
            t = moveaxis(xp, t, self.axis, -1) if self.axis != z.ndim - 1 else t
            t = xp.astype(t, cdt) if t.dtype != cdt else t
        else:
            raise TypeError(f"`{names[1]}` must hold class indices or probabilities; got dtype {t.dtype}")
        self.target = t
        if cw is not None:
            if tuple(cw.shape) != (C,):
                raise ValueError(f"`class_weight` must have shape ({C},) (one per class); got {tuple(cw.shape)}")
            given = to_float(xp, cw, "class_weight")
            with quiet(xp):  # 1e300 to float32: refused below, without NumPy's warning first
                cw = xp.astype(given, cdt) if given.dtype != cdt else given
            if cw is not given and is_concrete(given, cw):
                lost = lost_in_cast(xp, "class_weight", given, cw, "the loss's dtype")
                if lost is not None:
                    raise lost
            # Concreteness of the derived mask, not of ``cw``: a concrete array closed
            # over by a jitted function still yields tracers inside the trace.
            bad = ~((cw >= 0) & (cw < math.inf))
            if not is_concrete(bad):
                if wants_traced(bad):
                    traced_check(xp, ~bad, "`class_weight` must be finite and non-negative")
            elif bool(xp.any(bad)):
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
        return x if self.axis == x.ndim - 1 else moveaxis(self.xp, x, -1, self.axis)

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
                if as_float(alpha) > 0 and bool(xp.any(neg)):
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
        total = wy if w is None else wy * w  # summed by ``coefficients``
    if K.cw is not None and K.hard:
        zero = "the summed class weights of the targets are 0"
    else:
        zero = "the total weight is 0"
    if reduction == "mean" and K.mask is not None and is_concrete(K.mask) and not bool(xp.any(K.mask > 0)):
        zero = "every target is `ignore_index`"
    return coefficients(xp, batch, reduction, w, total=total, zero_total=zero)
