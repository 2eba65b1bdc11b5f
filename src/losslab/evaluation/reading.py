"""Reading a whole prediction file (.csv, .npy, .npz, .parquet) for ``losslab evaluate``.

.csv, .parquet and .npy go through :mod:`losslab.evaluation.sources` (the chunked
readers of the streaming path, joined); .npz archives are read here. Every error
names the file, the 1-based data row (CSV: also the file's line) and the column.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._checks import EvaluateError, _check_finite, _labels
from .sources import STREAMABLE, open_source

__all__ = ["EvaluateError", "Predictions", "read_predictions"]


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


def read_predictions(
    path: str | os.PathLike, label_column: str | None = None, *, progress: Callable[[int, int], None] | None = None
) -> Predictions:
    """Read scores and labels from .csv, .npy, .npz or .parquet (see the module docstring).

    ``progress(rows_read, rows_expected)`` is called as a .csv, .parquet or .npy file is read
    (``rows_expected`` is an estimate for .csv).

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
    if ext in STREAMABLE:
        src = open_source(path, label_column)
        expected = src.estimated_rows() if progress is not None else 0
        table = src.read_all(None if progress is None else lambda done: progress(done, max(expected, done)))
        names, label_name = src.score_columns, src.label_name
        scores, y = np.delete(table, src.label, axis=1), table[:, src.label]
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
