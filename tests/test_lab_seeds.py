"""The seed-statement inventory: every quote is in its seed, every tested statement names a registered claim."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from losslab.lab.registry import all_claims
from losslab.lab.rules import RULES
from losslab.lab.seeds import SEED_DOCUMENTS, STATEMENTS, Statement, statement_records

# CI lays shared/ beside the clone, as the development checkout has it
SEEDS_DIR = Path(__file__).resolve().parents[2] / "shared" / "seeds"


def _normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.mark.skipif(not SEEDS_DIR.is_dir(), reason="the seed documents (shared/seeds) are not beside this checkout")
def test_every_quote_is_in_its_seed_document():
    texts = {p.name[:3]: _normalised(p.read_text(encoding="utf-8")) for p in SEEDS_DIR.glob("*.txt")}
    assert set(texts) == set(SEED_DOCUMENTS)
    missing = [(s.seed, s.quote) for s in STATEMENTS if _normalised(s.quote) not in texts[s.seed]]
    assert not missing


def test_tested_statements_name_registered_claims_and_every_claim_traces_to_a_seed():
    numbers = {c.number for c in all_claims()}
    tested = {s.claim for s in STATEMENTS if s.status == "tested"}
    assert tested <= numbers, f"statements name claims that do not exist: {sorted(tested - numbers)}"
    assert numbers <= tested, f"claims that no seed statement asks for: {sorted(numbers - tested)}"
    for c in all_claims():
        assert c.source, f"claim {c.number} does not say which seed it tests"
        assert c.slug in RULES


def test_every_seed_has_statements_and_the_untested_say_why():
    assert {s.seed for s in STATEMENTS} == set(SEED_DOCUMENTS)
    for s in STATEMENTS:
        assert s.status == "tested" or len(s.why) >= 8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": "004", "quote": "q", "status": "tested", "claim": 1}, "`seed` must be one of"),
        ({"seed": "000", "quote": "q", "status": "maybe"}, "`status` must be one of"),
        ({"seed": "000", "quote": "q", "status": "tested"}, "a tested statement names its claim"),
        ({"seed": "000", "quote": "q", "status": "definition"}, "say why"),
    ],
)
def test_statements_validate(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Statement(**kwargs)


def test_statement_records_carry_the_claims_verdict():
    recs = statement_records([{"number": 19, "verdict": "refuted"}])
    by_claim = {r["claim"]: r["verdict"] for r in recs if r["claim"] is not None}
    assert by_claim[19] == "refuted" and by_claim[1] is None  # claim 1 did not run
