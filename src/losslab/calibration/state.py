"""Mergeable calibration state: ECE, reliability curve, Brier decomposition and the
ECE's bootstrap interval from per-bin sums, updated chunk by chunk."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ._guards import TINY_WEIGHT
from .bootstrap import _check_interval_options, group_counts, percentile_interval, row_groups
from .metrics import (
    BINNINGS,
    KINDS,
    NORMS,
    BrierDecomposition,
    ReliabilityCurve,
    _binned,
    _brier_from_sums,
    _check_bin_memory,
    _check_bool,
    _check_choice,
    _check_n_bins,
    _curve,
    _ece_from_sums,
    _sums,
    _Tasks,
    _uniform_edges,
)

__all__ = ["CalibrationState"]

GROUP_SUMS_BUDGET = 1 << 22  # float64 entries of per-group sums (32 MiB) a state may hold
MIN_GROUPS = 64
_WEIGHT_LIMIT = float(np.finfo(np.float64).max) / 4  # the summed weight a state's sums may reach


class CalibrationState:
    """Mergeable per-bin sums for streaming ECE / reliability curve / Brier decomposition.

    Memory is O(n_bins x classes): for the ``kind`` tasks, sums of weight,
    weight x confidence and weight x correctness per bin; for the one-vs-rest
    Brier decomposition also weight x p_c^2 and weight x p_c x [y = c].
    Uniform bins only: quantile edges depend on all the data, which a
    streaming state does not keep. ``n_bins`` is refused when the state's
    sums and a batch's temporaries would exceed 1 GiB (checked when the state
    is built, and again at the first batch, which tells the number of
    classes); weights whose total overflows float64, or that are all below
    2**-200, are refused (a state's sums must add across batches, so it
    cannot rescale them as :func:`ece` does).

    ``bootstrap_groups=G`` also keeps the ECE sums per row group (rows hashed
    to G groups by their absolute index, see :mod:`losslab.calibration.bootstrap`),
    which is what :meth:`bootstrap_ci` resamples: G times the memory, never more
    than 32 MiB (with many classes a classwise state keeps fewer groups, at
    least 64; :attr:`groups` says how many).

    ``brier=False`` skips the Brier decomposition's sums (one pass over the
    one-vs-rest tasks per update) when another state keeps them; a classwise or
    binary state gets its ECE sums from them at no extra cost.

    >>> import numpy as np
    >>> from losslab.calibration import ece
    >>> p, y = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.2, 0.8]]), np.array([0, 1, 1, 1])
    >>> a = CalibrationState(n_bins=5).update(p[:2], y[:2])
    >>> b = CalibrationState(n_bins=5).update(p[2:], y[2:])
    >>> bool(abs(a.merge(b).compute() - ece(p, y, n_bins=5)) < 1e-12)
    True
    """

    def __init__(
        self,
        n_bins: int = 15,
        *,
        kind: str = "top-label",
        num_classes: int | None = None,
        binning: str = "uniform",
        bootstrap_groups: int | None = None,
        brier: bool = True,
    ) -> None:
        self.n_bins = _check_n_bins(n_bins)
        self.kind = _check_choice("kind", kind, KINDS)
        if _check_choice("binning", binning, BINNINGS) == "quantile":
            raise ValueError(
                "`binning='quantile'` cannot be streamed: its edges are quantiles of all the data, which "
                "CalibrationState does not keep. Use binning='uniform', or call ece(..., binning='quantile') "
                "on the full arrays"
            )
        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 2
        ):
            raise ValueError(f"`num_classes` must be an integer >= 2 (2 for 1-d binary probs); got {num_classes!r}")
        if bootstrap_groups is not None and (
            isinstance(bootstrap_groups, bool)
            or not isinstance(bootstrap_groups, numbers.Integral)
            or bootstrap_groups < 2
        ):
            raise ValueError(f"`bootstrap_groups` must be None or an integer >= 2; got {bootstrap_groups!r}")
        self.num_classes: int | None = None if num_classes is None else int(num_classes)
        self.bootstrap_groups: int | None = None if bootstrap_groups is None else int(bootstrap_groups)
        self.brier = _check_bool("brier", brier)
        self.groups: int | None = None  # groups kept: bootstrap_groups within the memory budget
        self.rows = 0  # rows added so far: the absolute index of the next batch's first row
        self._binary: bool | None = None
        self._ece: np.ndarray | None = None  # (T, B, 3)
        self._ece_groups: np.ndarray | None = None  # (G, T, B, 3) when bootstrap_groups
        self._brier: np.ndarray | None = None  # (K, B, 5)
        C = self.num_classes
        self._check_memory(C if C is not None and self.kind == "classwise" else 1, C if C is not None else 1)

    def _check_memory(self, T: int, K: int) -> None:
        """Refuse ``n_bins`` when the sums of T ECE tasks (and K Brier tasks, and the groups) would not fit."""
        B, G = self.n_bins, 0
        if self.bootstrap_groups is not None:
            G = self.groups or min(self.bootstrap_groups, max(MIN_GROUPS, GROUP_SUMS_BUDGET // (T * B * 3)))
        what = (f"a CalibrationState's per-bin sums (kind={self.kind!r}: {T} task{'s' if T > 1 else ''}"
                + (f", {K} Brier task{'s' if K > 1 else ''}" if self.brier else "")
                + (f", {G} bootstrap groups" if G else "") + ")")  # fmt: skip
        _check_bin_memory(B, T, what, brier=K if self.brier else 0, groups=G)

    def _total(self) -> float:
        return 0.0 if self._ece is None else float(self._ece[0, :, 0].sum())

    def _check_total(self, more: float, wexp: int = 0) -> None:
        if wexp < 0:
            raise ValueError(
                f"the `weight` values of this batch are all below {TINY_WEIGHT:.3g}: their products with the "
                f"probabilities lose precision as subnormal float64 numbers; rescale the weights (only their ratios "
                f"matter; a state's sums add across batches, so it cannot rescale them itself)"
            )
        if wexp > 0 or not self._total() + more < _WEIGHT_LIMIT:
            raise ValueError(
                "the summed `weight` of this CalibrationState overflows float64; rescale the weights (the ECE, "
                "its interval and the Brier decomposition depend only on their ratios; a state's sums add across "
                "batches, so it cannot rescale them itself)"
            )

    def _fresh(self) -> CalibrationState:
        return CalibrationState(self.n_bins, kind=self.kind, num_classes=self.num_classes,
                                bootstrap_groups=self.bootstrap_groups, brier=self.brier)  # fmt: skip

    def update(self, probs: Any, target: Any, weight: Any = None, *, first_row: int | None = None) -> CalibrationState:
        """Add a batch (in place); returns ``self``.

        ``first_row``: the absolute index of the batch's first row, which decides
        the rows' bootstrap groups; by default the batch follows the rows added so
        far. Give it when batches arrive out of order or go to several states.
        """
        tasks = _Tasks(probs, target, weight, self.kind, rescale=False)
        if self.num_classes is not None and tasks.num_classes != self.num_classes:
            raise ValueError(
                f"`probs` has {tasks.num_classes} classes but this state was built for `num_classes`="
                f"{self.num_classes}; every batch must have the same columns"
            )
        if self._binary is not None and tasks.binary != self._binary:
            raise ValueError("`probs` must keep one layout across batches: all 1-d (binary) or all 2-d (n, C)")
        if first_row is not None and (
            isinstance(first_row, bool) or not isinstance(first_row, numbers.Integral) or first_row < 0
        ):
            raise ValueError(f"`first_row` must be a non-negative integer; got {first_row!r}")
        T = tasks.conf.shape[1]
        self._check_memory(T, 1 if tasks.binary else tasks.num_classes)
        with np.errstate(over="ignore"):
            self._check_total(float(np.sum(tasks.w)), tasks.wexp)
        self.num_classes, self._binary = tasks.num_classes, tasks.binary
        B = self.n_bins
        _, keys = _binned(tasks, B, "uniform")
        n, T = keys.shape
        start = self.rows if first_row is None else int(first_row)
        b = shared = None
        if self.brier:
            bk = "binary" if tasks.binary else "classwise"
            if bk == self.kind:  # the ECE's tasks are the decomposition's: reuse their bins
                bt, bkeys = tasks, keys
            else:
                bt = _Tasks(probs, target, weight, bk, rescale=False)
                _, bkeys = _binned(bt, B, "uniform")
            b = _sums(bkeys, bt.w, bt.conf, bt.outcome, bkeys.shape[1] * B, brier=True).reshape(-1, B, 5)
            shared = b if bt is tasks else None
        if self.bootstrap_groups is None:
            if shared is not None:  # the Brier sums of the same tasks begin with the ECE's three
                e = shared[..., :3].copy()
            else:
                e = _sums(keys, tasks.w, tasks.conf, tasks.outcome, T * B).reshape(T, B, 3)
        else:
            if self.groups is None:
                self.groups = min(self.bootstrap_groups, max(MIN_GROUPS, GROUP_SUMS_BUDGET // (T * B * 3)))
            G = self.groups
            keys += (row_groups(start, n, G) * (T * B))[:, None]  # after the Brier sums used these keys
            eg = _sums(keys, tasks.w, tasks.conf, tasks.outcome, G * T * B).reshape(G, T, B, 3)
            self._ece_groups = eg if self._ece_groups is None else self._ece_groups + eg
            e = eg.sum(axis=0)
        self._ece = e if self._ece is None else self._ece + e
        if b is not None:
            self._brier = b if self._brier is None else self._brier + b
        self.rows = max(self.rows, start + n)
        return self

    def merge(self, other: CalibrationState) -> CalibrationState:
        """A new state holding both states' data (neither is changed).

        With bootstrap groups, rows keep the groups they were added with; give
        the states' batches their absolute ``first_row`` so that two states do
        not both hash rows 0, 1, ... (harmless, but then the groups mix rows by
        their position within each part).
        """
        if not isinstance(other, CalibrationState):
            raise TypeError(f"`other` must be a CalibrationState; got {type(other).__name__}")
        for name, a, b in (
            ("n_bins", self.n_bins, other.n_bins),
            ("kind", self.kind, other.kind),
            ("bootstrap_groups", self.bootstrap_groups, other.bootstrap_groups),
            ("brier", self.brier, other.brier),
        ):
            if a != b:
                raise ValueError(f"cannot merge states with different `{name}`: {a!r} and {b!r}")
        new = self._fresh()
        self._check_total(other._total())
        new.rows = max(self.rows, other.rows)
        if self._ece is None or other._ece is None:
            src = other if self._ece is None else self
            if self.num_classes is not None and other.num_classes is not None and self.num_classes != other.num_classes:
                raise ValueError(
                    f"cannot merge states with different `num_classes`: {self.num_classes} and {other.num_classes}"
                )
            new.num_classes = src.num_classes if src.num_classes is not None else other.num_classes
            new._binary, new.groups = src._binary, src.groups
            for name in ("_ece", "_ece_groups", "_brier"):
                arr = getattr(src, name)
                setattr(new, name, None if arr is None else arr.copy())
            return new
        if self.num_classes != other.num_classes or self._binary != other._binary:
            raise ValueError(
                f"cannot merge states with different `num_classes`: {self.num_classes} "
                f"({'1-d' if self._binary else '2-d'} probs) and {other.num_classes} "
                f"({'1-d' if other._binary else '2-d'} probs)"
            )
        new._binary, new.groups = self._binary, self.groups
        new._ece = self._ece + other._ece
        new._brier = None if self._brier is None else self._brier + other._brier
        if self._ece_groups is not None:
            new._ece_groups = self._ece_groups + other._ece_groups
        return new

    def _need_data(self) -> np.ndarray:
        """The (T, B, 3) sums, or a ValueError when nothing with positive weight was added."""
        if self._ece is None or not float(self._ece[0, :, 0].sum()) > 0:
            raise ValueError("this CalibrationState holds no data (or only zero weight); call update() first")
        return self._ece

    def compute(self, *, norm: str = "l1", debiased: bool = False) -> float:
        """The :func:`~losslab.calibration.ece` of everything added."""
        _check_choice("norm", norm, NORMS)
        if _check_bool("debiased", debiased) and norm != "l2":
            raise ValueError(f"`debiased=True` applies only to norm='l2'; got norm={norm!r}")
        return float(_ece_from_sums(self._need_data(), norm, debiased))

    def bootstrap_ci(
        self,
        *,
        norm: str = "l1",
        debiased: bool = False,
        n_resamples: int = 1000,
        confidence: float = 0.95,
        seed: int | None = 0,
        method: str = "percentile",
    ) -> tuple[float, float, float]:
        """``(estimate, low, high)``: :meth:`compute` and its interval from resampled row groups.

        Needs ``bootstrap_groups``. Groups with no weight are left out of the
        draw, so with one row per group this is the ordinary row bootstrap.

        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> p, y = rng.dirichlet(np.ones(3), 5000), rng.integers(0, 3, 5000)
        >>> est, lo, hi = CalibrationState(bootstrap_groups=512).update(p, y).bootstrap_ci(seed=1)
        >>> bool(lo < est < hi)
        True
        """
        estimate = self.compute(norm=norm, debiased=debiased)
        _check_interval_options(n_resamples, confidence, method)
        if self._ece_groups is None:
            raise ValueError(
                "this CalibrationState keeps no row groups to resample; build it with "
                "CalibrationState(..., bootstrap_groups=2048), or use losslab.calibration.bootstrap_ci on the arrays"
            )
        g = self._ece_groups
        sums = g[g[:, 0, :, 0].sum(axis=-1) > 0]
        counts = group_counts(sums.shape[0], n_resamples, seed)
        flat = sums.reshape(sums.shape[0], -1)
        step = max(1, (1 << 22) // flat.shape[1])  # resamples per block: bounded temporaries
        values = np.concatenate(
            [
                _ece_from_sums((counts[i : i + step] @ flat).reshape(-1, *sums.shape[1:]), norm, debiased)
                for i in range(0, n_resamples, step)
            ]
        )
        return (estimate, *percentile_interval(values, estimate, confidence, method))

    def reliability_curve(self) -> ReliabilityCurve:
        return _curve(self._need_data(), _uniform_edges(self.n_bins), self.n_bins, "uniform", self.kind != "classwise")

    def brier_decomposition(self) -> BrierDecomposition:
        """The :func:`~losslab.calibration.brier_decomposition` of everything added (``brier`` from the same sums)."""
        self._need_data()
        if self._brier is None:
            raise ValueError("this CalibrationState was built with brier=False and keeps no Brier sums")
        return _brier_from_sums(self._brier, self.n_bins)
