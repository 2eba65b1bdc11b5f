"""What a claim is, what it finds, and the registry of all of them.

A claim is one small module in :mod:`losslab.lab.claims` that defines
``CLAIM = Claim(...)``; listing the module in ``claims.MODULES`` registers it.
The verdict rule is part of the claim's definition (``rule`` in words,
``run`` applies it in code), so it is fixed before any data is seen.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .context import Context

__all__ = ["VERDICTS", "Claim", "Finding", "LabFigure", "LabTable", "all_claims", "select_claims"]

#: The four verdicts, as the report spells them.
VERDICTS = ("supported", "not supported", "mixed", "inconclusive")


@dataclass(frozen=True)
class LabTable:
    """A small table of the report: a caption, column titles and rows of cells (str or number)."""

    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def __post_init__(self) -> None:
        for i, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ValueError(
                    f"row {i} of table {self.caption!r} has {len(row)} cells; the table has {len(self.columns)} columns"
                )


@dataclass(frozen=True)
class LabFigure:
    """A matplotlib figure with its caption (one or two sentences saying what to look at)."""

    caption: str
    figure: Figure


@dataclass
class Finding:
    """What running a claim found.

    ``verdict`` is one of :data:`VERDICTS`; ``reason`` says how the claim's rule
    decided it, with the numbers; ``summary`` is the one-line effect (with its
    interval) for the verdict table; ``numbers`` holds every number behind the
    section (JSON-serialisable); ``discussion`` sets them beside the published figures.
    """

    verdict: str
    reason: str
    summary: str
    numbers: dict[str, Any]
    tables: list[LabTable] = field(default_factory=list)
    figures: list[LabFigure] = field(default_factory=list)
    discussion: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"`verdict` must be one of {VERDICTS}; got {self.verdict!r}")


@dataclass(frozen=True)
class Claim:
    """One claim of the literature, how the lab tests it, and the rule that decides the verdict.

    ``statement`` is the literature's sentence; ``method`` what the lab does;
    ``rule`` the verdict rule in words, written before the data is seen;
    ``references`` include contrary evidence; ``run(ctx)`` returns a :class:`Finding`.
    """

    number: int
    slug: str
    title: str
    statement: str
    method: str
    rule: str
    references: tuple[str, ...]
    run: Callable[[Context], Finding]


def all_claims() -> list[Claim]:
    """Every registered claim, in the order of their numbers.

    >>> [c.number for c in all_claims()] == sorted(c.number for c in all_claims())
    True
    """
    from .claims import MODULES

    claims = [importlib.import_module(f"losslab.lab.claims.{m}").CLAIM for m in MODULES]
    numbers = [c.number for c in claims]
    slugs = [c.slug for c in claims]
    if len(set(numbers)) != len(numbers) or len(set(slugs)) != len(slugs):
        raise RuntimeError(f"claim numbers and slugs must be unique; got {numbers} and {slugs}")
    return sorted(claims, key=lambda c: c.number)


def select_claims(spec: str | None) -> list[Claim]:
    """The claims named in ``spec``: comma-separated numbers or slugs (None: all of them).

    >>> [c.number for c in select_claims("3,likelihood")]
    [1, 3]
    """
    claims = all_claims()
    if spec is None or not spec.strip():
        return claims
    by_key = {str(c.number): c for c in claims} | {c.slug: c for c in claims}
    chosen = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if part not in by_key:
            known = ", ".join(f"{c.number}={c.slug}" for c in claims)
            raise ValueError(f"`--claims` has unknown claim {part!r}; use numbers or slugs among: {known}")
        if by_key[part] not in chosen:
            chosen.append(by_key[part])
    if not chosen:
        raise ValueError(f"`--claims` selects no claim; got {spec!r}")
    return sorted(chosen, key=lambda c: c.number)
