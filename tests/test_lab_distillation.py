"""Claim 12 (distillation): equal budgets, the batched students, the choice on validation, the controls, a smoke run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rich.console import Console

import losslab
from losslab.lab.claims import c12_distillation as c12
from losslab.lab.claims import c12_distillation_cells as cells
from losslab.lab.profiles import get_profile
from losslab.lab.runner import run_lab
from losslab.lab.verdicts import decide

TINY = {
    **c12.cell_params("smoke", "digits", 0, False),
    "lrs": [0.005, 0.02],
    "temperatures": [1.0, 10.0],
    "max_steps": 40,
    "teacher": {"hidden": 64, "epochs": 3, "lr": 0.003, "batch_size": 128},
    "device": "cpu",
    "data_dir": None,
}


@pytest.fixture(scope="module")
def tiny_cell():
    return cells.distil({**TINY, "controls": True})


def test_every_student_gets_the_same_number_of_configurations_and_kinds_are_contiguous():
    specs = cells.student_specs({**TINY, "controls": True})
    groups = {}
    for s in specs:
        groups.setdefault(s["group"], []).append(s)
    assert set(groups) == {"hard", "kl", "mse", "onehot_kl", "small_hard", "small_kl"}
    assert {len(g) for g in groups.values()} == {2}  # the same budget for every contender
    assert [s["T"] for s in groups["kl"]] == TINY["temperatures"] and {s["lr"] for s in groups["kl"]} == {
        TINY["kl_lr"]}  # fmt: skip
    assert [s["lr"] for s in groups["hard"]] == [s["lr"] for s in groups["mse"]] == TINY["lrs"]
    kinds = [s["kind"] for s in specs]
    assert kinds == sorted(kinds, key=["hard", "kl", "mse"].index)  # one slice per kind in the batched model
    with pytest.raises(ValueError, match="same number of configurations"):
        cells.student_specs({**TINY, "temperatures": [1.0, 3.0, 10.0]})


def test_the_batched_kl_term_is_distillation_loss_at_each_temperature():
    """The cell divides the logits by T and puts T^2 back; that must be losslab.distillation_loss itself."""
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(7, 5, generator=g, dtype=torch.float64), torch.randn(7, 5, generator=g, dtype=torch.float64)
    for T in (1.0, 3.0, 100.0):
        direct = losslab.distillation_loss(s, t, temperature=T, reduction="none")
        batched = losslab.distillation_loss(s / T, t / T, temperature=1.0, reduction="none") * T**2
        assert torch.allclose(direct, batched, rtol=1e-10, atol=1e-12)


def test_the_soft_term_tends_to_mse_on_centred_logits_at_high_temperature():
    """The high-temperature limit the discussion relies on (Hinton et al. 2015, sec. 2.1)."""
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(6, 10)), rng.normal(size=(6, 10))
    s -= s.mean(axis=1, keepdims=True)
    t -= t.mean(axis=1, keepdims=True)
    limit = float(np.mean(np.sum((s - t) ** 2, axis=1))) / (2 * 10)
    assert float(losslab.distillation_loss(s, t, temperature=1000.0)) == pytest.approx(limit, rel=1e-3)
    assert float(losslab.distillation_loss(s, t, temperature=1.0)) != pytest.approx(limit, rel=0.05)


def test_transfer_set_is_seeded_part_of_the_teachers_data_and_nests_the_small_one():
    a = cells.transfer_indices(1000, 100, seed=3)
    assert a.size == len(set(a.tolist())) == 100 and a.min() >= 0 and a.max() < 1000
    assert np.array_equal(a, cells.transfer_indices(1000, 100, seed=3))
    assert not np.array_equal(a, cells.transfer_indices(1000, 100, seed=4))
    assert np.array_equal(cells.transfer_indices(1000, 30, seed=3), a[:30])  # the control's 30 are among the 100


def test_distil_cell_reports_every_student_deterministically(tiny_cell):
    c = tiny_cell
    assert set(c["students"]) == {"hard", "kl", "mse", "onehot_kl", "small_hard", "small_kl"}
    assert c["n_transfer"] == 100 and c["n_small"] == 30 and c["n_val"] > 0
    for r in [c["teacher"], *(s for g in c["students"].values() for s in g)]:
        assert 0.0 <= r["test_acc"] <= 1.0 and 0.0 <= r["val_acc"] <= 1.0 and np.isfinite(r["test_nll"])
    assert c["teacher"]["test_acc"] > 0.8  # 10 classes: chance is 0.1
    assert c["teacher"]["test_acc"] > max(s["test_acc"] for s in c["students"]["small_hard"])
    assert cells.distil({**TINY, "controls": True}) == c


def test_students_of_a_seed_start_from_the_same_weights():
    """With no training step every student is its initialisation: all of them must score the same (paired)."""
    c = cells.distil({**TINY, "max_steps": 0, "controls": True})
    scores = {(s["val_acc"], s["test_acc"], s["test_nll"]) for g in c["students"].values() for s in g}
    assert len(scores) == 1, scores


def test_a_student_trains_the_same_alone_as_in_the_batch():
    """Stacking students must not couple them: each one's gradient and Adam step are its own."""
    never_stop = {**TINY, "patience": 10_000}
    alone = cells.distil({**never_stop, "lrs": [0.02], "temperatures": [10.0]})
    batch = cells.distil(never_stop)
    for group, i in (("hard", 1), ("kl", 1), ("mse", 1)):
        a, b = alone["students"][group][0], batch["students"][group][i]
        assert a["best_step"] == b["best_step"]
        assert a["test_acc"] == pytest.approx(b["test_acc"], abs=1.5 / alone["n_test"])
        assert a["test_nll"] == pytest.approx(b["test_nll"], rel=1e-3)


