"""Claim 12 (distillation): the cell's splits and pairing, the temperature choice, the verdict rule, a smoke run."""

from __future__ import annotations

import numpy as np
import pytest
from rich.console import Console

import losslab
from losslab.lab.claims import c12_distillation as c12
from losslab.lab.profiles import get_profile
from losslab.lab.registry import VERDICTS
from losslab.lab.runner import run_lab
from losslab.lab.stats import Interval

TINY = {
    "dataset": "digits",
    "temperatures": [1.0, 4.0],
    "n_val": 200,
    "n_transfer": 80,
    "teacher_cap": 500,
    "teacher_epochs": 4,
    "student_epochs": 15,
    "batch_size": 32,
    "lr": 3e-3,
    "device": "cpu",
    "data_dir": None,
    "seed": 0,
}


@pytest.fixture(scope="module")
def tiny_cell():
    return c12.distil(TINY)


def test_split_is_disjoint_and_the_transfer_set_is_part_of_the_teachers_data():
    s = c12._split(1000, 3, n_val=200, n_transfer=80, teacher_cap=500)
    assert s["val"].size == 200 and s["teacher"].size == 500 and s["transfer"].size == 80
    assert not set(s["val"]) & set(s["teacher"])
    assert set(s["transfer"]) <= set(s["teacher"])
    again = c12._split(1000, 3, n_val=200, n_transfer=80, teacher_cap=500)
    assert all(np.array_equal(s[k], again[k]) for k in s)
    assert not np.array_equal(s["val"], c12._split(1000, 4, n_val=200, n_transfer=80, teacher_cap=500)["val"])


def test_distil_cell_reports_every_student_and_a_teacher_better_than_the_students(tiny_cell):
    c = tiny_cell
    assert set(c["students"]) == {"hard", "mse_logits", "kl_T1", "kl_T4"}
    assert c["n_transfer"] == 80 and c["n_val"] == 200 and c["n_teacher"] == 500
    for r in [c["teacher"], *c["students"].values()]:
        assert 0.0 <= r["test_acc"] <= 1.0 and 0.0 <= r["val_acc"] <= 1.0
        assert r["test_nll"] > 0 and np.isfinite(r["test_nll"])
    assert c["teacher"]["test_acc"] > 0.85  # 10 classes: chance is 0.1
    assert c["teacher"]["test_acc"] > c["students"]["hard"]["test_acc"]  # 500 vs 80 examples, 2x256 vs 16 units


def test_distil_is_deterministic_in_its_params(tiny_cell):
    assert c12.distil(TINY) == tiny_cell


def test_students_of_a_seed_start_from_the_same_weights():
    """With no training steps every student is its initialisation: all of them must score the same (paired)."""
    c = c12.distil({**TINY, "student_epochs": 0, "teacher_epochs": 1})
    scores = {k: (v["test_acc"], v["test_nll"]) for k, v in c["students"].items()}
    assert len(set(scores.values())) == 1, scores


def test_the_soft_term_tends_to_mse_on_centred_logits_at_high_temperature():
    """The high-temperature limit the discussion relies on (Hinton et al. 2015, sec. 2.1)."""
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(6, 10)), rng.normal(size=(6, 10))
    s -= s.mean(axis=1, keepdims=True)
    t -= t.mean(axis=1, keepdims=True)
    limit = float(np.mean(np.sum((s - t) ** 2, axis=1))) / (2 * 10)
    assert float(losslab.distillation_loss(s, t, temperature=1000.0)) == pytest.approx(limit, rel=1e-3)
    assert float(losslab.distillation_loss(s, t, temperature=1.0)) != pytest.approx(limit, rel=0.05)


def test_choose_temperature_uses_mean_validation_accuracy_then_nll():
    acc = np.array([[0.90, 0.95, 0.94], [0.92, 0.93, 0.96]])  # means 0.91, 0.94, 0.95
    assert c12.choose_temperature([1, 4, 20], acc, np.zeros_like(acc)) == 2
    tie = np.array([[0.9, 0.9, 0.8]])
    assert c12.choose_temperature([1, 4, 20], tie, np.array([[0.5, 0.3, 0.1]])) == 1


@pytest.mark.parametrize(
    ("kl_hard", "kl_mse", "expected"),
    [
        ((0.03, 0.01, 0.05), (0.02, 0.004, 0.03), ("supported", "supported", "supported")),
        ((0.03, 0.01, 0.05), (-0.01, -0.02, -0.001), ("supported", "not supported", "mixed")),
        ((0.03, 0.01, 0.05), (0.001, -0.003, 0.004), ("supported", "not supported", "mixed")),  # within the margin
        ((0.03, 0.01, 0.05), (0.001, -0.003, 0.006), ("supported", "inconclusive", "mixed")),
        ((-0.02, -0.03, -0.01), (0.0, -0.001, 0.001), ("not supported", "not supported", "not supported")),
        ((0.0, -0.02, 0.02), (0.0, -0.02, 0.02), ("inconclusive", "inconclusive", "inconclusive")),
    ],
)
def test_decide_applies_the_stated_rule(kl_hard, kl_mse, expected):
    assert c12.decide(Interval(*kl_hard, n=5), Interval(*kl_mse, n=5)) == expected


def test_smoke_run_gives_a_verdict_a_figure_and_the_numbers(tmp_path):
    r = run_lab(out=tmp_path, profile=get_profile("smoke"), claims=[c12.CLAIM], jobs=1, console=Console(quiet=True))
    c = r["claims"][0]
    assert c["status"] == "ok", c.get("error")
    assert c["verdict"] in VERDICTS
    n = c["numbers"]
    assert n["chosen_temperature"] in n["setup"]["temperatures"]
    assert n["verdict_kl_beats_hard"] in VERDICTS and n["verdict_kl_beats_mse_logits"] in VERDICTS
    assert n["kl_minus_hard"]["n"] == get_profile("smoke").seeds
    assert c["figures"] and (tmp_path / "figures" / c["figures"][0]["file"]).stat().st_size > 1000
