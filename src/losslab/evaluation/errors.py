"""The one error of ``losslab evaluate`` and the cell checks every reader shares.

Every message names the file, the 1-based data row (text files: also the file's line) and the
column, says what is wrong and how to fix it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import click
import numpy as np


class EvaluateError(click.ClickException):
    """A bad input file or option: printed as ``Error: ...``, exit code 2.

    >>> EvaluateError("x.csv: bad").exit_code
    2
    """

    exit_code = 2


def where(path: Path, row: int, column: str | None = None, line: int | None = None) -> str:
    """``"x.csv: row 3 (line 4), column 'p1'"``."""
    return (f"{path.name}: row {row}" + (f" (line {line})" if line is not None else "")
            + (f", column {column!r}" if column is not None else ""))  # fmt: skip


def number(path: Path, value: str, row: int, column: str, line: int | None = None) -> float:
    """``float(value)``, or an error naming the cell."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        shown = "an empty cell" if str(value).strip() == "" else repr(value)
        hint = ""
        if re.fullmatch(r"\s*-?\d+,\d+\s*", str(value)):
            hint = " (a decimal comma? write numbers with a decimal point)"
        raise EvaluateError(
            f"{where(path, row, column, line)}: {shown} is not a number{hint}; every score cell (and every "
            f"label cell of numeric labels) must be a number"
        ) from None
    if not math.isfinite(x):
        raise EvaluateError(f"{where(path, row, column, line)}: {value!r} is not finite; scores and labels must be "
                            f"finite numbers")  # fmt: skip
    return x


def check_finite(path: Path, a: np.ndarray, names: list[str], first_row: int = 1) -> None:
    """``a`` (k,) or (k, len(names)); ``first_row``: the 1-based row number of ``a[0]``."""
    bad = ~np.isfinite(a)
    if bad.any():
        pos = np.argwhere(bad)[0]
        r, c = (int(pos[0]), int(pos[1])) if a.ndim == 2 else (int(pos[0]), 0)
        raise EvaluateError(
            f"{where(path, r + first_row, names[c])}: {float(a[tuple(pos)])!r} is not finite; scores and labels "
            f"must be finite numbers"
        )
