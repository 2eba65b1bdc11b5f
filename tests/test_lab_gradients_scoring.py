"""Claims 4 (saturation), 8 (confident mistakes) and 11 (proper scoring): computations, rules, smoke runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rich.console import Console

from losslab.lab.claims import c04_saturation as c04
from losslab.lab.claims import c08_confident_mistakes as c08
from losslab.lab.claims import c11_proper_scoring as c11
from losslab.lab.profiles import get_profile
from losslab.lab.registry import VERDICTS
from losslab.lab.runner import run_lab

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


def test_bad_start_training_cell_saturates_mse_not_ce():
    base = {"dataset": "digits", "seed": 0, "start": "bad start", "epochs": 2, "device": "cpu", "data_dir": None}
    mse = c04.training({**base, "loss": "mse_softmax"})
    ce = c04.training({**base, "loss": "cross_entropy"})
    assert mse["cw"][0] == ce["cw"][0] > 0.1  # same init: same confident mistakes at epoch 0
    assert ce["g_ce_cw"][0] > 0.9 and mse["g_mse_cw"][0] < 0.2
    assert c04.run_mean_cw_grad(ce) > c04.run_mean_cw_grad(mse)
    assert all(0 <= s <= c for s, c in zip(mse["sat"], mse["cw"], strict=True))


def test_condition_verdict_rule():
    assert c04.condition_verdict([1.0, 1.1, 0.9], [0.1, 0.2, 0.1], n_bootstrap=200)[0] == "supported"
    assert c04.condition_verdict([0.1, 0.2, 0.1], [1.0, 1.1, 0.9], n_bootstrap=200)[0] == "not supported"
    assert c04.condition_verdict([1.0, 0.1, 0.5], [0.5, 0.9, 0.4], n_bootstrap=200)[0] == "inconclusive"
    assert c04.condition_verdict([1.0, math.nan], [0.1, 0.1], n_bootstrap=200) == ("inconclusive", None)


# ------------------------------------------------------------------ claim 8


def test_the_049_051_example():
    out = c08.binary_losses([0.49, 0.51, 0.01])
    assert out["mse"] == pytest.approx([0.51**2, 0.49**2, 0.99**2])
    assert out["ce"] == pytest.approx([-math.log(0.49), -math.log(0.51), -math.log(0.01)])
    # near 0.5 CE's relative gap is no larger than MSE's; in the tail CE's ratio is larger
    assert out["ce"][0] / out["ce"][1] < out["mse"][0] / out["mse"][1]
    assert out["ce"][2] / out["ce"][0] > out["mse"][2] / out["mse"][0]


def test_tail_share_and_ratio_rule():
    p = np.array([0.9, 0.95, 0.01, 0.5, 0.99, 0.8, 0.7, 0.6, 0.97, 0.85])
    ce = -np.log(p)
    mse = (1 - p) ** 2
    assert c08.tail_share(ce, p, 0.1) == pytest.approx(ce[2] / ce.sum())
    assert c08.tail_share(ce, p, 0.1) > c08.tail_share(mse, p, 0.1)
    assert c08.tail_share(ce, p, 1.0) == pytest.approx(1.0)
    assert c08.ratio_verdict([0.8, 0.85, 0.9], n_bootstrap=200)[0] == "not supported"
    assert c08.ratio_verdict([1.2, 1.3, 1.25], n_bootstrap=200)[0] == "supported"


def test_trained_predictions_cell():
    out = c08.trained_predictions({"dataset": "iris", "seed": 0, "epochs": 2, "device": "cpu", "data_dir": None})
    p, ce, br = (np.asarray(out[k]) for k in ("p_true", "ce", "brier"))
    np.testing.assert_allclose(ce, -np.log(p), rtol=1e-6)
    assert np.all(br >= (1 - p) ** 2 - 1e-9) and np.all(br <= 2 + 1e-9)


# ------------------------------------------------------------------ claim 11


def test_propriety_grid_proper_and_improper():
    out = c11.propriety({"binary_step": 0.01, "simplex_step": 0.05, "binary_p": [0.1, 0.3, 0.7],
                         "ternary_p": [[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]})  # fmt: skip
    for rule in ("log loss", "Brier"):
        assert max(out[rule]["binary_error"]) <= 0.01 + 1e-9
        assert max(out[rule]["ternary_error"]) <= 0.05 + 1e-9
    assert out["absolute error"]["binary_argmin"] == [0.01, 0.01, 0.99]  # improper: pushed to the edge
    assert max(out["absolute error"]["ternary_error"]) > 0.3
    assert c11.propriety_verdict({"a": 0.0}, max(out["absolute error"]["binary_error"]), 0.01) == "supported"


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


@pytest.mark.parametrize("module", [c04, c08, c11])
def test_smoke_run(module, tmp_path):
    r = run_lab(out=tmp_path, profile=get_profile("smoke"), claims=[module.CLAIM], jobs=1, fresh=True,
                console=Console(quiet=True))  # fmt: skip
    c = r["claims"][0]
    assert c["verdict"] in VERDICTS, c.get("error")
    assert list((tmp_path / "figures").glob("*.png"))
