"""Claims 5 (training speed) and 9 (label noise): the rules, the curve metrics, the cells, the controls, smoke runs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from rich.console import Console

from losslab.lab import protocol
from losslab.lab.claims import c05_training_speed as c05
from losslab.lab.claims import c05_training_speed_cells as c05c
from losslab.lab.claims import c09_label_noise as c09
from losslab.lab.claims import c09_label_noise_cells as c09c
from losslab.lab.context import Context
from losslab.lab.profiles import get_profile
from losslab.lab.registry import VERDICTS
from losslab.lab.rules import claim_rules
from losslab.lab.runner import run_lab

RULES05 = claim_rules("training-speed")


# ------------------------------------------------------------------ claim 9: label noise injection (protocol's)
@pytest.mark.parametrize("rate", [0.0, 0.2, 0.4, 0.9])
@pytest.mark.parametrize("n_classes", [2, 3, 10])
def test_symmetric_noise_flips_exactly_the_rate_and_never_to_the_same_class(rate, n_classes):
    y = np.arange(997) % n_classes
    noisy = protocol.symmetric_noise(y, rate, n_classes, seed=3)
    flipped = noisy != y
    assert flipped.sum() == round(rate * y.size)
    assert noisy.dtype == y.dtype and noisy.min() >= 0 and noisy.max() < n_classes
    # a flipped label lands on another class: nothing that was chosen stays put
    rng = np.random.default_rng(3)
    chosen = rng.permutation(y.size)[: round(rate * y.size)]
    assert np.all(noisy[chosen] != y[chosen])
    assert np.array_equal(noisy[~flipped], y[~flipped])


def test_symmetric_noise_is_seeded_nested_and_uniform_over_the_other_classes():
    y = np.zeros(20000, dtype=np.int64)  # every label is class 0: the new labels must spread over 1..9
    a, b = protocol.symmetric_noise(y, 0.4, 10, seed=7), protocol.symmetric_noise(y, 0.4, 10, seed=7)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, protocol.symmetric_noise(y, 0.4, 10, seed=8))
    low = protocol.symmetric_noise(y, 0.2, 10, seed=7)
    assert np.all(a[low != y] == low[low != y])  # the 20% flips are among the 40% ones, with the same new labels
    counts = np.bincount(a[a != 0], minlength=10)
    assert counts[0] == 0
    share = counts[1:] / counts[1:].sum()
    assert np.all(np.abs(share - 1 / 9) < 0.015)  # 8000 draws: the sd of each share is about 0.0035
    y_in = y.copy()
    protocol.symmetric_noise(y_in, 0.4, 10, seed=0)
    assert np.array_equal(y_in, y)  # the input is not modified


@pytest.mark.parametrize(("rate", "k"), [(-0.1, 3), (1.0, 3), (1.5, 3), (0.2, 1)])
def test_symmetric_noise_rejects_bad_arguments(rate, k):
    with pytest.raises(ValueError, match="fraction|n_classes"):
        protocol.symmetric_noise(np.zeros(4, dtype=int), rate, k, seed=0)


# ------------------------------------------------------------------ claim 5: curve metrics and rules
def test_epochs_to_target_on_hand_made_curves():
    assert c05.epochs_to_target([0.1, 0.5, 0.96, 0.94, 0.97], 0.95, 31) == 2
    assert c05.epochs_to_target([0.96, 0.2], 0.95, 31) == 0  # reached before training
    assert c05.epochs_to_target([0.1, 0.95], 0.95, 31) == 1  # "at or above"
    assert c05.epochs_to_target([0.1, 0.5, 0.9], 0.95, 31) == 31  # censored: the budget + 1, not the run's length
    default = RULES05.rule("c05.faster").params["default_target"]
    assert c05.target_for("digits") == 0.95 and c05.target_for("unknown") == default


def test_faster_rule_supports_refutes_and_sets_aside_seeds_that_never_reach():
    assert c05c.faster_part([9, 8, 9, 10, 9], [3, 3, 4, 3, 3], 31, name="x").verdict == "supported"
    assert c05c.faster_part([3, 3, 4, 3, 3], [9, 8, 9, 10, 9], 31, name="x").verdict == "refuted"  # other side
    assert c05c.faster_part([3, 4, 3, 3, 4], [3, 4, 3, 4, 3], 31, name="x").verdict == "refuted"  # within ±1 epoch
    assert c05c.faster_part([3, 9, 2, 12, 4], [4, 3, 6, 3, 5], 31, name="x").verdict == "inconclusive"  # noise
    part = c05c.faster_part([31, 9, 8, 9, 10], [31, 3, 3, 4, 3], 31, name="x")  # seed 0: neither reached it
    assert part.verdict == "inconclusive" and "neither" in part.note


def test_reliable_rule_refutes_a_difference_inside_one_point():
    ce = np.array([0.96, 0.97, 0.95, 0.96, 0.97])
    assert c05c.reliable_part(ce, ce - [0.03, 0.04, 0.035, 0.03, 0.04], name="x").verdict == "supported"
    assert c05c.reliable_part(ce, ce + [0.001, -0.002, 0.0, 0.002, -0.001], name="x").verdict == "refuted"
    assert c05c.reliable_part(ce, ce + [0.03, 0.04, 0.035, 0.03, 0.04], name="x").verdict == "refuted"


def test_hui_belkin_record_says_comparable_only_within_the_margin():
    def why(lo, hi):
        return c05c.published_hui_belkin("d", {"estimate": (lo + hi) / 2, "ci_low": lo, "ci_high": hi}).why

    assert "comparable, as they found" in why(-0.004, 0.005)
    assert "cross-entropy ahead" in why(-0.03, -0.02)
    assert "square loss ahead" in why(0.02, 0.03)
    assert "undecided" in why(-0.03, 0.03)


# ------------------------------------------------------------------ claim 5: cells
SPEED = {**c05c.speed_base("smoke"), "device": "cpu", "data_dir": None, "dataset": "digits", "seed": 1, "lr": 0.1}


def test_speed_cells_are_deterministic_and_paired():
    p = {**SPEED, "epochs": 2, "patience": 2}
    a = protocol.fit_cell({**p, "loss": "cross_entropy"})
    assert a == protocol.fit_cell({**p, "loss": "cross_entropy"})
    assert len(a["val"]) == 3 and a["val"][-1]["acc"] > 0.5 > a["val"][0]["acc"]  # two epochs learn digits
    b = protocol.fit_cell({**p, "loss": "mse_softmax"})
    assert b["val"][0] == a["val"][0]  # the same split and initialisation for every loss of a seed
    assert b["val"][1:] != a["val"][1:]
    other = protocol.fit_cell({**p, "loss": "cross_entropy", "seed": 2})
    assert other["val"][0] != a["val"][0]  # another seed: another split and initialisation


def test_a_diverging_run_counts_as_never_reaching_the_target():
    with warnings.catch_warnings():  # losslab warns about a grad tensor while diagnosing the overflow
        warnings.simplefilter("ignore")
        r = protocol.fit_cell({**SPEED, "loss": "mse_logits", "lr": 5.0, "epochs": 3, "patience": 3})
    assert r["diverged_epoch"] is not None
    comp = protocol.Comparison("digits", (5.0,), "acc", {"m": 5.0}, {"m": [r]}, {}, {})
    assert c05c.speeds(comp, "m", 0.95, 4) == [4]


def test_planted_start_stalls_mse_softmax_not_cross_entropy():
    c = RULES05.params["control"]
    p = {**SPEED, "dataset": c["dataset"], "seed": 0, "lr": c["lr"], "plant": dict(c["plant"])}
    ce, mse = (protocol.fit_cell({**p, "loss": loss}) for loss in ("cross_entropy", "mse_softmax"))
    assert mse["planted_share"] == ce["planted_share"] > 0.5 and ce["planted_wrong"][0] == 1.0
    censored = p["epochs"] + 1
    reach = [c05c.epochs_to_target([v["acc"] for v in r["val"]], c05c.target_for(c["dataset"]), censored)
             for r in (ce, mse)]  # fmt: skip
    assert reach[0] < censored == reach[1]
    assert ce["test"]["acc"] > 0.9 > 0.5 > mse["test"]["acc"]


def test_nielsen_record_without_mnist_and_on_a_stand_in(tmp_path, monkeypatch):
    ctx = Context(profile=get_profile("smoke"), datasets=("digits",), cache_dir=tmp_path)
    recs, num = c05c.published_nielsen(ctx, (0.3,))
    assert not num["run"] and len(recs) == 2 and all(r.ours is None and "--data-dir" in r.why for r in recs)
    monkeypatch.setitem(RULES05.params["nielsen"], "dataset", "digits")  # the MNIST code path on a bundled stand-in
    recs, num = c05c.published_nielsen(ctx, (0.3,))
    assert num["run"] and [r.setting.rsplit(", ", 1)[1] for r in recs] == ["cross-entropy", "quadratic cost"]
    assert all(0.3 < r.ours <= 1.0 and r.interval[0] <= r.ours <= r.interval[1] for r in recs)
    assert num["comparison"]["chosen_lr"] == {"cross_entropy": 0.3, "mse_softmax": 0.3}


# ------------------------------------------------------------------ claim 9: measurements, cells, records
NOISY = {**c09c.base("smoke", 0.4), "device": "cpu", "data_dir": None, "dataset": "digits", "seed": 0, "lr": 0.1,
         "epochs": 3, "hidden": 16}  # fmt: skip


def test_overfitting_drop_reads_the_best_validation_epoch_against_the_last():
    assert c09.overfitting_drop({"test_acc_curve": [0.1, 0.5, 0.9], "best_epoch": 2}) == 0.0
    assert c09.overfitting_drop({"test_acc_curve": [0.1, 0.95, 0.9, 0.8], "best_epoch": 1}) == pytest.approx(0.15)
    # the best-validation epoch, not the best test epoch: the test split never chooses anything
    assert c09.overfitting_drop({"test_acc_curve": [0.1, 0.95, 0.9, 0.8], "best_epoch": 2}) == pytest.approx(0.1)


def test_noise_rates_stay_below_k_minus_one_over_k():
    assert c09c.allowed_rates([0.2, 0.4, 0.6, 0.8], 2) == ([0.2, 0.4], [0.6, 0.8])
    assert c09c.allowed_rates([0.2, 0.4, 0.6, 0.8], 3) == ([0.2, 0.4, 0.6], [0.8])
    assert c09c.allowed_rates([0.2, 0.4, 0.6, 0.8], 10) == ([0.2, 0.4, 0.6, 0.8], [])


def test_overfits_rule_on_planted_drops():
    def runs(drops):
        return [{"test_acc_curve": [0.5, 0.9, 0.9 - d], "best_epoch": 1} for d in drops]

    assert c09c.overfits_part(runs([0.10, 0.12, 0.09, 0.11, 0.10]), name="x").verdict == "supported"
    assert c09c.overfits_part(runs([0.001, -0.002, 0.0, 0.002, -0.001]), name="x").verdict == "refuted"
    assert c09c.overfits_part(runs([-0.05, -0.06, -0.04, -0.05, -0.055]), name="x").verdict == "refuted"


def test_noisy_cells_are_deterministic_paired_and_report_the_memorised_noise():
    p = {**NOISY, **c09c.CONTENDERS["ls"]}
    a = protocol.fit_cell(p)
    assert a == protocol.fit_cell(p)
    assert 0.0 <= a["fit_given"]["last"]["memorised"] <= 1.0 and 0.0 <= a["fit_given"]["best"]["train_acc"] <= 1.0
    clean = protocol.fit_cell({**p, "noise": 0.0})
    assert clean["fit_given"]["last"]["memorised"] is None  # no flipped label, nothing to memorise
    # the same split and initialisation across noise levels and losses (the test labels stay clean)
    assert clean["test_acc_curve"][0] == a["test_acc_curve"][0]
    plain = protocol.fit_cell({**NOISY, **c09c.CONTENDERS["ce"]})
    assert plain["test_acc_curve"][0] == a["test_acc_curve"][0]
    assert plain["test_acc_curve"] != a["test_acc_curve"]  # label smoothing is a different loss
    long = protocol.fit_cell(c09c.long_params(NOISY, "ce", "digits", 0.1, [0], epochs=4)[0])
    assert long["epochs_run"] == 4  # the runs of c09.overfits never stop early


def test_zhang_sabuncu_records_say_where_their_gap_falls():
    def comp(ce, gce, mae):
        runs = {c: [{"test": {"acc": a}} for a in v] for c, v in (("ce", ce), ("gce", gce), ("mae", mae))}
        return protocol.Comparison("d", (0.1,), "acc", {}, runs, {}, {})

    ce = [0.80, 0.81, 0.79, 0.80, 0.82]
    gce = [a + 0.05 + j for a, j in zip(ce, (0.01, -0.01, 0.02, -0.02, 0.0), strict=True)]
    recs = c09c.published_zhang_sabuncu("d", 0.4, comp(ce, gce, [a - 0.03 for a in ce]), 100)
    assert [r.value for r in recs] == [pytest.approx(5.25), None]
    assert recs[0].ours == pytest.approx(5.0) and "inside" in recs[0].why
    assert "MAE below cross-entropy" in recs[1].why
    far = c09c.published_zhang_sabuncu("d", 0.4, comp(ce, [a + 0.01 for a in ce], ce), 100)
    assert "above our interval" in far[0].why and "no difference decided" in far[1].why
    assert len(c09c.published_zhang_sabuncu("d", 0.3, comp(ce, ce, ce), 100)) == 1  # no published number at 30%


# ------------------------------------------------------------------ smoke runs
def test_training_speed_smoke_run(tmp_path):
    report = run_lab(out=tmp_path, profile=get_profile("smoke"), claims=[c05.CLAIM], jobs=1, fresh=True,
                     device="cpu", console=Console(quiet=True))  # fmt: skip
    claim = report["claims"][0]
    assert claim["status"] == "ok", claim["error"]
    assert claim["kind"] == "empirical" and claim["verdict"] in VERDICTS
    assert [(p["rule"], p["name"]) for p in claim["parts"]] == [("c05.faster", "digits"), ("c05.reliable", "digits")]
    assert claim["controls_ok"] is True
    own = [c for c in claim["controls"] if c["source"] == "claim"]
    assert sorted(c["expected"] for c in own) == ["refuted", "refuted", "supported", "supported"]
    comp = claim["numbers"]["datasets"]["digits"]["comparison"]
    assert set(comp["chosen_lr"]) == set(c05.CONTENDERS) and set(comp["chosen_lr"].values()) <= set(comp["lr_grid"])
    assert {p["source"].split(",")[0] for p in claim["published"]} == {"Nielsen", "Hui & Belkin (ICLR 2021)"}
    assert claim["figures"] and all((tmp_path / "figures" / f["file"]).stat().st_size > 0 for f in claim["figures"])


def test_label_noise_smoke_run(tmp_path):
    report = run_lab(out=tmp_path, profile=get_profile("smoke"), claims=[c09.CLAIM], jobs=1, fresh=True,
                     device="cpu", console=Console(quiet=True))  # fmt: skip
    claim = report["claims"][0]
    assert claim["status"] == "ok", claim["error"]
    assert claim["kind"] == "empirical" and claim["verdict"] in VERDICTS
    assert [(p["rule"], p["name"]) for p in claim["parts"]] == [("c09.overfits", "digits, 40% noise"),
                                                                ("c09.smoothing", "digits, 40% noise")]
    assert claim["controls_ok"] is True
    own = [c for c in claim["controls"] if c["source"] == "claim"]
    assert sorted(c["expected"] for c in own) == ["refuted", "supported"]
    assert all(c["got"] == c["expected"] for c in own)
    rec = claim["numbers"]["settings"]["digits, 40% noise"]
    comp = rec["comparison"]
    assert set(comp["chosen_lr"]) == set(c09.CONTENDERS) and set(comp["chosen_lr"].values()) <= set(comp["lr_grid"])
    assert set(rec["long"]) == {"ce", "ls"} and "ls_minus_ce_last_epoch" in rec  # smoke runs both long
    assert [p["value"] for p in claim["published"]] == [pytest.approx(5.25), None]
    assert any(t["caption"].startswith("Tuning curves") for t in claim["tables"])
    assert len(claim["figures"]) == 2 and all((tmp_path / "figures" / f["file"]).stat().st_size > 0
                                              for f in claim["figures"])  # fmt: skip
