"""The lab's identity claims: 2 (CE = H + KL), 3 (error signals), 6 (convexity in the logits)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.console import Console

from losslab.lab.claims import c02_decomposition as c02
from losslab.lab.claims import c03_error_signals as c03
from losslab.lab.claims import c06_convexity as c06
from losslab.lab.profiles import get_profile
from losslab.lab.registry import VERDICTS
from losslab.lab.runner import run_lab

CPU = {"device": "cpu", "data_dir": None}


# ----------------------------------------------------------------- claim 2
def test_identity_errors_known_values():
    p = np.array([[1.0, 0.0, 0.0], [0.7, 0.2, 0.1]])
    z = np.array([[2.0, 0.0, -1.0], [1.0, 0.0, -1.0]])
    e = c02.identity_errors(p, z)
    assert e["separate"] < 1e-14 and e["decomposition"] < 1e-14 and e["ce_agree"] < 1e-14
    q = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    ce = -(p * np.log(q)).sum(axis=1)
    assert e["mean_ce"] == pytest.approx(ce.mean(), abs=1e-12)
    h1 = -(0.7 * np.log(0.7) + 0.2 * np.log(0.2) + 0.1 * np.log(0.1))
    assert e["mean_entropy"] == pytest.approx(h1 / 2, abs=1e-12)  # the one-hot row has entropy 0
    assert e["mean_kl"] == pytest.approx(ce.mean() - h1 / 2, abs=1e-12)


def test_identity_errors_detects_a_broken_term(monkeypatch):
    import losslab

    real = losslab.entropy
    monkeypatch.setattr(losslab, "entropy", lambda p, **kw: real(p, **kw) + 1e-6)
    e = c02.identity_errors(np.array([[0.5, 0.5]]), np.array([[0.0, 1.0]]))
    assert e["separate"] == pytest.approx(1e-6, rel=1e-6)
    assert c02.decomposition_verdict(e["separate"]) == "not supported"


def test_decomposition_cell_small():
    r = c02.train_decomposition({**CPU, "dataset": "iris", "model": "linear", "alpha": 0.1, "epochs": 3,
                                 "lr": 0.05, "seed": 0})  # fmt: skip
    c = r["curves"]
    assert len(c["ce"]) == 4  # epoch 0 plus three epochs
    h = np.asarray(c["entropy"])
    assert np.ptp(h) < 1e-12 and h[0] > 0  # smoothed targets: constant, positive entropy
    assert np.allclose(np.asarray(c["ce"]) - np.asarray(c["kl"]), h, atol=1e-12)
    assert np.allclose(c["ce_builtin"], c["ce"], atol=1e-12)
    assert max(c["max_gap"]) < c02.TOLERANCE
    assert c["kl"][-1] < c["kl"][0]  # training lowers the KL
    onehot = r["targets"]["train/one-hot"]
    assert onehot["mean_entropy"] == pytest.approx(0.0, abs=1e-15)
    assert onehot["mean_ce"] == pytest.approx(onehot["mean_kl"], abs=1e-12)


# ----------------------------------------------------------------- claim 3
def test_compare_normalises_per_example():
    rng = np.random.default_rng(0)
    closed = np.array([0.01, -0.02])  # a "mean" gradient over n = 100
    r = c03.compare(closed, closed + 1e-14, closed, rng, per_example=100)
    assert r["max_rel"] == pytest.approx(1e-12, rel=1e-3)  # 1e-14 per entry is 1e-12 per example
    assert r["zeros"] == 2


def test_gradient_checks_small():
    out = c03.gradient_checks({**CPU, "dataset": "iris", "epochs": 1, "seed": 1})
    assert set(out) == {f"{k}/{r}" for k in ("mse", "ce", "ce_smoothed", "bce") for r in ("mean", "sum")}
    for key, v in out.items():
        assert v["max_rel"] < 1e-13, key
    assert out["mse/sum"]["max_abs_closed"] > 10  # diabetes residuals are large: the tolerance is relative there
    assert out["ce/sum"]["max_abs_closed"] <= 1.0


def test_extreme_logits_closed_form_exact_naive_broken():
    rows = c03.extreme_checks()["rows"]
    assert len(rows) == 12
    for r in rows:
        assert r["max_abs_diff"] <= c03.RTOL * max(1.0, r["max_abs_closed"])
        assert np.isfinite(r["losslab_loss"])
    wrong = [r for r in rows if r["loss"] == "CE" and r["logits"][0] == 500.0 and r["target"] == 1][0]
    assert wrong["losslab_loss"] == pytest.approx(1000.0)  # logsumexp([500, -500, 0]) - (-500)
    assert wrong["autograd"] == pytest.approx([1.0, -1.0, 0.0], abs=1e-15)
    assert not wrong["naive_ok"] and not np.isfinite(wrong["naive_loss"])


def test_error_signal_rule():
    ok = [{"max_rel": 2e-15}]
    assert c03.identity_verdict(c03.worst_relative(ok, []), c03.RTOL) == "supported"
    bad_row = [{"max_abs_diff": 1e-9, "max_abs_closed": 1.0}]
    assert c03.identity_verdict(c03.worst_relative(ok, bad_row), c03.RTOL) == "not supported"


# ----------------------------------------------------------------- claim 6
def test_binary_second_derivatives_match_closed_forms():
    z = np.linspace(-10, 10, 41)  # includes z = 0 exactly, where a kinked softplus lost its curvature
    for y in (0.0, 1.0):
        d = c06.binary_second_derivatives(z, y)
        assert np.allclose(d["bce"], d["bce_closed"], atol=1e-14)
        assert np.allclose(d["mse_sigmoid"], d["mse_sigmoid_closed"], atol=1e-14)
        assert min(d["bce"]) >= 0
        assert min(d["mse_sigmoid"]) < -0.05  # the confident side bends down
    d1 = c06.binary_second_derivatives(np.array([-10.0, 0.0, 10.0]), 1.0)["mse_sigmoid"]
    assert d1[0] < 0 and d1[2] > 0  # concave on the confidently wrong plateau, convex when right


def test_bce_autograd_curvature_at_exactly_zero():
    d = c06.binary_second_derivatives(np.array([0.0]), 1.0)
    assert d["bce"][0] == pytest.approx(0.25)


def test_hessian_summary_psd_and_known_value():
    z = np.array([[0.0, 0.0], [5.0, -5.0]])
    s = c06.hessian_summary(z, np.array([0, 1]))
    assert s["ce_closed_form_gap"] < 1e-14 and s["ce_symmetry_gap"] < 1e-14
    assert s["ce_min_eig"] == pytest.approx([0.0, 0.0], abs=1e-15)  # 2 classes: eigenvalues 0 and 2 p (1 - p)
    rng = np.random.default_rng(0)
    zr = rng.standard_normal((200, 5)) * 5
    s = c06.hessian_summary(zr, rng.integers(0, 5, 200))
    assert min(s["ce_min_eig"]) > -1e-12
    assert min(s["mse_min_eig"]) < -1e-3


def test_second_differences_and_lines():
    assert c06.second_differences(np.array([0.0, 1.0, 0.0])).tolist() == [-2.0]
    X = np.array([[1.0], [-1.0], [2.0]])
    y = np.array([1.0, 0.0, 1.0])
    w = np.array([[0.0, 0.0], [1.0, 0.0]])
    ce, mse = c06.line_losses(X, y, w)
    assert ce[0] == pytest.approx(np.log(2)) and mse[0] == pytest.approx(0.25)
    assert ce[1] < ce[0] and mse[1] < mse[0]


def test_convexity_rule():
    assert c06.convexity_verdict(-1e-16, -0.12) == "supported"
    assert c06.convexity_verdict(-1e-6, -0.12) == "mixed"
    assert c06.convexity_verdict(0.0, 0.0) == "mixed"
    assert c06.convexity_verdict(-1e-3, 1e-12) == "not supported"


# ----------------------------------------------------------------- smoke runs
@pytest.mark.parametrize("module", [c02, c03, c06], ids=["c02", "c03", "c06"])
def test_smoke_run(module, tmp_path):
    r = run_lab(out=tmp_path, profile=get_profile("smoke"), claims=[module.CLAIM], jobs=1,
                console=Console(quiet=True))  # fmt: skip
    c = r["claims"][0]
    assert c["status"] == "ok", c.get("error")
    assert c["verdict"] in VERDICTS
    assert c["figures"] and (tmp_path / "figures" / c["figures"][0]["file"]).stat().st_size > 1000
    json.dumps(c["numbers"], allow_nan=False)
