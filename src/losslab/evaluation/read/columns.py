"""Which row is the header and which columns are the labels and the scores.

**Header.** ``--header`` / ``--no-header`` decide; otherwise the first row is the header when one of its
cells is empty or is text above a column of numbers (``p0,p1,y``; pandas' ``,0,1,y``), and data when every
cell is of the kind of the column below it (numbers above numbers, text above text labels). A first row of
integers above a column of fractional numbers (``0,1,2`` above probabilities) may be either and is refused.
A file without a header names its columns by number, ``1`` .. ``N`` (``--label-column 3``).

**Columns.** ``--label-column`` names the labels (required). ``--score-columns a,b,c`` names the score
columns, in class order, and leaves out every other; ``--ignore-columns`` leaves out the named ones. Without
``--score-columns`` every other column is a score column, except what is unambiguously not a score:

* an unnamed first column of integers or text: the index that pandas' ``df.to_csv()`` writes (a column
  without a name elsewhere, or of fractional numbers, is refused);
* a column named like an ID (``id``, ``index``, ``sample_id``, ``*_id``, ``Unnamed: 0``, ...) that holds
  integers or text (one that holds fractional numbers is refused).

A column of text, or one that holds the row numbers ``0, 1, 2, ...`` (an index without a name), is refused
as a score column, as is a name the header holds twice. Refusals name the column and the option to pass.
Columns without a name are called ``Unnamed: K`` (K from 0, as pandas calls them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import EvaluateError

ID_NAME = re.compile(r"^(id|ids|idx|index|row|rowid|row_?id|row_?index|row_?number|sample|sample_?id|sample_?idx|"
                     r"sample_?index|uid|uuid|key|unnamed: ?\d+|__index_level_\d+__|.+_id|id_.+)$", re.I)  # fmt: skip


@dataclass
class ColumnInfo:
    """What a sample of one column's cells holds."""

    n: int = 0  # cells sampled
    numbers: int = 0  # of which numbers
    integers: bool = False  # every cell is an integral number
    row_numbers: bool = False  # the cells are 0, 1, 2, ... (or 1, 2, 3, ...), at least 3 of them
    text: str | None = None  # the first cell that is not a number and not empty
    fraction: float | None = None  # the first number that is not an integer

    @property
    def numeric(self) -> bool:
        return self.n > 0 and self.numbers == self.n

    @property
    def textual(self) -> bool:
        """Mostly text: a column of names or IDs, not a score column with a bad cell."""
        return self.text is not None and 2 * self.numbers < self.n

    @classmethod
    def of_numbers(cls, x: np.ndarray) -> ColumnInfo:
        x = np.asarray(x, dtype=np.float64)
        fin = x[np.isfinite(x)]
        integers = fin.size == x.size and bool(np.all(fin == np.round(fin)))
        k = np.arange(x.size)
        rows = integers and x.size >= 3 and (bool(np.all(x == k)) or bool(np.all(x == k + 1)))
        frac = fin[fin != np.round(fin)]
        return cls(int(x.size), int(x.size), integers, rows, None, float(frac[0]) if frac.size else None)

    @classmethod
    def of_cells(cls, cells: Sequence[str]) -> ColumnInfo:
        try:
            return cls.of_numbers(np.array(cells, dtype=np.float64))
        except ValueError:
            pass
        nums, text = [], None
        for c in cells:
            try:
                nums.append(float(c))
            except ValueError:
                if text is None and c.strip():
                    text = c.strip()
        info = cls.of_numbers(np.array(nums)) if nums else cls()
        info.n, info.numbers, info.text, info.row_numbers = len(cells), len(nums), text, False
        info.integers = info.integers and len(nums) == len(cells)
        return info


