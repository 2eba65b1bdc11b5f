"""Score: every metric of ``losslab evaluate``, from sums that are updated chunk by chunk.

One :class:`MetricAccumulator` serves a file read whole and a file streamed in
chunks, so both give the same numbers (to rounding), intervals included:

* accuracy, log loss and Brier score: sums of the per-row values;
* ECE (top-label and classwise), MCE, the reliability curve and the Brier
  decomposition: :class:`losslab.calibration.CalibrationState` (per-bin sums);
* 95% intervals of accuracy, log loss, Brier score and both ECEs: a bootstrap
  over ``BOOTSTRAP_GROUPS`` pseudo-random row groups (each row hashed to a group
  by its row number; see :mod:`losslab.calibration.bootstrap`). Memory and
  resampling time do not grow with the file; on small files it is close to the
  row bootstrap (one row per group).

Memory is planned before anything is allocated (:func:`plan_memory`): the per-bin sums grow with
``--n-bins`` x classes x row groups, the resampling with ``--n-resamples``. A wide file keeps fewer row
groups for the classwise interval (at least ``MIN_CI_GROUPS``; below that the classwise ECE is reported
without an interval); what would not fit in ``MEMORY_BUDGET`` even so is refused, naming the option.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..calibration import CalibrationState
from ..calibration.bootstrap import group_counts, percentile_interval, row_groups
from ..losses import brier_score, log_loss
from .errors import EvaluateError

CONFIDENCE = 0.95
BOOTSTRAP_GROUPS = 2048
UPDATE_ELEMENTS = 1 << 21  # scores per internal batch of an update: (rows x classes) temporaries stay ~16 MiB
MEMORY_BUDGET = 1 << 30  # bytes the metric sums and their temporaries may take
STATE_GROUP_ENTRIES = 1 << 22  # CalibrationState keeps this many per-group sums (at least 64 groups)
TRANSIENT = 4  # an update holds about this many copies of a state's sums at once
MIN_CI_GROUPS = 16  # fewer row groups than this give no classwise interval

_SCORES = ("accuracy", "log_loss", "brier")


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.3g} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.3g} MiB"


@dataclass
class MemoryPlan:
    """Row groups of the top-label and classwise states (None: no classwise interval) and the bytes."""

    groups_top: int
    groups_classwise: int | None
    bytes: int
    notes: list[str] = field(default_factory=list)


def _state_groups(tasks: int, n_bins: int) -> int:
    """The groups a CalibrationState keeps with bootstrap_groups=BOOTSTRAP_GROUPS (its own budget)."""
    return min(BOOTSTRAP_GROUPS, max(64, STATE_GROUP_ENTRIES // (tasks * n_bins * 3)))


def _bytes(n_bins: int, tasks: int, g_top: int, g_cw: int | None) -> int:
    sums = g_top * n_bins * 3 + (g_cw or 1) * tasks * n_bins * 3 + tasks * n_bins * 5
    blocks = 6 * max(STATE_GROUP_ENTRIES, tasks * n_bins * 3)  # the bootstrap's resampled sums, a block at a time
    return 8 * (TRANSIENT * sums + blocks)


def plan_memory(n_score_columns: int, n_bins: int, n_resamples: int) -> MemoryPlan:
    """Row groups that keep the sums within ``MEMORY_BUDGET``, or an error naming the option to change.

    >>> plan_memory(10, 15, 1000).groups_top
    2048
    >>> plan_memory(60_000, 15, 1000).groups_classwise is None  # 60,000 classes: no classwise interval
    True
    """
    T = 1 if n_score_columns == 1 else n_score_columns  # classwise tasks (one column: the binary task)
    resample = 3 * 8 * n_resamples * BOOTSTRAP_GROUPS  # the draws, their counts as float64
    if resample > MEMORY_BUDGET // 2:
        most = MEMORY_BUDGET // 2 // (3 * 8 * BOOTSTRAP_GROUPS)
        raise EvaluateError(f"--n-resamples {n_resamples}: the bootstrap's draws would take about {_gib(resample)}, "
                            f"more than the {_gib(MEMORY_BUDGET // 2)} they may use; use --n-resamples {most} or "
                            f"fewer")  # fmt: skip
    g_top = _state_groups(1, n_bins)
    g_cw: int | None = _state_groups(T, n_bins)
    notes = []
    need = _bytes(n_bins, T, g_top, g_cw)
    if need > MEMORY_BUDGET:
        per_group = 8 * TRANSIENT * T * n_bins * 3
        fit = (MEMORY_BUDGET - _bytes(n_bins, T, g_top, 0)) // per_group
        if fit >= MIN_CI_GROUPS:
            g_cw = int(fit)
            notes.append(f"the classwise ECE's interval resamples {g_cw} row groups, not {_state_groups(T, n_bins)} "
                         f"({T} classes x {n_bins} bins: memory); it is rougher than the others")  # fmt: skip
        else:
            g_cw = None
            notes.append(f"the classwise ECE has no interval: {T} classes x {n_bins} bins x {MIN_CI_GROUPS} row "
                         f"groups would take more than {_gib(MEMORY_BUDGET)}")  # fmt: skip
        need = _bytes(n_bins, T, g_top, g_cw)
    if need > MEMORY_BUDGET:
        most = next((b for b in (n_bins // 2**k for k in range(1, 64)) if b >= 1 and _bytes(b, T, _state_groups(1, b),
                     None) <= MEMORY_BUDGET), 0)  # fmt: skip
        what = f"{n_score_columns} score columns x " if T > 1 else ""
        fix = f"use --n-bins {most} or fewer" if most else "evaluate fewer classes at a time (--score-columns)"
        raise EvaluateError(f"--n-bins {n_bins}: the per-bin sums for {what}{n_bins} bins would take about "
                            f"{_gib(need)}, more than the {_gib(MEMORY_BUDGET)} evaluate allows itself; "
                            f"{fix}")  # fmt: skip
    return MemoryPlan(g_top, g_cw, need, notes)


def _interval(estimate: float, lo: float | None, hi: float | None) -> dict[str, Any]:
    return {"estimate": float(estimate), "ci_low": lo, "ci_high": hi}


class MetricAccumulator:
    """Sums for every metric of ``losslab evaluate``, updated chunk by chunk (rows in file order)."""

    def __init__(self, n_bins: int, *, groups: int = BOOTSTRAP_GROUPS, plan: MemoryPlan | None = None):
        self.n_bins, self.groups = n_bins, groups
        self.rows = 0
        self._g = np.zeros((groups, 1 + len(_SCORES)))  # per group: rows, correct, log loss sum, Brier sum
        top = BOOTSTRAP_GROUPS if plan is None or plan.groups_top >= 64 else plan.groups_top
        cw = BOOTSTRAP_GROUPS if plan is None else plan.groups_classwise
        cw = BOOTSTRAP_GROUPS if cw is not None and cw >= 64 else cw
        self.top = CalibrationState(n_bins, kind="top-label", bootstrap_groups=top, brier=False)
        self.classwise = CalibrationState(n_bins, kind="classwise", bootstrap_groups=cw)

    def update(self, P: np.ndarray, y: np.ndarray) -> None:
        """Add rows (in file order). Wide inputs go in batches of ``UPDATE_ELEMENTS`` scores: the
        classwise sums build several (rows x classes) temporaries."""
        step = max(1, UPDATE_ELEMENTS // (1 if P.ndim == 1 else P.shape[1]))
        for a in range(0, int(y.shape[0]), step):
            self._update(P[a : a + step], y[a : a + step])

    def _update(self, P: np.ndarray, y: np.ndarray) -> None:
        n = int(y.shape[0])
        pred = (P > 0.5).astype(np.int64) if P.ndim == 1 else np.argmax(P, axis=1)
        g = row_groups(self.rows, n, self.groups)
        per_row = (np.ones(n), (pred == y).astype(np.float64), log_loss(P, y, reduction="none"),
                   brier_score(P, y, reduction="none"))  # fmt: skip
        for j, v in enumerate(per_row):
            self._g[:, j] += np.bincount(g, weights=v, minlength=self.groups)
        self.top.update(P, y, first_row=self.rows)
        self.classwise.update(P, y, first_row=self.rows)
        self.rows += n

    def _score_intervals(self, n_resamples: int, seed: int) -> dict[str, dict[str, Any]]:
        g = self._g[self._g[:, 0] > 0]
        total = g.sum(axis=0)
        rs = group_counts(g.shape[0], n_resamples, seed) @ g
        out = {}
        for j, name in enumerate(_SCORES, start=1):
            est = total[j] / total[0]
            out[name] = _interval(est, *percentile_interval(rs[:, j] / rs[:, 0], est, CONFIDENCE, "percentile"))
        return out

    def result(self, *, n_resamples: int, seed: int) -> dict[str, Any]:
        if self.rows == 0:
            raise ValueError("no rows were added")
        d = self.classwise.brier_decomposition()  # one-vs-rest: the classwise state keeps the sums
        out: dict[str, Any] = {"n": self.rows, **self._score_intervals(n_resamples, seed)}
        out["brier_decomposition"] = {
            k: float(getattr(d, k))
            for k in ("reliability", "resolution", "uncertainty", "within_bin_variance", "within_bin_covariance")
        }
        for name, state in (("ece_top_label", self.top), ("ece_classwise", self.classwise)):
            if state.bootstrap_groups is None:
                why = "no interval: too many classes x bins for the row groups' sums in memory"
                out[name] = {**_interval(state.compute(), None, None), "note": why}
                continue
            entry = _interval(*state.bootstrap_ci(n_resamples=n_resamples, confidence=CONFIDENCE, seed=seed))
            if entry["ci_low"] > entry["estimate"]:
                entry["note"] = (
                    f"the interval lies above the estimate: with {self.rows} rows in {self.n_bins} bins the binned "
                    "ECE is biased upward by sampling noise, and a resample (fewer distinct rows) more so; the "
                    "true calibration error is likely below the estimate. Use fewer bins or more rows"
                )
            out[name] = entry
        out["mce"] = self.top.compute(norm="max")
        return out


def compute_metrics(P: np.ndarray, y: np.ndarray, *, n_bins: int, n_resamples: int, seed: int) -> dict[str, Any]:
    """Every metric of probabilities ``P`` ((n,) of class 1, or (n, C)) against labels ``y``."""
    acc = MetricAccumulator(n_bins, plan=plan_memory(1 if P.ndim == 1 else P.shape[1], n_bins, n_resamples))
    acc.update(P, y)  # in batches of UPDATE_ELEMENTS scores
    return acc.result(n_resamples=n_resamples, seed=seed)


def bootstrap_description(n_resamples: int, seed: int) -> str:
    """How the intervals were computed, for the report's assumptions."""
    return (
        f"{CONFIDENCE:.0%} intervals: percentile bootstrap, {n_resamples} resamples (seed {seed}) of "
        f"{BOOTSTRAP_GROUPS} pseudo-random row groups (rows hashed to groups by row number; one row per "
        "group is the ordinary row bootstrap; classwise ECE with many classes keeps fewer groups)"
    )
