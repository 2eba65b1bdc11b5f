"""Calibration metrics: ECE family, reliability curves, the Brier decomposition.

Everything is computed from per-bin sums of weight, confidence and correctness
(and, for the Brier decomposition, squared forecasts and forecast x outcome),
so one-shot functions, bootstrap resamples (:mod:`.bootstrap`) and the mergeable
:class:`~losslab.calibration.CalibrationState` (:mod:`.state`) share one code path.

Bin conventions
---------------
``binning="uniform"``: edges ``np.linspace(0, 1, B + 1)``; bin ``k`` is
``[edges[k], edges[k+1])`` and the LAST bin is closed ``[1 - 1/B, 1]``, so a
confidence of 0.0 falls in the first bin and 1.0 in the last. (torchmetrics
uses the same left-closed bins but puts 1.0 in an extra bin of its own, see
its issue 3510; gpleiss' temperature_scaling and scikit-learn's
``calibration_curve`` use right-closed ``(lo, hi]`` bins.)

``binning="quantile"``: interior edge ``k`` (``k = 1..B-1``) is the smallest
confidence whose cumulative (weighted) mass strictly exceeds ``k/B`` of the
total; outer edges are 0 and 1, bins as above. With ``n = m B`` distinct
confidences and equal weights every bin holds exactly ``m`` samples. Tied
confidences always share a bin, so bins can be empty or uneven. Integer
weights act exactly as repeating the sample.

Empty bins are skipped (their accuracy and mean confidence are NaN in a
:class:`ReliabilityCurve`); more bins than samples is fine.

Dask arrays go to :func:`ece`, :func:`reliability_curve` and
:func:`brier_decomposition` as they are (uniform bins): each block of rows is
summed into a :class:`CalibrationState` by Dask's scheduler and the states
merge, so an array larger than memory is never gathered.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._reduction import prepare_weight
from .._validation import row_sum_tolerance
from ..kernels.native import top_label_sums
from ..losses.scoring import Scored, brier_score
from ._dask import any_dask, dask_state

__all__ = [
    "BrierDecomposition",
    "ReliabilityCurve",
    "brier_decomposition",
    "ece",
    "reliability_curve",
]

BINNINGS = ("uniform", "quantile")
NORMS = ("l1", "l2", "max")
KINDS = ("top-label", "classwise", "binary")


# ------------------------------------------------------------------ options
def _check_n_bins(n_bins: Any) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, numbers.Integral) or n_bins < 1:
        raise ValueError(f"`n_bins` must be a positive integer; got {n_bins!r}")
    return int(n_bins)


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

    ``conf`` and ``outcome`` have shape (n, T); ``w`` (n,) float64 (ones when unweighted).
    """

    __slots__ = ("conf", "outcome", "w", "unit", "n", "num_classes", "binary")

    def __init__(self, probs, target, weight, kind):
        self.unit = weight is None
        if kind == "top-label" and weight is None and _top_label_fast(self, probs, target):
            return
        S = Scored(np.asarray(probs), np.asarray(target), None if weight is None else np.asarray(weight), None)
        p = np.asarray(S.p, dtype=np.float64)
        y = np.asarray(S.y)
        n = p.shape[0]
        self.n, self.binary = n, S.binary
        self.num_classes = 2 if S.binary else p.shape[1]
        w = prepare_weight(np, S.weight, (n,), np.float64)
        if w is None:
            w = np.broadcast_to(np.float64(1.0), (n,))  # read-only ones, no allocation
        elif not float(w.sum()) > 0:
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


# ------------------------------------------------------------------ binning
def _uniform_edges(n_bins: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, n_bins + 1)


def _quantile_edges(conf: np.ndarray, w: np.ndarray, n_bins: int) -> np.ndarray:
    """Edges (T, B+1): the smallest confidence whose cumulative weight exceeds k/B of the total."""
    T = conf.shape[1]
    edges = np.empty((T, n_bins + 1))
    edges[:, 0], edges[:, -1] = 0.0, 1.0
    for t in range(T):
        order = np.argsort(conf[:, t], kind="stable")
        cw = np.cumsum(w[order])
        levels = np.arange(1, n_bins) / n_bins * cw[-1]
        pos = np.minimum(np.searchsorted(cw, levels, side="right"), len(cw) - 1)
        edges[t, 1:-1] = conf[order[pos], t]
    return edges