def column_infos(rows: Sequence[Sequence[str]], width: int) -> list[ColumnInfo]:
    """The :class:`ColumnInfo` of every column of ``rows`` (all of ``width`` cells): in bulk when every cell
    is a number, else column by column."""
    if rows:
        try:
            a = np.array(rows, dtype=np.float64)
        except ValueError:
            a = None
        if a is not None and bool(np.isfinite(a).all()):
            k = np.arange(a.shape[0])[:, None]
            frac = a != np.round(a)
            integers = ~frac.any(axis=0)
            rows_ = integers & (a.shape[0] >= 3) & ((a == k).all(axis=0) | (a == k + 1).all(axis=0))
            first = a[np.argmax(frac, axis=0), np.arange(width)]
            n = a.shape[0]
            return [ColumnInfo(n, n, bool(integers[j]), bool(rows_[j]), None, None if integers[j] else float(first[j]))
                    for j in range(width)]  # fmt: skip
    return [ColumnInfo.of_cells([r[j] for r in rows]) for j in range(width)]


def _num(s: str) -> float | None:
    try:
        return float(s)
    except ValueError:
        return None


def detect_header(path: Path, first: list[str], infos: list[ColumnInfo], option: bool | None) -> bool:
    """Is ``first`` (the file's first row) a header? ``infos``: the rows below it, column by column."""
    if option is not None:
        return option
    nums = [_num(c) for c in first]
    if all(x is not None for x in nums):
        frac = [j for j, i in enumerate(infos) if i.numeric and not i.integers]
        if frac and all(x is not None and x.is_integer() for x in nums):
            shown = ", ".join(c.strip() for c in first[:6]) + (", ..." if len(first) > 6 else "")
            raise EvaluateError(
                f"{path.name}: the first row ({shown})"
                f" holds integers above fractional numbers: it could be a header of class numbers or a row of data. "
                f"Pass --header if line 1 names the columns, --no-header if it is data"
            )
        return False
    if not any(i.n for i in infos):  # nothing below the first row: a header (without data, refused next)
        return True
    cells = enumerate(zip(first, nums, strict=True))
    return any(x is None and (c.strip() == "" or not infos[j].textual) for j, (c, x) in cells)


@dataclass
class Layout:
    """The columns of a table: every name (file order), the label's index and the score columns' indices."""

    names: list[str]
    label: int
    scores: list[int]
    notes: list[str] = field(default_factory=list)

    @property
    def label_name(self) -> str:
        return self.names[self.label]

    @property
    def score_names(self) -> list[str]:
        return [self.names[k] for k in self.scores]


def split_list(option: str, value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",")]
    if not all(items):
        raise EvaluateError(f"{option} {value!r}: an empty name; give comma-separated column names (a,b,c)")
    return items


def _show(names: Sequence[str], k: int = 12) -> str:
    return ", ".join(map(repr, names[:k])) + (f", ... ({len(names)} columns)" if len(names) > k else "")


