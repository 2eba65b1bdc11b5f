"""Labels as people write them: class indices, booleans or class names, mapped to class indices.

* **Numbers** (``0``, ``1``, ``2.0``): class indices ``0..C-1``; class k is the k-th score column (one score
  column: 0 or 1, the column being the score of class 1).
* **Booleans** (``True``/``False`` in any case, as pandas and R write them): binary, ``False`` is class 0 and
  ``True`` class 1.
* **Class names** (``cat``, ``dog``): mapped to score columns **by name** when the score columns are named by
  class (``cat,dog``; ``p_cat,p_dog``, a prefix or suffix common to the columns removed; one column named
  ``dog`` or ``p_dog``: ``dog`` is class 1, the other label class 0); otherwise in **sorted order**, as
  scikit-learn's ``classes_`` orders ``predict_proba``'s columns (one column: the score of the second name
  in sorted order). Sorted order needs every class to occur in the file; when some do not, or the names
  match only some columns, the file is refused: name the score columns by class, or pass ``--classes``.
* ``--classes a,b,c``: the class names in score-column order (one column: negative, positive); labels are
  matched as text (``1.0`` matches ``1``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import EvaluateError, number, where

_BOOLS = {"true": 1, "false": 0}
_AFFIX = re.compile(r"^(?:p|prob|proba|probability|score|logit|pred|prediction|y_pred|y_prob)[_\-\s:.](.+)$"
                    r"|^(.+?)[_\-\s.](?:p|prob|proba|probability|score|logit|pred)$|^p\((.+)\)$", re.I)  # fmt: skip


def canonical(value: str) -> str:
    """A label's text as compared with class names: stripped; integral numbers without a fraction."""
    s = str(value).strip()
    try:
        x = float(s)
    except ValueError:
        return s
    return str(int(x)) if x.is_integer() and abs(x) < 2**53 else s


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def class_indices(path: Path, y: np.ndarray, n_classes: int, column: str, first_row: int = 1) -> np.ndarray:
    """Numeric labels -> int64 class indices in [0, n_classes - 1], or an error naming the first bad row."""
    non_int = y != np.round(y)
    if non_int.any():
        r = int(np.flatnonzero(non_int)[0])
        raise EvaluateError(f"{where(path, r + first_row, column)}: label {float(y[r])!r} is not an integer; "
                            f"labels must be class indices 0..{n_classes - 1} (or class names)")  # fmt: skip
    bad = (y < 0) | (y >= n_classes)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        shown = int(y[r]) if abs(float(y[r])) < 2**63 else float(y[r])
        raise EvaluateError(
            f"{where(path, r + first_row, column)}: label {shown} is outside the classes 0..{n_classes - 1} (one "
            f"class per score column; 0 or 1 for a single column)"
        )
    return y.astype(np.int64)


def _column_names(score_names: Sequence[str]) -> list[list[str]]:
    """Candidate class names of the score columns: the names, and the names less their common affixes."""
    names = [n.strip() for n in score_names]
    out = [names]
    if len(names) >= 2:
        pre = os.path.commonprefix(names)
        suf = os.path.commonprefix([n[::-1] for n in names])[::-1]
        for a, b in ((len(pre), 0), (0, len(suf)), (len(pre), len(suf))):
            stripped = [n[a : len(n) - b] for n in names]
            if (a or b) and all(stripped) and stripped not in out:
                out.append(stripped)
    else:
        m = _AFFIX.match(names[0])
        if m:
            out.append([next(g for g in m.groups() if g)])
    return out


@dataclass
class LabelCoder:
    """Maps a file's labels to class indices; :attr:`classes` are the class names (None: integer labels)."""

    path: Path
    column: str
    kind: str  # "integer", "boolean" or "text"
    n_classes: int
    classes: list[str] | None = None
    how: str = ""  # how class names were mapped to columns, for the report
    codes: dict[str, int] = field(default_factory=dict)

    def encode_cells(self, cells: Sequence[str], first_row: int, lines: Sequence[int] | None = None) -> np.ndarray:
        """Text cells (a CSV chunk's label column) -> int64 class indices."""
        if self.kind == "integer":
            try:
                y = np.array(cells, dtype=np.float64)
                ok = bool(np.isfinite(y).all())
            except ValueError:
                ok = False
            if not ok:
                y = np.array([number(self.path, c, first_row + i, self.column, None if lines is None else lines[i])
                              for i, c in enumerate(cells)])  # fmt: skip
            return class_indices(self.path, y, self.n_classes, self.column, first_row)
        key = (lambda c: c.strip().lower()) if self.kind == "boolean" else canonical
        get = self.codes.get
        out = np.fromiter((get(key(c), -1) for c in cells), dtype=np.int64, count=len(cells))
        if (out < 0).any():
            self._unknown(cells, out, first_row, lines)
        return out

    def encode_values(self, values: np.ndarray, first_row: int) -> np.ndarray:
        """An array of labels (.npy, .npz, .parquet): numbers, booleans or strings -> int64 class indices."""
        if self.kind == "integer":
            return class_indices(self.path, np.asarray(values, dtype=np.float64), self.n_classes, self.column,
                                 first_row)  # fmt: skip
        if self.kind == "boolean" and values.dtype == np.bool_:
            return values.astype(np.int64)
        return self.encode_cells([str(v) for v in values.tolist()], first_row)

    def _unknown(self, cells, out, first_row, lines) -> None:
        i = int(np.flatnonzero(out < 0)[0])
        cell = cells[i]
        at = where(self.path, first_row + i, self.column, None if lines is None else lines[i])
        if str(cell).strip() == "":
            raise EvaluateError(f"{at}: an empty label; every row needs its true label")
        if self.kind == "boolean":
            raise EvaluateError(f"{at}: label {cell!r} is not True or False, as the labels before it are; labels "
                                f"must be all booleans, all class indices or all class names")  # fmt: skip
        assert self.classes is not None  # "text" coders always carry their class names
        raise EvaluateError(
            f"{at}: label {cell!r} is none of the {self.n_classes} classes ({', '.join(map(repr, self.classes))}; "
            f"{self.how}). Pass --classes with every class name in score-column order"
        )


