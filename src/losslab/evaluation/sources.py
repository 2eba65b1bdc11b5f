"""Prediction files read in chunks of rows: .csv, .parquet and .npy.

A :class:`Source` checks what can be checked up front (the header or schema,
the label column, the array's shape and type) and then yields float64 tables
of at most ``chunk_rows`` rows, label column included, in file order, checking
every cell on the way. ``losslab evaluate`` streams a large file chunk by chunk
through it and reads a small one by joining the chunks, so both paths share one
reader and one set of error messages.

* ``.csv``: the :mod:`csv` module; a chunk of rows is converted in bulk and only a
  chunk that NumPy rejects is re-read cell by cell to name the bad cell.
* ``.parquet``: pyarrow's ``ParquetFile.iter_batches`` (pyarrow is needed only for
  this format); columns must be integer, floating or boolean, without nulls.
* ``.npy``: memory-mapped, so a chunk is a slice of the file.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._checks import EvaluateError, _check_finite, _check_label_column, _number

STREAMABLE = (".csv", ".parquet", ".npy")
NPY_LABEL = "label (last column)"
CSV_CHUNK_ROWS = 65_536  # rows converted at once when a CSV is read whole: bulk speed, bounded lists


@dataclass
class Source:
    """A file's columns and a generator of its row chunks: ``chunks(chunk_rows)`` yields
    ``(first_row, table)`` with ``first_row`` 1-based and ``table`` float64 (k, len(header))."""

    path: Path
    header: list[str]
    label: int  # index of the label column in ``header``
    chunks: Callable[[int], Iterator[tuple[int, np.ndarray]]]
    n_rows: int | None = None  # when known up front (.parquet, .npy): read whole in one chunk

    @property
    def label_name(self) -> str:
        return self.header[self.label]

    @property
    def score_columns(self) -> list[str]:
        return [h for k, h in enumerate(self.header) if k != self.label]

    def estimated_rows(self) -> int:
        """The number of data rows: exact for .parquet and .npy; for .csv, the file's size over the
        mean length of the lines in its first MiB (for a progress bar)."""
        if self.n_rows is not None:
            return self.n_rows
        with open(self.path, "rb") as fh:
            head = fh.read(1 << 20)
        lines = head.count(b"\n") + (not head.endswith(b"\n"))
        if lines <= 1:
            return 1
        first = head.index(b"\n") + 1  # the header line
        per_line = (len(head) - first) / (lines - 1)
        return max(1, round((self.path.stat().st_size - first) / per_line))

    def read_all(self, on_chunk: Callable[[int], None] | None = None) -> np.ndarray:
        """Every row as one float64 table (the chunks joined); ``on_chunk(rows_read)`` after each chunk."""
        tables = []
        for first, t in self.chunks(self.n_rows or CSV_CHUNK_ROWS):
            tables.append(t)
            if on_chunk is not None:
                on_chunk(first - 1 + t.shape[0])
        return tables[0] if len(tables) == 1 else np.concatenate(tables)


def open_source(path: str | Path, label_column: str | None) -> Source:
    """The :class:`Source` of a .csv, .parquet or .npy file (``label_column`` is ignored for .npy)."""
    path = Path(path)
    if not path.is_file():
        raise EvaluateError(f"{path}: no such file")
    ext = path.suffix.lower()
    if ext == ".csv":
        header = read_csv_header(path, label_column)
        return Source(path, header, header.index(label_column), lambda k: iter_csv_chunks(path, header, k))
    if ext == ".parquet":
        return _parquet_source(path, label_column)
    if ext == ".npy":
        return _npy_source(path)
    raise EvaluateError(f"{path.name}: {ext or 'a file without extension'} cannot be read in chunks; use "
                        f"{', '.join(STREAMABLE)}")  # fmt: skip


# ------------------------------------------------------------------- csv
def read_csv_header(path: Path, label_column: str | None) -> list[str]:
    """The checked header of a CSV file (stripped names; the label column must be one of them)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), None)
    if header is None or not any(h.strip() for h in header):
        raise EvaluateError(f"{path.name}: the file is empty; expected a header row, then one row per sample")
    header = [h.strip() for h in header]
    _check_label_column(path, header, label_column)
    return header


def _to_array(path: Path, rows: list[list[str]], lines: list[int], first_row: int, header: list[str]) -> np.ndarray:
    """Rows of cells -> float64 (k, ncol); the first bad cell is reported with its row, line and column."""
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


# --------------------------------------------------------------- parquet
def _parquet_source(path: Path, label_column: str | None) -> Source:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise EvaluateError(
            f"{path.name}: reading .parquet files needs pyarrow, which is not installed; "
            f"install it (pip install 'losslab[parquet]') or convert the file to .csv, .npy or .npz"
        ) from None
    try:
        f = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise EvaluateError(f"{path.name}: not a readable .parquet file ({exc}); it may be truncated") from None
    schema = f.schema_arrow
    header = list(schema.names)
    _check_label_column(path, header, label_column)
    for field in schema:
        if not (pa.types.is_integer(field.type) or pa.types.is_floating(field.type) or pa.types.is_boolean(field.type)):
            raise EvaluateError(
                f"{path.name}: column {field.name!r} has type {field.type}; every column must be numeric"
            )
    if f.metadata.num_rows == 0:
        raise EvaluateError(f"{path.name}: no data rows; the file holds no predictions")

    def chunks(chunk_rows: int) -> Iterator[tuple[int, np.ndarray]]:
        n = 0
        batches = f.iter_batches(batch_size=chunk_rows)
        while True:
            try:
                batch = next(batches, None)
            except (pa.ArrowException, OSError) as exc:
                raise EvaluateError(
                    f"{path.name}: unreadable after row {n} ({exc}); the file may be truncated"
                ) from None
            if batch is None:
                return
            for name, col in zip(header, batch.columns, strict=True):
                if col.null_count:
                    r = int(np.flatnonzero(np.asarray(col.is_null()))[0]) + n + 1
                    raise EvaluateError(
                        f"{path.name}: row {r}, column {name!r}: missing value; every cell must be numeric"
                    )
            table = np.column_stack([col.to_numpy(zero_copy_only=False).astype(np.float64) for col in batch.columns])
            _check_finite(path, table, header, first_row=n + 1)
            yield n + 1, table
            n += batch.num_rows

    return Source(path, header, header.index(label_column), chunks, f.metadata.num_rows)


# ------------------------------------------------------------------- npy
def _npy_source(path: Path) -> Source:
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
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
    header = [f"score_{k}" for k in range(a.shape[1] - 1)] + [NPY_LABEL]

    def chunks(chunk_rows: int) -> Iterator[tuple[int, np.ndarray]]:
        for i in range(0, a.shape[0], chunk_rows):
            table = np.asarray(a[i : i + chunk_rows], dtype=np.float64)
            _check_finite(path, table, header, first_row=i + 1)
            yield i + 1, table

    return Source(path, header, a.shape[1] - 1, chunks, a.shape[0])
