"""How numbers become verdicts: rules, the parts of a claim, their combination, and planted controls.

A claim of the seeds is tested in parts (one per dataset, setting or
sub-statement). Each part is decided by a :class:`Rule` declared in
:mod:`losslab.lab.rules` before any data is seen, and gets one of
:data:`PART_VERDICTS`. The claim's verdict follows from its parts by the
claim's logic (:func:`combine`):

- ``"all"`` (a "beats" or universal claim): supported only when every part is;
  refuted when no part supports it and at least one refutes it; ``mixed`` when
  parts go both ways or some support and others are undecided; ``inconclusive``
  when nothing is decided.
- ``"exists"`` (an existence claim, "cross-entropy does not guarantee
  calibration"): one solid instance supports it; refuted only when every part
  refutes it; else inconclusive.

Rules come in kinds. ``identity`` rules check a mathematical fact by
computation (``"identity"``: an error within a tolerance; ``"holds"``: an
inequality or equation evaluated exactly) and can fail only if the fact, or
losslab, is wrong. ``empirical`` rules decide a mean over seeds:
``"greater"``/``"less"`` (the effect lies above/below ``null``; refuted when it
lies on the other side *or* within the declared practical ``margin``, TOST) and
``"equivalent"`` (the effect lies within ``margin`` of ``null``). Every
empirical part carries one-sided p-values, and the runner Holm-adjusts them
across all empirical parts of a run: a verdict whose adjusted p-value is not
below :data:`ALPHA` falls back to ``inconclusive``.

Every empirical rule is run on planted controls (:func:`planted_controls`):
simulated per-seed values for which the answer is known. A rule that cannot
return ``refuted`` on its control is a bug, and the test suite says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .stats import Effect, effect

__all__ = [
    "ALPHA",
    "CLAIM_VERDICTS",
    "KINDS",
    "PART_VERDICTS",
    "TESTS",
    "ClaimRules",
    "Part",
    "Rule",
    "combine",
    "decide",
    "planted_controls",
]

#: One-sided level of every decision: a two-sided 95% interval excludes a bound exactly when that
#: bound's one-sided p-value is below 0.025.
ALPHA = 0.025
PART_VERDICTS = ("supported", "refuted", "inconclusive")
CLAIM_VERDICTS = ("supported", "refuted", "mixed", "inconclusive")
KINDS = ("identity", "empirical")
#: Rule tests: the identity kinds first, then the empirical ones.
TESTS = ("identity", "holds", "greater", "less", "equivalent")
LOGICS = ("all", "exists")


@dataclass(frozen=True)
class Rule:
    """One part's rule: what is measured, which test decides it, and its thresholds.

    ``test``: see the module docstring. ``null``: the value the effect is compared with;
    ``margin``: the practical-equivalence margin (same unit as the effect);
    ``tolerance``: the largest error an ``identity`` allows; ``scale``: a typical
    seed-to-seed spread of the effect, used only to plant the controls; ``params``:
    any further fixed threshold the claim's code reads (targets, grids).
    """

    id: str
    test: str
    text: str
    unit: str = ""
    null: float = 0.0
    margin: float = 0.0
    tolerance: float = 0.0
    scale: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.test not in TESTS:
            raise ValueError(f"rule {self.id!r}: `test` must be one of {TESTS}; got {self.test!r}")
        if self.test == "equivalent" and not self.margin > 0:
            raise ValueError(f"rule {self.id!r}: an 'equivalent' rule needs a margin > 0; got {self.margin}")
        if self.test == "identity" and not self.tolerance > 0:
            raise ValueError(f"rule {self.id!r}: an 'identity' rule needs a tolerance > 0; got {self.tolerance}")

    @property
    def kind(self) -> str:
        return "identity" if self.test in ("identity", "holds") else "empirical"


@dataclass(frozen=True)
class ClaimRules:
    """A claim's rules: its kind, how its parts combine, the rule text, and the rules of its parts."""

    slug: str
    kind: str
    logic: str
    text: str
    rules: tuple[Rule, ...]
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.slug!r}: `kind` must be one of {KINDS}; got {self.kind!r}")
        if self.logic not in LOGICS:
            raise ValueError(f"claim {self.slug!r}: `logic` must be one of {LOGICS}; got {self.logic!r}")
        ids = [r.id for r in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError(f"claim {self.slug!r}: rule ids must be unique; got {ids}")
        kinds = {r.kind for r in self.rules}
        if self.kind == "identity" and kinds != {"identity"}:
            raise ValueError(f"claim {self.slug!r} is an identity but has empirical rules: {ids}")

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(f"claim {self.slug!r} has no rule {rule_id!r}; it has {[r.id for r in self.rules]}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"rules": [asdict(r) | {"kind": r.kind} for r in self.rules]}


@dataclass
class Part:
    """One decided part of a claim: which rule, on what (``name``), the verdict and the numbers behind it.

    For empirical parts ``p_support`` / ``p_refute`` are the one-sided p-values of the
    two decisions; ``p_holm`` is filled in by the runner.
    """

    rule: str
    name: str
    test: str
    kind: str
    verdict: str
    detail: str
    estimate: float | None = None
    ci: tuple[float, float] | None = None
    n: int | None = None
    unit: str = ""
    p_support: float | None = None
    p_refute: float | None = None
    p_holm: float | None = None
    effect: dict[str, Any] | None = None
    note: str = ""

    @property
    def value(self) -> float:
        """``estimate``, for the parts that have one (identity and empirical rules); a ValueError for 'holds'."""
        if self.estimate is None:
            raise ValueError(f"part {self.rule!r} ({self.test!r} rule) has no estimate")
        return self.estimate

    @property
    def p_decision(self) -> float | None:
        """The p-value of the decision this part's verdict rests on (the smaller one when undecided)."""
        if self.p_support is None or self.p_refute is None:
            return None
        if self.verdict == "supported":
            return self.p_support
        if self.verdict == "refuted":
            return self.p_refute
        return min(self.p_support, self.p_refute)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"p_decision": self.p_decision}


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1e4 else f"{x:.3e}"


def _decide_effect(rule: Rule, e: Effect) -> tuple[str, float, float, str]:
    """The verdict of an empirical rule on a t-effect, its two p-values and the words why."""
    iv = f"{_fmt(e.estimate)} [{_fmt(e.low)}, {_fmt(e.high)}]{(' ' + rule.unit) if rule.unit else ''}"
    if rule.test in ("greater", "less"):
        p_support = e.p_greater if rule.test == "greater" else e.p_less
        p_wrong_side = e.p_less if rule.test == "greater" else e.p_greater
        p_refute = min(p_wrong_side, e.p_equivalent) if rule.margin > 0 else p_wrong_side
        side = "above" if rule.test == "greater" else "below"
        other = "below" if rule.test == "greater" else "above"
        if rule.margin > 0 and e.p_equivalent < ALPHA:
            return "refuted", p_support, p_refute, f"{iv} lies within the practical margin ±{rule.margin:g}"
        if p_support < ALPHA:
            return "supported", p_support, p_refute, f"{iv} lies {side} {rule.null:g}"
        if p_wrong_side < ALPHA:
            return "refuted", p_support, p_refute, f"{iv} lies {other} {rule.null:g}"
        return "inconclusive", p_support, p_refute, f"{iv} includes {rule.null:g}"
    # equivalent
    p_support = e.p_equivalent
    lo, hi = rule.null - rule.margin, rule.null + rule.margin
    p_out = min(e.p_above(hi), e.p_below(lo))
    if p_support < ALPHA:
        return "supported", p_support, p_out, f"{iv} lies within ±{rule.margin:g} of {rule.null:g}"
    if p_out < ALPHA:
        return "refuted", p_support, p_out, f"{iv} lies outside ±{rule.margin:g} of {rule.null:g}"
    return "inconclusive", p_support, p_out, f"{iv} is neither inside nor outside ±{rule.margin:g}"


def decide(rule: Rule, value: Any, *, name: str, detail: str = "") -> Part:
    """Decide one part by ``rule``.

    ``value`` is, by the rule's test: ``"identity"``, the largest error (a float);
    ``"holds"``, whether the fact holds (a bool); empirical tests, the per-seed values of
    the effect (paired differences, usually) or an :class:`~losslab.lab.stats.Effect`.

    >>> r = Rule("x.faster", "greater", "CE needs fewer epochs", unit="epochs", margin=0.5)
    >>> decide(r, [2.0, 3.0, 2.5, 3.5, 2.2], name="digits").verdict
    'supported'
    >>> decide(r, [0.1, -0.1, 0.05, 0.0, -0.05], name="digits").verdict
    'refuted'
    >>> decide(Rule("x.id", "identity", "CE = H + KL", tolerance=1e-12), 3e-16, name="digits").verdict
    'supported'
    """
    if rule.test == "identity":
        err = float(value)
        ok = bool(np.isfinite(err) and err <= rule.tolerance)
        words = f"largest error {err:.2e}{(' ' + rule.unit) if rule.unit else ''} against a tolerance of " \
                f"{rule.tolerance:.0e}"  # fmt: skip
        return Part(rule.id, name, rule.test, rule.kind, "supported" if ok else "refuted",
                    detail, estimate=err, unit=rule.unit, note=words)  # fmt: skip
    if rule.test == "holds":
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"rule {rule.id!r} ('holds') needs a bool; got {type(value).__name__}")
        verdict = "supported" if bool(value) else "refuted"
        return Part(rule.id, name, rule.test, rule.kind, verdict, detail, unit=rule.unit)
    e = value if isinstance(value, Effect) else effect(value, null=rule.null, margin=rule.margin)
    if e.null != rule.null or e.margin != rule.margin:
        raise ValueError(f"rule {rule.id!r}: the effect was computed with null={e.null}, margin={e.margin}; "
                         f"the rule says null={rule.null}, margin={rule.margin}")  # fmt: skip
    verdict, p_support, p_refute, words = _decide_effect(rule, e)
    return Part(rule.id, name, rule.test, rule.kind, verdict, detail, estimate=e.estimate, ci=(e.low, e.high),
                n=e.n, unit=rule.unit, p_support=p_support, p_refute=p_refute, effect=e.to_dict(),
                note=words)  # fmt: skip


