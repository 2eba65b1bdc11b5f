"""The :class:`~losslab.evaluation.read.Source` of .parquet, .npy and .npz files.

* ``.parquet``: pyarrow's ``ParquetFile.iter_batches`` (pyarrow is needed only for this format), only the
  columns used; the columns are chosen as in a CSV file with a header (pandas' ``__index_level_0__`` is an
  index); score columns must be integer, floating or boolean, the label column may also hold strings.
* ``.npy``: a 2-d numeric array, the label in the LAST column; memory-mapped, a chunk is a slice.
* ``.npz``: arrays ``scores`` (n, C) or (n,) and ``labels`` (n,) (or the array named by ``--label-column``);
  labels may be numbers, booleans or strings. Read whole.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import EvaluateError, check_finite
from .columns import ColumnInfo, Layout, choose_columns
from .delimited import SAMPLE_ROWS
from .labels import LabelCoder, canonical, label_coder
from .options import ReadOptions

NPY_LABEL = "label (last column)"


def _no_column_options(path: Path, opts: ReadOptions, what: str) -> None:
    for option, value in (("--score-columns", opts.score_columns), ("--ignore-columns", opts.ignore_columns),
                          ("--header", opts.header), ("--encoding", opts.encoding)):  # fmt: skip
        if value is not None:
            raise EvaluateError(f"{path.name}: {option} is for .csv, .tsv and .parquet files; {what}")


# --------------------------------------------------------------- parquet
def parquet_source(path: Path, opts: ReadOptions):
    from . import Source

    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise EvaluateError(
            f"{path.name}: reading .parquet files needs pyarrow, which is not installed; "
            f"install it (pip install 'losslab[parquet]') or convert the file to .csv, .npy or .npz"
        ) from None
    if opts.header is not None or opts.encoding is not None:
        raise EvaluateError(f"{path.name}: --header, --no-header and --encoding are for .csv and .tsv files; a "
                            f".parquet file names its columns itself")  # fmt: skip
    try:
        f = pq.ParquetFile(path)
        schema = f.schema_arrow
        first = next(f.iter_batches(batch_size=SAMPLE_ROWS), None) if f.metadata.num_rows else None
    except (pa.ArrowException, OSError) as exc:
        raise EvaluateError(f"{path.name}: not a readable .parquet file ({exc}); it may be truncated") from None
    names = [n or f"Unnamed: {j}" for j, n in enumerate(schema.names)]
    numeric = [pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) for t in schema.types]
    texty = [pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t) for t in schema.types]
    infos = []
    for j in range(len(names)):
        col = None if first is None else first.column(j)
        if col is None or col.null_count:
            infos.append(ColumnInfo())
        elif numeric[j]:
            infos.append(ColumnInfo.of_numbers(col.to_numpy(zero_copy_only=False).astype(np.float64)))
        else:
            infos.append(ColumnInfo.of_cells([str(v) for v in col.to_pylist()]))
    layout = choose_columns(path, names, infos, header=True, unnamed=[not n for n in schema.names],
                            label_column=opts.label_column, score_columns=opts.score_columns,
                            ignore_columns=opts.ignore_columns)  # fmt: skip
    for k in layout.scores:
        if not numeric[k]:
            raise EvaluateError(f"{path.name}: column {names[k]!r} has type {schema.types[k]}; every column must be "
                                f"numeric (a score column: integer, floating or boolean)")  # fmt: skip
    j = layout.label
    if not (numeric[j] or texty[j]):
        raise EvaluateError(f"{path.name}: label column {names[j]!r} has type {schema.types[j]}; labels must be "
                            f"integers, booleans or strings")  # fmt: skip
    if f.metadata.num_rows == 0:
        raise EvaluateError(f"{path.name}: no data rows; the file holds no predictions")
    assert first is not None  # num_rows > 0, so there is a first batch
    lab = first.column(j)
    if numeric[j] and not pa.types.is_boolean(schema.types[j]):
        coder = LabelCoder(path, names[j], "integer", 2 if len(layout.scores) == 1 else len(layout.scores))
        if opts.classes is not None:
            coder = label_coder(path, names[j], [], layout.score_names, classes=opts.classes)
    else:
        def distinct(limit: int) -> set[str]:
            seen: set[str] = set()
            for b in f.iter_batches(batch_size=65_536, columns=[schema.names[j]]):
                seen |= {canonical(v) for v in b.column(0).to_pylist() if v is not None}
                if len(seen) > limit:
                    break
            return seen

        cells = [str(v) for v in lab.to_pylist() if v is not None]
        coder = label_coder(path, names[j], cells, layout.score_names, classes=opts.classes, distinct=distinct,
                            boolean=pa.types.is_boolean(schema.types[j]))  # fmt: skip
    used = [*layout.scores, j]

    def chunks(chunk_rows: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        n = 0
        batches = f.iter_batches(batch_size=chunk_rows, columns=[schema.names[k] for k in used])
        while True:
            try:
                batch = next(batches, None)
            except (pa.ArrowException, OSError) as exc:
                raise EvaluateError(f"{path.name}: unreadable after row {n} ({exc}); the file may be truncated"
                                    ) from None  # fmt: skip
            if batch is None:
                return
            for k, col in zip(used, batch.columns, strict=True):
                if col.null_count:
                    r = int(np.flatnonzero(np.asarray(col.is_null()))[0]) + n + 1
                    raise EvaluateError(f"{path.name}: row {r}, column {names[k]!r}: missing value; every cell "
                                        f"must be numeric (labels: a number, boolean or name)")  # fmt: skip
            cols = [c.to_numpy(zero_copy_only=False).astype(np.float64) for c in batch.columns[:-1]]
            s = cols[0] if len(cols) == 1 else np.column_stack(cols)
            check_finite(path, s, layout.score_names, first_row=n + 1)
            y = batch.columns[-1].to_numpy(zero_copy_only=False)
            if coder.kind == "integer":
                check_finite(path, y.astype(np.float64), [names[j]], first_row=n + 1)
            yield n + 1, s, coder.encode_values(y, n + 1)
            n += batch.num_rows

    return Source(path, layout, coder, chunks, f.metadata.num_rows, list(layout.notes), len(names))


# ------------------------------------------------------------------- npy
def npy_source(path: Path, opts: ReadOptions):
    from . import Source

    _no_column_options(path, opts, "a .npy file holds the scores, then the label in the last column")
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
    names = [f"score_{k}" for k in range(a.shape[1] - 1)] + [NPY_LABEL]
    layout = Layout(names, len(names) - 1, list(range(len(names) - 1)))
    coder = (LabelCoder(path, NPY_LABEL, "integer", 2 if a.shape[1] == 2 else a.shape[1] - 1) if opts.classes is None
             else label_coder(path, NPY_LABEL, [], names[:-1], classes=opts.classes))  # fmt: skip

    def chunks(chunk_rows: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        for i in range(0, a.shape[0], chunk_rows):
            table = np.asarray(a[i : i + chunk_rows], dtype=np.float64)
            check_finite(path, table, names, first_row=i + 1)
            s = table[:, 0] if table.shape[1] == 2 else table[:, :-1]
            yield i + 1, s, coder.encode_values(table[:, -1], i + 1)

    return Source(path, layout, coder, chunks, a.shape[0], [], a.shape[1])


# ------------------------------------------------------------------- npz
def npz_source(path: Path, opts: ReadOptions):
    from . import Source

    _no_column_options(path, opts, "a .npz file holds arrays 'scores' and 'labels'")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as exc:
        raise EvaluateError(f"{path.name}: not a readable .npz file ({exc}); save it with np.savez and arrays of "
                            f"numbers, booleans or strings") from None  # fmt: skip
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, KeyError) as exc:
        raise EvaluateError(f"{path.name}: not a readable .npz file ({exc}); it is probably truncated: save it "
                            f"again") from None  # fmt: skip
    label_name = opts.label_column if opts.label_column is not None and opts.label_column in arrays else "labels"
    for key in ("scores", label_name):
        if key not in arrays:
            raise EvaluateError(
                f"{path.name}: no array {key!r}; a .npz file needs arrays 'scores' (n, C) or (n,) and "
                f"'labels' (n,); it holds {sorted(arrays) or 'nothing'}"
            )
    s, y = arrays["scores"], arrays[label_name]
    if s.ndim not in (1, 2) or y.ndim != 1 or s.shape[0] != y.shape[0] or (s.ndim == 2 and s.shape[1] == 0):
        raise EvaluateError(f"{path.name}: 'scores' must have shape (n, C) or (n,) and {label_name!r} shape (n,); "
                            f"got {s.shape} and {y.shape}")  # fmt: skip
    if s.shape[0] == 0:
        raise EvaluateError(f"{path.name}: the arrays have no rows; the file holds no predictions")
    if s.dtype.kind not in "biuf":
        raise EvaluateError(f"{path.name}: array 'scores' has dtype {s.dtype}; it must be numeric")
    if y.dtype.kind not in "biufUS":
        raise EvaluateError(f"{path.name}: array {label_name!r} has dtype {y.dtype}; labels must be numbers, "
                            f"booleans or strings")  # fmt: skip
    s = s.astype(np.float64)
    s = s[:, 0] if s.ndim == 2 and s.shape[1] == 1 else s
    C = 1 if s.ndim == 1 else s.shape[1]
    names = [f"scores[:, {k}]" for k in range(C)]
    check_finite(path, s, names)
    layout = Layout([*names, label_name], C, list(range(C)))
    if y.dtype.kind in "iuf" and opts.classes is None:
        check_finite(path, y.astype(np.float64), [label_name])
        coder = LabelCoder(path, label_name, "integer", 2 if C == 1 else C)
    else:
        text = [str(v) for v in y.astype(str).tolist()] if y.dtype.kind in "US" else [str(v) for v in y.tolist()]
        every = {canonical(v) for v in text}
        coder = label_coder(path, label_name, text, names, classes=opts.classes, distinct=lambda limit: every,
                            boolean=y.dtype.kind == "b")  # fmt: skip
        y = np.array(text, dtype=object) if y.dtype.kind != "b" else y

    def chunks(chunk_rows: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        yield 1, s, coder.encode_values(y, 1)

    return Source(path, layout, coder, chunks, s.shape[0], [], C + 1)
