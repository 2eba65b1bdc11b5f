"""The lab's statistics and verdict rules: intervals that hold their level, Holm, TOST, rules that can fail."""

from __future__ import annotations

import math

import numpy as np
import pytest

from losslab.lab.stats import Interval, effect, holm, mean_ci, paired_effect, t_ci
from losslab.lab.verdicts import (
    ALPHA,
    ClaimRules,
    Part,
    Rule,
    combine,
    decide,
    planted_controls,
)

# ------------------------------------------------------------------ coverage
# The bar: at least 93% coverage for nominal 95% with 5 to 20 seeds, on normal and skewed data.
# Skewed = gamma with shape 4 (skewness 1), the kind of asymmetry a bounded accuracy difference shows.
SIMULATIONS = 4000


def _coverage(draw, mu: float, n: int, method: str) -> float:
    rng = np.random.default_rng(n)
    hits = 0
    for _ in range(SIMULATIONS if method == "t" else SIMULATIONS // 8):
        x = draw(rng, n)
        iv = effect(x) if method == "t" else mean_ci(x, n_bootstrap=400, seed=int(rng.integers(1 << 30)))
        hits += iv.low <= mu <= iv.high
    return hits / (SIMULATIONS if method == "t" else SIMULATIONS // 8)


DISTRIBUTIONS = {
    "normal": (lambda rng, n: rng.normal(0.02, 0.01, n), 0.02),
    "skewed (gamma k=4)": (lambda rng, n: rng.gamma(4.0, 0.005, n), 0.02),
}


@pytest.mark.parametrize("n", [5, 10, 20])
@pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
def test_t_interval_covers_at_least_93_percent(dist, n):
    draw, mu = DISTRIBUTIONS[dist]
    cov = _coverage(draw, mu, n, "t")
    # 4000 simulations: the standard error of a 95% coverage estimate is 0.34 points
    assert cov >= 0.93, f"{dist}, {n} seeds: t-interval covered {cov:.3f}"
    assert cov <= 0.97, f"{dist}, {n} seeds: t-interval over-covers ({cov:.3f}): it is wider than it should be"


def test_the_percentile_bootstrap_of_five_seeds_under_covers():
    # why the lab left it: the same check fails for the old method (the reason this test file exists)
    draw, mu = DISTRIBUTIONS["skewed (gamma k=4)"]
    assert _coverage(draw, mu, 5, "bootstrap") < 0.90


# ------------------------------------------------------------------ the t-effect and its tests
def test_effect_matches_scipy_ttest():
    from scipy import stats

    x = np.array([0.012, 0.031, -0.004, 0.022, 0.017, 0.009])
    e = effect(x)
    res = stats.ttest_1samp(x, 0.0, alternative="greater")
    assert e.p_greater == pytest.approx(res.pvalue, rel=1e-12)
    assert e.p_less == pytest.approx(1 - res.pvalue, rel=1e-12)
    lo, hi = stats.t.interval(0.95, x.size - 1, loc=x.mean(), scale=stats.sem(x))
    assert (e.low, e.high) == pytest.approx((lo, hi), rel=1e-12)


def test_tost_is_the_larger_of_two_one_sided_p_values():
    from scipy import stats

    x = np.array([0.001, -0.002, 0.0015, 0.0, -0.0005, 0.0008])
    e = effect(x, margin=0.01)
    p_low = stats.ttest_1samp(x, -0.01, alternative="greater").pvalue
    p_high = stats.ttest_1samp(x, 0.01, alternative="less").pvalue
    assert e.p_equivalent == pytest.approx(max(p_low, p_high), rel=1e-10)
    assert effect(x).p_equivalent == 1.0  # no margin, no equivalence


def test_paired_effect_cancels_the_shared_seed_effect():
    seed_effect = np.array([0.80, 0.90, 0.70, 0.95, 0.85])
    e = paired_effect(seed_effect + 0.02, seed_effect)
    assert e.estimate == pytest.approx(0.02) and e.sd == pytest.approx(0.0, abs=1e-15)
    assert e.p_greater == 0.0  # exact: every seed agrees
    assert t_ci(seed_effect + 0.02).low < t_ci(seed_effect).high  # unpaired, the intervals overlap


def test_one_seed_decides_nothing():
    e = effect([0.5])
    assert (e.low, e.high, e.p_greater, e.p_less) == (0.5, 0.5, 1.0, 1.0)
    assert decide(Rule("x", "greater", "t", scale=0.1), [0.5], name="one").verdict == "inconclusive"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: effect([]), "`values` is empty"),
        (lambda: effect([1.0, math.nan]), "non-finite values at positions [1]"),
        (lambda: effect([1.0, 2.0], level=1.5), "`level` must be in (0, 1); got 1.5"),
        (lambda: effect([1.0, 2.0], margin=-1), "`margin` must be a finite number >= 0; got -1"),
        (lambda: paired_effect([1.0, 2.0], [1.0]), "same number of seeds; got 2 and 1"),
        (lambda: holm([0.5, 1.5]), "`p_values` must lie in [0, 1]"),
        (lambda: combine([], "all"), "`parts` is empty"),
        (lambda: Rule("x", "bigger", "t"), "`test` must be one of"),
        (lambda: Rule("x", "equivalent", "t"), "needs a margin > 0"),
        (lambda: Rule("x", "identity", "t"), "needs a tolerance > 0"),
    ],
)
def test_bad_input_is_refused_with_the_reason(call, message):
    with pytest.raises(ValueError) as e:
        call()
    assert message in str(e.value)