def label_coder(
    path: Path,
    column: str,
    sample: Sequence[str],
    score_names: Sequence[str],
    *,
    classes: Sequence[str] | None = None,
    distinct: Callable[[int], set[str]] | None = None,
    boolean: bool = False,
) -> LabelCoder:
    """Decide how the labels map to classes from a ``sample`` of label cells (see the module docstring).

    ``distinct(limit)``: the distinct canonical labels of the whole file (at most ``limit + 1`` of them),
    read only when the sample does not show every class. ``boolean``: the labels are stored as booleans.
    """
    one = len(score_names) == 1
    C = 2 if one else len(score_names)
    if classes is not None:
        names = [canonical(c) for c in classes]
        if len(names) != C or len(set(names)) != C or not all(names):
            raise EvaluateError(
                f"--classes: {len(names)} names ({', '.join(map(repr, names))}) for {C} classes; give {C} distinct "
                f"names, in score-column order" + (" (one score column: the negative class, then the positive)"
                                                   if one else "")  # fmt: skip
            )
        return LabelCoder(path, column, "text", C, names, "as given by --classes", {n: k for k, n in enumerate(names)})
    cells = [s.strip() for s in sample if s.strip()]
    if boolean or (cells and all(c.lower() in _BOOLS for c in cells)):
        if C != 2:
            raise EvaluateError(
                f"{path.name}: column {column!r} holds booleans (True/False), which label two classes, but there are "
                f"{C} score columns; pass --score-columns with the score column(s) of a binary problem"
            )
        return LabelCoder(path, column, "boolean", 2, ["False", "True"], "False is class 0, True is class 1",
                          dict(_BOOLS))  # fmt: skip
    numbers = [_is_number(c) for c in cells]
    if all(numbers):
        return LabelCoder(path, column, "integer", C)
    if any(numbers):
        k = numbers.index(False)
        raise EvaluateError(
            f"{path.name}: column {column!r} mixes numbers ({cells[numbers.index(True)]!r}) and text ({cells[k]!r}) "
            f"in its first rows: labels must be all class indices, all booleans or all class names (a header line "
            f"repeated inside the file, from joining CSV files?). Pass --classes to read every label as a name"
        )
    seen = {canonical(c) for c in cells}

    def every_label(limit: int) -> set[str]:
        return seen if distinct is None else seen | distinct(limit)

    cols = ", ".join(map(repr, score_names))
    for names in _column_names(score_names):
        hit = seen & set(names)
        if one and hit:
            pos = names[0]
            rest = every_label(2) - {pos}
            if len(rest) > 1:
                shown = ", ".join(map(repr, sorted(rest)[:5]))
                raise EvaluateError(
                    f"{path.name}: column {column!r} holds more than two labels ({shown}, "
                    f"{pos!r}) for one score column (a binary problem); pass --classes NEGATIVE,POSITIVE"
                )
            neg = rest.pop() if rest else f"not {pos}"
            return LabelCoder(path, column, "text", 2, [neg, pos],
                              f"the score column {score_names[0]!r} is named by class {pos!r}: it is class 1",
                              {neg: 0, pos: 1})  # fmt: skip
        if not one and hit == seen:
            return LabelCoder(path, column, "text", C, list(names), "mapped to the score columns by name",
                              {n: k for k, n in enumerate(names)})  # fmt: skip
        if not one and hit:
            miss = sorted(seen - hit)[:3]
            raise EvaluateError(
                f"{path.name}: some labels name score columns ({', '.join(map(repr, sorted(hit)[:3]))}) and some do "
                f"not ({', '.join(map(repr, miss))}); the score columns are {cols}. Name every score column by its "
                f"class, or pass --classes with the class names in score-column order"
            )
    found = every_label(C)
    if len(found) > C:
        shown = ", ".join(map(repr, sorted(found)[: C + 1])) + (", ..." if len(found) > C + 1 else "")
        there = "is one score column" if one else f"are {C} score columns"
        raise EvaluateError(
            f"{path.name}: column {column!r} holds more than {C} distinct labels ({shown}) but there {there}"
            f" ({cols}); pass --score-columns with one column per class, or check --label-column"
        )
    if len(found) < C:
        shown = ", ".join(map(repr, sorted(found)))
        raise EvaluateError(
            f"{path.name}: column {column!r} holds {len(found)} distinct label(s) ({shown}) "
            f"for {C} classes, so their sorted order cannot say which score column ({cols}) is which class; name the "
            f"score columns by class, or pass --classes with every class name in score-column order"
        )
    names = sorted(found)
    how = ("in sorted order, as scikit-learn's classes_: the score column is class 1, " + repr(names[1]) if one
           else "in sorted order, as scikit-learn's classes_ orders predict_proba's columns")  # fmt: skip
    return LabelCoder(path, column, "text", C, names, how, {n: k for k, n in enumerate(names)})
