"""Deciding whether scores are probabilities or logits, and computing probabilities."""

from __future__ import annotations

from dataclasses import dataclass, field

import array_api_compat.numpy as xnp
import numpy as np

from .._array import sigmoid, softmax
from .._validation import row_sum_tolerance
from .reading import EvaluateError, Predictions

PROB_ROW_TOL = 1e-3  # probability rows may sum to 1 +- this (probabilities written with few decimals)


@dataclass
class Interpretation:
    kind: str  # "probabilities" or "logits"
    reason: str
    forced: bool
    probs: np.ndarray  # same layout as the scores
    logits: np.ndarray | None  # the given logits; None when the input is probabilities
    notes: list[str] = field(default_factory=list)


def _prob_problem(s: np.ndarray, first_row: int = 1) -> str | None:
    """Why ``s`` is not probabilities (None when it is); ``first_row`` numbers ``s[0]``."""
    out = (s < 0) | (s > 1)
    if out.any():
        pos = np.argwhere(out)[0] if s.ndim == 2 else (int(np.flatnonzero(out)[0]),)
        where = f"row {pos[0] + first_row}" + (f", column {pos[1] + 1}" if s.ndim == 2 else "")
        return f"a value outside [0, 1] ({float(s[tuple(pos)])!r} at {where})"
    if s.ndim == 2:
        sums = s.sum(axis=1)
        bad = ~(np.abs(sums - 1.0) <= PROB_ROW_TOL)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            return (
                f"rows that do not sum to 1 (row {r + first_row} sums to {float(sums[r])!r}; "
                f"tolerance {PROB_ROW_TOL:g})"
            )
    return None


def interpret(pred: Predictions, mode: str | None = None) -> Interpretation:
    """Decide probabilities vs logits (``mode`` "probs"/"logits" forces it) and compute probabilities."""
    s = pred.scores
    problem = _prob_problem(s)
    one = s.ndim == 1
    if mode == "probs" and problem is not None:
        raise EvaluateError(
            f"{pred.path.name}: --probs was given but the scores are not probabilities: {problem}. "
            f"Drop --probs (or pass --logits) if these are logits, or normalise the rows"
        )
    if mode == "logits" or (mode is None and problem is not None):
        reason = "forced by --logits" if mode == "logits" else f"the scores have {problem}"
        P = sigmoid(xnp, s) if one else softmax(xnp, s, axis=-1)
        how = "sigmoid" if one else "softmax"
        return Interpretation("logits", f"{reason}; probabilities are their {how}", mode is not None, P, s)
    if mode == "probs":
        reason = "forced by --probs"
    elif one:
        reason = "one score column with every value in [0, 1]: the probability of class 1"
    else:
        reason = f"every value is in [0, 1] and every row sums to 1 (within {PROB_ROW_TOL:g})"
    notes = []
    P = s
    if not one:
        sums = s.sum(axis=1, keepdims=True)
        if np.max(np.abs(sums - 1.0)) > row_sum_tolerance(xnp, s.dtype, s.shape[1]):
            P = s / sums
            notes.append("rows were renormalised to sum to 1 exactly (they were off by more than rounding)")
    return Interpretation("probabilities", reason, mode is not None, P, None, notes)
