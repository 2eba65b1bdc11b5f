"""Streaming ``losslab evaluate`` of files larger than memory (.csv, .parquet, .npy).

The file is read ``chunk_rows`` rows at a time through :mod:`losslab.evaluation.sources`;
at most one chunk of rows is held at once. Every chunk goes
to one :class:`losslab.evaluation.metrics.MetricAccumulator` (the
same sums, bootstrap row groups included, that score a file read whole), so memory
does not grow with the file and the numbers equal the in-memory ones to rounding.

Probabilities vs logits is decided from the FIRST chunk (or forced by ``--probs`` /
``--logits``); a later chunk that contradicts the choice (a value outside [0, 1] or a
row that does not sum to 1 after the first chunk looked like probabilities) stops the
evaluation with the absolute row number. ``--calibrate`` fits the calibrator on the
calibration file read whole (it is a held-out set, normally small) and applies it to
each chunk: every calibrator maps rows independently.
"""

from __future__ import annotations

from pathlib import Path

import array_api_compat.numpy as xnp
import numpy as np

from .._array import sigmoid, softmax
from .._validation import row_sum_tolerance
from .interpret import PROB_ROW_TOL, Interpretation, _prob_problem
from .reading import EvaluateError

STREAM_BYTES = 256 * 2**20  # .csv/.parquet/.npy files larger than this are streamed without --chunk-rows
DEFAULT_CHUNK_ROWS = 65_536
CHUNK_ELEMENTS = 1 << 20  # cells per automatic chunk: wide files (many classes) get fewer rows per chunk
MIN_CHUNK_ROWS = 1_024  # enough rows for the first chunk to decide probabilities vs logits


def auto_chunk_rows(n_columns: int) -> int:
    """Rows per chunk when a large file is streamed without --chunk-rows: ``DEFAULT_CHUNK_ROWS``,
    fewer for wide files so that a chunk and its temporaries stay ~8 MiB per array."""
    return min(DEFAULT_CHUNK_ROWS, max(MIN_CHUNK_ROWS, CHUNK_ELEMENTS // max(1, n_columns)))


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