def combine(parts: Sequence[Part], logic: str) -> str:
    """The claim's verdict from its parts' verdicts (see the module docstring).

    >>> P = lambda v: Part("r", "p", "greater", "empirical", v, "")
    >>> combine([P("supported"), P("supported")], "all"), combine([P("supported"), P("refuted")], "all")
    ('supported', 'mixed')
    >>> combine([P("refuted"), P("inconclusive")], "all"), combine([P("supported"), P("refuted")], "exists")
    ('refuted', 'supported')
    """
    if not parts:
        raise ValueError("`parts` is empty: a claim needs at least one decided part")
    if logic not in LOGICS:
        raise ValueError(f"`logic` must be one of {LOGICS}; got {logic!r}")
    v = [p.verdict for p in parts]
    n_sup, n_ref = v.count("supported"), v.count("refuted")
    if logic == "exists":
        if n_sup:
            return "supported"
        return "refuted" if n_ref == len(v) else "inconclusive"
    if n_sup == len(v):
        return "supported"
    if n_sup and (n_ref or len(v) > n_sup):
        return "mixed"
    return "refuted" if n_ref else "inconclusive"


def planted_controls(rule: Rule, *, n_seeds: int = 8, seed: int = 0) -> list[dict[str, Any]]:
    """Run ``rule`` on simulated per-seed values whose answer is known; one record per control.

    Planted effects are multiples of ``rule.scale`` (a seed-to-seed spread) around
    ``rule.null``: clearly on the claimed side (``supported``), clearly on the other side
    (``refuted``), inside the margin with little noise (``refuted`` for a directional
    rule, ``supported`` for an equivalence rule) and drowned in noise (``inconclusive``).
    Identity rules get an exact value and a broken one.

    >>> r = Rule("x", "greater", "A beats B", margin=0.01, scale=0.01)
    >>> [c["got"] == c["expected"] for c in planted_controls(r)]
    [True, True, True, True]
    """
    if rule.test == "identity":
        cases = [("error 0.1 x tolerance", 0.1 * rule.tolerance, "supported"),
                 ("error 1000 x tolerance", 1000 * rule.tolerance, "refuted")]  # fmt: skip
        return [{"planted": what, "expected": exp, "got": decide(rule, v, name="control").verdict}
                for what, v, exp in cases]  # fmt: skip
    if rule.test == "holds":
        return [{"planted": f"fact evaluates to {b}", "expected": exp, "got": decide(rule, b, name="control").verdict}
                for b, exp in ((True, "supported"), (False, "refuted"))]  # fmt: skip
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n_seeds)
    z = (z - z.mean()) / z.std(ddof=1)  # exact mean 0, sd 1: the control's answer does not hang on the draw
    s, m, null = rule.scale, rule.margin, rule.null
    sign = -1.0 if rule.test == "less" else 1.0
    big = max(6.0 * s, 3.0 * m)
    if rule.test in ("greater", "less"):
        cases = [
            (f"true effect {null + sign * (m + big):g} (claimed side), sd {s:g}", null + sign * (m + big) + s * z,
             "supported"),
            (f"true effect {null - sign * big:g} (other side), sd {s:g}", null - sign * big + s * z, "refuted"),
            (f"true effect {null:g}, sd {s * 20:g} (noise)", null + 20 * s * z, "inconclusive"),
        ]
        if m > 0:
            cases.insert(2, (f"true effect {null:g}, sd {m / 20:g} (within the margin)", null + (m / 20) * z,
                             "refuted"))  # fmt: skip
    else:
        cases = [
            (f"true effect {null:g}, sd {m / 20:g}", null + (m / 20) * z, "supported"),
            (f"true effect {null + 4 * m:g}, sd {m / 4:g}", null + 4 * m + (m / 4) * z, "refuted"),
            (f"true effect {null:g}, sd {20 * m:g} (noise)", null + 20 * m * z, "inconclusive"),
        ]
    return [{"planted": what, "expected": exp, "got": decide(rule, v, name="control").verdict}
            for what, v, exp in cases]  # fmt: skip