def _uniform_bin_index(conf: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``searchsorted`` on uniform edges, exactly, at a third of its cost: ``floor(conf B)``
    is off by at most one next to an edge, so it is moved one bin down where the
    confidence is below its bin's left edge and one up where it reaches the right edge."""
    n_bins = edges.shape[0] - 1
    k = np.multiply(conf, n_bins)
    np.clip(k, 0, n_bins - 1, out=k)  # NaN-free input: validated probabilities
    k = k.astype(np.intp)
    right = np.append(edges[1:-1], np.inf)  # the last bin is closed
    k -= conf < edges[k]
    k += conf >= right[k]
    return k


def _bin_index(conf: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of every confidence: [edges[k], edges[k+1]), the last bin closed."""
    n_bins = edges.shape[-1] - 1
    if edges.ndim == 1:
        if conf.dtype == np.float64 and np.array_equal(edges, _uniform_edges(n_bins)):
            return _uniform_bin_index(conf, edges)
        return np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, n_bins - 1)
    out = np.empty(conf.shape, dtype=np.intp)
    for t in range(conf.shape[1]):
        out[:, t] = np.clip(np.searchsorted(edges[t], conf[:, t], side="right") - 1, 0, n_bins - 1)
    return out


def _binned(tasks: _Tasks, n_bins: int, binning: str):
    """Edges and flat bin keys ``t * B + b`` of shape (n, T)."""
    if binning == "uniform":
        edges = _uniform_edges(n_bins)
    else:
        edges = _quantile_edges(tasks.conf, tasks.w, n_bins)
    keys = _bin_index(tasks.conf, edges)
    if tasks.conf.shape[1] > 1:
        keys += np.arange(tasks.conf.shape[1]) * n_bins
    return edges, keys


def _sums(keys, w, conf, outcome, size, brier=False, unit=None):
    """Per-bin sums (size, 3) of w, w f, w o (and w f^2, w f o when ``brier``).

    ``unit``: True when ``w`` is known to be all ones (skips that check).
    """
    k = keys.ravel()
    f, o = conf.ravel(), outcome.ravel()
    if keys.shape[1] == 1 and not brier and (unit if unit is not None else bool(np.all(w == 1.0))):
        # unweighted top-label/binary: counts of bin and of (bin, correct) from one integer bincount
        if o.dtype == np.bool_:
            both = np.bincount(k * 2 + o, minlength=2 * size).reshape(size, 2)
            out = np.empty((size, 3))
            out[:, 0] = both.sum(axis=1)
            out[:, 1] = np.bincount(k, weights=f, minlength=size)
            out[:, 2] = both[:, 1]
            return out
        cols = [None, f, o]
    else:
        wb = np.broadcast_to(w[:, None], keys.shape).ravel()
        cols = [wb, wb * f, wb * o] + ([wb * f * f, wb * f * o] if brier else [])
    return np.stack([np.bincount(k, weights=c, minlength=size).astype(np.float64) for c in cols], axis=-1)


# -------------------------------------------------------- error from sums
def _ece_from_sums(s: np.ndarray, norm: str, debiased: bool) -> np.ndarray:
    """Calibration error from sums (..., T, B, >=3); averaged over the T tasks."""
    sw, swf, swo = s[..., 0], s[..., 1], s[..., 2]
    nonempty = sw > 0
    safe = np.where(nonempty, sw, 1.0)
    gap = np.where(nonempty, swo / safe - swf / safe, 0.0)
    mass = sw / sw.sum(axis=-1, keepdims=True)
    if norm == "l1":
        per_task = np.sum(mass * np.abs(gap), axis=-1)
    elif norm == "max":
        per_task = np.max(np.abs(gap), axis=-1)
    else:
        sq = gap * gap
        if debiased:
            acc = np.where(nonempty, swo / safe, 0.0)
            big = sw > 1
            sq = np.where(big, sq - acc * (1.0 - acc) / np.where(big, sw - 1.0, 1.0), 0.0)
        per_task = np.sqrt(np.maximum(np.sum(mass * sq, axis=-1), 0.0))
    return per_task.mean(axis=-1)


# ------------------------------------------------------------ reliability
@dataclass(frozen=True)
class ReliabilityCurve:
    """Per-bin statistics. Arrays have shape (B,), or (C, B) for ``kind='classwise'``.

    ``edges`` (B+1,) (or (C, B+1) for classwise quantile bins); ``counts`` is the
    summed weight per bin; ``mean_confidence`` and ``accuracy`` (the mean outcome)
    are NaN in empty bins.

    >>> import numpy as np
    >>> c = reliability_curve(np.array([0.2, 0.9]), np.array([0, 1]), n_bins=2, kind="binary")
    >>> c.edges.tolist(), c.counts.tolist()
    ([0.0, 0.5, 1.0], [1.0, 1.0])
    """

    edges: np.ndarray
    counts: np.ndarray
    mean_confidence: np.ndarray
    accuracy: np.ndarray
    n_bins: int
    binning: str


def _curve(s: np.ndarray, edges: np.ndarray, n_bins: int, binning: str, squeeze: bool) -> ReliabilityCurve:
    sw = s[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.where(sw > 0, s[..., 1] / sw, np.nan)
        acc = np.where(sw > 0, s[..., 2] / sw, np.nan)
    if squeeze:
        sw, conf, acc = sw[0], conf[0], acc[0]
        edges = edges[0] if edges.ndim == 2 else edges
    return ReliabilityCurve(edges, sw, conf, acc, n_bins, binning)


def _prepare(probs, target, n_bins, binning, kind, weight):
    n_bins = _check_n_bins(n_bins)
    _check_choice("binning", binning, BINNINGS)
    _check_choice("kind", kind, KINDS)
    if kind == "top-label" and weight is None and binning == "uniform" and np.ndim(probs) == 2:
        # one compiled pass when the kernel is built and the input is plain float64 (None otherwise)
        edges = _uniform_edges(n_bins)
        s = top_label_sums(probs, target, edges, row_sum_tolerance(np, np.float64, np.shape(probs)[1]))
        if s is not None:
            return None, edges, s.reshape(1, n_bins, 3)
    tasks = _Tasks(probs, target, weight, kind)
    edges, keys = _binned(tasks, n_bins, binning)
    T = tasks.conf.shape[1]
    s = _sums(keys, tasks.w, tasks.conf, tasks.outcome, T * n_bins, unit=tasks.unit).reshape(T, n_bins, -1)
    return tasks, edges, s


def reliability_curve(
    probs: Any,
    target: Any,
    *,
    n_bins: int = 15,
    binning: str = "uniform",
    kind: str = "top-label",
    weight: Any = None,
) -> ReliabilityCurve:
    """Binned mean confidence against accuracy (the reliability diagram's data).

    Same inputs, bins and code path as :func:`ece`; see the module docstring
    for the bin edges.

    >>> import numpy as np
    >>> c = reliability_curve(np.array([0.1, 0.3, 0.8]), np.array([0, 1, 1]), n_bins=2, kind="binary")
    >>> c.counts.tolist(), c.accuracy.tolist()
    ([2.0, 1.0], [0.5, 1.0])
    """
    if any_dask(probs, target, weight):
        _check_choice("kind", kind, KINDS)
        state = dask_state(probs, target, weight, n_bins=_check_n_bins(n_bins), kind=kind, binning=binning)
        return state.reliability_curve()
    tasks, edges, s = _prepare(probs, target, n_bins, binning, kind, weight)
    return _curve(s, edges, s.shape[1], binning, squeeze=kind != "classwise")


def ece(
    probs: Any,
    target: Any,
    *,
    n_bins: int = 15,
    binning: str = "uniform",
    norm: str = "l1",
    kind: str = "top-label",
    weight: Any = None,
    debiased: bool = False,
) -> float:
    r"""Expected calibration error and its relatives (RMSCE, MCE).

    Parameters
    ----------
    probs : array (n,) probability of class 1, or (n, C) rows summing to 1
    target : array (n,) of integer class indices
    n_bins : positive int
    binning : ``"uniform"`` or ``"quantile"`` (module docstring gives the exact edges)
    norm : ``"l1"``: :math:`\sum_b w_b |acc_b - conf_b|` (ECE); ``"l2"``:
        :math:`\sqrt{\sum_b w_b (acc_b - conf_b)^2}` (RMSCE); ``"max"``: the
        largest :math:`|acc_b - conf_b|` over non-empty bins (MCE). :math:`w_b` is
        the bin's share of the total weight.
    kind : ``"top-label"`` (confidence = max probability, correct = argmax == target;
        1-d ``probs`` are read as two columns ``[1 - p, p]``), ``"classwise"``
        (mean over classes of the binary error of :math:`p_c` against
        :math:`[y = c]`) or ``"binary"`` (1-d ``probs`` against ``target == 1``,
        as torchmetrics' ``BinaryCalibrationError``).
    weight : array (n,) of non-negative sample weights, optional: weighted bin
        means and weighted bin mass (integer weights equal repetition).
    debiased : bool, only with ``norm="l2"``
        Use the debiased estimate of the squared error (Kumar, Liang & Ma 2019,
        "Verified uncertainty calibration"; Roelofs et al. 2022): each bin's
        :math:`(acc_b - conf_b)^2` less :math:`acc_b(1 - acc_b)/(n_b - 1)`, with
        :math:`n_b` the bin's summed weight and bins with :math:`n_b \le 1`
        contributing 0. The result is the square root of that estimate clipped
        at 0 (so it stays in the units of ``norm="l2"``).

    >>> import numpy as np
    >>> round(ece(np.array([0.9, 0.8, 0.3]), np.array([1, 0, 0]), n_bins=2, kind="binary"), 6)
    0.333333
    """
    _check_choice("norm", norm, NORMS)
    if _check_bool("debiased", debiased) and norm != "l2":
        raise ValueError(f"`debiased=True` applies only to norm='l2'; got norm={norm!r}")
    if any_dask(probs, target, weight):
        _check_choice("kind", kind, KINDS)
        state = dask_state(probs, target, weight, n_bins=_check_n_bins(n_bins), kind=kind, binning=binning)
        return state.compute(norm=norm, debiased=debiased)
    _, _, s = _prepare(probs, target, n_bins, binning, kind, weight)
    return float(_ece_from_sums(s, norm, debiased))


# ------------------------------------------------------------------ Brier
@dataclass(frozen=True)
class BrierDecomposition:
    r"""Murphy (1973) decomposition of binned forecasts with the within-bin terms of
    Stephenson, Coelho & Jolliffe (2008), Weather and Forecasting 23(4):

    ``brier = reliability - resolution + uncertainty + within_bin_variance - within_bin_covariance``

    holds exactly (up to rounding). For multiclass input every term is the sum
    over classes of the one-vs-rest term, as :func:`losslab.brier_score` sums
    :math:`(p_c - [y = c])^2` over classes.

    >>> import numpy as np
    >>> d = brier_decomposition(np.array([0.25, 0.25, 0.75, 0.75]), np.array([0, 1, 1, 1]), n_bins=4)
    >>> round(d.reliability - d.resolution + d.uncertainty, 12) == round(d.brier, 12)
    True
    """

    reliability: float
    resolution: float
    uncertainty: float
    within_bin_variance: float
    within_bin_covariance: float
    brier: float
    n_bins: int


def _brier_from_sums(s: np.ndarray, n_bins: int, brier: float | None = None) -> BrierDecomposition:
    """s: (K, B, 5) sums of w, w f, w o, w f^2, w f o per class and bin."""
    sw, swf, swo, swff, swfo = (s[..., i] for i in range(5))
    W = sw[0].sum()
    safe = np.where(sw > 0, sw, 1.0)
    fbar, obar = swf / safe, swo / safe
    o_all = swo.sum(axis=-1, keepdims=True) / W
    rel = np.sum(sw * (fbar - obar) ** 2) / W
    res = np.sum(sw * (obar - o_all) ** 2) / W
    unc = float(np.sum(o_all * (1.0 - o_all)))
    wbv = np.sum(swff - sw * fbar * fbar) / W  # sum w (f - fbar)^2
    wbc = 2.0 * np.sum(swfo - sw * fbar * obar) / W  # 2 sum w (o - obar)(f - fbar)
    if brier is None:
        brier = float(np.sum(swff - 2.0 * swfo + swo) / W)  # o^2 = o
    return BrierDecomposition(float(rel), float(res), unc, float(wbv), float(wbc), brier, n_bins)


def brier_decomposition(probs: Any, target: Any, *, n_bins: int = 15, weight: Any = None) -> BrierDecomposition:
    """Brier score decomposed over ``n_bins`` uniform forecast bins (each class binned on its own p_c).

    ``brier`` is :func:`losslab.brier_score` (binary for 1-d ``probs``, the
    multiclass sum for 2-d). See :class:`BrierDecomposition`.

    >>> import numpy as np
    >>> d = brier_decomposition(np.array([0.25, 0.25, 0.75, 0.75]), np.array([0, 1, 1, 1]), n_bins=2)
    >>> d.reliability, d.within_bin_variance, d.brier
    (0.0625, 0.0, 0.1875)
    """
    n_bins = _check_n_bins(n_bins)
    kind = "binary" if np.ndim(probs) == 1 else "classwise"
    if any_dask(probs, target, weight):
        return dask_state(probs, target, weight, n_bins=n_bins, kind=kind, binning="uniform").brier_decomposition()
    tasks = _Tasks(probs, target, weight, kind)
    _, keys = _binned(tasks, n_bins, "uniform")
    K = tasks.conf.shape[1]
    s = _sums(keys, tasks.w, tasks.conf, tasks.outcome, K * n_bins, brier=True).reshape(K, n_bins, 5)
    w = None if weight is None else np.asarray(weight)
    return _brier_from_sums(s, n_bins, float(brier_score(np.asarray(probs), np.asarray(target), weight=w)))
