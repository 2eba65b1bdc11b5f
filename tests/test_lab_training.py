"""Claims 5 (training speed) and 9 (label noise): the noise injection, the curve metrics, the cells, smoke runs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from rich.console import Console

from losslab.lab.claims import c05_training_speed as c05
from losslab.lab.claims import c09_label_noise as c09
from losslab.lab.profiles import get_profile
from losslab.lab.registry import VERDICTS
from losslab.lab.runner import run_lab
from losslab.lab.stats import Interval

CELL = {"device": "cpu", "data_dir": None, "batch_size": 64, "momentum": 0.9}


# ------------------------------------------------------------------ label noise injection
@pytest.mark.parametrize("rate", [0.0, 0.2, 0.4, 1.0])
@pytest.mark.parametrize("n_classes", [2, 3, 10])
def test_symmetric_noise_flips_exactly_the_rate_and_never_to_the_same_class(rate, n_classes):
    y = np.arange(997) % n_classes
    noisy = c09.symmetric_noise(y, rate, n_classes, seed=3)
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
    a, b = c09.symmetric_noise(y, 0.4, 10, seed=7), c09.symmetric_noise(y, 0.4, 10, seed=7)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c09.symmetric_noise(y, 0.4, 10, seed=8))
    low = c09.symmetric_noise(y, 0.2, 10, seed=7)
    assert np.all(a[low != y] == low[low != y])  # the 20% flips are among the 40% ones, with the same new labels
    counts = np.bincount(a[a != 0], minlength=10)
    assert counts[0] == 0
    share = counts[1:] / counts[1:].sum()
    assert np.all(np.abs(share - 1 / 9) < 0.015)  # 8000 draws: the sd of each share is about 0.0035
    y_in = y.copy()
    c09.symmetric_noise(y_in, 0.4, 10, seed=0)
    assert np.array_equal(y_in, y)  # the input is not modified


@pytest.mark.parametrize(("rate", "k"), [(-0.1, 3), (1.5, 3), (0.2, 1)])
def test_symmetric_noise_rejects_bad_arguments(rate, k):
    with pytest.raises(ValueError, match="rate|n_classes"):
        c09.symmetric_noise(np.zeros(4, dtype=int), rate, k, seed=0)


# ------------------------------------------------------------------ curve metrics and rules
def test_epochs_to_target_on_hand_made_curves():
    assert c05.epochs_to_target([0.1, 0.5, 0.96, 0.94, 0.97], 0.95) == 2
    assert c05.epochs_to_target([0.96, 0.2], 0.95) == 0  # reached before training
    assert c05.epochs_to_target([0.1, 0.95], 0.95) == 1  # "at or above"
    assert c05.epochs_to_target([0.1, 0.5, 0.9], 0.95) == 3  # censored: one more than the last epoch
    assert c05.target_for("digits") == 0.95 and c05.target_for("unknown") == c05.DEFAULT_TARGET


def test_overfitting_drop_on_hand_made_curves():
    assert c09.overfitting_drop([0.1, 0.5, 0.9]) == 0.0
    assert c09.overfitting_drop([0.1, 0.95, 0.9, 0.8]) == pytest.approx(0.15)


def test_mse_logits_comparison_labels():
    iv = Interval
    assert c05._compare_logits(iv(0.0, -0.004, 0.005, 5)) == "competitive (within 1 point)"
    assert c05._compare_logits(iv(0.03, 0.02, 0.04, 5)) == "better"
    assert c05._compare_logits(iv(-0.005, -0.008, -0.001, 5)) == "worse, by less than 1 point"
    assert c05._compare_logits(iv(0.0, -0.03, 0.03, 5)) == "undecided"


# ------------------------------------------------------------------ cells
def test_learning_curve_is_deterministic_and_paired():
    p = {**CELL, "dataset": "digits", "seed": 1, "epochs": 2, "lr": 0.01, "hidden": 16}
    a = c05.learning_curve({**p, "loss": "cross_entropy"})
    assert a == c05.learning_curve({**p, "loss": "cross_entropy"})
    assert len(a["test_acc"]) == 3 and len(a["train_loss"]) == 2 and a["diverged_epoch"] is None
    assert all(0.0 <= v <= 1.0 for v in a["test_acc"])
    assert a["test_acc"][-1] > 0.5 > a["test_acc"][0]  # two epochs learn digits well beyond chance
    b = c05.learning_curve({**p, "loss": "mse_softmax"})
    assert b["test_acc"][0] == a["test_acc"][0]  # same initialisation for every loss of a seed
    assert b["test_acc"][1:] != a["test_acc"][1:]
    other = c05.learning_curve({**p, "loss": "cross_entropy", "seed": 2})
    assert other["test_acc"] != a["test_acc"]


def test_learning_curve_records_divergence_instead_of_failing():
    p = {**CELL, "dataset": "digits", "seed": 0, "epochs": 3, "lr": 5.0, "hidden": 16, "loss": "mse_logits"}
    with warnings.catch_warnings():  # losslab warns about a grad tensor while diagnosing the overflow
        warnings.simplefilter("ignore")
        r = c05.learning_curve(p)
    assert r["diverged_epoch"] is not None and 1 <= r["diverged_epoch"] <= 3
    assert len(r["test_acc"]) == 4


def test_noisy_run_is_deterministic_and_reports_the_noise():
    p = {**CELL, "dataset": "digits", "seed": 0, "epochs": 2, "lr": 0.01, "hidden": 16, "smoothing": 0.1}
    a = c09.noisy_run({**p, "noise": 0.4, "loss": "label_smoothing"})
    assert a == c09.noisy_run({**p, "noise": 0.4, "loss": "label_smoothing"})
    assert a["n_flipped"] == round(0.4 * 1347)  # digits: 1347 training examples
    assert len(a["test_acc"]) == 3 and 0.0 <= a["memorised"] <= 1.0 and 0.0 <= a["train_acc_noisy"] <= 1.0
    clean = c09.noisy_run({**p, "noise": 0.0, "loss": "cross_entropy"})
    assert clean["n_flipped"] == 0 and clean["memorised"] == 0.0
    assert clean["test_acc"][0] == a["test_acc"][0]  # the same initialisation across noise levels and losses
    plain = c09.noisy_run({**p, "noise": 0.4, "loss": "cross_entropy"})
    assert plain["test_acc"] != a["test_acc"]  # label smoothing is a different loss


# ------------------------------------------------------------------ smoke runs
@pytest.mark.parametrize("module", [c05, c09], ids=["training-speed", "label-noise"])
def test_smoke_run(module, tmp_path):
    report = run_lab(out=tmp_path, profile=get_profile("smoke"), claims=[module.CLAIM], jobs=1, fresh=True,
                     device="cpu", console=Console(quiet=True))  # fmt: skip
    claim = report["claims"][0]
    assert claim["error"] is None, claim["error"]
    assert claim["verdict"] in VERDICTS
    assert claim["figures"] and all((tmp_path / "figures" / f["file"]).stat().st_size > 0 for f in claim["figures"])
    assert claim["numbers"]["verdict"] == claim["verdict"]
