"""Argument checks and error messages, in one place.

Every message names the argument, says what is wrong (with the offending
value or position) and how to fix it, in the style of scikit-learn:
"`quantile` must be in (0, 1); got 1.5".

Whole-array value checks are kept off the hot path: losses compute first and
only when the result is not finite do they call :func:`finalize`'s diagnosis,
which then scans the inputs to say which entry was at fault. Checks on small
arrays (per-sample weights, class indices) run up front.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

from ._array import is_concrete, numel
from ._checks import traced_check, wants_traced
from ._types import Reduction

REDUCTIONS = ("mean", "sum", "none")


# ------------------------------------------------------------ scalar options
def check_reduction(reduction: Any) -> Reduction:
    if reduction not in REDUCTIONS:
        raise ValueError(f"`reduction` must be one of 'mean', 'sum' or 'none'; got {reduction!r}")
    return reduction


def _real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number; got {type(value).__name__} {value!r}")
    try:
        value = float(value)
    except OverflowError:  # an int beyond float range
        value = math.inf if value > 0 else -math.inf
    if math.isnan(value):
        raise ValueError(f"`{name}` must be a number; got nan")
    return value


def check_positive(name: str, value: Any) -> float:
    """A strictly positive, finite scalar option (delta, temperature, ...)."""
    v = _real(name, value)
    if not (0.0 < v < math.inf):
        raise ValueError(f"`{name}` must be positive and finite; got {value!r}")
    return v


def check_open_unit(name: str, value: Any) -> float:
    """A scalar in the open interval (0, 1) (a quantile)."""
    v = _real(name, value)
    if not 0.0 < v < 1.0:
        raise ValueError(f"`{name}` must be in (0, 1); got {value!r}")
    return v


def check_half_open_unit(name: str, value: Any, *, below: str = "", above: str = "") -> float:
    """A scalar in (0, 1] (GCE's ``q``); ``below`` / ``above`` say what to use instead on either side."""
    v = _real(name, value)
    if not 0.0 < v <= 1.0:
        fix = below if v <= 0.0 else above
        raise ValueError(f"`{name}` must be in (0, 1]; got {value!r}" + (f": {fix}" if fix else ""))
    return v


def check_closed_unit(name: str, value: Any) -> float:
    """A scalar in [0, 1] (label smoothing, mixing weights)."""
    v = _real(name, value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"`{name}` must be in [0, 1]; got {value!r}")
    return v


def check_int(name: str, value: Any) -> int:
    """An integer option (``axis``, ``ignore_index``): Python and NumPy integers, never a bool or a string."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int; got {type(value).__name__} {value!r}")
    return int(value)


def check_axis(axis: Any, ndim: int, array_name: str) -> int:
    """The class axis of an ``ndim``-d array, as an int in [-ndim, ndim - 1]."""
    axis = check_int("axis", axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"`axis` must be in [-{ndim}, {ndim - 1}] for {ndim}-d `{array_name}`; got {axis}")
    return axis


# ------------------------------------------------------------------- shapes
def check_same_shape(a_name: str, a: Any, b_name: str, b: Any, hint: str = "") -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"`{b_name}` must have the shape of `{a_name}` {tuple(a.shape)}; got {tuple(b.shape)}"
            + (f". {hint}" if hint else "; losslab never broadcasts the two silently")
        )


def check_nonempty(name: str, x: Any) -> None:
    if any(d == 0 for d in x.shape):
        raise ValueError(f"`{name}` is empty (shape {tuple(x.shape)}); a loss over no elements is undefined")


def check_floating(name: str, xp: Any, x: Any, fix: str) -> None:
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"`{name}` must be a floating-point array; got dtype {x.dtype}. {fix}")


# -------------------------------------------------------------------- values
def position(xp: Any, mask: Any) -> tuple[int, ...]:
    """Index of the first True entry of a concrete boolean array (``()`` for a 0-d one)."""
    if mask.ndim == 0:  # ``nonzero`` refuses 0-d arrays
        return ()
    idx = xp.nonzero(mask)
    return tuple(int(i[0]) for i in idx)


def fmt(pos: tuple[int, ...]) -> str:
    """An index for a message: ``3`` for 1-d, ``(1, 2)`` for n-d, ``()`` for a 0-d array."""
    return str(pos[0]) if len(pos) == 1 else str(pos)


def value_at(x: Any, pos: tuple[int, ...]) -> float:
    v = x[pos] if pos else x
    return float(v.detach() if hasattr(v, "detach") else v)  # detach: no autograd warning from torch


def lost_in_cast(
    xp: Any, name: str, before: Any, after: Any, whose: str, *, at_index: bool = True, magnitudes: bool = True
) -> ValueError | None:
    """A ValueError when casting ``before`` to ``after``'s narrower dtype lost a value, else None.

    A finite entry that became infinite (1e300 in float32) is always refused; for ``magnitudes``
    (weights) so is a non-zero one that became 0 (1e-50 in float32), where any other value may
    round to 0. ``whose`` says whose dtype it is ("the inputs' dtype"). Without the check the
    caller would read "the total weight is 0" or "`weight` must be finite; got inf", about values
    they never wrote.
    """
    lost = (xp.abs(before) < math.inf) & (xp.abs(after) == math.inf)
    if magnitudes:
        lost = lost | ((before != 0) & (after == 0))
    if not bool(xp.any(lost)):
        return None
    pos = position(xp, lost)
    what = "underflows to 0" if value_at(after, pos) == 0 else "overflows to inf"
    at = f" at index {fmt(pos)}" if at_index and pos else ""
    fix = "rescale the weights (under reduction='mean' only their ratios matter)" if magnitudes else "rescale it"
    return ValueError(
        f"`{name}` holds {value_at(before, pos)!r}{at}, which {what} in {dtype_name(after.dtype)} ({whose}); "
        f"{fix} or compute in float64"
    )


def label_at(x: Any, pos: tuple[int, ...]) -> str:
    """The label at ``pos`` as the caller gave it, for a message: ``3``, ``18446744073709551615``,
    ``1e+300``; never through a cast to the index dtype, which wraps (uint64 2**63 became
    -9223372036854775808) or, from a float, warns and saturates."""
    v = x[pos] if pos else x
    v = v.detach() if hasattr(v, "detach") else v
    v = v.item() if hasattr(v, "item") else v
    return repr(v) if isinstance(v, float) else str(int(v))


def check_index_cast(xp: Any, t: Any, index: Any, num_classes: int, what: str, ignore_index: int | None = None) -> None:
    """Refuse integer labels that the cast to the index dtype ``index`` would wrap, before that cast.

    Only unsigned dtypes as wide as ``index`` can wrap (uint64 into int64; uint32 into JAX's
    32-bit int32); their values are compared in their own dtype, where ``num_classes`` fits, and
    the first one that is not a class index is reported as given. ``what`` starts the message
    ("`target` must hold class indices in [0, 2]"); a non-negative ``ignore_index`` is let through
    (a negative one matches no unsigned value, which is what the wrap would have broken).
    """
    if not xp.isdtype(t.dtype, "unsigned integer") or xp.iinfo(t.dtype).bits < xp.iinfo(index).bits:
        return
    if not numel(t) or not is_concrete(t):
        return  # a traced check runs on the cast values, which are then at worst negative: still refused
    bad = t >= num_classes
    if ignore_index is not None and ignore_index >= 0:
        bad = bad & (t != ignore_index)
    if bool(xp.any(bad)):
        pos = position(xp, bad)
        raise ValueError(f"{what}; got {label_at(t, pos)} at index {fmt(pos)}")


def nonfinite_error(xp: Any, name: str, x: Any, *, allow_neg_inf: bool = False) -> ValueError | None:
    """A ValueError naming the first NaN or infinity of ``x``, or None."""
    if x is None or not xp.isdtype(x.dtype, "real floating"):
        return None
    bad = xp.isnan(x) | (x == math.inf)
    if not allow_neg_inf:
        bad = bad | (x == -math.inf)
    if not bool(xp.any(bad)):
        return None
    pos = position(xp, bad)
    v = value_at(x, pos)
    what = "NaN" if math.isnan(v) else repr(v)
    return ValueError(
        f"`{name}` contains {what} at index {fmt(pos)}; the loss is undefined there: "
        f"drop or impute non-finite entries first"
    )


def range_error(xp: Any, name: str, x: Any, low: float, high: float, what: str = "probabilities") -> ValueError | None:
    """A ValueError naming the first entry outside [low, high] (NaN included), or None."""
    bad = ~((x >= low) & (x <= high))
    if not bool(xp.any(bad)):
        return None
    pos = position(xp, bad)
    return ValueError(f"`{name}` must hold {what} in [{low:g}, {high:g}]; got {value_at(x, pos)!r} at index {fmt(pos)}")


def check_range(
    xp: Any, name: str, x: Any, low: float, high: float, what: str = "probabilities", *, check_max: bool = True
) -> None:
    """Cheap up-front range check: one min (and one max); the scan runs only on failure.

    NaN fails both comparisons, so it is reported here too. Under a JAX trace
    in "always" mode it is a ``checkify`` check (see :mod:`losslab._checks`).
    """
    if not is_concrete(x):
        if wants_traced(x) and numel(x):
            ok = (x >= low) & (x <= high) if check_max else x >= low
            traced_check(xp, ok, f"`{name}` must hold {what} in [{low:g}, {high:g}]")
        return
    if numel(x) == 0:
        return
    ok = bool(xp.min(x) >= low)
    if ok and check_max:
        ok = bool(xp.max(x) <= high)
    if not ok:
        err = range_error(xp, name, x, low, high, what)
        if err is not None:
            raise err


def row_sum_tolerance(xp: Any, dtype: Any, num_classes: int) -> float:
    """How far a probability row may sum from 1: rounding of ``num_classes`` stored values.

    At least 1e-4 absolute, so that probabilities written with 6 decimals pass;
    float16/bfloat16 rows get ``8 * C * eps`` of their own dtype.
    """
    return max(1e-4, 8.0 * num_classes * float(xp.finfo(dtype).eps))


def check_row_sums(xp: Any, name: str, sums: Any, tol: float) -> None:
    """``sums`` are row sums already computed by the caller (folded into its work)."""
    if not is_concrete(sums):
        if wants_traced(sums) and numel(sums):
            traced_check(xp, xp.abs(sums - 1.0) <= tol, f"`{name}` rows must sum to 1 (within {tol:.1g})")
        return
    if numel(sums) == 0:
        return
    if bool(xp.min(sums) >= 1.0 - tol) and bool(xp.max(sums) <= 1.0 + tol):
        return
    bad = ~(xp.abs(sums - 1.0) <= tol)
    if bool(xp.any(bad)):
        pos = position(xp, bad)
        raise ValueError(
            f"`{name}` rows must sum to 1 (within {tol:.1g}); row {fmt(pos)} sums to "
            f"{value_at(sums, pos)!r}. Normalise the rows, or pass logits to the loss's logits form"
        )


def finalize(xp: Any, result: Any, diagnose: Callable[[], Exception | None], *, traced: str | None = "loss") -> Any:
    """Return ``result``, or raise the diagnosis when it is not finite.

    This is how value checks are folded into the computation: NaN and inf in
    the inputs propagate into the result, so one check on the (usually much
    smaller) result replaces a scan of every input. Only on failure are the
    inputs scanned, to name the culprit. ``diagnose`` returns None when a
    non-finite result is the mathematically right answer (KL with q = 0
    where p > 0 is +inf); then the result is returned as it is.

    Under a JAX trace in "always" mode the inputs cannot be scanned, so a
    ``checkify`` check that the result is finite stands in for the diagnosis;
    ``traced`` names the result in its message (``None``: no traced check, for
    results that may rightly be infinite).
    """
    if not is_concrete(result):
        if traced is not None and wants_traced(result):
            traced_check(
                xp,
                xp.isfinite(result),
                f"the {traced} is not finite: an input holds NaN/inf or is out of its domain",
            )
        return result
    if bool(xp.all(xp.isfinite(result))):
        return result
    err = diagnose()
    if err is not None:
        raise err
    return result


def dtype_name(dtype: Any) -> str:
    """'float32' for numpy.float32, torch.float32 and jax's float32 alike."""
    return str(dtype).rsplit(".", 1)[-1]


def overflow_error(name: str, dtype: Any) -> ValueError:
    dt = dtype_name(dtype)
    fix = "rescale the inputs" if dt == "float64" else "rescale the inputs or compute in float64"
    return ValueError(f"the {name} overflowed {dt} although every input is finite; {fix}")


def first_error(*candidates: Callable[[], Exception | None]) -> Exception | None:
    """Run diagnosis steps in order and return the first error found."""
    for c in candidates:
        err = c()
        if err is not None:
            return err
    return None
