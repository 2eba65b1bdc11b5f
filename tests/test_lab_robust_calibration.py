"""Claims 7 (outliers), 10 (calibration not guaranteed), 14 (CE vs MSE calibration): cells, rules, controls, smoke."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from rich.console import Console

import losslab
from losslab import grad
from losslab.calibration import TemperatureScaling, ece
from losslab.lab import protocol
from losslab.lab.claims import c07_outliers as c07
from losslab.lab.claims import c07_outliers_cells as c07c
from losslab.lab.claims import c10_calibration as c10
from losslab.lab.claims import c10_calibration_cells as c10c
from losslab.lab.claims import c14_calibration_ce_vs_mse as c14
from losslab.lab.context import Context
from losslab.lab.data import load_dataset, train_val_split
from losslab.lab.profiles import get_profile
from losslab.lab.registry import VERDICTS
from losslab.lab.rules import claim_rules
from losslab.lab.runner import run_lab
from losslab.lab.verdicts import Rule, decide

CELL = {"device": "cpu", "data_dir": None}


# ------------------------------------------------------------------ claim 7
def test_corrupt_moves_the_drawn_fraction_up_by_the_offset_and_is_seeded():
    y = np.arange(100, dtype=np.float64)
    out, idx = c07c.corrupt(y, 0.2, seed=3, offset=7.0)
    assert idx.size == 20 and np.unique(idx).size == 20
    np.testing.assert_array_equal(out[idx], y[idx] + 7.0)
    mask = np.ones(100, bool)
    mask[idx] = False
    np.testing.assert_array_equal(out[mask], y[mask])
    np.testing.assert_array_equal(c07c.corrupt(y, 0.2, seed=3, offset=7.0)[1], idx)
    assert not np.array_equal(c07c.corrupt(y, 0.2, seed=4, offset=7.0)[1], idx)
    assert c07c.corrupt(y, 0.0, seed=0, offset=7.0)[1].size == 0


def test_pinball_at_the_median_is_half_the_absolute_error():
    rng = np.random.default_rng(0)
    p, t = rng.normal(size=50), rng.normal(size=50)
    assert float(losslab.pinball(p, t, quantile=0.5)) == pytest.approx(0.5 * float(losslab.mae(p, t)), rel=1e-12)


def test_one_huber_call_serves_every_delta():
    rng = np.random.default_rng(1)
    Z, t = 3 * rng.normal(size=(40, 3)), rng.normal(size=40)
    cfg = [{"loss": "huber", "lr": 0.1, "delta": d} for d in (0.5, 1.345, 3.0)]
    G = c07c.regression_grads(cfg)(Z, t)
    for k, c in enumerate(cfg):
        np.testing.assert_allclose(G[:, k], grad.huber(Z[:, k], t, delta=c["delta"], reduction="none"), atol=1e-14)
    with pytest.raises(ValueError, match="unknown losses"):
        c07c.regression_grads([{"loss": "l3", "lr": 0.1, "delta": None}])


def test_every_rate_of_the_grid_reaches_the_least_squares_fit():
    cfg = [c for c in c07.configs() if c["loss"] == "mse"]
    r = c07c.regression_cell({"fraction": 0.0, "seed": 0, "steps": 200, "configs": cfg, "offset_sd": 10.0,
                              "val_fraction": 0.2})  # fmt: skip
    d = load_dataset("diabetes", seed=0)
    X_fit, _, y_fit, _ = train_val_split(d.X_train, d.y_train.astype(np.float64), seed=0, fraction=0.2,
                                         stratify=False)  # fmt: skip
    w = np.linalg.lstsq(np.c_[X_fit, np.ones(len(y_fit))], y_fit, rcond=None)[0]
    rmse = float(np.sqrt(np.mean((np.c_[d.X_test, np.ones(len(d.y_test))] @ w - d.y_test) ** 2)))
    assert r["n_corrupted"] == 0 and len(r["configs"]) == 4
    for c in r["configs"]:
        assert c["rmse"] == pytest.approx(rmse, rel=0.01)


def test_one_sided_outliers_drag_mse_but_not_mae_and_the_seed_resamples_the_split():
    cfg = [{"loss": "mse", "lr": 1.0, "delta": None}, {"loss": "mae", "lr": 1.0, "delta": None}]
    p = {"fraction": 0.2, "steps": 200, "configs": cfg, "offset_sd": 10.0, "val_fraction": 0.2}
    r = c07c.regression_cell({**p, "seed": 1})
    mse, mae = r["configs"]
    assert r["n_corrupted"] == round(0.2 * r["n_fit"]) and r["n_corrupted_val"] == round(0.2 * r["n_val"])
    assert mse["bias"] > 0.6 * 0.2 * r["offset"]  # MSE follows the mean: bias about fraction x offset
    assert abs(mae["bias"]) < 0.25 * mse["bias"] and mse["rmse"] > 1.5 * mae["rmse"]
    assert c07c.regression_cell({**p, "seed": 2})["configs"][0]["rmse"] != mse["rmse"]


def test_far_flips_are_the_largest_margin_points():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    X[:, 0] += np.where(np.arange(60) % 2, 3.0, -3.0)
    y = np.arange(60) % 2
    idx = c07c.far_flips(X, y, 4)
    assert idx.size == 4 and c07c.far_flips(X, y, 0).size == 0
    depth = np.abs(X[:, 0])
    assert depth[idx].min() > np.median(depth)


def test_cross_entropy_moves_more_than_brier_on_far_flipped_labels():
    r = c07c.classification_cell({**c07.P["binary"], "seed": 0})
    assert r["n_flip"] == c07.P["binary"]["n_flip"]
    drop = {k: r[f"{k}/clean"]["acc"] - r[f"{k}/flipped"]["acc"] for k in ("ce", "brier")}
    assert drop["ce"] > drop["brier"] + 0.01 and r["ce/weight_change"] > 3 * r["brier/weight_change"]
    json.dumps(r)


def test_outlier_controls_go_both_ways(tmp_path):
    ctx = Context(profile=get_profile("smoke"), datasets=("digits",), cache_dir=tmp_path).for_claim("outliers")
    controls = c07._controls(ctx)
    assert all(c["got"] == c["expected"] for c in controls), controls
    assert [c["expected"] for c in controls if c["rule"] == "c07.regression"] == ["supported", "refuted"]


# ------------------------------------------------------------------ claim 10
RULES10 = claim_rules("calibration-not-guaranteed")


def test_top_label_ece_equals_binary_ece_of_confidence_and_correctness():
    # The pooled reliability diagrams rely on this: top-label ECE is the binary ECE of (max prob, correct).
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 4)) * 3
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    y = rng.integers(0, 4, size=300)
    correct = (p.argmax(axis=1) == y).astype(np.int64)
    assert ece(p, y, n_bins=15) == pytest.approx(ece(p.max(axis=1), correct, n_bins=15, kind="binary"), abs=1e-12)


def test_ece_floor_is_small_for_calibrated_outcomes_and_below_a_real_miscalibration():
    conf = np.full(500, 0.95)
    floor = c10c.ece_floor(conf, draws=30, seed=0, n_bins=15)
    assert 0.0 < floor < 0.03
    wrong = (np.arange(500) % 5 != 0).astype(np.int64)  # 80% correct at 95% confidence: ECE 0.15
    assert ece(conf, wrong, n_bins=15, kind="binary") == pytest.approx(0.15)
    assert floor < 0.15 / 4


def test_the_rules_bounds_are_temperature_scalings_own():
    from losslab.calibration import scaling

    lo, hi = RULES10.rule("c10.temperature_ece").params["t_bounds"]
    assert (math.log(lo), math.log(hi)) == pytest.approx(scaling._LOG_T_BOUNDS)
    assert c10c.at_bound(lo) and c10c.at_bound(hi * 0.995) and not c10c.at_bound(1.0) and not c10c.at_bound(0.02)


def test_a_calibration_split_without_errors_sends_temperature_to_its_bound():
    rng = np.random.default_rng(0)
    z = 3 * rng.normal(size=(200, 5))
    ts, bound = c10c.temperature_fit(z, z.argmax(axis=1))
    assert bound and ts.temperature_ == pytest.approx(0.01, rel=0.02)
    y = np.array([rng.choice(5, p=np.exp(r / 3) / np.exp(r / 3).sum()) for r in z])
    ts, bound = c10c.temperature_fit(z, y)
    assert not bound and 2.0 < ts.temperature_ < 4.5


def test_a_bound_hit_keeps_the_temperature_part_from_support_and_is_named():
    rule = RULES10.rule("c10.temperature_ece")
    good = [0.05, 0.06, 0.055, 0.05, 0.065]
    assert c10c.temperature_part(rule, good, [], name="x").verdict == "supported"
    capped = c10c.temperature_part(rule, good, [3], name="x")
    assert capped.verdict == "inconclusive" and "seed(s) 3" in capped.note and "capped" in capped.note
    bad = [-0.05, -0.06, -0.055, -0.05, -0.065]
    assert c10c.temperature_part(rule, bad, [0, 1], name="x").verdict == "refuted"


def test_exists_part_one_solid_instance_supports_all_must_refute():
    r = Rule("x", "greater", "excess above 0.02", null=0.02, scale=0.01)
    solid = decide(r, [0.08, 0.09, 0.07, 0.085, 0.075], name="solid")
    calm = decide(r, [0.001, 0.0, 0.002, 0.001, 0.0], name="calm")
    noisy = decide(r, [0.1, -0.05, 0.02, 0.06, -0.02], name="noisy")
    assert c10c.exists_part(r, [calm, solid], name="any").verdict == "supported"
    assert c10c.exists_part(r, [calm, calm], name="any").verdict == "refuted"
    assert c10c.exists_part(r, [calm, noisy], name="any").verdict == "inconclusive"
    # Bonferroni: an instance that is supported alone (p < 0.025) need not support the part among many
    weak = decide(r, [0.032, 0.028, 0.03, 0.035, 0.026], name="weak")
    assert weak.verdict == "supported" and weak.p_support > 0.025 / 20
    assert c10c.exists_part(r, [weak] + [calm] * 19, name="any").verdict != "supported"
    with pytest.raises(ValueError, match="empty"):
        c10c.exists_part(r, [], name="any")


def test_calibration_controls_go_every_way():
    controls = c10c.planted_controls()  # 5 seeds: with fewer, 'within the margin' cannot be shown
    assert all(c["got"] == c["expected"] for c in controls), controls
    got = [c["got"] for c in controls if c["rule"] == "c10.miscalibrated"]
    assert got == ["refuted", "supported"]  # calibrated by construction, then logits x 3
    assert any("fitted T = 3.0" in c["planted"] or "fitted T = 2.9" in c["planted"] for c in controls)


@pytest.mark.parametrize("dataset", ["iris", "breast_cancer"])
def test_calibration_cell_keeps_accuracy_under_temperature(dataset):
    p = {**CELL, "dataset": dataset, "smoothing": 0.0, "seed": 0, "epochs": 3, "hidden": 16, "lr": 1e-2,
         "batch_size": 64, "val_fraction": 0.25}  # fmt: skip
    r = c10c.train_and_calibrate(p)
    raw, ts = r["raw"], r["temperature_scaled"]
    assert raw["accuracy"] == ts["accuracy"] and raw["correct"] == ts["correct"]
    assert len(raw["conf"]) == r["n_test"] and r["temperature"] > 0 and isinstance(r["at_bound"], bool)
    assert raw["nll"] == pytest.approx(r["nll_losslab"], rel=1e-6)  # our NLL agrees with losslab.cross_entropy
    assert raw["excess"] == pytest.approx(raw["ece"] - raw["floor"])
    assert ("platt" in r) == (dataset == "breast_cancer")
    assert r["n_val"] == math.ceil(0.25 * (r["n_val"] + r["n_fit"]))  # the calibration split is carved from train
    json.dumps(r)


# ------------------------------------------------------------------ claim 14
def test_protocol_cells_report_the_test_ece():
    base = {**CELL, "dataset": "iris", "seed": 0, "loss": "cross_entropy", "lr": 0.1, "epochs": 2, "patience": 2,
            "model": "linear", "hidden": 8, "batch_size": 32, "momentum": 0.9, "val_fraction": 0.2,
            "keep_test_logits": True}  # fmt: skip
    r = protocol.fit_cell(base)
    z, y = np.asarray(r["test_logits"]), np.asarray(r["test_labels"])
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    assert r["test"]["ece"] == pytest.approx(ece(p, y, n_bins=protocol.ECE_BINS), abs=1e-12)
    assert c14.measured_ece(z, y) == pytest.approx(r["test"]["ece"], abs=1e-12)


def test_ce_vs_mse_controls_go_both_ways():
    controls = c14.planted_controls(3)
    assert [c["got"] for c in controls] == [c["expected"] for c in controls] == ["supported", "refuted"]


def test_temperature_recovers_the_planted_factor():
    z, y = c14._planted(0, n=3000)
    assert TemperatureScaling().fit(3 * z, y).temperature_ == pytest.approx(3.0, rel=0.1)


# ------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab_robust_calibration")
    r = run_lab(out=out, profile=get_profile("smoke"), claims=[c07.CLAIM, c10.CLAIM, c14.CLAIM], jobs=1, fresh=True,
                console=Console(quiet=True))  # fmt: skip
    return out, {c["number"]: c for c in r["claims"]}


@pytest.mark.parametrize(("number", "rules"), [
    (7, ["c07.regression"] * 3 + ["c07.classification"]),
    (10, ["c10.miscalibrated"]),  # smoke's 5-epoch models: no instance is solidly miscalibrated, no temperature part
    (14, ["c14.ece"]),
])  # fmt: skip
def test_smoke_run_gives_parts_controls_and_figures(smoke, number, rules):
    out, claims = smoke
    claim = claims[number]
    assert claim["status"] == "ok", claim.get("error")
    assert claim["kind"] == "empirical" and claim["verdict"] in VERDICTS
    got = [p["rule"] for p in claim["parts"]]
    assert got[: len(rules)] == rules and set(got) <= {r.id for r in claim_rules(claim["slug"]).rules}
    assert claim["controls_ok"] is True
    assert {c["expected"] for c in claim["controls"] if c["source"] == "claim"} >= {"refuted"}
    assert claim["figures"] and all((out / "figures" / f["file"]).stat().st_size > 1000 for f in claim["figures"])


def test_smoke_calibration_records_published_and_bounds(smoke):
    _, claims = smoke
    c = claims[10]
    assert c["logic"] == "all" and c["parts"][0]["rule"] == "c10.miscalibrated"
    assert {p["source"] for p in c["published"]} >= {"Guo et al. 2017, Table 1"}
    nd = c["numbers"]["per_dataset"]["mnist1d"]
    assert len(nd["temperature_per_seed"]) == 2 and isinstance(nd["bound_seeds"], list)
