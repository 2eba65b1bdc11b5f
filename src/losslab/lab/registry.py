"""What a claim is, what it finds, and the registry of all of them.

A claim is one small module in :mod:`losslab.lab.claims` that defines
``CLAIM = Claim(...)``; listing the module in ``claims.MODULES`` registers it.
Its verdict rules live in :mod:`losslab.lab.rules` (text and thresholds, fixed
before any data is seen); ``run`` measures and decides each part with
:func:`losslab.lab.verdicts.decide`, and the runner derives the claim's verdict
from the parts after Holm's correction across the run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .verdicts import CLAIM_VERDICTS, ClaimRules, Part

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .context import Context

__all__ = ["VERDICTS", "Claim", "Finding", "LabFigure", "LabTable", "Published", "all_claims", "select_claims"]

#: The claim verdicts, as the report spells them.
VERDICTS = CLAIM_VERDICTS


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


@dataclass(frozen=True)
class Published:
    """A published figure for a setting the lab ran, beside ours.

    ``value``: the published number; ``ours``: our estimate, ``interval`` its 95% interval
    (same unit); ``why``: why the published value does or does not fall in our interval
    (scale, model, data, definition). ``value`` None means the source gives a direction,
    not a number.
    """

    source: str
    setting: str
    value: float | None
    ours: float | None
    interval: tuple[float, float] | None
    unit: str
    why: str

    def to_dict(self) -> dict[str, Any]:
        inside = None
        if self.value is not None and self.interval is not None:
            inside = bool(self.interval[0] <= self.value <= self.interval[1])
        return {"source": self.source, "setting": self.setting, "value": self.value, "ours": self.ours,
                "interval": None if self.interval is None else list(self.interval), "unit": self.unit,
                "in_interval": inside, "why": self.why}  # fmt: skip


@dataclass
class Finding:
    """What running a claim found.

    ``parts``: each decided by its rule (:func:`losslab.lab.verdicts.decide`); the claim's
    verdict follows from them (the runner combines them). ``reason`` says what was measured and how
    the parts came out, with the numbers; ``summary`` is the one-line effect for the
    verdict table; ``numbers`` holds every number behind the section (JSON-serialisable);
    ``discussion`` sets them beside the published figures, ``published`` as records;
    ``controls`` are the claim's own planted controls (planted data run through its
    measurement), beside the generic ones the runner adds for every empirical rule.
    """

    parts: list[Part]
    reason: str
    summary: str
    numbers: dict[str, Any]
    tables: list[LabTable] = field(default_factory=list)
    figures: list[LabFigure] = field(default_factory=list)
    discussion: str = ""
    published: list[Published] = field(default_factory=list)
    controls: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError("a Finding needs at least one decided part (`parts` is empty)")
        for c in self.controls:
            if set(c) < {"planted", "expected", "got"}:
                raise ValueError(f"a control needs 'planted', 'expected' and 'got'; got {sorted(c)}")


@dataclass(frozen=True)
class Claim:
    """One claim of the literature, how the lab tests it, and the rule that decides the verdict.

    ``statement`` is the literature's sentence (``source``: which seed document and where);
    ``method`` what the lab does; ``references`` include contrary evidence; ``run(ctx)``
    returns a :class:`Finding`. The rule is not here: :attr:`rules` reads it from
    :mod:`losslab.lab.rules`. ``datasets``: the datasets the claim uses (``"*"`` for the
    run's classification datasets), so a dataset that fails to load fails only these claims.
    """

    number: int
    slug: str
    title: str
    statement: str
    method: str
    references: tuple[str, ...]
    run: Callable[[Context], Finding]
    source: str = ""
    datasets: tuple[str, ...] = ("*",)

    @property
    def rules(self) -> ClaimRules:
        from .rules import claim_rules

        return claim_rules(self.slug)

    @property
    def kind(self) -> str:
        return self.rules.kind

    @property
    def rule(self) -> str:
        return self.rules.text


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
