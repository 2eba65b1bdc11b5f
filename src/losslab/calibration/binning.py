"""Non-parametric post-hoc calibration of probabilities: isotonic regression and histogram binning.

Both take probabilities ``X``: binary (n,) (the probability of class 1) or
multiclass (n, C) rows summing to 1. Multiclass is one-vs-rest: one map per
class from ``X[:, c]`` to the frequency of ``y == c``, then each row is
renormalised to sum to 1 (a row mapped to all zeros becomes uniform, as in
scikit-learn's ``CalibratedClassifierCV``). ``predict_proba`` returns the
layout of its input.

References: Zadrozny & Elkan (2001), histogram binning; Zadrozny & Elkan
(2002), isotonic regression for calibration.
"""

from __future__ import annotations

import abc
import numbers
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.utils.validation import check_is_fitted

from ._base import Calibrator, check_probs, check_sample_weight, check_target, renormalise
from ._fit import finish
from ._guards import check_bin_memory

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self needs Python 3.11

__all__ = ["HistogramBinning", "IsotonicCalibration"]


class _OneVsRest(Calibrator, abc.ABC):
    @abc.abstractmethod
    def _fit_column(self, p: np.ndarray, t: np.ndarray, w: np.ndarray | None) -> Any:
        """Fit the map of one class's probabilities to that class's outcome frequency."""

    @abc.abstractmethod
    def _apply_column(self, model: Any, p: np.ndarray) -> np.ndarray:
        """Apply one fitted column map."""

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self:
        self._check_params()
        X = check_probs(X)
        C = 2 if X.ndim == 1 else X.shape[1]
        y = check_target(y, X.shape[0], C)
        w = check_sample_weight(sample_weight, X.shape[0])
        self._start(X.shape[0], 1 if X.ndim == 1 else C)
        if X.ndim == 1:
            self.calibrators_ = [self._fit_column(X, (y == 1).astype(np.float64), w)]
        else:
            self.calibrators_ = [self._fit_column(X[:, c], (y == c).astype(np.float64), w) for c in range(C)]
        self.n_classes_ = 1 if X.ndim == 1 else C  # 1: binary 1-d layout
        finish(self, self._diagnose(X.shape[0]))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities: (n,) of class 1 for 1-d input, else (n, C) renormalised rows."""
        check_is_fitted(self)
        X = check_probs(X, n_classes=self.n_classes_)
        if X.ndim == 1:
            return np.clip(self._apply_column(self.calibrators_[0], X), 0.0, 1.0)
        P = np.stack([self._apply_column(m, X[:, c]) for c, m in enumerate(self.calibrators_)], axis=1)
        return renormalise(np.clip(P, 0.0, 1.0))

    def _uncalibrated(self, X: Any) -> np.ndarray:
        return check_probs(X)

    def _check_params(self) -> None:
        pass

    def _start(self, n_samples: int, n_maps: int) -> None:
        """Fitted state that does not depend on the data's values (before the column maps)."""

    def _diagnose(self, n_samples: int) -> list[str]:
        """The fit's warnings (``fit_warnings_``)."""
        return []


class IsotonicCalibration(_OneVsRest):
    """Isotonic calibration: a non-decreasing step map fitted by weighted least squares (PAV).

    Wraps ``sklearn.isotonic.IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1)``,
    one per class (one for binary 1-d input), fitted on ``(X[:, c], y == c)``
    with ``sample_weight``; scores outside the fitted range take the value at
    the nearest end; between fitted points the map is linearly interpolated.

    Fitted attributes: ``calibrators_`` (list of fitted ``IsotonicRegression``),
    ``n_classes_`` (C, or 1 for the binary 1-d layout), ``fit_warnings_``
    (always empty: pool-adjacent-violators has no optimiser to fail; it is the
    NLL-optimal non-decreasing map of each column, but the renormalised
    multiclass rows are not).

    >>> import numpy as np
    >>> p = np.array([0.1, 0.4, 0.35, 0.8])
    >>> IsotonicCalibration().fit(p, np.array([0, 0, 1, 1])).predict_proba(p).tolist()
    [0.0, 0.5, 0.5, 1.0]
    """

    def _fit_column(self, p: np.ndarray, t: np.ndarray, w: np.ndarray | None) -> Any:
        return IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(p, t, sample_weight=w)

    def _apply_column(self, model: Any, p: np.ndarray) -> np.ndarray:
        return model.predict(p)


