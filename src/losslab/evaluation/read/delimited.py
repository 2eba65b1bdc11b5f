"""The :class:`~losslab.evaluation.read.Source` of a .csv / .tsv file (plain or compressed).

The first ``SAMPLE_ROWS`` rows decide the header, the columns and the kind of labels (see
:mod:`.columns` and :mod:`.labels`); then the file is read again from the start in chunks of rows. A chunk's
cells are converted in bulk; only a chunk that NumPy rejects is gone through cell by cell to name the bad
cell (row, line, column).
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import EvaluateError, number
from .columns import choose_columns, column_infos, detect_header
from .labels import canonical, label_coder
from .options import ReadOptions
from .text import text_file

SAMPLE_ROWS = 1000  # rows that decide the header, the columns and the labels
SAMPLE_CELLS = 1 << 20  # ... fewer for wide files


def delimited_source(path: Path, opts: ReadOptions):
    from . import Source

    tf = text_file(path, opts.encoding)
    name = path.name
    rows = tf.rows()
    try:
        first = next(rows, None)
        if first is None or not any(c.strip() for c in first[1]):
            raise EvaluateError(f"{name}: the file is empty; expected a header row, then one row per sample")
        width = len(first[1])
        cap = min(SAMPLE_ROWS, max(20, SAMPLE_CELLS // width))
        sample = [r for _, r in itertools.islice(rows, cap) if len(r) == width]
    finally:
        rows.close()
    infos = column_infos(sample, width)
    header = detect_header(path, first[1], infos, opts.header)
    if header:
        raw = [h.strip() for h in first[1]]
        unnamed = [not h for h in raw]
        names = [h or f"Unnamed: {j}" for j, h in enumerate(raw)]
        if not sample:
            raise EvaluateError(f"{name}: no data rows after the header; the file holds no predictions")
    else:
        names, unnamed = [str(j + 1) for j in range(width)], [False] * width
        sample = [first[1], *sample[: cap - 1]]
        infos = column_infos(sample, width)
        tf.notes.append(f"no header row (line 1 is data): the columns are numbered 1..{width}")
    layout = choose_columns(path, names, infos, header=header, unnamed=unnamed, label_column=opts.label_column,
                            score_columns=opts.score_columns, ignore_columns=opts.ignore_columns)  # fmt: skip
    j = layout.label

    def distinct(limit: int) -> set[str]:
        seen: set[str] = set()
        for rows, _ in tf.row_chunks(65_536, skip=int(header)):
            seen |= {canonical(r[j]) for r in rows if len(r) == width}
            if len(seen) > limit:
                break
        return seen

    coder = label_coder(path, layout.label_name, [r[j] for r in sample], layout.score_names, classes=opts.classes,
                        distinct=distinct)  # fmt: skip
    score_idx = layout.scores
    get, get_label = operator.itemgetter(*score_idx), operator.itemgetter(j)
    # every column a score or the label, labels numbers: the whole table in one conversion, then sliced
    whole = len(score_idx) + 1 == width and coder.kind == "integer"
    cols = score_idx[0] if len(score_idx) == 1 else (slice(0, j) if score_idx == list(range(j)) else score_idx)

    def bad_cell(rows, lines, first_row, columns) -> None:
        for i, r in enumerate(rows):  # slow path: the first bad cell, row by row
            for k in columns:
                number(path, r[k], first_row + i, names[k], lines[i])
        raise AssertionError("unreachable: numpy rejected a cell that float() accepts")  # pragma: no cover

    def convert(rows: list[list[str]], lines, first_row: int) -> tuple[np.ndarray, np.ndarray]:
        try:
            a = np.array(rows if whole else list(map(get, rows)), dtype=np.float64)
            ok = bool(np.isfinite(a).all())
        except ValueError:
            ok = False
        if not ok:
            bad_cell(rows, lines, first_row, range(width) if whole else score_idx)
        if whole:
            return a[:, cols], coder.encode_values(a[:, j], first_row)
        return a, coder.encode_cells(list(map(get_label, rows)), first_row, lines)

    def chunks(chunk_rows: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        n = 0
        for rows, lines in tf.row_chunks(chunk_rows, skip=int(header)):
            if len(rows[0]) != width or len(set(map(len, rows))) != 1:
                i = next(i for i, r in enumerate(rows) if len(r) != width)
                raise EvaluateError(
                    f"{name}: row {n + i + 1} (line {lines[i]}) has {len(rows[i])} fields but "
                    f"{'the header has' if header else 'line 1 has'} {width}; the file is truncated or malformed"
                )
            yield (n + 1, *convert(rows, lines, n + 1))
            n += len(rows)
        if n == 0:
            raise EvaluateError(f"{name}: no data rows after the header; the file holds no predictions")

    src = Source(path, layout, coder, chunks, None, [*tf.notes, *layout.notes], width)
    src.estimate = lambda: _estimate_rows(path, tf.compression is not None)
    return src


def _estimate_rows(path: Path, compressed: bool) -> int:
    """Data rows: the file's size over the mean length of the lines in its first MiB (a progress bar's total;
    0, unknown, for a compressed file)."""
    if compressed:
        return 0
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
    lines = head.count(b"\n") + (not head.endswith(b"\n"))
    if lines <= 1:
        return 1
    first = head.index(b"\n") + 1
    per_line = (len(head) - first) / (lines - 1)
    return max(1, round((path.stat().st_size - first) / per_line))
