"""Reading prediction files (.csv, .npy, .npz, .parquet) for ``losslab evaluate``.

Every error names the file, the 1-based data row (CSV: also the file's line) and the column.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np


class EvaluateError(click.ClickException):
    """A bad input file or option: printed as ``Error: ...``, exit code 2.

    >>> EvaluateError("x.csv: bad").exit_code
    2
    """

    exit_code = 2


@dataclass
class Predictions:
    """Scores (n,) for one column or (n, C), integer labels (n,), and where they came from.

    >>> import numpy as np, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "p.npz")
    >>> np.savez(path, scores=np.array([[0.2, 0.8], [0.9, 0.1]]), labels=np.array([1, 0]))
    >>> from losslab.evaluate import read_predictions
    >>> read_predictions(path).n_classes
    2
    """

    path: Path
    scores: np.ndarray
    labels: np.ndarray
    score_columns: list[str]
    label_column: str

    @property
    def n_classes(self) -> int:
        return 2 if self.scores.ndim == 1 else self.scores.shape[1]


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


def _read_csv(path: Path, label_column: str | None) -> tuple[list[str], np.ndarray]:
    """Header and a float64 (n, k) table: the streaming reader's chunks, joined.

    Cells are converted in bulk per chunk; only a chunk that NumPy rejects is
    re-read cell by cell, to name the file, row, line and column at fault.
    """
    header = read_csv_header(path, label_column)
    tables = [table for _, table in iter_csv_chunks(path, header, CSV_CHUNK_ROWS)]
    return header, tables[0] if len(tables) == 1 else np.concatenate(tables)


CSV_CHUNK_ROWS = 65_536  # rows converted at once: bulk speed, bounded temporary lists


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


def _read_parquet(path: Path, label_column: str | None) -> tuple[list[str], np.ndarray]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise EvaluateError(
            f"{path.name}: reading .parquet files needs pyarrow, which is not installed; "
            f"install it (pip install pyarrow) or convert the file to .csv, .npy or .npz"
        ) from None
    table = pq.read_table(path)
    header = list(table.column_names)
    _check_label_column(path, header, label_column)
    if table.num_rows == 0:
        raise EvaluateError(f"{path.name}: no data rows; the file holds no predictions")
    cols = []
    for name in header:
        col = table.column(name)
        if col.null_count:
            row = int(np.flatnonzero(np.asarray(col.is_null()))[0]) + 1
            raise EvaluateError(f"{path.name}: row {row}, column {name!r}: missing value; every cell must be numeric")
        values = col.to_numpy(zero_copy_only=False)
        if values.dtype.kind not in "biuf":
            raise EvaluateError(f"{path.name}: column {name!r} has type {col.type}; every column must be numeric")
        cols.append(np.asarray(values, dtype=np.float64))
    return header, np.stack(cols, axis=1)


def _check_finite(path: Path, a: np.ndarray, names: list[str]) -> None:
    bad = ~np.isfinite(a)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise EvaluateError(
            f"{path.name}: row {r + 1}, column {names[c]!r}: {float(a[r, c])!r} is not finite; "
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


def read_csv_header(path: Path, label_column: str | None) -> list[str]:
    """The checked header of a CSV file (same messages as the in-memory reader)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), None)
    if header is None or not any(h.strip() for h in header):
        raise EvaluateError(f"{path.name}: the file is empty; expected a header row, then one row per sample")
    header = [h.strip() for h in header]
    _check_label_column(path, header, label_column)
    return header


def _to_array(path: Path, rows: list[list[str]], lines: list[int], first_row: int, header: list[str]) -> np.ndarray:
    """Rows of cells -> float64 (k, ncol); a bad cell is reported as the in-memory reader does."""
    try:
        a = np.array(rows, dtype=np.float64)
        if np.isfinite(a).all():
            return a
    except ValueError:
        pass
    for i, (row, line) in enumerate(zip(rows, lines, strict=True)):  # slow path: find the first bad cell
        for v, c in zip(row, header, strict=True):
            _number(path, v, first_row + i, c, line)
    raise AssertionError("unreachable: numpy rejected a cell that float() accepts")  # pragma: no cover


