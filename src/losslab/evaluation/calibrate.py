"""Calibrate: ``--calibrate`` fits a calibrator on held-out predictions and applies it to the evaluated file.

A fit that is not to be trusted is a **warning** in the report, not a silent number:

* the calibrator ended at a bound of its parameter space (:class:`~losslab.calibration.CalibrationWarning`,
  ``at_bound_``: TemperatureScaling at T = 0.01 or 100);
* the fit raised the log loss of its own fitting set (the calibration file), which a fit that minimises
  it cannot do unless it failed (isotonic and histogram binning minimise squared error, not log loss);
* calibration raised the log loss of the evaluated file (:func:`transfer_warnings`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..calibration import (
    CalibrationWarning,
    DirichletCalibration,
    HistogramBinning,
    IsotonicCalibration,
    MatrixScaling,
    PlattScaling,
    TemperatureScaling,
    VectorScaling,
)
from ..losses import log_loss
from .errors import EvaluateError
from .interpret import Interpretation

# name -> (class, input it needs: "logits" or "probs")
CALIBRATORS: dict[str, tuple[type, str]] = {
    "temperature": (TemperatureScaling, "logits"),
    "platt": (PlattScaling, "logits"),
    "vector": (VectorScaling, "logits"),
    "matrix": (MatrixScaling, "logits"),
    "dirichlet": (DirichletCalibration, "probs"),
    "isotonic": (IsotonicCalibration, "probs"),
    "histogram": (HistogramBinning, "probs"),
}


def _logit_features(interp: Interpretation) -> np.ndarray:
    """Logits in the input's layout; from probabilities: log p (rows) or log-odds (one column)."""
    if interp.logits is not None:
        return interp.logits
    tiny = np.finfo(np.float64).eps
    P = np.clip(interp.probs, tiny, 1.0 - tiny if interp.probs.ndim == 1 else 1.0)
    return np.log(P) - np.log1p(-P) if P.ndim == 1 else np.log(P)


def _params(cal: Any) -> dict[str, Any]:
    """The calibrator's fitted attributes that are numbers or arrays (JSON-ready)."""
    out: dict[str, Any] = {}
    for k, v in sorted(vars(cal).items()):
        if not k.endswith("_") or k.startswith("_"):
            continue
        if isinstance(v, (bool, np.bool_)):
            out[k] = bool(v)
        elif isinstance(v, (int, float, np.integer, np.floating)):
            out[k] = v.item() if hasattr(v, "item") else v
        elif isinstance(v, np.ndarray) and v.dtype.kind in "biuf":
            out[k] = v.tolist()
        elif k == "fit_warnings_":
            continue  # collected as the fit's warnings (``FittedCalibrator.warnings``)
        elif isinstance(v, list) and all(isinstance(e, np.ndarray) for e in v):
            out[k] = [e.tolist() for e in v]
        elif isinstance(v, list):
            out[k] = f"{len(v)} fitted {type(v[0]).__name__ if v else 'object'} maps (not serialised)"
    return out


@dataclass
class FittedCalibrator:
    """A calibrator fitted on held-out predictions; :meth:`apply` maps any batch of the same layout."""

    method: str
    model: Any
    needs: str  # "logits" or "probs"
    one: bool  # one score column (binary, 1-d probabilities)
    params: dict[str, Any]
    notes: list[str]
    warnings: list[str]
    n_rows: int = 0  # the rows it was fitted on (set by the pipeline)

    def _features(self, interp: Interpretation) -> np.ndarray:
        X = interp.probs if self.needs == "probs" else _logit_features(interp)
        if self.one and self.needs == "logits" and self.method != "platt":  # sigmoid(z) = softmax([0, z])
            X = np.column_stack([np.zeros_like(X), X])
        return X

    def apply(self, ev: Interpretation) -> np.ndarray:
        """Calibrated probabilities of ``ev`` (row by row, so batches may be applied one at a time)."""
        try:
            P = self.model.predict_proba(self._features(ev))
        except (ValueError, TypeError) as exc:
            msg = f"--calibrate {self.method}: the calibrator could not be fitted or applied: {exc}"
            raise EvaluateError(msg) from None
        if self.one and P.ndim == 2:
            P = P[:, 1]
        return np.asarray(P, dtype=np.float64)


