"""Interpret: are the scores probabilities or logits? And the probabilities either way.

A **probability row** has every value in [0, 1] and (two or more columns) sums to 1 within ``PROB_ROW_TOL``
(probabilities written with few decimals); rows off by more than rounding but within it are renormalised.
Without ``--probs`` / ``--logits``:

* every row is a probability row: **probabilities**;
* at least ``PROB_SHARE`` of the rows are probability rows but some are not (a value a hair above 1, a
  negative entry, a row summing to 0.5 or 1.0011): **refused**, naming the first such row and its value;
  a file of probabilities with a few broken rows is not a file of logits;
* every value is in [0, 1] but the rows do not sum to 1: **refused** (neither probabilities as they stand
  nor clearly logits: one-vs-rest probabilities, or a missing column?);
* otherwise, fewer than ``PROB_SHARE`` of the rows look like probabilities and some value is outside
  [0, 1]: **logits** (softmax; the sigmoid for one column), and the reason says how many rows are not
  probabilities and gives the first.

``--logits`` reads the scores as logits, whatever they hold. ``--probs`` reads them as probabilities and
repairs what rounding can explain: values at most ``PROB_CLIP_TOL`` outside [0, 1] are clipped to it, and
every row that does not sum to 1 is renormalised (a row summing to 0.5 is doubled); both are counted in the
report's warnings. A value further outside [0, 1], or a row of zeros, is refused even with ``--probs``.

A file streamed in chunks is judged on its first chunk; a later chunk that breaks the choice (a row that is
not probabilities after the first chunk read as probabilities) stops the evaluation, naming its row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import array_api_compat.numpy as xnp
import numpy as np

from .._array import sigmoid, softmax
from .._validation import row_sum_tolerance
from .errors import EvaluateError

PROB_ROW_TOL = 1e-3  # probability rows may sum to 1 +- this (probabilities written with few decimals)
PROB_SHARE = 0.5  # a file whose rows are at least this share probability rows is meant as probabilities
PROB_CLIP_TOL = 1e-2  # --probs clips values this close outside [0, 1]; further out is not a probability


@dataclass
class Interpretation:
    kind: str  # "probabilities" or "logits"
    reason: str
    forced: bool
    probs: np.ndarray  # same layout as the scores
    logits: np.ndarray | None  # the given logits; None when the input is probabilities
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class Interpreter:
    """Decides probabilities vs logits on the first batch of rows and holds every later batch to it.

    ``names``: the score columns (for messages); ``chunk_rows``: set when the file is streamed.
    """

    def __init__(self, path: Path, mode: str | None, names: list[str], chunk_rows: int | None = None):
        self.path, self.mode, self.names, self.chunk_rows = path, mode, names, chunk_rows
        self.kind: str | None = None
        self.reason = ""
        self.renormalised = 0  # rows renormalised, and the farthest (|sum - 1|, row, sum)
        self.clipped = 0  # values clipped (--probs), and the farthest (distance, row, column, value)
        self._far_row: tuple[float, int, float] = (0.0, 0, 1.0)
        self._far_value: tuple[float, int, str, float] = (0.0, 0, "", 0.0)

    # ------------------------------------------------------------ messages
    def _at(self, r: int, c: int | None = None) -> str:
        return f"row {r}" + ("" if c is None else f", column {self.names[c]!r}")

    def _problem(self, s: np.ndarray, r: int, first_row: int) -> str:
        """Why row ``r`` (0-based in ``s``) is not a probability row."""
        row = s[r] if s.ndim == 2 else s[r : r + 1]
        out = np.flatnonzero((row < 0) | (row > 1))
        if out.size:
            c = int(out[0])
            at = self._at(r + first_row, c if s.ndim == 2 else None)
            return f"a value outside [0, 1] ({float(row[c])!r} at {at})"
        return f"row {r + first_row} sums to {float(row.sum())!r} (tolerance {PROB_ROW_TOL:g})"

    @staticmethod
    def _ok_rows(s: np.ndarray) -> tuple[np.ndarray, bool]:
        """Probability rows; and whether every value is in [0, 1]."""
        inside = (s >= 0) & (s <= 1)
        if s.ndim == 1:
            return inside, bool(inside.all())
        return inside.all(axis=1) & (np.abs(s.sum(axis=1) - 1.0) <= PROB_ROW_TOL), bool(inside.all())

    # ------------------------------------------------------------ deciding
    def _decide(self, s: np.ndarray, first_row: int) -> None:
        one, f = s.ndim == 1, self.path.name
        how = "sigmoid" if one else "softmax"
        if self.mode == "logits":
            self.kind, self.reason = "logits", f"forced by --logits; probabilities are their {how}"
            return
        if self.mode == "probs":
            self.kind, self.reason = "probabilities", "forced by --probs"
            return
        ok, inside = self._ok_rows(s)
        n, k = int(ok.size), int(ok.size - ok.sum())
        what = "in [0, 1]" if one else "in [0, 1] and sum to 1"
        if k == 0:
            self.kind = "probabilities"
            self.reason = ("one score column with every value in [0, 1]: the probability of class 1" if one else
                           f"every value is in [0, 1] and every row sums to 1 (within {PROB_ROW_TOL:g})")  # fmt: skip
        else:
            r = int(np.flatnonzero(~ok)[0])
            problem = self._problem(s, r, first_row)
            if ok.mean() >= PROB_SHARE:
                raise EvaluateError(
                    f"{f}: the scores look like probabilities ({n - k} of {n} rows are {what}) but {k} "
                    f"row{'s are' if k > 1 else ' is'} not: {problem}. Correct the file; or pass --probs to read it "
                    f"as probabilities anyway (values within {PROB_CLIP_TOL:g} of [0, 1] are clipped, rows "
                    f"renormalised to sum to 1), or --logits if these are logits"
                )
            if inside:
                raise EvaluateError(
                    f"{f}: every score is in [0, 1] but {k} of {n} rows do not sum to 1 ({problem}): not "
                    f"probabilities as they stand, and not clearly logits. Pass --probs to renormalise each row to "
                    f"sum to 1 (if they are one-vs-rest probabilities; is a class column missing?), or --logits if "
                    f"these are logits"
                )
            self.kind = "logits"
            self.reason = (f"{k} of {n} rows are not probabilities ({problem}); probabilities are their {how}")
        if self.chunk_rows is not None:
            self.reason += f" (streaming: decided from the first chunk of {self.chunk_rows} rows)"

    def __call__(self, s: np.ndarray, first_row: int = 1) -> Interpretation:
        """Interpret one batch of scores; ``first_row``: the 1-based row number of ``s[0]``."""
        if self.kind is None:
            self._decide(s, first_row)
        forced = self.mode is not None
        if self.kind == "logits":
            P = sigmoid(xnp, s) if s.ndim == 1 else softmax(xnp, s, axis=-1)
            return Interpretation("logits", self.reason, forced, P, s)
        P = self._repair(s, first_row) if self.mode == "probs" else self._check(s, first_row)
        return Interpretation("probabilities", self.reason, forced, P, None)

    def _check(self, s: np.ndarray, first_row: int) -> np.ndarray:
        """Detected probabilities: every row must be a probability row; rounding is renormalised."""
        ok, _ = self._ok_rows(s)
        if not ok.all():
            r = int(np.flatnonzero(~ok)[0])
            raise EvaluateError(
                f"{self.path.name}: the first chunk was read as probabilities but a later chunk is not "
                f"probabilities: {self._problem(s, r, first_row)}. Pass --logits if these are logits, --probs to "
                f"renormalise such rows, or evaluate in memory (without --chunk-rows) to decide from every row"
            )
        return self._renormalise(s, first_row)

    def _repair(self, s: np.ndarray, first_row: int) -> np.ndarray:
        """--probs: clip values within PROB_CLIP_TOL of [0, 1], renormalise rows; refuse what is not rounding."""
        far = (s < -PROB_CLIP_TOL) | (s > 1 + PROB_CLIP_TOL)
        if far.any():
            pos = np.argwhere(far)[0]
            r, c = int(pos[0]), (int(pos[1]) if s.ndim == 2 else None)
            raise EvaluateError(
                f"{self.path.name}: --probs was given but the scores are not probabilities: a value outside [0, 1] "
                f"({float(s[tuple(pos)])!r} at {self._at(r + first_row, c)}), by more than the {PROB_CLIP_TOL:g} "
                f"that --probs clips as rounding. Drop --probs (or pass --logits) if these are logits"
            )
        out = (s < 0) | (s > 1)
        if out.any():
            dist = np.where(out, np.maximum(-s, s - 1), 0.0)
            pos = np.unravel_index(int(np.argmax(dist)), s.shape)
            self.clipped += int(out.sum())
            if dist[pos] > self._far_value[0]:
                col = self.names[pos[1]] if s.ndim == 2 else self.names[0]
                self._far_value = (float(dist[pos]), int(pos[0]) + first_row, col, float(s[pos]))
            s = np.clip(s, 0.0, 1.0)
        if s.ndim == 2:
            zero = ~(s.sum(axis=1) > 0)
            if zero.any():
                r = int(np.flatnonzero(zero)[0]) + first_row
                raise EvaluateError(f"{self.path.name}: --probs was given but row {r} sums to 0 (after clipping); "
                                    f"a row of probabilities cannot be all zeros: correct that row")  # fmt: skip
        return self._renormalise(s, first_row)

    def _renormalise(self, s: np.ndarray, first_row: int) -> np.ndarray:
        if s.ndim == 1:
            return s
        sums = s.sum(axis=1)
        dev = np.abs(sums - 1.0)
        off = dev > row_sum_tolerance(xnp, s.dtype, s.shape[1])
        if not off.any():
            return s
        r = int(np.argmax(dev))
        self.renormalised += int(off.sum())
        if dev[r] > self._far_row[0]:
            self._far_row = (float(dev[r]), r + first_row, float(sums[r]))
        P = s.copy()
        P[off] /= sums[off, None]
        return P

    # ------------------------------------------------------------ the report
    @property
    def notes(self) -> list[str]:
        if self.renormalised and self._far_row[0] <= PROB_ROW_TOL:
            return ["rows were renormalised to sum to 1 exactly (they were off by more than rounding)"]
        return []

    @property
    def warnings(self) -> list[str]:
        out = []
        if self.clipped:
            _, r, c, v = self._far_value
            out.append(f"--probs: {self.clipped} value{'s' if self.clipped > 1 else ''} outside [0, 1] clipped to "
                       f"it (the farthest: {v!r} at row {r}, column {c!r})")  # fmt: skip
        if self.renormalised and self._far_row[0] > PROB_ROW_TOL:
            _, r, total = self._far_row
            rows = f"{self.renormalised} row{'s' if self.renormalised > 1 else ''}"
            out.append(f"--probs: {rows} renormalised to sum to 1 (the farthest: row {r} summed to {total!r}); the "
                       f"metrics are of the renormalised rows")  # fmt: skip
        return out


def interpret(pred, mode: str | None = None) -> Interpretation:
    """Decide probabilities vs logits for a whole :class:`~losslab.evaluation.read.Predictions` (``mode``
    "probs" / "logits" forces it) and compute the probabilities."""
    judge = Interpreter(pred.path, mode, pred.score_columns)
    out = judge(pred.scores)
    out.notes, out.warnings = judge.notes, judge.warnings
    return out