def iter_csv_chunks(path: Path, header: list[str], chunk_rows: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_row, table)``: float64 tables of at most ``chunk_rows`` data rows, in file order."""
    n = 0
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        rows: list[list[str]] = []
        lines: list[int] = []
        for row in reader:
            if not row:
                continue
            i = n + len(rows) + 1
            if len(row) != len(header):
                raise EvaluateError(
                    f"{path.name}: row {i} (line {reader.line_num}) has {len(row)} fields but the header has "
                    f"{len(header)}; the file is truncated or malformed"
                )
            rows.append(row)
            lines.append(reader.line_num)
            if len(rows) == chunk_rows:
                yield n + 1, _to_array(path, rows, lines, n + 1, header)
                n += len(rows)
                rows, lines = [], []
        if rows:
            yield n + 1, _to_array(path, rows, lines, n + 1, header)
            n += len(rows)
    if n == 0:
        raise EvaluateError(f"{path.name}: no data rows after the header; the file holds no predictions")


def read_predictions(path: str | os.PathLike, label_column: str | None = None) -> Predictions:
    """Read scores and labels from .csv, .npy, .npz or .parquet (see the module docstring).

    >>> import numpy as np, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "p.npz")
    >>> np.savez(path, scores=np.array([[0.2, 0.8], [0.9, 0.1]]), labels=np.array([1, 0]))
    >>> read_predictions(path).scores.shape
    (2, 2)
    """
    path = Path(path)
    if not path.is_file():
        raise EvaluateError(f"{path}: no such file")
    ext = path.suffix.lower()
    if ext in (".csv", ".parquet"):
        header, table = (_read_csv if ext == ".csv" else _read_parquet)(path, label_column)
        _check_finite(path, table, header)
        j = header.index(label_column)
        names = [h for k, h in enumerate(header) if k != j]
        scores, y, label_name = np.delete(table, j, axis=1), table[:, j], label_column
    elif ext == ".npy":
        try:
            a = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise EvaluateError(f"{path.name}: not a readable .npy file ({exc}); it may be truncated") from None
        if a.ndim != 2 or a.shape[1] < 2:
            raise EvaluateError(
                f"{path.name}: a .npy file must hold a 2-d array (scores..., label) with the label in the LAST "
                f"column; got shape {a.shape}"
            )
        if a.shape[0] == 0:
            raise EvaluateError(f"{path.name}: the array has no rows; the file holds no predictions")
        if a.dtype.kind not in "biuf":
            raise EvaluateError(f"{path.name}: the array has dtype {a.dtype}; it must be numeric")
        a = a.astype(np.float64)
        names = [f"score_{k}" for k in range(a.shape[1] - 1)]
        _check_finite(path, a, names + ["label (last column)"])
        scores, y, label_name = a[:, :-1], a[:, -1], "label (last column)"
    elif ext == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (ValueError, OSError, EOFError) as exc:
            raise EvaluateError(f"{path.name}: not a readable .npz file ({exc}); it may be truncated") from None
        label_name = label_column if label_column in arrays else "labels"
        for key in ("scores", label_name):
            if key not in arrays:
                raise EvaluateError(
                    f"{path.name}: no array {key!r}; a .npz file needs arrays 'scores' (n, C) or (n,) and "
                    f"'labels' (n,); it holds {sorted(arrays) or 'nothing'}"
                )
        s, y = arrays["scores"], arrays[label_name]
        if s.ndim not in (1, 2) or y.ndim != 1 or s.shape[0] != y.shape[0]:
            raise EvaluateError(
                f"{path.name}: 'scores' must have shape (n, C) or (n,) and {label_name!r} shape (n,); got "
                f"{s.shape} and {y.shape}"
            )
        if s.shape[0] == 0:
            raise EvaluateError(f"{path.name}: the arrays have no rows; the file holds no predictions")
        for key, arr in (("scores", s), (label_name, y)):
            if arr.dtype.kind not in "biuf":
                raise EvaluateError(f"{path.name}: array {key!r} has dtype {arr.dtype}; it must be numeric")
        s2 = s.reshape(s.shape[0], -1).astype(np.float64)
        names = [f"scores[:, {k}]" for k in range(s2.shape[1])]
        _check_finite(path, np.column_stack([s2, y.astype(np.float64)]), names + [label_name])
        scores, y = s2, y.astype(np.float64)
    else:
        raise EvaluateError(f"{path.name}: unknown file type {ext or '(none)'!r}; use .csv, .npy, .npz or .parquet")
    if scores.shape[1] == 1:
        scores = scores[:, 0]
    n_classes = 2 if scores.ndim == 1 else scores.shape[1]
    labels = _labels(path, y, n_classes, label_name)
    return Predictions(path, scores, labels, names, label_name)
