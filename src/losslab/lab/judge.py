"""From the claims' parts to the run's verdicts: Holm's correction across the run, then each claim's logic.

The claims decide their parts one at a time; only here, with every empirical
part of the run in view, is the family-wise error controlled: the parts'
decision p-values are Holm-adjusted together, and a part whose adjusted
p-value is not below :data:`~losslab.lab.verdicts.ALPHA` is set back to
``inconclusive`` (its record keeps the verdict it had before, and why it
changed). Then each claim's verdict follows from its parts by its logic, and
identities are tallied apart from empirical claims.
"""

from __future__ import annotations

from typing import Any

from .registry import Claim, Finding
from .stats import holm
from .verdicts import ALPHA, CLAIM_VERDICTS, Part, combine, planted_controls

__all__ = ["claim_controls", "finding_record", "judge", "tally_by_kind"]


def claim_controls(claim: Claim, finding: Finding) -> list[dict[str, Any]]:
    """The claim's own planted controls, then the generic ones of each of its rules (tagged by rule)."""
    own = [{"rule": c.get("rule", "measurement"), "source": "claim", **c} for c in finding.controls]
    generic = [{"rule": r.id, "source": "rule", **c} for r in claim.rules.rules for c in planted_controls(r)]
    return own + generic


def finding_record(claim: Claim, finding: Finding) -> dict[str, Any]:
    """The verdict-related part of a claim's results.json record (the runner adds tables and figures)."""
    known = {r.id for r in claim.rules.rules}
    for p in finding.parts:
        if p.rule not in known:
            raise ValueError(f"claim {claim.slug!r} decided a part with rule {p.rule!r}, which lab.rules does not "
                             f"declare for it; declared: {sorted(known)}")  # fmt: skip
    controls = claim_controls(claim, finding)
    return {
        "kind": claim.kind,
        "logic": claim.rules.logic,
        "source": claim.source,
        "parts": [p.to_dict() for p in finding.parts],
        "controls": controls,
        "controls_ok": all(c["got"] == c["expected"] for c in controls),
        "published": [p.to_dict() for p in finding.published],
    }


def _part(d: dict[str, Any]) -> Part:
    fields = {k: d[k] for k in Part.__dataclass_fields__ if k in d}
    return Part(**fields)


def judge(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Holm-adjust every empirical part of ``records`` (in place), then set each claim's verdict.

    Records of claims that raised keep the verdict ``"error"``. Returns the run's summary:
    the number of Holm-adjusted tests and the tally by kind.
    """
    slots = []  # (record, part index, p)
    for rec in records:
        if rec.get("status") != "ok":
            continue
        for i, p in enumerate(rec["parts"]):
            if p["kind"] == "empirical" and p.get("p_decision") is not None:
                slots.append((rec, i, float(p["p_decision"])))
    adjusted = holm([p for _, _, p in slots])
    for (rec, i, _), p_adj in zip(slots, adjusted, strict=True):
        part = rec["parts"][i]
        part["p_holm"] = p_adj
        if part["verdict"] != "inconclusive" and not p_adj < ALPHA:
            part["verdict_before_holm"] = part["verdict"]
            part["verdict"] = "inconclusive"
            why = (f"; {part['verdict_before_holm']} before Holm's correction (p = {part['p_decision']:.3g}, "
                   f"adjusted {p_adj:.3g} over {len(slots)} tests)")  # fmt: skip
            part["note"] = part.get("note", "") + why
    for rec in records:
        if rec.get("status") != "ok":
            continue
        rec["verdict"] = combine([_part(p) for p in rec["parts"]], rec["logic"])
    return {"alpha": ALPHA, "holm_tests": len(slots), "tally": tally_by_kind(records)}


def tally_by_kind(records: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """``{"empirical": {"supported": 3, ...}, "identity": {...}}`` over the claims that ran (errors apart).

    >>> tally_by_kind([{"kind": "empirical", "verdict": "refuted", "status": "ok"},
    ...                {"kind": "identity", "verdict": "supported", "status": "ok"}])["empirical"]["refuted"]
    1
    """
    out: dict[str, dict[str, int]] = {}
    for kind in ("empirical", "identity"):
        recs = [r for r in records if r.get("kind") == kind]
        counts = {v: sum(r["verdict"] == v for r in recs) for v in CLAIM_VERDICTS}
        counts["error"] = sum(r["verdict"] == "error" for r in recs)
        out[kind] = counts
    return out
