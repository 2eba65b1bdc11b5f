"""Read: a prediction file in, chunks of (scores, class indices) out.

Formats, by the file's name: ``.csv`` and ``.tsv``, plain or compressed (``.gz``, ``.bz2``, ``.xz``; see
:mod:`.text`), ``.parquet`` and ``.npy`` (all of them streamable in chunks of rows) and ``.npz`` (read whole;
see :mod:`.binary`). Which columns are the labels and the scores: :mod:`.columns`; how labels become
class indices: :mod:`.labels`.

A :class:`Source` checks what can be checked up front (the header or schema, the columns, the kind of
labels) and then yields ``(first_row, scores, labels)`` chunks: float64 scores (k,) for one score column or
(k, C), int64 class indices (k,), checking every cell on the way. Row numbers are 1-based data rows (the
header is not a data row; text files' messages also give the line).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import EvaluateError
from .binary import NPY_LABEL, npy_source, npz_source, parquet_source
from .columns import Layout
from .delimited import delimited_source
from .labels import LabelCoder
from .options import ReadOptions
from .text import COMPRESSIONS, TEXT_SUFFIXES, split_suffix

__all__ = ["NPY_LABEL", "STREAMABLE", "EvaluateError", "Predictions", "ReadOptions", "Source", "open_source",
           "read_predictions"]  # fmt: skip

STREAMABLE = (".csv", ".tsv", ".parquet", ".npy")  # (.csv and .tsv also compressed)
FORMATS = ".csv, .tsv (also .gz, .bz2, .xz), .parquet, .npy or .npz"


@dataclass
class Source:
    """A file's columns and label coding, and ``chunks(chunk_rows)``: ``(first_row, scores, labels)``."""

    path: Path
    layout: Layout
    coder: LabelCoder
    chunks: Callable[[int], Iterator[tuple[int, np.ndarray, np.ndarray]]]
    n_rows: int | None = None  # when known up front (.parquet, .npy, .npz)
    notes: list[str] = field(default_factory=list)  # what was detected, for the report
    n_columns: int = 0  # columns in the file (the chunk size of wide files)
    estimate: Callable[[], int] | None = None

    @property
    def label_name(self) -> str:
        return self.layout.label_name

    @property
    def score_columns(self) -> list[str]:
        return self.layout.score_names

    @property
    def one(self) -> bool:
        """One score column: the score of class 1 of a binary problem."""
        return len(self.layout.scores) == 1

    @property
    def n_classes(self) -> int:
        return self.coder.n_classes

    def estimated_rows(self) -> int:
        """Data rows: exact for .parquet, .npy and .npz; estimated for text files (0: unknown)."""
        if self.n_rows is not None:
            return self.n_rows
        return self.estimate() if self.estimate is not None else 0

    def read_all(self, on_chunk: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Every row: (scores, labels), the chunks joined; ``on_chunk(rows_read)`` after each chunk."""
        parts = []
        for first, s, y in self.chunks(self.n_rows or 65_536):
            parts.append((s, y))
            if on_chunk is not None:
                on_chunk(first - 1 + y.shape[0])
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def file_format(path: Path) -> str:
    """The format's suffix: ``.csv``, ``.tsv``, ``.parquet``, ``.npy`` or ``.npz``; anything else is refused."""
    ext, comp = split_suffix(path)
    if ext in TEXT_SUFFIXES:
        return ext
    if comp is not None:
        if ext in (".npy", ".npz", ".parquet"):
            raise EvaluateError(f"{path.name}: compressed {ext} files are not read; decompress it first "
                                f"({ext} is read as it is; .npz and .parquet compress internally)")  # fmt: skip
        raise EvaluateError(f"{path.name}: unknown file type {ext + comp!r}; use {FORMATS}")
    if ext in (".npy", ".npz", ".parquet"):
        return ext
    raise EvaluateError(f"{path.name}: unknown file type {ext or '(none)'!r}; use {FORMATS}")


def open_source(path: str | os.PathLike, options: ReadOptions | str | None = None) -> Source:
    """The :class:`Source` of a prediction file; ``options`` may be just the label column's name."""
    path = Path(path)
    opts = options if isinstance(options, ReadOptions) else ReadOptions.make(label_column=options)
    try:
        if not path.is_file():
            raise EvaluateError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
        ext = file_format(path)
        if ext in TEXT_SUFFIXES:
            return delimited_source(path, opts)
        return {".parquet": parquet_source, ".npy": npy_source, ".npz": npz_source}[ext](path, opts)
    except PermissionError:
        raise EvaluateError(f"{path}: permission denied; make the file (and its directory) readable") from None


def is_compressed(path: Path) -> bool:
    return split_suffix(path)[1] in COMPRESSIONS


@dataclass
class Predictions:
    """Scores (n,) for one column or (n, C), integer labels (n,), and where they came from.

    >>> import numpy as np, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "p.npz")
    >>> np.savez(path, scores=np.array([[0.2, 0.8], [0.9, 0.1]]), labels=np.array(["dog", "cat"]))
    >>> p = read_predictions(path)
    >>> p.n_classes, p.classes, p.labels.tolist()
    (2, ['cat', 'dog'], [1, 0])
    """

    path: Path
    scores: np.ndarray
    labels: np.ndarray
    score_columns: list[str]
    label_column: str
    classes: list[str] | None = None  # class names in class order; None: the labels were class indices
    notes: list[str] = field(default_factory=list)
    coder: LabelCoder | None = None

    @property
    def n_classes(self) -> int:
        return 2 if self.scores.ndim == 1 else self.scores.shape[1]


def read_predictions(
    path: str | os.PathLike,
    label_column: str | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    options: ReadOptions | None = None,
) -> Predictions:
    """Read a whole prediction file (see the module docstring). ``options`` overrides ``label_column``.

    ``progress(rows_read, rows_expected)`` is called as the file is read (``rows_expected`` is an estimate
    for text files, 0 when unknown).
    """
    src = open_source(path, options if options is not None else ReadOptions.make(label_column=label_column))
    expected = src.estimated_rows() if progress is not None else 0
    scores, labels = src.read_all(None if progress is None else lambda done: progress(done, max(expected, done)))
    return Predictions(src.path, scores, labels, src.score_columns, src.label_name, src.coder.classes,
                       list(src.notes), src.coder)  # fmt: skip
