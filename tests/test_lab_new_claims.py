"""Claims 15-18: their cells on tiny data, their measurements' directions, and a smoke run through the lab."""

from __future__ import annotations

import numpy as np
import pytest
from rich.console import Console

import losslab
from losslab.lab.claims import c15_regression_normality as c15
from losslab.lab.claims import c16_beta_convergence as c16
from losslab.lab.claims import c17_brier_training as c17
from losslab.lab.claims import c18_autoencoder_reconstruction as c18
from losslab.lab.claims import c18_autoencoder_reconstruction_cells as c18_cells
from losslab.lab.profiles import get_profile
from losslab.lab.runner import run_lab

CLAIMS = (c15, c16, c17, c18)


# ------------------------------------------------------------------ claim 15
def test_batched_ols_matches_lstsq_and_the_textbook_standard_errors():
    X, y = c15.draw("bimodal", np.random.default_rng(0), 4, 50)
    w, se, resid = c15.ols(X, y)
    for r in range(4):
        ref = np.linalg.lstsq(X[r], y[r], rcond=None)[0]
        s2 = np.sum((y[r] - X[r] @ ref) ** 2) / (50 - 3)
        np.testing.assert_allclose(w[r], ref, rtol=1e-10)
        np.testing.assert_allclose(se[r], np.sqrt(s2 * np.diag(np.linalg.inv(X[r].T @ X[r]))), rtol=1e-10)
        np.testing.assert_allclose(resid[r], y[r] - X[r] @ ref, atol=1e-10)


def test_simulation_separates_the_targets_normality_from_the_errors():
    cell = lambda s: c15.simulate({"scenario": s, "seed": 1, "replications": 400})  # noqa: E731
    bimodal, heavy, normal, hetero = (cell(s) for s in ("bimodal", "heavy", "normal", "hetero"))
    assert bimodal["reject_target"] > 0.9 and bimodal["reject_residuals"] < 0.12
    assert np.max(np.abs(np.asarray(bimodal["coverage"]) - 0.95)) < 0.04
    assert heavy["reject_residuals"] - heavy["reject_target"] > 0.5
    assert normal["reject_target"] < 0.12 and abs(normal["distance_target_minus_residuals"]) < 0.01
    assert np.max(np.abs(np.asarray(hetero["coverage"]) - 0.95)) > 0.2  # the control that breaks the intervals
    assert c15.part_values([heavy], "c15.diabetes")[0] < 0 < c15.part_values([bimodal], "c15.diabetes")[0]
    with pytest.raises(ValueError, match="`scenario` must be one of"):
        c15.draw("uniform", np.random.default_rng(0), 1, 5)


def test_diabetes_target_is_further_from_normal_than_its_residuals():
    d = c15.diabetes({"seed": 0})
    assert d["n"] == 331 and d["p_target"] < 1e-6 < d["p_residuals"]
    assert d["distance_target_minus_residuals"] == pytest.approx(d["W_residuals"] - d["W_target"])


# ------------------------------------------------------------------ claim 16
def _diag_quadratic(eigs, b, weight=1.0, c=10.0):
    """weight * (w'Hw/2 - b'w + c) with H = diag(eigs), in the form c16.gd_iterations takes."""
    H, b = np.diag(np.asarray(eigs, dtype=float)), np.asarray(b, dtype=float)
    w_star = b / np.asarray(eigs)
    f_star = 0.5 * w_star @ H @ w_star - b @ w_star + c
    return {"H": weight * H, "b": weight * b, "c": weight * c, "f_star": weight * f_star}


def test_gd_counts_rescale_with_beta_and_diverge_past_two_over_L():
    f, g = _diag_quadratic([4.0, 1.0], [1.0, 1.0]), _diag_quadratic([4.0, 1.0], [1.0, 1.0], weight=0.01)
    lrs = np.array([0.1, 0.3, 0.49, 0.51])
    it = c16.gd_iterations([f, g], lrs, max_iter=5000, rtol=1e-6)
    assert np.all(it[0, :3] > 0) and it[0, 3] == c16.NOT_CONVERGED  # 2/L = 0.5
    np.testing.assert_array_equal(c16.gd_iterations([g], lrs * 100, max_iter=5000, rtol=1e-6)[0], it[0])
    slow = it[1, :3]  # beta f at the rates where f converges: slower or not at all; where f diverges, it converges
    assert np.all((slow == c16.NOT_CONVERGED) | (slow > it[0, :3])) and it[1, 3] > 0
    assert c16.threshold(f) == pytest.approx(0.5, rel=0.02)
    assert c16.threshold(g) == pytest.approx(50.0, rel=0.02)


def test_cell_agrees_with_the_closed_form_on_diabetes():
    cell = c16.cell({"seed": 0})
    assert c16.rel_diff(cell["w_g"], cell["w_f"]) < 1e-9 < c16.rel_diff(cell["w_weighted"], cell["w_f"])
    for k in ("f", "g"):
        assert cell["threshold"][k] == pytest.approx(cell["predicted"][k], rel=0.01)
    assert cell["threshold"]["g"] / cell["threshold"]["f"] == pytest.approx(1 / cell["beta"], rel=0.01)
    assert c16.fixed_ratio(cell, "g") > 0.83 > abs(c16.tuned_ratio(cell, "g"))
    assert c16.tuned_ratio(cell, "tuned_true") == pytest.approx(0.0, abs=0.01)