def test_kl_on_a_one_hot_teacher_at_t1_is_the_hard_label_student(tiny_cell):
    """The false control by construction: T^2 KL on a one-hot teacher at T = 1 is cross-entropy on the labels."""
    one_hot = tiny_cell["students"]["onehot_kl"][0]  # T = 1, at kl_lr
    hard = cells.distil({**TINY, "lrs": [TINY["kl_lr"]], "temperatures": [1.0]})["students"]["hard"][0]
    assert one_hot["best_step"] == hard["best_step"]
    assert one_hot["test_acc"] == pytest.approx(hard["test_acc"], abs=1.5 / tiny_cell["n_test"])


def test_choose_uses_mean_validation_accuracy_then_nll():
    acc = np.array([[0.90, 0.95, 0.94], [0.92, 0.93, 0.96]])  # means 0.91, 0.94, 0.95
    assert c12.choose(acc, np.zeros_like(acc)) == 2
    tie = np.array([[0.9, 0.9, 0.8]])
    assert c12.choose(tie, np.array([[0.5, 0.3, 0.1]])) == 1


def test_the_rules_refute_equivalence_and_support_a_clear_gain():
    gain = [0.06, 0.065, 0.055, 0.07, 0.06]
    same = [0.002, -0.003, 0.0, 0.001, -0.001]
    assert decide(c12.KL_HARD, gain, name="x").verdict == "supported"
    assert decide(c12.KL_MSE, same, name="x").verdict == "refuted"  # the seed's claim fails on equivalence
    assert decide(c12.KL_MSE, [-g for g in gain], name="x").verdict == "refuted"  # and when MSE is better


def test_smoke_run_parts_controls_and_records(tmp_path):
    r = run_lab(out=tmp_path, profile=get_profile("smoke"), claims=[c12.CLAIM], jobs=1, fresh=True, device="cpu",
                console=Console(quiet=True))  # fmt: skip
    c = r["claims"][0]
    assert c["status"] == "ok", c.get("error")
    assert c["kind"] == "empirical"
    assert [(p["rule"], p["name"]) for p in c["parts"]] == [("c12.kl_vs_hard", "digits"), ("c12.kl_vs_mse", "digits")]
    assert c["controls_ok"] is True
    own = {x["planted"]: (x["expected"], x["got"]) for x in c["controls"] if x["source"] == "claim"}
    assert sorted(e for e, _ in own.values()) == ["refuted", "supported"] and all(e == g for e, g in own.values())
    n = c["numbers"]["datasets"]["digits"]
    grids = {"hard": c12.P["lrs"], "mse": c12.P["lrs"], "kl": c12.P["temperatures"]}
    assert all(n["chosen"][g] in grids[g] for g in grids)
    assert all(len(n["tuning_curve"][g]) == len(c12.P["lrs"]) for g in grids)  # equal budgets, in the record
    hinton = c["published"][0]
    assert hinton["ours"] is None and "--data-dir" in hinton["why"] and hinton["value"] == pytest.approx(49.3)
    assert any("Kim et al." in p["source"] and p["ours"] is not None for p in c["published"])
    assert c["figures"] and (tmp_path / "figures" / c["figures"][0]["file"]).stat().st_size > 1000