# ------------------------------------------------------------------ Holm
def test_holm_matches_the_textbook_procedure():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> monotone 0.06
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])


def test_holm_controls_the_family_wise_error_under_the_null():
    rng = np.random.default_rng(0)
    false_alarms = sum(min(holm(rng.uniform(size=20))) < 0.05 for _ in range(4000))
    assert false_alarms / 4000 <= 0.055


# ------------------------------------------------------------------ rules can go every way
GREATER = Rule("t.greater", "greater", "A beats B", unit="points", margin=0.01, scale=0.01)
LESS = Rule("t.less", "less", "A needs fewer epochs", unit="epochs", margin=0.5, scale=1.0)
EQUIV = Rule("t.equiv", "equivalent", "A and B are the same", margin=0.02, scale=0.01)
NULL = Rule("t.null", "greater", "ECE above 0.02", null=0.02, scale=0.005)


@pytest.mark.parametrize("rule", [GREATER, LESS, EQUIV, NULL], ids=lambda r: r.id)
def test_every_empirical_rule_returns_every_verdict_on_its_planted_controls(rule):
    controls = planted_controls(rule)
    assert {c["expected"] for c in controls} == {"supported", "refuted", "inconclusive"}
    for c in controls:
        assert c["got"] == c["expected"], c


def test_identity_controls_include_a_failure():
    rule = Rule("t.id", "identity", "CE = H + KL", tolerance=1e-12)
    assert [c["got"] for c in planted_controls(rule)] == ["supported", "refuted"]
    assert decide(rule, math.nan, name="x").verdict == "refuted"  # NaN never passes an identity
    holds = Rule("t.holds", "holds", "CE separates 0.49 from 0.51 more than MSE")
    assert decide(holds, False, name="x").verdict == "refuted"
    with pytest.raises(TypeError, match="needs a bool"):
        decide(holds, 1.0, name="x")


def test_a_significant_but_negligible_effect_is_no_practical_difference():
    part = decide(GREATER, [0.002, 0.003, 0.0025, 0.0028, 0.0022, 0.0031], name="x")
    assert part.verdict == "refuted" and "practical margin" in part.note
    assert part.p_refute < ALPHA and part.p_support < ALPHA  # both tests reject; the margin decides


def test_decide_refuses_an_effect_computed_against_another_null():
    with pytest.raises(ValueError, match="null=0.0, margin=0.0; the rule says null=0.02"):
        decide(NULL, effect([0.03, 0.04]), name="x")


def test_combine_respects_the_claims_logic():
    def parts(*verdicts):
        return [Part("r", f"p{i}", "greater", "empirical", v, "") for i, v in enumerate(verdicts)]

    assert combine(parts("supported", "supported"), "all") == "supported"
    assert combine(parts("supported", "inconclusive"), "all") == "mixed"  # "beats" needs every dataset
    assert combine(parts("supported", "refuted"), "all") == "mixed"
    assert combine(parts("refuted", "refuted"), "all") == "refuted"
    assert combine(parts("refuted", "inconclusive"), "all") == "refuted"
    assert combine(parts("inconclusive", "inconclusive"), "all") == "inconclusive"
    assert combine(parts("refuted", "supported"), "exists") == "supported"  # one solid instance suffices
    assert combine(parts("refuted", "inconclusive"), "exists") == "inconclusive"
    assert combine(parts("refuted", "refuted"), "exists") == "refuted"


def test_claim_rules_validate_their_kind():
    with pytest.raises(ValueError, match="is an identity but has empirical rules"):
        ClaimRules("x", "identity", "all", "t", (GREATER,))
    with pytest.raises(ValueError, match="`logic` must be one of"):
        ClaimRules("x", "empirical", "most", "t", (GREATER,))
    with pytest.raises(ValueError, match="rule ids must be unique"):
        ClaimRules("x", "empirical", "all", "t", (GREATER, GREATER))


def test_intervals_format():
    assert Interval(0.5, 0.25, 0.75, 3).format(".1f", scale=100, unit="%") == "50.0% [25.0, 75.0]"


def _all_rules():
    from losslab.lab.rules import RULES

    return [r for c in RULES.values() for r in c.rules]


@pytest.mark.parametrize("rule", _all_rules(), ids=lambda r: r.id)
def test_every_declared_rule_passes_its_planted_controls(rule):
    """The lab's own rules, as declared: each returns the planted answer, refuted included."""
    controls = planted_controls(rule)
    assert "refuted" in {c["expected"] for c in controls}
    for c in controls:
        assert c["got"] == c["expected"], c


def test_rules_hash_changes_when_a_threshold_does(monkeypatch):
    from dataclasses import replace

    from losslab.lab import rules

    before = rules.rules_sha256()
    c19 = rules.RULES["mse-formula"]
    changed = replace(c19, rules=(replace(c19.rules[0], params={"relative_tolerance": 1e-6}), *c19.rules[1:]))
    monkeypatch.setitem(rules.RULES, "mse-formula", changed)
    assert rules.rules_sha256() != before
