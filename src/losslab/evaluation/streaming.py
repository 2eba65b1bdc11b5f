"""Streaming ``losslab evaluate`` of CSV files larger than memory.

The CSV is read ``chunk_rows`` rows at a time with the :mod:`csv` module; at most one
chunk of rows (as strings, then as a float64 array) is held at once. Every metric is
accumulated from per-chunk sums:

* accuracy: count of correct argmax predictions;
* log loss and Brier score: sums of the per-row losses (``reduction="sum"``);
* ECE (top-label and classwise), MCE, the reliability curve and the Brier
  decomposition: :class:`losslab.calibration.CalibrationState` (per-bin sums),
  one per kind, updated with every chunk.

Probabilities vs logits is decided from the FIRST chunk (or forced by ``--probs`` /
``--logits``); a later chunk that contradicts the choice (a value outside [0, 1] or a
row that does not sum to 1 after the first chunk looked like probabilities) stops the
evaluation with the absolute row number. Bootstrap intervals need every prediction, so
they are reported as ``null`` with a note. ``--calibrate`` fits the calibrator on the
calibration file read whole (it is a held-out set, normally small) and applies it to
each chunk: every calibrator maps rows independently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import array_api_compat.numpy as xnp
import numpy as np

from .._array import sigmoid, softmax
from .._validation import row_sum_tolerance
from ..calibration import CalibrationState
from ..losses import brier_score, log_loss
from .interpret import PROB_ROW_TOL, Interpretation, _prob_problem
from .reading import EvaluateError

STREAM_BYTES = 256 * 2**20  # CSV files larger than this are streamed when --chunk-rows is not given
DEFAULT_CHUNK_ROWS = 65_536
BOOTSTRAP_NOTE = "not computed in streaming mode: needs all predictions"


class ChunkInterpreter:
    """Decides probabilities vs logits on the first chunk and holds every later chunk to it."""

    def __init__(self, path: Path, mode: str | None, chunk_rows: int):
        self.path, self.mode, self.chunk_rows = path, mode, chunk_rows
        self.kind: str | None = None
        self.reason = ""
        self.renormalised = False

    def __call__(self, s: np.ndarray, first_row: int) -> Interpretation:
        one = s.ndim == 1
        problem = None if self.mode == "logits" or self.kind == "logits" else _prob_problem(s, first_row)
        if self.kind is None:
            if self.mode == "probs" and problem is not None:
                raise EvaluateError(
                    f"{self.path.name}: --probs was given but the scores are not probabilities: {problem}. "
                    f"Drop --probs (or pass --logits) if these are logits, or normalise the rows"
                )
            how = "sigmoid" if one else "softmax"
            if self.mode == "logits" or problem is not None:
                self.kind = "logits"
                why = "forced by --logits" if self.mode == "logits" else f"the scores have {problem}"
                self.reason = f"{why}; probabilities are their {how}"
            else:
                self.kind = "probabilities"
                if self.mode == "probs":
                    self.reason = "forced by --probs"
                elif one:
                    self.reason = "one score column with every value in [0, 1]: the probability of class 1"
                else:
                    self.reason = f"every value is in [0, 1] and every row sums to 1 (within {PROB_ROW_TOL:g})"
            if self.mode is None:
                self.reason += f" (streaming: decided from the first chunk of {self.chunk_rows} rows)"
        elif self.kind == "probabilities" and problem is not None:
            given = "--probs was given" if self.mode == "probs" else "the first chunk was read as probabilities"
            raise EvaluateError(
                f"{self.path.name}: {given} but a later chunk is not probabilities: {problem}. "
                + (
                    "Pass --logits if these are logits"
                    if self.mode == "probs"
                    else "Pass --logits if these are logits, or evaluate in memory (without --chunk-rows) to detect "
                    "the kind from every row"
                )  # fmt: skip
            )
        if self.kind == "logits":
            P = sigmoid(xnp, s) if one else softmax(xnp, s, axis=-1)
            return Interpretation("logits", self.reason, self.mode is not None, P, s)
        P = s
        if not one:
            sums = s.sum(axis=1, keepdims=True)
            if np.max(np.abs(sums - 1.0)) > row_sum_tolerance(xnp, s.dtype, s.shape[1]):
                P = s / sums
                self.renormalised = True
        return Interpretation("probabilities", self.reason, self.mode is not None, P, None)

    @property
    def notes(self) -> list[str]:
        return ["rows were renormalised to sum to 1 exactly (they were off by more than rounding)"] * self.renormalised


class MetricAccumulator:
    """Sums for every metric of :func:`losslab.evaluation.metrics.compute_metrics`, updated chunk by chunk."""

    def __init__(self, n_bins: int):
        self.n = 0
        self.correct = 0
        self.log_loss_sum = 0.0
        self.brier_sum = 0.0
        self.top = CalibrationState(n_bins, kind="top-label")
        self.classwise = CalibrationState(n_bins, kind="classwise")

    def update(self, P: np.ndarray, y: np.ndarray) -> None:
        pred = (P > 0.5).astype(np.int64) if P.ndim == 1 else np.argmax(P, axis=1)
        self.n += int(y.shape[0])
        self.correct += int(np.count_nonzero(pred == y))
        self.log_loss_sum += float(log_loss(P, y, reduction="sum"))
        self.brier_sum += float(brier_score(P, y, reduction="sum"))
        self.top.update(P, y)
        self.classwise.update(P, y)

    def result(self) -> dict[str, Any]:
        d = self.top.brier_decomposition()
        out: dict[str, Any] = {
            "n": self.n,
            "accuracy": self.correct / self.n,
            "log_loss": self.log_loss_sum / self.n,
            "brier": self.brier_sum / self.n,
            "brier_decomposition": {
                k: float(getattr(d, k))
                for k in ("reliability", "resolution", "uncertainty", "within_bin_variance", "within_bin_covariance")
            },
        }
        for name, state in (("ece_top_label", self.top), ("ece_classwise", self.classwise)):
            out[name] = {"estimate": state.compute(), "ci_low": None, "ci_high": None, "note": BOOTSTRAP_NOTE}
        out["mce"] = self.top.compute(norm="max")
        return out
