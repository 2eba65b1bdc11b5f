"""Errors and cell checks shared by the readers of ``losslab evaluate``.

Every message names the file, the 1-based data row (CSV: also the file's line) and the column.
"""

from __future__ import annotations

import math
from pathlib import Path

import click
import numpy as np


class EvaluateError(click.ClickException):
    """A bad input file or option: printed as ``Error: ...``, exit code 2.

    >>> EvaluateError("x.csv: bad").exit_code
    2
    """

    exit_code = 2


def _number(path: Path, value: str, row: int, column: str, line: int | None = None) -> float:
    where = f"{path.name}: row {row}" + (f" (line {line})" if line is not None else "") + f", column {column!r}"
    try:
        x = float(value)
    except (TypeError, ValueError):
        shown = "an empty cell" if str(value).strip() == "" else repr(value)
        raise EvaluateError(f"{where}: {shown} is not a number; every score and label cell must be numeric") from None
    if not math.isfinite(x):
        raise EvaluateError(f"{where}: {value!r} is not finite; scores and labels must be finite numbers")
    return x


def _check_label_column(path: Path, header: list[str], label_column: str | None) -> None:
    if label_column is None:
        raise EvaluateError(f"{path.name}: pass --label-column to name the column of true labels")
    if label_column not in header:
        raise EvaluateError(
            f"{path.name}: label column {label_column!r} not found; the columns are "
            f"{', '.join(repr(h) for h in header)}. Pass --label-column with one of them"
        )
    if len(header) < 2:
        raise EvaluateError(f"{path.name}: only the label column {label_column!r}; expected score columns as well")


def _check_finite(path: Path, a: np.ndarray, names: list[str], first_row: int = 1) -> None:
    """``first_row``: the 1-based row number of ``a[0]``."""
    bad = ~np.isfinite(a)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise EvaluateError(
            f"{path.name}: row {r + first_row}, column {names[c]!r}: {float(a[r, c])!r} is not finite; "
            f"scores and labels must be finite numbers"
        )


def _labels(path: Path, y: np.ndarray, n_classes: int, column: str, first_row: int = 1) -> np.ndarray:
    """Float labels -> int64 class indices in [0, n_classes - 1], or an error naming the first bad row.

    ``first_row``: the 1-based row number of ``y[0]`` (chunks of a streamed file start later).
    """
    non_int = y != np.round(y)
    if non_int.any():
        r = int(np.flatnonzero(non_int)[0])
        raise EvaluateError(
            f"{path.name}: row {r + first_row}, column {column!r}: label {float(y[r])!r} is not an integer; "
            f"labels must be class indices 0..{n_classes - 1}"
        )
    out = y.astype(np.int64)
    bad = (out < 0) | (out >= n_classes)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise EvaluateError(
            f"{path.name}: row {r + first_row}, column {column!r}: label {out[r]} is outside the classes "
            f"0..{n_classes - 1} "
            f"(one class per score column; 0 or 1 for a single column)"
        )
    return out
