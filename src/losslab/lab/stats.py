"""The lab's statistics: bootstrap intervals over seeds, paired differences, verdict rules.

With a handful of seeds per cell, a percentile bootstrap of the mean is rough
but honest: its interval is wide when the seeds disagree, and a verdict rule
that needs the interval to clear zero then says "inconclusive" instead of
guessing. Paired comparisons resample the per-seed differences, so the
variation that runs sharing a seed have in common cancels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Interval", "combine_verdicts", "directional_verdict", "identity_verdict", "mean_ci", "paired_ci"]


@dataclass(frozen=True)
class Interval:
    """A mean with its bootstrap interval over ``n`` values."""

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


def _values(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError(f"`{name}` is empty: an interval needs at least one value")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"`{name}` has non-finite values at positions {np.flatnonzero(~np.isfinite(v)).tolist()}")
    return v


def mean_ci(
    values: Sequence[float] | np.ndarray, *, n_bootstrap: int = 2000, level: float = 0.95, seed: int = 0
) -> Interval:
    """Mean of ``values`` with a percentile-bootstrap interval (seeded, vectorised).

    One value gives a zero-width interval at that value.

    >>> iv = mean_ci([0.90, 0.92, 0.91, 0.93, 0.89])
    >>> round(iv.estimate, 3), iv.low < iv.estimate < iv.high
    (0.91, True)
    """
    v = _values(values, "values")
    if not 0.0 < level < 1.0:
        raise ValueError(f"`level` must be in (0, 1); got {level}")
    if v.size == 1:
        return Interval(float(v[0]), float(v[0]), float(v[0]), 1, level)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(n_bootstrap, v.size))
    means = v[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return Interval(float(v.mean()), float(lo), float(hi), int(v.size), level)


def paired_ci(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    n_bootstrap: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Mean of the paired differences ``a - b`` (runs that share a seed) with its bootstrap interval.

    >>> iv = paired_ci([0.95, 0.96, 0.94], [0.90, 0.92, 0.91])
    >>> round(iv.estimate, 3), iv.low > 0
    (0.04, True)
    """
    a, b = _values(a, "a"), _values(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same number of seeds; got {a.size} and {b.size}")
    return mean_ci(a - b, n_bootstrap=n_bootstrap, level=level, seed=seed)


def directional_verdict(iv: Interval, *, margin: float = 0.0) -> str:
    """The verdict on "the difference is positive", from its interval.

    ``supported`` when the interval lies above 0; ``not supported`` when it lies
    below 0, or (with ``margin > 0``) inside ``(-margin, margin)``, i.e. the
    difference is shown to be negligible; ``inconclusive`` otherwise.

    >>> directional_verdict(Interval(0.03, 0.01, 0.05, 5))
    'supported'
    >>> directional_verdict(Interval(0.001, -0.002, 0.004, 5), margin=0.01)
    'not supported'
    >>> directional_verdict(Interval(0.01, -0.02, 0.04, 5))
    'inconclusive'
    """
    if iv.low > 0:
        return "supported"
    if iv.high < 0 or (margin > 0 and -margin < iv.low and iv.high < margin):
        return "not supported"
    return "inconclusive"


def identity_verdict(max_error: float, tolerance: float) -> str:
    """``supported`` when an identity holds to ``tolerance``, else ``not supported``.

    >>> identity_verdict(3e-16, 1e-12), identity_verdict(1e-3, 1e-12)
    ('supported', 'not supported')
    """
    return "supported" if np.isfinite(max_error) and max_error <= tolerance else "not supported"


def combine_verdicts(verdicts: Sequence[str]) -> str:
    """One verdict from several (datasets, settings): unanimous ones stand; any split is ``mixed``.

    Inconclusive parts beside one decided direction make the whole ``mixed`` too:
    the claim held somewhere and was not shown elsewhere.

    >>> combine_verdicts(["supported", "supported"]), combine_verdicts(["supported", "not supported"])
    ('supported', 'mixed')
    >>> combine_verdicts(["inconclusive", "inconclusive"])
    'inconclusive'
    """
    if not verdicts:
        raise ValueError("`verdicts` is empty: nothing to combine")
    unique = set(verdicts)
    if len(unique) == 1:
        return verdicts[0]
    return "mixed"