# ------------------------------------------------------------------ claim 17
def test_scores_are_losslabs_accuracy_nll_and_ece():
    from losslab.calibration import ece

    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(200, 4)) * 2, rng.integers(0, 4, 200)
    s = c17.scores(z, y)
    assert s["nll"] == pytest.approx(float(losslab.cross_entropy(z, y)), rel=1e-12)
    assert s["accuracy"] == float(np.mean(z.argmax(axis=1) == y))
    assert s["ece"] == pytest.approx(ece(c17.softmax(z), y, n_bins=15, kind="top-label"))


def test_paired_parts_read_the_seeds_direction():
    good = [{"accuracy": 0.95 + 0.001 * k, "nll": 0.15, "ece": 0.02} for k in range(5)]
    worse = [{"accuracy": 0.90 + 0.001 * k, "nll": 0.30 + 0.001 * k, "ece": 0.06} for k in range(5)]
    assert [p.verdict for p in c17.paired_parts(good, worse, name="x")] == ["supported"] * 3
    assert [p.verdict for p in c17.paired_parts(good, good, name="x")] == ["refuted"] * 3
    assert [p.verdict for p in c17.paired_parts(worse, good, name="x")] == ["refuted"] * 3


# ------------------------------------------------------------------ claim 18
def test_side_by_side_seeds_train_exactly_as_alone():
    alone = c18_cells.fit({"loss": "bce", "lr": 0.01, "seeds": [1], "epochs": 2})["runs"][0]
    together = c18_cells.fit({"loss": "bce", "lr": 0.01, "seeds": [0, 1], "epochs": 2})["runs"][1]
    assert alone["val_mae"] == pytest.approx(together["val_mae"], rel=1e-5)
    assert alone["test"]["mae"] == pytest.approx(together["test"]["mae"], rel=1e-5)
    assert 0.0 < alone["test"]["mae"] < 0.5 and alone["pixels"]["levels"] == 17


def test_reconstruction_losses_are_losslabs_per_seed_means():
    import torch

    z, x = torch.randn(3, 5, 8), torch.rand(3, 5, 8)
    mse, bce = c18_cells.reconstruction_loss("mse")(z, x), c18_cells.reconstruction_loss("bce")(z, x)
    for i in range(3):
        assert float(mse[i]) == pytest.approx(float(losslab.mse(torch.sigmoid(z[i]), x[i])), rel=1e-6)
        assert float(bce[i]) == pytest.approx(float(losslab.binary_cross_entropy_with_logits(z[i], x[i])), rel=1e-6)
    with pytest.raises(ValueError, match="`loss` must be one of"):
        c18_cells.reconstruction_loss("l1")


def test_probe_kurtosis_and_mae_measure_what_they_say():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 100)
    codes = rng.normal(size=(300, 4)) + 3.0 * np.eye(3, 4)[y]
    acc = c18_cells.probe(codes[::2], y[::2], codes[1::2], y[1::2])
    assert acc > 0.9 and c18_cells.probe(2 * codes[::2] + 1, y[::2], 2 * codes[1::2] + 1, y[1::2]) == acc
    assert c18_cells.probe(np.zeros((150, 4)), y[::2], np.zeros((150, 4)), y[1::2]) == pytest.approx(1 / 3)
    assert abs(c18_cells.excess_kurtosis(rng.normal(size=20000))) < 0.2
    assert c18_cells.excess_kurtosis(rng.laplace(size=20000)) == pytest.approx(3.0, abs=0.5)
    assert c18_cells.mae(np.full(4, 0.25), np.zeros(4)) == 0.25


# ------------------------------------------------------------------ the four claims through the lab
@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("new_claims")
    r = run_lab(out=out, profile=get_profile("smoke"), claims=[m.CLAIM for m in CLAIMS], device="cpu",
                console=Console(quiet=True))  # fmt: skip
    return {c["slug"]: c for c in r["claims"]}


@pytest.mark.parametrize(
    ("module", "rules"),
    [
        (c15, {"c15.target", "c15.coverage", "c15.residuals", "c15.converse", "c15.diabetes"}),
        (c16, {"c16.minimiser", "c16.threshold", "c16.fixed_lr", "c16.tuned"}),
        (c17, {"c17.accuracy", "c17.nll", "c17.ece"}),
        (c18, {"c18.mae", "c18.probe", "c18.gaussian"}),
    ],
)
def test_smoke_run_decides_every_part_and_its_controls_come_out_as_planted(smoke, module, rules):
    c = smoke[module.CLAIM.slug]
    assert c["status"] == "ok", c["error"]
    assert {p["rule"] for p in c["parts"]} == rules and c["verdict"] in ("supported", "refuted", "mixed",
                                                                          "inconclusive")  # fmt: skip
    own = [x for x in c["controls"] if x["source"] == "claim"]
    assert {x["expected"] for x in own} == {"supported", "refuted"}
    assert c["controls_ok"], [x for x in c["controls"] if x["got"] != x["expected"]]
    assert c["figures"] and c["reason"] and c["discussion"] and c["tables"]


def test_smoke_verdicts_that_do_not_hang_on_two_seeds(smoke):
    # Exact or planted facts: the same on every profile.
    parts = {(p["rule"], p["name"]): p for c in smoke.values() for p in c["parts"]}
    assert parts[("c16.minimiser", "diabetes")]["verdict"] == "supported"
    assert parts[("c16.threshold", "diabetes")]["verdict"] == "refuted"
    assert parts[("c15.target", c15.LABELS["bimodal"])]["verdict"] == "refuted"
