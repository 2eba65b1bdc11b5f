"""Input checks and the shared ``report`` of the post-hoc calibrators.

Calibrators work on NumPy float64 (any array-like is converted): they are
fitted once on a held-out set with SciPy, not trained inside a graph.
Messages follow :mod:`losslab._validation`: the argument, the offending
value or position, and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import array_api_compat as aac
import array_api_compat.numpy as xnp
import numpy as np
from sklearn.base import BaseEstimator

from .._array import softmax
from .._validation import fmt, label_at, nonfinite_error, position, range_error, row_sum_tolerance
from ..losses import log_loss
from ._guards import refuse_masked, weight_exponent

XP = aac.array_namespace(np.empty(0))


def as_float(name: str, X: Any) -> np.ndarray:
    refuse_masked(**{name: X})
    try:
        out = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be an array of real numbers; got {type(X).__name__}: {exc}") from None
    return out


def check_finite(name: str, X: np.ndarray) -> None:
    if X.size and not np.all(np.isfinite(X)):
        err = nonfinite_error(XP, name, X)
        if err is not None:  # always: X is float64 and holds a NaN or an infinity
            raise err


def check_logits(X: Any, name: str = "X", n_classes: int | None = None) -> np.ndarray:
    """Logits (n_samples, n_classes), n_classes >= 2, finite."""
    X = as_float(name, X)
    if X.ndim != 2 or X.shape[1] < 2:
        raise ValueError(
            f"`{name}` must be logits of shape (n_samples, n_classes) with n_classes >= 2; got shape {X.shape}"
        )
    if X.shape[0] == 0:
        raise ValueError(f"`{name}` is empty (shape {X.shape}); a calibrator needs at least one sample")
    check_finite(name, X)
    check_classes(name, X, n_classes)
    return X


def check_classes(name: str, X: np.ndarray, n_classes: int | None) -> None:
    if n_classes is not None and X.shape[1] != n_classes:
        raise ValueError(
            f"`{name}` has {X.shape[1]} classes (columns) but the calibrator was fitted on {n_classes}; "
            f"pass the same classes, in the same order, as to fit"
        )


def check_probs(X: Any, name: str = "X", n_classes: int | None = None) -> np.ndarray:
    """Probabilities: (n,) of class 1 (binary) or (n, C) rows summing to 1, C >= 2."""
    X = as_float(name, X)
    if X.ndim not in (1, 2) or (X.ndim == 2 and X.shape[1] < 2):
        raise ValueError(
            f"`{name}` must be probabilities of shape (n_samples,) (binary: probability of class 1) or "
            f"(n_samples, n_classes) with n_classes >= 2; got shape {X.shape}"
        )
    if X.shape[0] == 0:
        raise ValueError(f"`{name}` is empty (shape {X.shape}); a calibrator needs at least one sample")
    if n_classes is not None:
        fitted = 1 if n_classes == 1 else n_classes
        got = 1 if X.ndim == 1 else X.shape[1]
        if got != fitted:
            raise ValueError(
                f"`{name}` has shape {X.shape} but the calibrator was fitted on "
                + ("1-d binary probabilities" if fitted == 1 else f"{fitted} classes")
                + "; pass probabilities in the layout used for fit"
            )
    err = range_error(XP, name, X, 0.0, 1.0)  # NaN fails the range check too
    if err is not None:
        raise err
    if X.ndim == 2:
        sums = X.sum(axis=1)
        tol = row_sum_tolerance(XP, X.dtype, X.shape[1])
        bad = ~(np.abs(sums - 1.0) <= tol)
        if np.any(bad):
            pos = position(XP, bad)
            raise ValueError(
                f"`{name}` rows must be probabilities summing to 1 (within {tol:.1g}); row {fmt(pos)} sums to "
                f"{float(sums[pos])!r}. Normalise the rows, or pass logits to a logit calibrator "
                f"(TemperatureScaling, VectorScaling, MatrixScaling)"
            )
    return X


def check_target(y: Any, n_samples: int, n_classes: int, name: str = "X") -> np.ndarray:
    """Integer (or bool) class indices in [0, n_classes - 1], one per row of ``X``."""
    refuse_masked(y=y)
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n_samples:
        raise ValueError(f"`y` must have shape ({n_samples},) (one label per row of `{name}`); got {y.shape}")
    if y.dtype.kind == "f":  # labels stored as floats (0.0, 1.0, ...): class indices when integral
        bad = ~((y >= 0) & (y < n_classes))  # NaN fails both
        frac = ~bad & (y != np.floor(np.where(bad, 0.0, y)))
        for mask, what in ((bad, f"class indices in [0, {n_classes - 1}] (columns of `{name}`)"),
                           (frac, "integer class indices (or integral floats)")):  # fmt: skip
            if np.any(mask):
                pos = position(XP, mask)
                raise ValueError(f"`y` must hold {what}; got {label_at(y, pos)} at index {fmt(pos)}")
        return y.astype(np.int64)
    if y.dtype.kind not in "iub":
        raise TypeError(
            f"`y` must hold integer class indices; got dtype {y.dtype}. Cast with astype(int) "
            f"(encode string labels with sklearn.preprocessing.LabelEncoder)"
        )
    bad = (y < 0) | (y >= n_classes)  # in the labels' own dtype: uint64 2**63 must not wrap to negative
    if np.any(bad):
        pos = position(XP, bad)
        raise ValueError(
            f"`y` must hold class indices in [0, {n_classes - 1}] (columns of `{name}`); got {label_at(y, pos)} "
            f"at index {fmt(pos)}"
        )
    return y.astype(np.int64)


def weight_scale(sample_weight: Any, n_samples: int) -> tuple[np.ndarray | None, int]:
    """Checked weights divided by ``2**e`` (exact), and ``e``: nonzero when the weights' sum would overflow
    float64 or they are all tiny (:func:`._guards.weight_exponent`). Only Platt scaling, whose smoothed
    targets count the weights, needs ``e``; every other fit depends on the ratios alone."""
    if sample_weight is None:
        return None, 0
    w = as_float("sample_weight", sample_weight)
    if w.shape != (n_samples,):
        raise ValueError(f"`sample_weight` must have shape ({n_samples},) (one per sample); got {w.shape}")
    bad = ~((w >= 0) & (w < math.inf))
    if np.any(bad):
        pos = position(XP, bad)
        raise ValueError(f"`sample_weight` must be finite and non-negative; got {float(w[pos])!r} at index {fmt(pos)}")
    e = weight_exponent(w)
    if e:
        w = np.ldexp(w, -e)
    if not w.sum() > 0:
        raise ValueError("`sample_weight` sums to 0; give at least one sample a positive weight")
    return w, e


def check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray | None:
    """Checked weights, divided by a power of two when huge or tiny (:func:`weight_scale`)."""
    return weight_scale(sample_weight, n_samples)[0]


def as_columns(p: np.ndarray) -> np.ndarray:
    """(n,) probabilities of class 1 -> (n, 2) rows."""
    return np.stack([1.0 - p, p], axis=1) if p.ndim == 1 else p


def softmax_np(Z: np.ndarray) -> np.ndarray:
    """Row softmax of a NumPy array, through losslab's stable primitive."""
    return softmax(xnp, Z, axis=-1)


