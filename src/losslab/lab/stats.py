"""The lab's statistics: t-intervals over seeds, one-sided and equivalence tests, Holm's correction.

Each seed of the lab resamples the data split as well as the initialisation,
so the per-seed values of a cell are independent draws and a paired
difference cancels what runs sharing a seed have in common. With 5 to 20
seeds a Student-t interval holds its level where a percentile bootstrap does
not: in ``tests/test_lab_stats.py`` the t-interval covers the true mean
about 95% of the time for normal data and at least 93% for data with
skewness 1 (gamma with shape 4) at 5 seeds, where the percentile bootstrap of
the same means covered 85% (normal) and 71% (skewed). It covers less for
stronger skew (about 88% for exponential data at 5 seeds), which the report's
intervals of accuracy differences, near symmetric in practice, do not show.

:func:`effect` gives, for one set of per-seed values, the mean, its interval
and the three p-values a verdict rule needs: ``p_greater`` (the mean exceeds
``null``), ``p_less`` and ``p_equivalent`` (TOST: the mean lies within
``margin`` of ``null``). All p-values are one-sided; a 95% two-sided interval
that excludes a bound is the same decision as that bound's one-sided p-value
below 0.025, so verdicts and intervals never disagree.

:func:`mean_ci` (the percentile bootstrap) stays for resampling test examples
within one run, where there are hundreds of values, not five.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import stats as _st

__all__ = ["Effect", "Interval", "effect", "holm", "mean_ci", "paired_effect", "t_ci"]


@dataclass(frozen=True)
class Interval:
    """A mean with its interval over ``n`` values."""

    estimate: float
    low: float
    high: float
    n: int
    level: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        return {"estimate": self.estimate, "ci_low": self.low, "ci_high": self.high, "n": self.n, "level": self.level}

    def format(self, fmt: str = ".3f", scale: float = 1.0, unit: str = "") -> str:
        """``"0.912 [0.905, 0.920]"``, optionally scaled (100 for percent) and with a unit."""
        e, lo, hi = (v * scale for v in (self.estimate, self.low, self.high))
        return f"{e:{fmt}}{unit} [{lo:{fmt}}, {hi:{fmt}}]"

    def excludes(self, value: float = 0.0) -> bool:
        return self.low > value or self.high < value


@dataclass(frozen=True)
class Effect(Interval):
    """A t-interval of a mean plus the one-sided p-values of the tests the verdict rules use.

    ``p_greater``: p-value of H0 "mean <= null"; ``p_less``: of H0 "mean >= null";
    ``p_equivalent``: TOST p-value of H0 "|mean - null| >= margin" (1.0 when ``margin`` is 0).
    """

    sd: float = 0.0
    null: float = 0.0
    margin: float = 0.0
    p_greater: float = 1.0
    p_less: float = 1.0
    p_equivalent: float = 1.0

    def p_above(self, bound: float) -> float:
        """One-sided p-value of H0 "mean <= bound" (1.0 from a single seed)."""
        return 1.0 if self.n < 2 else _p_above(self.estimate, self.sd / np.sqrt(self.n), self.n - 1, bound)

    def p_below(self, bound: float) -> float:
        """One-sided p-value of H0 "mean >= bound"."""
        return 1.0 if self.n < 2 else _p_above(-self.estimate, self.sd / np.sqrt(self.n), self.n - 1, -bound)

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {
            "sd": self.sd, "null": self.null, "margin": self.margin, "p_greater": self.p_greater,
            "p_less": self.p_less, "p_equivalent": self.p_equivalent, "method": "student-t",
        }  # fmt: skip


def _values(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError(f"`{name}` is empty: an interval needs at least one value")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"`{name}` has non-finite values at positions {np.flatnonzero(~np.isfinite(v)).tolist()}")
    return v


def _check_level(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"`level` must be in (0, 1); got {level}")
    return float(level)


def _p_above(mean: float, se: float, df: int, bound: float) -> float:
    """One-sided p-value of H0 "true mean <= bound" from a t statistic (exact 0 or 1 when se is 0)."""
    if se == 0.0:
        return 0.0 if mean > bound else 1.0
    return float(_st.t.sf((mean - bound) / se, df))


def effect(
    values: Sequence[float] | np.ndarray, *, null: float = 0.0, margin: float = 0.0, level: float = 0.95
) -> Effect:
    """Mean of ``values`` (one per seed) with its Student-t interval and one-sided tests against ``null``.

    One value carries no spread: its interval is the value itself and every p-value is 1
    (nothing can be decided from one seed). Values that are all equal (sd 0) decide exactly.

    >>> e = effect([0.03, 0.05, 0.04, 0.06, 0.02])
    >>> round(e.estimate, 3), e.low > 0, e.p_greater < 0.025
    (0.04, True, True)
    >>> effect([0.001, -0.001, 0.0005, -0.0005, 0.0], margin=0.01).p_equivalent < 0.025
    True
    """
    v = _values(values, "values")
    level = _check_level(level)
    if margin < 0 or not np.isfinite(margin):
        raise ValueError(f"`margin` must be a finite number >= 0; got {margin}")
    n = int(v.size)
    mean = float(v.mean())
    if n == 1:
        return Effect(mean, mean, mean, 1, level, 0.0, null, margin, 1.0, 1.0, 1.0)
    sd = float(v.std(ddof=1))
    se = float(sd / np.sqrt(n))
    df = n - 1
    half = float(_st.t.ppf(0.5 + level / 2.0, df)) * se
    e = Effect(mean, mean - half, mean + half, n, level, sd, null, margin)
    p_equivalent = max(e.p_above(null - margin), e.p_below(null + margin)) if margin > 0 else 1.0
    return replace(e, p_greater=e.p_above(null), p_less=e.p_below(null), p_equivalent=p_equivalent)


def paired_effect(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *, null: float = 0.0, margin: float = 0.0,
    level: float = 0.95,
) -> Effect:  # fmt: skip
    """:func:`effect` of the paired differences ``a - b`` (runs that share a seed: split, initialisation, order).

    >>> e = paired_effect([0.95, 0.96, 0.94], [0.90, 0.92, 0.91])
    >>> round(e.estimate, 3), e.low > 0
    (0.04, True)
    """
    a, b = _values(a, "a"), _values(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same number of seeds; got {a.size} and {b.size}")
    return effect(a - b, null=null, margin=margin, level=level)


def t_ci(values: Sequence[float] | np.ndarray, *, level: float = 0.95) -> Interval:
    """Mean of ``values`` with its Student-t interval (no tests), for tables.

    >>> iv = t_ci([0.90, 0.92, 0.91, 0.93, 0.89])
    >>> round(iv.estimate, 3), iv.low < iv.estimate < iv.high
    (0.91, True)
    """
    e = effect(values, level=level)
    return Interval(e.estimate, e.low, e.high, e.n, e.level)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control), in the input order.

    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    >>> holm([])
    []
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.size == 0:
        return []
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError(f"`p_values` must lie in [0, 1]; got {p.tolist()}")
    order = np.argsort(p, kind="stable")
    m = p.size
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return [float(round(x, 15)) for x in out]


def mean_ci(
    values: Sequence[float] | np.ndarray, *, n_bootstrap: int = 2000, level: float = 0.95, seed: int = 0
) -> Interval:
    """Mean of ``values`` with a percentile-bootstrap interval (seeded, vectorised).

    For many values (test examples of one run); over a handful of seeds use :func:`effect`.
    One value gives a zero-width interval at that value.

    >>> iv = mean_ci([0.90, 0.92, 0.91, 0.93, 0.89])
    >>> round(iv.estimate, 3), iv.low < iv.estimate < iv.high
    (0.91, True)
    """
    v = _values(values, "values")
    level = _check_level(level)
    if v.size == 1:
        return Interval(float(v[0]), float(v[0]), float(v[0]), 1, level)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(n_bootstrap, v.size))
    means = v[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return Interval(float(v.mean()), float(lo), float(hi), int(v.size), level)

