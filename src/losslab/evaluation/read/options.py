"""The reading options of ``losslab evaluate`` (``--label-column``, ``--score-columns``, ...), checked once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .columns import split_list


def _names(option: str, value: str | Sequence[str] | None) -> list[str] | None:
    if value is None or isinstance(value, str):
        return split_list(option, value)
    return split_list(option, ",".join(map(str, value)))


@dataclass(frozen=True)
class ReadOptions:
    """``score_columns`` / ``ignore_columns`` / ``classes``: lists (or comma-separated strings);
    ``header``: True, False or None (detect); ``encoding``: None (byte-order mark, else UTF-8)."""

    label_column: str | None = None
    score_columns: list[str] | None = None
    ignore_columns: list[str] | None = None
    classes: list[str] | None = None
    header: bool | None = None
    encoding: str | None = None

    @classmethod
    def make(cls, label_column=None, score_columns=None, ignore_columns=None, classes=None, header=None,
             encoding=None) -> ReadOptions:  # fmt: skip
        return cls(None if label_column is None else str(label_column).strip(),
                   _names("--score-columns", score_columns), _names("--ignore-columns", ignore_columns),
                   _names("--classes", classes), header, encoding)  # fmt: skip