def renormalise(P: np.ndarray) -> np.ndarray:
    """One-vs-rest columns -> rows summing to 1; an all-zero row becomes uniform (as scikit-learn)."""
    s = P.sum(axis=1, keepdims=True)
    out = np.full_like(P, 1.0 / P.shape[1])
    np.divide(P, s, out=out, where=s > 0)
    return out


def _summary(p: np.ndarray, y: np.ndarray, prefix: str, ece: Any) -> dict[str, float]:
    P = as_columns(np.clip(p, 0.0, 1.0))
    out = {
        f"nll_{prefix}": float(log_loss(P, y)),
        f"accuracy_{prefix}": float(np.mean(np.argmax(P, axis=1) == y)),
    }
    if ece is not None:
        out[f"ece_{prefix}"] = float(ece(P, y))
    return out


class Calibrator(BaseEstimator):
    """Base class: the ``report`` shared by every calibrator.

    Subclasses define ``_check_fit_input(X, y)`` returning ``(X, y)``,
    ``_uncalibrated(X)`` (the probabilities before calibration) and
    ``predict_proba``.
    """

    def report(self, X: Any, y: Any) -> dict[str, float]:
        """NLL (mean log loss) and accuracy before and after calibration on ``(X, y)``.

        Keys ``nll_before``, ``nll_after``, ``accuracy_before``,
        ``accuracy_after``; and ``ece_before``, ``ece_after`` when
        ``losslab.calibration.metrics.ece`` can be imported (checked at each
        call, with its default binning). Binary 1-d probabilities are
        reported as two columns; accuracy is the argmax's (ties to class 0).
        """
        ece_fn: Callable[..., float] | None
        try:
            from .metrics import ece as ece_fn
        except ImportError:
            ece_fn = None
        before = self._uncalibrated(X)
        after = self.predict_proba(X)
        y = check_target(y, before.shape[0], as_columns(before).shape[1])
        return {**_summary(before, y, "before", ece_fn), **_summary(after, y, "after", ece_fn)}
