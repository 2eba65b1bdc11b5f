"""Claims 7 (outliers) and 10 (calibration): their cells on small inputs, their verdict rules, a smoke run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.console import Console

import losslab
from losslab.calibration import ece
from losslab.lab.claims import c07_outliers as c07
from losslab.lab.claims import c10_calibration as c10
from losslab.lab.data import load_dataset
from losslab.lab.profiles import get_profile
from losslab.lab.registry import VERDICTS
from losslab.lab.runner import run_lab
from losslab.lab.stats import Interval

WIN = Interval(30.0, 20.0, 40.0, 5)
TIE = Interval(0.1, -0.2, 0.3, 5)
LOSE = Interval(-5.0, -8.0, -2.0, 5)
CELL = {"device": "cpu", "data_dir": None}


# ------------------------------------------------------------------ claim 7
def test_corrupt_moves_the_drawn_fraction_up_by_the_offset_and_is_seeded():
    y = np.arange(100, dtype=np.float64)
    out, idx = c07.corrupt(y, 0.2, seed=3, offset=7.0)
    assert idx.size == 20 and np.unique(idx).size == 20
    np.testing.assert_array_equal(out[idx], y[idx] + 7.0)
    mask = np.ones(100, bool)
    mask[idx] = False
    np.testing.assert_array_equal(out[mask], y[mask])
    np.testing.assert_array_equal(c07.corrupt(y, 0.2, seed=3, offset=7.0)[1], idx)
    assert not np.array_equal(c07.corrupt(y, 0.2, seed=4, offset=7.0)[1], idx)
    assert c07.corrupt(y, 0.0, seed=0, offset=7.0)[1].size == 0


def test_pinball_at_the_median_is_half_the_absolute_error():
    rng = np.random.default_rng(0)
    p, t = rng.normal(size=50), rng.normal(size=50)
    assert float(losslab.pinball(p, t, quantile=0.5)) == pytest.approx(0.5 * float(losslab.mae(p, t)), rel=1e-12)


def test_mse_cell_on_clean_data_reaches_the_least_squares_fit():
    r = c07.fit_and_score({**CELL, "fraction": 0.0, "seed": 0, "steps": 400, "losses": ["mse"]})
    d = load_dataset("diabetes", seed=0)
    A = np.c_[d.X_train, np.ones(len(d.y_train))].astype(np.float64)
    w = np.linalg.lstsq(A, d.y_train.astype(np.float64), rcond=None)[0]
    pred = np.c_[d.X_test, np.ones(len(d.y_test))] @ w
    rmse = float(np.sqrt(np.mean((pred - d.y_test) ** 2)))
    assert r["n_corrupted"] == 0
    assert r["mse"]["rmse"] == pytest.approx(rmse, abs=0.05)


def test_one_sided_outliers_drag_mse_but_not_mae():
    r = c07.fit_and_score({**CELL, "fraction": 0.2, "seed": 1, "steps": 300, "losses": ["mse", "mae"]})
    assert r["n_corrupted"] == round(0.2 * 331)
    # MSE follows the mean: its test bias is about fraction x offset; the median barely moves.
    assert r["mse"]["bias"] > 0.6 * 0.2 * r["offset"]
    assert abs(r["mae"]["bias"]) < 0.25 * r["mse"]["bias"]
    assert r["mse"]["rmse"] > 1.5 * r["mae"]["rmse"]


def test_outlier_rule_on_hand_made_intervals():
    assert c07.decide({"huber": WIN, "mae": WIN}, {"huber": TIE, "mae": TIE}, 54.0)[0] == "supported"
    assert c07.decide({"huber": WIN, "mae": TIE}, {"huber": TIE, "mae": TIE}, 54.0)[0] == "mixed"
    assert c07.decide({"huber": LOSE, "mae": LOSE}, {"huber": TIE, "mae": TIE}, 54.0)[0] == "not supported"
    assert c07.decide({"huber": TIE, "mae": TIE}, {"huber": TIE, "mae": TIE}, 54.0)[0] == "inconclusive"
    # MSE already worse than MAE by more than 2% of its RMSE on clean data: the win is not about outliers.
    verdict, parts, clean_ok = c07.decide({"huber": WIN, "mae": WIN}, {"huber": TIE, "mae": WIN}, 54.0)
    assert (verdict, clean_ok, parts["mae"]) == ("mixed", False, "supported")


# ------------------------------------------------------------------ claim 10
def test_split_train_is_a_seeded_partition():
    fit, val = c10.split_train(100, seed=2)
    assert (fit.size, val.size) == (80, 20)
    assert np.intersect1d(fit, val).size == 0 and np.union1d(fit, val).tolist() == list(range(100))
    np.testing.assert_array_equal(c10.split_train(100, seed=2)[1], val)
    assert not np.array_equal(c10.split_train(100, seed=3)[1], val)


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
    floor = c10.ece_floor(conf, draws=30, seed=0)
    assert 0.0 < floor < 0.03
    wrong = (np.arange(500) % 5 != 0).astype(np.int64)  # 80% correct at 95% confidence: ECE 0.15
    assert ece(conf, wrong, n_bins=15, kind="binary") == pytest.approx(0.15)
    assert floor < 0.15 / 4


@pytest.mark.parametrize("dataset", ["iris", "breast_cancer"])
def test_calibration_cell_keeps_accuracy_under_temperature(dataset):
    r = c10.train_and_calibrate({**CELL, "dataset": dataset, "smoothing": 0.0, "seed": 0, "epochs": 3})
    raw, ts = r["raw"], r["temperature_scaled"]
    assert raw["accuracy"] == ts["accuracy"] and raw["correct"] == ts["correct"]
    assert len(raw["conf"]) == r["n_test"] and r["temperature"] > 0
    assert raw["nll"] == pytest.approx(raw["nll_logits"], rel=1e-6)  # our NLL agrees with losslab.cross_entropy
    for stage in ("raw", "temperature_scaled"):
        assert 0.0 <= r[stage]["ece"] <= 1.0
    assert ("platt" in r) == (dataset == "breast_cancer")
    json.dumps(r)  # a cell's result is JSON


def test_miscalibration_rule_on_hand_made_intervals():
    hi, lo_excess, pos_excess = (
        Interval(0.05, 0.04, 0.06, 5),
        Interval(0.0, -0.01, 0.01, 5),
        Interval(0.03, 0.02, 0.04, 5),
    )
    assert c10.miscalibration_verdict(hi, pos_excess) == "supported"
    assert c10.miscalibration_verdict(hi, lo_excess) == "inconclusive"
    assert c10.miscalibration_verdict(Interval(0.012, 0.01, 0.015, 5), pos_excess) == "not supported"
    assert c10.miscalibration_verdict(Interval(0.02, 0.015, 0.03, 5), pos_excess) == "inconclusive"


# ------------------------------------------------------------------ both, end to end
@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab_robust_calibration")
    r = run_lab(out=out, profile=get_profile("smoke"), claims=[c07.CLAIM, c10.CLAIM], jobs=1, fresh=True,
                console=Console(quiet=True))  # fmt: skip
    return out, r


@pytest.mark.parametrize("number", [7, 10])
def test_smoke_run_gives_a_verdict_and_figures(smoke, number):
    out, r = smoke
    (claim,) = [c for c in r["claims"] if c["number"] == number]
    assert claim["status"] == "ok", claim.get("error")
    assert claim["verdict"] in VERDICTS
    assert claim["figures"] and all((out / "figures" / f["file"]).stat().st_size > 1000 for f in claim["figures"])
    assert claim["numbers"]["verdict_parts"]