class HistogramBinning(_OneVsRest):
    """Histogram binning: equal-width bins on [0, 1], each mapped to its weighted positive frequency.

    Bin ``k`` covers ``[k / n_bins, (k + 1) / n_bins)`` (the last bin includes
    1). A bin's calibrated probability is ``sum(w * [y == c]) / sum(w)`` over
    the fitting samples that fall in it; a bin that received no weight gets
    its centre ``(k + 0.5) / n_bins``, a placeholder rather than a calibrated
    frequency: the fit warns (:class:`CalibrationWarning`, ``fit_warnings_``)
    with the number of such bins, and says so when ``n_bins`` exceeds the
    number of fitting samples. ``n_bins`` is refused before anything is
    allocated when its per-bin arrays would exceed 1 GiB (:mod:`._guards`).

    Fitted attributes: ``bin_edges_`` (n_bins + 1,), ``calibrators_`` (list
    of (n_bins,) arrays of bin probabilities, one per class, or one for binary
    1-d input), ``n_classes_``, ``empty_bins_`` (bins, over all classes, that
    received no fitting weight), ``fit_warnings_``. ``predict_proba`` uses the
    fitted bins: ``set_params(n_bins=...)`` after ``fit`` changes the next
    ``fit``, not the fitted map (scikit-learn's semantics).

    >>> import numpy as np
    >>> p = np.array([0.1, 0.2, 0.7, 0.9])
    >>> HistogramBinning(n_bins=2).fit(p, np.array([0, 1, 1, 1])).predict_proba(p).tolist()
    [0.5, 0.5, 1.0, 1.0]
    """

    def __init__(self, n_bins: int = 15) -> None:
        self.n_bins = n_bins

    def _check_params(self) -> None:
        if isinstance(self.n_bins, bool) or not isinstance(self.n_bins, numbers.Integral) or self.n_bins < 1:
            raise ValueError(f"`n_bins` must be a positive integer; got {self.n_bins!r}")

    def _start(self, n_samples: int, n_maps: int) -> None:
        B = int(self.n_bins)
        # the maps (n_maps x B) and, per column, the edges, masses, sums, centres and the map being built
        check_bin_memory(B, n_maps + 5, f"HistogramBinning's {n_maps} bin map(s) and their sums")
        self.bin_edges_ = np.linspace(0.0, 1.0, B + 1)
        self.empty_bins_ = 0

    def _bins(self, p: np.ndarray) -> np.ndarray:
        B = self.bin_edges_.shape[0] - 1  # the fitted bins, whatever n_bins is now
        return np.minimum((p * B).astype(np.int64), B - 1)

    def _fit_column(self, p: np.ndarray, t: np.ndarray, w: np.ndarray | None) -> Any:
        B = self.bin_edges_.shape[0] - 1
        idx = self._bins(p)
        ww = np.ones_like(p) if w is None else w
        mass = np.bincount(idx, weights=ww, minlength=B)
        pos = np.bincount(idx, weights=ww * t, minlength=B)
        out = (np.arange(B) + 0.5) / B  # the centres, where no weight fell
        np.divide(pos, mass, out=out, where=mass > 0)
        self.empty_bins_ += int(np.count_nonzero(~(mass > 0)))
        return out

    def _apply_column(self, values: np.ndarray, p: np.ndarray) -> np.ndarray:
        return values[self._bins(p)]

    def _diagnose(self, n_samples: int) -> list[str]:
        if not self.empty_bins_:
            return []
        B = self.bin_edges_.shape[0] - 1
        k = len(self.calibrators_)
        total = f"{B * k} bins ({B} bins x {k} classes)" if k > 1 else f"{B} bins"
        many = (f" (n_bins={B} exceeds the {n_samples} fitting samples, so at least {B - n_samples} per class are "
                f"empty)" if B > n_samples else "")  # fmt: skip
        they = "they map to their" if self.empty_bins_ > 1 else "it maps to its"
        return [
            f"HistogramBinning: {self.empty_bins_} of {total} received no fitting sample{many}; {they} bin centre "
            f"(k + 0.5) / n_bins, a placeholder rather than a calibrated frequency. Use fewer bins or fit on more data"
        ]
