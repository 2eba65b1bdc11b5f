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
:class:`ReliabilityCurve`); more bins than samples is fine, but ``n_bins`` is
refused, before anything is allocated, when the per-bin arrays of the call
would exceed 1 GiB (:mod:`._guards`; 10**7 top-label bins fit, 10**9 do not).

NumPy masked arrays are refused (pass ``.filled()`` or ``.compressed()``), as
the losses refuse them. Weights whose sum would overflow float64 are divided
by a power of two first (exact: every metric depends on the ratios, the
debiased ECE's bin counts and a curve's ``counts`` are restored).

Dask arrays go to :func:`ece`, :func:`reliability_curve` and
:func:`brier_decomposition` as they are (uniform bins): each block of rows is
summed into a :class:`CalibrationState` by Dask's scheduler and the states
merge, so an array larger than memory is never gathered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import row_sum_tolerance
from ..kernels.native import top_label_sums
from ..losses.scoring import brier_score
from ._dask import any_dask, dask_state
from ._guards import refuse_masked
from ._tasks import (
    BINNINGS,
    KINDS,
    NORMS,
    _check_bin_memory,
    _check_bool,
    _check_choice,
    _check_n_bins,
    _n_tasks,
    _Tasks,
)

__all__ = [
    "BrierDecomposition",
    "ReliabilityCurve",
    "brier_decomposition",
    "ece",
    "reliability_curve",
]


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
def _ece_from_sums(s: np.ndarray, norm: str, debiased: bool, wexp: int = 0) -> np.ndarray:
    """Calibration error from sums (..., T, B, >=3); averaged over the T tasks.

    ``wexp``: the weights were divided by ``2**wexp``, which only the debiased
    estimate's bin counts notice."""
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
            with np.errstate(over="ignore"):  # a count beyond float64 is inf: no correction, as in the limit
                nb = np.ldexp(sw, wexp) if wexp else sw
            big = nb > 1
            sq = np.where(big, sq - acc * (1.0 - acc) / np.where(big, nb - 1.0, 1.0), 0.0)
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


def _curve(s: np.ndarray, edges: np.ndarray, n_bins: int, binning: str, squeeze: bool,
           wexp: int = 0) -> ReliabilityCurve:  # fmt: skip
    sw = s[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.where(sw > 0, s[..., 1] / sw, np.nan)
        acc = np.where(sw > 0, s[..., 2] / sw, np.nan)
    if wexp:
        with np.errstate(over="ignore"):  # the summed weights as given; inf where they exceed float64
            sw = np.ldexp(sw, wexp)
    if squeeze:
        sw, conf, acc = sw[0], conf[0], acc[0]
        edges = edges[0] if edges.ndim == 2 else edges
    return ReliabilityCurve(edges, sw, conf, acc, n_bins, binning)


def _prepare(probs, target, n_bins, binning, kind, weight, what="ece"):
    n_bins = _check_n_bins(n_bins)
    _check_choice("binning", binning, BINNINGS)
    _check_choice("kind", kind, KINDS)
    T = _n_tasks(probs, kind)
    _check_bin_memory(n_bins, T, f"the per-bin sums of {what} (kind={kind!r}: {T} task{'s' if T > 1 else ''})")
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
        refuse_masked(probs=probs, target=target, weight=weight)
        _check_choice("kind", kind, KINDS)
        state = dask_state(probs, target, weight, n_bins=_check_n_bins(n_bins), kind=kind, binning=binning)
        return state.reliability_curve()
    tasks, edges, s = _prepare(probs, target, n_bins, binning, kind, weight, "reliability_curve")
    return _curve(s, edges, s.shape[1], binning, kind != "classwise", 0 if tasks is None else tasks.wexp)


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
        refuse_masked(probs=probs, target=target, weight=weight)
        _check_choice("kind", kind, KINDS)
        state = dask_state(probs, target, weight, n_bins=_check_n_bins(n_bins), kind=kind, binning=binning)
        return state.compute(norm=norm, debiased=debiased)
    tasks, _, s = _prepare(probs, target, n_bins, binning, kind, weight)
    return float(_ece_from_sums(s, norm, debiased, 0 if tasks is None else tasks.wexp))


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
    K = _n_tasks(probs, kind)
    _check_bin_memory(n_bins, K, f"the per-bin sums of brier_decomposition ({K} task{'s' if K > 1 else ''})", brier=K)
    if any_dask(probs, target, weight):
        refuse_masked(probs=probs, target=target, weight=weight)
        return dask_state(probs, target, weight, n_bins=n_bins, kind=kind, binning="uniform").brier_decomposition()
    tasks = _Tasks(probs, target, weight, kind)
    _, keys = _binned(tasks, n_bins, "uniform")
    K = tasks.conf.shape[1]
    s = _sums(keys, tasks.w, tasks.conf, tasks.outcome, K * n_bins, brier=True).reshape(K, n_bins, 5)
    w = None if weight is None else np.asarray(weight)
    return _brier_from_sums(s, n_bins, float(brier_score(np.asarray(probs), np.asarray(target), weight=w)))
