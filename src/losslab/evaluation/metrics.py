"""Every metric of ``losslab evaluate``, from sums that are updated chunk by chunk.

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
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..calibration import CalibrationState
from ..calibration.bootstrap import group_counts, percentile_interval, row_groups
from ..losses import brier_score, log_loss

CONFIDENCE = 0.95
BOOTSTRAP_GROUPS = 2048
UPDATE_ELEMENTS = 1 << 21  # scores per internal batch of an update: (rows x classes) temporaries stay ~16 MiB

_SCORES = ("accuracy", "log_loss", "brier")


def _interval(estimate: float, lo: float, hi: float) -> dict[str, Any]:
    return {"estimate": float(estimate), "ci_low": lo, "ci_high": hi}


class MetricAccumulator:
    """Sums for every metric of ``losslab evaluate``, updated chunk by chunk (rows in file order)."""

    def __init__(self, n_bins: int, *, groups: int = BOOTSTRAP_GROUPS):
        self.n_bins, self.groups = n_bins, groups
        self.rows = 0
        self._g = np.zeros((groups, 1 + len(_SCORES)))  # per group: rows, correct, log loss sum, Brier sum
        self.top = CalibrationState(n_bins, kind="top-label", bootstrap_groups=groups, brier=False)
        self.classwise = CalibrationState(n_bins, kind="classwise", bootstrap_groups=groups)

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
    acc = MetricAccumulator(n_bins)
    acc.update(P, y)  # in batches of UPDATE_ELEMENTS scores
    return acc.result(n_resamples=n_resamples, seed=seed)


def bootstrap_description(n_resamples: int, seed: int) -> str:
    """How the intervals were computed, for the report's assumptions."""
    return (
        f"{CONFIDENCE:.0%} intervals: percentile bootstrap, {n_resamples} resamples (seed {seed}) of "
        f"{BOOTSTRAP_GROUPS} pseudo-random row groups (rows hashed to groups by row number; one row per "
        "group is the ordinary row bootstrap; classwise ECE with many classes keeps fewer groups)"
    )
