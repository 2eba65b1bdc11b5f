"""Claims 4 (saturation), 8 (confident mistakes) and 11 (proper scoring): computations, rules, smoke runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rich.console import Console

from losslab.lab import protocol
from losslab.lab.claims import c04_saturation as c04
from losslab.lab.claims import c08_confident_mistakes as c08
from losslab.lab.claims import c11_proper_scoring as c11
from losslab.lab.claims.c04_saturation_cells import escape_times, saturation_base
from losslab.lab.profiles import get_profile
from losslab.lab.registry import VERDICTS
from losslab.lab.rules import claim_rules
from losslab.lab.runner import run_lab
from losslab.lab.verdicts import decide

RULES04 = claim_rules("saturation")

# ------------------------------------------------------------------ claim 4


def test_logit_curves_match_closed_forms_and_limits():
    out = c04.logit_curves({"z_min": -30.0, "z_max": 5.0, "n": 71})
    assert out["ce_error"] < 1e-12 and out["mse_error"] < 1e-12
    z, ce, ms = (np.asarray(out[k]) for k in ("z", "ce", "mse"))
    assert ce[0] > 0.999 and ms[0] < 1e-10  # z = -30: CE near 1, MSE vanishes
    i0 = int(np.argmin(np.abs(z)))
    assert ce[i0] == pytest.approx(0.5, abs=0.02) and ms[i0] == pytest.approx(0.25, abs=0.02)


def test_per_example_gradients_against_numpy():
    import torch

    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, 4)) * 3
    y = rng.integers(0, 4, size=6)
    out = c04.per_example(torch.tensor(z), torch.tensor(y), 4)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    t = np.eye(4)[y]
    np.testing.assert_allclose(out["ce"], np.linalg.norm(p - t, axis=1), rtol=1e-10)
    e = 2 * (p - t)  # d/dp of sum (p - t)^2, then through the softmax Jacobian diag(p) - p p^T
    g = p * e - p * (p * e).sum(1, keepdims=True)
    np.testing.assert_allclose(out["mse"], np.linalg.norm(g, axis=1), rtol=1e-10)
    np.testing.assert_allclose(out["p_true"], p[np.arange(6), y])


def test_softmax_limits_vanish_for_mse_and_tend_to_sqrt2_for_ce():
    out = c04.softmax_limits(10, [0.0, 5.0, 10.0, 30.0])
    assert np.all(np.diff(out["mse"]) < 0) and out["mse"][-1] < 1e-10
    assert out["ce"][-1] == pytest.approx(math.sqrt(2), abs=1e-9)
    assert out["ce"][0] == pytest.approx(math.sqrt(0.9**2 + 9 * 0.1**2))  # uniform softmax: ||p - onehot||


def test_identity_parts_hold_and_can_fail():
    curves = c04.logit_curves(dict(RULES04.rule("c04.sigmoid_gradient").params))
    parts, _ = c04.identity_parts(curves)
    assert [p.rule for p in parts] == ["c04.sigmoid_gradient", "c04.sigmoid_limit", "c04.softmax_limit"]
    assert all(p.kind == "identity" and p.verdict == "supported" for p in parts)
    # a loss whose gradient did not vanish (MSE's curve replaced by CE's), with autograd off its closed form
    broken = {**curves, "mse": curves["ce"], "mse_error": 1e-3}
    assert [p.verdict for p in c04.identity_parts(broken)[0][:2]] == ["refuted", "refuted"]


def test_escape_time_and_its_rule():
    assert c04.escape_time([1.0, 0.5, 0.25, 0.0, 0.0, 0.0], 5) == 0.75
    assert c04.escape_time([1.0, 1.0, 1.0], 5) == 5.0  # a run that stopped while stuck stays stuck
    assert math.isnan(c04.escape_time([], 5))
    with pytest.raises(ValueError, match="plant"):
        escape_times([{"planted_wrong": []}], 5)
    rule = RULES04.rule("c04.escape_softmax")
    assert decide(rule, [1.9, 2.1, 2.0, 1.8, 2.2], name="x").verdict == "supported"
    assert decide(rule, [0.2, 0.3, 0.25, 0.2, 0.3], name="x").verdict == "refuted"  # within an epoch of CE
    assert decide(rule, [-1.9, -2.1, -2.0, -1.8, -2.2], name="x").verdict == "refuted"
    assert decide(rule, [3.0, -2.0, 0.5, 2.0, -1.5], name="x").verdict == "inconclusive"


def test_planted_start_cell_puts_examples_wrong_and_mse_escapes_slower():
    base = {**saturation_base(), "dataset": "digits", "seed": 0, "lr": 0.1, "epochs": 2, "patience": 2,
            "device": "cpu", "data_dir": None}  # fmt: skip
    ce, mse = (protocol.fit_cell({**base, "loss": loss}) for loss in ("cross_entropy", "mse_softmax"))
    assert ce["planted_share"] == mse["planted_share"] > 0.8  # same init and plant: ~90% of digits are not a 0
    assert ce["planted_wrong"][0] == mse["planted_wrong"][0] == 1.0 and len(ce["planted_wrong"]) == 3
    assert ce["planted_wrong"][1] < 0.3 < 0.8 < mse["planted_wrong"][1]
    with pytest.raises(ValueError, match="class"):
        protocol.fit_cell({**base, "loss": "cross_entropy", "plant": {**base["plant"], "class": 10}})


# ------------------------------------------------------------------ claim 8


def test_the_049_051_example_is_computed_and_refutes_the_seed():
    out = c08.binary_losses([0.49, 0.51, 0.01])
    assert out["mse"] == pytest.approx([0.51**2, 0.49**2, 0.99**2])
    assert out["ce"] == pytest.approx([-math.log(0.49), -math.log(0.51), -math.log(0.01)])
    ex = c08.example()
    assert ex["mse_ratio"] == pytest.approx(1.0833, abs=1e-4) and ex["ce_ratio"] == pytest.approx(1.0594, abs=1e-4)
    # near 0.5 CE's relative gap is smaller than MSE's (the seed's claim fails); in the tail CE's ratio is larger
    assert ex["ce_ratio"] < ex["mse_ratio"] and ex["ce_tail_ratio"] > ex["mse_tail_ratio"]
    rule = c08.RULES.rule("c08.example")
    assert decide(rule, bool(ex["ce_ratio"] > ex["mse_ratio"]), name="x").verdict == "refuted"


def test_tail_share_and_effects():
    p = np.array([0.9, 0.95, 0.01, 0.5, 0.99, 0.8, 0.7, 0.6, 0.97, 0.85])
    ce = -np.log(p)
    mse = (1 - p) ** 2
    assert c08.tail_share(ce, p, 0.1) == pytest.approx(ce[2] / ce.sum())
    assert c08.tail_share(ce, p, 0.1) > c08.tail_share(mse, p, 0.1)
    assert c08.tail_share(ce, p, 1.0) == pytest.approx(1.0)
    z = np.log(np.array([[0.01, 0.99], [0.9, 0.1], [0.6, 0.4], [0.2, 0.8]]))
    y = np.array([0, 0, 1, 1])
    e = c08.per_example(z, y)
    np.testing.assert_allclose(e["ce"], -np.log(e["p_true"]), rtol=1e-10)
    np.testing.assert_allclose(e["brier"], 2 * (1 - e["p_true"]) ** 2, rtol=1e-10)  # two classes: twice (1 - p)^2
    shares = c08.tail_effects(z, y)
    assert set(shares) == set(c08.TAIL.params["tails"])
    assert shares[0.01][0] == pytest.approx(e["ce"][0] / e["ce"].sum())


def test_confident_mistakes_controls_go_both_ways():
    controls = c08.planted_controls(n_seeds=4)
    assert all(c["got"] == c["expected"] for c in controls), controls
    assert {c["expected"] for c in controls} == {"supported", "refuted"}


# ------------------------------------------------------------------ claim 11


def test_propriety_grid_proper_and_improper():
    out = c11.propriety({"binary_step": 0.01, "simplex_step": 0.05, "binary_p": [0.1, 0.3, 0.7],
                         "ternary_p": [[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]})  # fmt: skip
    for rule in ("log loss", "Brier"):
        assert max(out[rule]["binary_error"]) <= 0.01 + 1e-9
        assert max(out[rule]["ternary_error"]) <= 0.05 + 1e-9
    assert out["absolute error"]["binary_argmin"] == [0.01, 0.01, 0.99]  # improper: pushed to the edge
    assert max(out["absolute error"]["ternary_error"]) > 0.3
    rule = c11.CLAIM_RULES.rule("c11.proper_binary")  # its tolerance is the claim's own grid step, 0.001
    worst_proper = max(max(out[r]["binary_error"]) for r in ("log loss", "Brier"))
    assert decide(rule, bool(worst_proper <= 0.01 + 1e-9), name="t").verdict == "supported"
    assert decide(rule, bool(max(out["absolute error"]["binary_error"]) <= 0.01), name="t").verdict == "refuted"


def test_proper_scoring_controls_go_both_ways():
    prop = c11.propriety({"binary_step": 0.01, "simplex_step": 0.05, "binary_p": [0.1, 0.7],
                          "ternary_p": [[0.2, 0.3, 0.5]]})  # fmt: skip
    controls = c11.controls(prop)
    assert all(c["got"] == c["expected"] for c in controls), controls
    assert {c["rule"] for c in controls if c["got"] == "refuted"} == {"c11.proper_binary", "c11.proper_ternary",
                                                                      "c11.decomposition"}  # fmt: skip
    assert any(c["got"] == "supported" for c in controls)


def test_expected_log_score_closed_form():
    q = np.array([0.2, 0.5, 0.8])
    e = c11.expected_scores("log loss", q, 0.3)
    np.testing.assert_allclose(e, -(0.3 * np.log(q) + 0.7 * np.log(1 - q)))
    Q = c11.simplex_grid(0.1)
    np.testing.assert_allclose(Q.sum(1), 1.0)
    e3 = c11.expected_scores("Brier", Q, [0.2, 0.3, 0.5])
    p = np.array([0.2, 0.3, 0.5])
    np.testing.assert_allclose(e3, ((Q - p) ** 2).sum(1) + 1 - (p**2).sum())


def test_decompose_identities_and_three_term_gap():
    rng = np.random.default_rng(1)
    P = rng.dirichlet(np.ones(3), size=300)
    y = np.array([rng.choice(3, p=row) for row in P])
    d = c11.decompose(P, y, n_bins=10)
    assert d["five_term_error"] < 1e-12 and d["discretised_error"] < 1e-12
    assert d["three_term_gap"] > 1e-6  # continuous forecasts: Murphy's three terms are not exact
    pb = rng.uniform(size=200)
    db = c11.decompose(pb, (rng.uniform(size=200) < pb).astype(np.int64), n_bins=10)
    assert db["five_term_error"] < 1e-12 and db["discretised_error"] < 1e-12


# ------------------------------------------------------------------ smoke runs


def test_saturation_smoke_run(tmp_path):
    r = run_lab(out=tmp_path, profile=get_profile("smoke"), claims=[c04.CLAIM], jobs=1, fresh=True, device="cpu",
                console=Console(quiet=True))  # fmt: skip
    c = r["claims"][0]
    assert c["status"] == "ok", c["error"]
    assert c["kind"] == "empirical" and c["verdict"] in VERDICTS
    assert [(p["rule"], p["kind"]) for p in c["parts"]] == [
        ("c04.sigmoid_gradient", "identity"), ("c04.sigmoid_limit", "identity"), ("c04.softmax_limit", "identity"),
        ("c04.escape_sigmoid", "empirical"), ("c04.escape_softmax", "empirical")]  # fmt: skip
    assert [p["name"] for p in c["parts"][3:]] == ["breast_cancer", "digits"]
    assert c["controls_ok"] is True
    assert sorted(x["expected"] for x in c["controls"] if x["source"] == "claim") == ["refuted", "supported"]
    assert len(c["figures"]) == 2 and all((tmp_path / "figures" / f["file"]).stat().st_size for f in c["figures"])


def test_proper_scoring_smoke_run(tmp_path):
    r = run_lab(out=tmp_path, profile=get_profile("smoke"), claims=[c11.CLAIM], jobs=1, fresh=True,
                console=Console(quiet=True))  # fmt: skip
    c = r["claims"][0]
    assert c["status"] == "ok", c["error"]
    assert c["kind"] == "identity" and c["verdict"] == "supported"
    assert {p["rule"]: p["verdict"] for p in c["parts"]} == {
        "c11.proper_binary": "supported", "c11.proper_ternary": "supported", "c11.decomposition": "supported"}
    assert c["controls_ok"] is True and any(x["source"] == "claim" for x in c["controls"])
    assert list((tmp_path / "figures").glob("*.png"))


def test_confident_mistakes_smoke_run(tmp_path):
    r = run_lab(out=tmp_path, profile=get_profile("smoke"), claims=[c08.CLAIM], jobs=1, fresh=True,
                console=Console(quiet=True))  # fmt: skip
    c = r["claims"][0]
    assert c["status"] == "ok", c["error"]
    assert c["kind"] == "empirical" and c["verdict"] in VERDICTS
    assert [p["rule"] for p in c["parts"]] == ["c08.example", "c08.tail", "c08.tail"]
    assert c["parts"][0]["verdict"] == "refuted"  # the seed's 0.49 / 0.51 example, exact
    assert c["controls_ok"] is True and any(x["source"] == "claim" for x in c["controls"])
    assert list((tmp_path / "figures").glob("*.png"))
    # the predictions are claim 14's tuned runs, cached under its cells
    assert list((tmp_path / "cells" / "ce-calibrates-mse-not").glob("*.json"))
