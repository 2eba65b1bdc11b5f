"""Options and inputs of the calibration metrics: validated input reduced to binary calibration tasks.

:class:`_Tasks` turns ``(probs, target, weight)`` into T binary tasks of
(confidence, outcome) pairs for a ``kind``; the options (``n_bins`` with its
memory check, ``binning``, ``norm``, ``kind``) are checked here for every
metric, the bootstrap and :class:`~losslab.calibration.CalibrationState`.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .._reduction import prepare_weight
from .._validation import row_sum_tolerance
from ..losses.scoring import Scored
from ._guards import check_bin_memory, refuse_masked, weight_exponent

__all__ = ["BINNINGS", "KINDS", "NORMS"]

BINNINGS = ("uniform", "quantile")
NORMS = ("l1", "l2", "max")
KINDS = ("top-label", "classwise", "binary")


# ------------------------------------------------------------------ options
def _check_n_bins(n_bins: Any) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, numbers.Integral) or n_bins < 1:
        raise ValueError(f"`n_bins` must be a positive integer; got {n_bins!r}")
    return int(n_bins)


def _n_tasks(probs: Any, kind: str) -> int:
    """The binary tasks ``kind`` makes of ``probs`` (read from its shape only)."""
    shape = np.shape(probs)
    if kind != "classwise":
        return 1
    return int(shape[1]) if len(shape) == 2 else 2


def _check_bin_memory(n_bins: int, tasks: int, what: str, *, brier: int = 0, groups: int = 0) -> None:
    """Refuse ``n_bins`` whose per-bin arrays would exceed the limit: about ten float64 per bin and task at the
    peak of a call (the three sums, their stacked copy, the error's temporaries), seven per Brier task, three
    per task and bootstrap group."""
    check_bin_memory(n_bins, 10 * tasks + 3 + 7 * brier + 3 * tasks * groups, what)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        opts = ", ".join(repr(c) for c in choices[:-1]) + f" or {choices[-1]!r}"
        raise ValueError(f"`{name}` must be one of {opts}; got {value!r}")
    return value


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False; got {value!r}")
    return bool(value)


# ------------------------------------------------------------------- inputs
class _Tasks:
    """Validated input reduced to T binary calibration tasks of (confidence, outcome) pairs.

    ``conf`` and ``outcome`` have shape (n, T); ``w`` (n,) float64 (ones when unweighted), divided by
    ``2**wexp`` when ``rescale`` and the weights are huge or tiny (:func:`._guards.weight_exponent`).
    """

    __slots__ = ("conf", "outcome", "w", "unit", "n", "num_classes", "binary", "wexp")

    def __init__(self, probs, target, weight, kind, rescale=True):
        refuse_masked(probs=probs, target=target, weight=weight)
        self.unit = weight is None
        self.wexp = 0  # the weights need dividing by 2**wexp (huge or tiny); done when ``rescale``
        if kind == "top-label" and weight is None and _top_label_fast(self, probs, target):
            return
        S = Scored(np.asarray(probs), np.asarray(target), None if weight is None else np.asarray(weight), None)
        p = np.asarray(S.p, dtype=np.float64)
        y = np.asarray(S.y)
        n = p.shape[0]
        self.n, self.binary = n, S.binary
        self.num_classes = 2 if S.binary else p.shape[1]
        w = prepare_weight(np, S.weight, (n,), np.float64)
        if w is not None and (e := weight_exponent(np.asarray(w))):
            self.wexp = e
            if rescale:
                w = np.ldexp(w, -e)  # exact
        if w is None:
            w = np.broadcast_to(np.float64(1.0), (n,))  # read-only ones, no allocation
        elif not float(np.max(w)) > 0:  # not the sum: unscaled (``rescale=False``) it may overflow
            raise ValueError("the total `weight` is 0; give at least one sample a positive weight")
        self.w = np.asarray(w, dtype=np.float64)
        if kind == "binary":
            if not S.binary:
                raise ValueError(
                    f"`kind='binary'` needs 1-d `probs` (the probability of class 1); got shape {p.shape}. "
                    f"Use kind='top-label' or 'classwise', or pass probs[:, 1] for a two-class problem"
                )
            self.conf, self.outcome = p[:, None], (y == 1).astype(np.float64)[:, None]
            return
        if S.binary:
            p = np.stack([1.0 - p, p], axis=1)
        if kind == "top-label":  # 1-d binary input, or input the fast path does not take
            pred = np.argmax(p, axis=1)
            C = p.shape[1]
            self.conf = np.take(p.reshape(-1), np.arange(0, n * C, C) + pred)[:, None]  # flat gather: fast
            self.outcome = (pred == y).astype(np.float64)[:, None]
        else:  # classwise / one-vs-rest
            self.conf = p
            self.outcome = (y[:, None] == np.arange(p.shape[1])).astype(np.float64)


_BLOCK_ROWS = 4096  # rows per block of the top-label pass: block and its transpose stay in L2


def _top_label_fast(tasks, probs, target) -> bool:
    """Top-label confidences and correctness of a float64 (n, C) NumPy array in one blocked pass.

    Fills ``tasks`` and returns True, or returns False (touching nothing) when
    the input is not a C-contiguous float64 2-d ndarray with an integer 1-d
    target, or fails any of :class:`Scored`'s checks; the caller then takes
    the general path, whose :class:`Scored` raises the usual error.

    ``np.argmax`` and ``max`` over a short last axis run an inner loop per row
    (~24 ms for 1e6 x 10), so each block of rows is copied transposed to
    (C, rows) in cache, where the reductions over classes run as
    elementwise operations on whole rows: the same read serves the range
    check (one ``min``), the row sums (the matvec of :class:`Scored`), the
    confidence (max) and correctness. Correct is ``p[i, y_i] == max``; where a
    block holds a row with two classes at its maximum, that block takes
    ``argmax`` (first maximum), so ties follow ``np.argmax`` exactly.
    """
    if not (
        type(probs) is np.ndarray and type(target) is np.ndarray and probs.ndim == 2 and target.ndim == 1
        and probs.dtype == np.float64 and probs.flags.c_contiguous and target.dtype.kind in "iu"
        and 0 < target.shape[0] == probs.shape[0] and probs.shape[1] >= 2
    ):  # fmt: skip
        return False
    p, y = probs, target
    n, C = p.shape
    if not (int(y.min()) >= 0 and int(y.max()) < C):
        return False
    B = min(_BLOCK_ROWS, n)
    buf = np.empty((C, B))
    eqbuf = np.empty((C, B), dtype=bool)
    flat_eq = eqbuf.reshape(-1)
    ones = np.ones(C)
    conf = np.empty(n)
    correct = np.empty(n, dtype=bool)
    sums = np.empty(n)
    offsets = np.arange(B, dtype=np.intp)
    idx = np.empty(B, dtype=np.intp)
    low = np.inf
    for a in range(0, n, B):
        blk = p[a : a + B]
        k = blk.shape[0]
        t = buf if k == B else buf[:, :k]
        eq = eqbuf if k == B else eqbuf[:, :k]
        np.copyto(t, blk.T)
        low = min(low, float(t.min()))
        np.matmul(blk, ones, out=sums[a : a + k])
        m = conf[a : a + k]
        np.maximum.reduce(t, axis=0, out=m)
        np.equal(t, m, out=eq)
        yb = y[a : a + k]
        ix = idx[:k]
        # widen before multiplying: int16 or uint8 labels times the block size overflow in their own type
        np.copyto(ix, yb, casting="unsafe")
        ix *= B
        ix += offsets[:k]
        c = correct[a : a + k]
        np.take(flat_eq, ix, out=c)
        if np.count_nonzero(eq) > k:  # a row with tied maxima: first maximum, as np.argmax
            np.equal(np.argmax(blk, axis=1), yb, out=c)
    tol = row_sum_tolerance(np, np.float64, C)
    if not (low >= 0.0 and float(sums.min()) >= 1.0 - tol and float(sums.max()) <= 1.0 + tol):
        return False  # NaN fails too
    tasks.n, tasks.binary, tasks.num_classes = n, False, C
    tasks.w = np.broadcast_to(np.float64(1.0), (n,))
    tasks.conf, tasks.outcome = conf[:, None], correct[:, None]
    return True