def fit_calibrator(method: str, cal: Interpretation, cal_y: np.ndarray, *, n_bins: int,
                   source: str = "the calibration file") -> FittedCalibrator:  # fmt: skip
    """Fit ``method`` on (cal, cal_y); ``cal`` must be of the evaluated file's kind and classes.
    ``source``: the calibration file's name, for the warnings."""
    cls, needs = CALIBRATORS[method]
    one = cal.probs.ndim == 1
    notes: list[str] = []
    if method == "platt" and not one and cal.probs.shape[1] != 2:
        raise EvaluateError(
            f"--calibrate platt is for binary problems; the predictions have {cal.probs.shape[1]} classes. "
            f"Use temperature, vector, matrix or dirichlet"
        )
    model = cls(n_bins=n_bins) if method == "histogram" else cls()
    if needs == "probs":
        if cal.kind == "logits":
            notes.append(f"{method} calibration works on probabilities: fitted on the softmax/sigmoid of the logits")
    elif cal.kind == "probabilities":
        notes.append(
            f"{method} scaling works on logits: fitted on "
            + ("the log-odds of the probabilities" if one else "the log-probabilities (softmax(log p) = p)")
        )
    fitted = FittedCalibrator(method, model, needs, one, {}, notes, [])
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CalibrationWarning)
            model.fit(fitted._features(cal), cal_y)
    except (ValueError, TypeError) as exc:
        raise EvaluateError(f"--calibrate {method}: the calibrator could not be fitted or applied: {exc}") from None
    # a fit at a bound of its parameter space is a warning of the report, where the reader looks
    fitted.warnings += [str(w.message) for w in caught if issubclass(w.category, CalibrationWarning)]
    if getattr(model, "at_bound_", False) and not fitted.warnings:
        fitted.warnings.append(f"{type(model).__name__}: the fit ended at a bound of its parameter space (at_bound_); "
                               f"the calibrated probabilities may be far worse on new data")  # fmt: skip
    fitted.params = _params(model)
    before = float(log_loss(cal.probs, cal_y))
    after = float(log_loss(fitted.apply(cal), cal_y))
    if after > before + 1e-9 * max(1.0, before):
        kind = ("it minimises squared error, not log loss" if method in ("isotonic", "histogram")
                else "the fit failed to minimise it")  # fmt: skip
        fitted.warnings.append(
            f"{method} calibration raised the log loss of its own fitting set {source} from {before:.4f} to "
            f"{after:.4f} ({kind}); the calibrated metrics are not to be trusted"
        )
    return fitted


def transfer_warnings(method: str, before: dict[str, Any], after: dict[str, Any], name: str) -> list[str]:
    """A warning when calibration made the evaluated file's log loss worse (``before``/``after``: metrics)."""
    b, a = before["log_loss"]["estimate"], after["log_loss"]["estimate"]
    if a > b + 1e-9 * max(1.0, b):
        return [f"{method} calibration raised the log loss of {name} from {b:.4f} to {a:.4f}: the calibrator "
                f"fitted on the calibration file does not carry over (too few rows, no mistakes, or a different "
                f"distribution?); report the uncalibrated metrics"]  # fmt: skip
    return []


def calibrate(method: str, cal: Interpretation, cal_y: np.ndarray, ev: Interpretation, *, n_bins: int):
    """Fit ``method`` on (cal, cal_y); return (calibrated probabilities of ``ev``, fitted params, notes).

    ``cal`` is read with the same kind (logits/probabilities) and columns as ``ev``.
    """
    fitted = fit_calibrator(method, cal, cal_y, n_bins=n_bins)
    return fitted.apply(ev), fitted.params, [*fitted.notes, *fitted.warnings]