def choose_columns(
    path: Path,
    names: list[str],
    infos: list[ColumnInfo],
    *,
    header: bool,
    unnamed: Sequence[bool],
    label_column: str | None,
    score_columns: Sequence[str] | None = None,
    ignore_columns: Sequence[str] | None = None,
) -> Layout:
    """The :class:`Layout` of a table (see the module docstring). ``unnamed[j]``: column j has no name."""
    f = path.name
    if label_column is None:
        raise EvaluateError(
            f"{f}: pass --label-column to name the column of true labels; the columns are {_show(names)}" if header
            else f"{f}: the file has no header row, so its columns are numbered 1..{len(names)}: pass --label-column "
                 f"with the number of the label column"  # fmt: skip
        )
    index: dict[str, list[int]] = {}
    for j, n in enumerate(names):
        index.setdefault(n, []).append(j)

    def find(option: str, name: str) -> int:
        if name not in index:
            if not header:
                raise EvaluateError(
                    f"{f}: {option} {name!r} names no column: the file has no header row (line 1 is data), so its "
                    f"columns are numbered 1..{len(names)}. Pass the column's number, or --header if line 1 names "
                    f"the columns"
                )
            if option == "--label-column":
                raise EvaluateError(f"{f}: label column {name!r} not found; the columns are {_show(names)}. Pass "
                                    f"--label-column with one of them")  # fmt: skip
            raise EvaluateError(f"{f}: {option}: no column {name!r}; the columns are {_show(names)}")
        if len(index[name]) > 1:
            raise EvaluateError(
                f"{f}: the header names column {name!r} {len(index[name])} times (columns "
                f"{', '.join(str(j + 1) for j in index[name])}); column names must be unique: rename the copies"
            )
        return index[name][0]

    label = find("--label-column", label_column)
    ignored = {find("--ignore-columns", n) for n in ignore_columns or ()} if ignore_columns else set()
    if label in ignored:
        raise EvaluateError(f"{f}: --ignore-columns names the label column {label_column!r}; leave it out of the list")
    notes = [f"columns left out (--ignore-columns): {_show([names[j] for j in sorted(ignored)])}"] if ignored else []
    if score_columns is not None:
        scores = [find("--score-columns", n) for n in score_columns]
        if label in scores:
            raise EvaluateError(f"{f}: --score-columns names the label column {label_column!r}; leave it out")
        dup = sorted({names[j] for j in scores if scores.count(j) > 1})
        if dup:
            raise EvaluateError(f"{f}: --score-columns names {dup[0]!r} twice; name each score column once")
        if ignored & set(scores):
            both = names[min(ignored & set(scores))]
            raise EvaluateError(f"{f}: column {both!r} is in both --score-columns and --ignore-columns; pick one")
        rest = [names[j] for j in range(len(names)) if j not in scores and j != label and j not in ignored]
        if rest:
            notes.append(f"columns left out (not in --score-columns): {_show(rest)}")
        return Layout(names, label, scores, notes)
    scores = []
    for j, n in enumerate(names):
        if j == label or j in ignored:
            continue
        info, what = infos[j], f"column {j + 1} (unnamed)" if unnamed[j] else f"column {n!r}"
        fix = f"pass --ignore-columns {n!r} to leave it out, or --score-columns with the score columns"
        holds = "integers" if info.integers else "text" if info.textual else None
        if unnamed[j]:
            if info.n and not info.numbers and info.text is None:
                notes.append(f"column {j + 1} has neither a name nor values (a delimiter at the end of every line?): "
                             f"left out")  # fmt: skip
                continue
            if j == 0 and holds:
                shown = "the row numbers 0, 1, 2, ..." if info.row_numbers else holds
                notes.append(f"column 1 has no name and holds {shown}: the index pandas writes with df.to_csv(), "
                             f"left out")  # fmt: skip
                continue
            also = ", and holds fractional numbers" if j == 0 else ""
            raise EvaluateError(f"{f}: {what} has no name{also}, so it is not clear it is a score column: name it in "
                                f"the header, or {fix}")  # fmt: skip
        if ID_NAME.match(n):
            if holds:
                notes.append(f"column {n!r} is named like an ID and holds {holds}: left out")
                continue
            raise EvaluateError(f"{f}: {what} is named like an ID but holds fractional numbers ({info.fraction!r}"
                                f" in the first rows), so it could be an ID or a score column: {fix}")  # fmt: skip
        if info.textual and info.text is not None and re.fullmatch(r"\s*-?\d+,\d+\s*", info.text):
            raise EvaluateError(f"{f}: {what} holds numbers written with a decimal comma ({info.text!r}); write them "
                                f"with a decimal point (and a comma or tab between the columns)")  # fmt: skip
        if info.textual:
            raise EvaluateError(f"{f}: {what} holds text ({info.text!r}), so it is not a score column: {fix}")
        if info.row_numbers:
            raise EvaluateError(f"{f}: {what} holds the row numbers 0, 1, 2, ... (or 1, 2, 3, ...): an index, not "
                                f"scores? {fix}")  # fmt: skip
        scores.append(j)
    if not scores:
        raise EvaluateError(f"{f}: no score columns besides the label column {label_column!r} (the columns are "
                            f"{_show(names)}); expected one column per class, or one for a binary problem")  # fmt: skip
    for j in scores:
        find("a score column", names[j])  # duplicated names are refused
    return Layout(names, label, scores, notes)
