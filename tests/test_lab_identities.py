"""The lab's identity claims: 1 (likelihoods), 2 (CE = H + KL), 3 (error signals), 6 (convexity), 13 (MSE)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.console import Console

from losslab.lab.claims import c01_likelihood as c01
from losslab.lab.claims import c02_decomposition as c02
from losslab.lab.claims import c03_error_signals as c03
from losslab.lab.claims import c03_error_signals_cells as c03c
from losslab.lab.claims import c06_convexity as c06
from losslab.lab.claims import c06_convexity_cells as c06c
from losslab.lab.claims import c13_mse_decomposition as c13
from losslab.lab.claims import c13_mse_decomposition_cells as c13c
from losslab.lab.profiles import get_profile
from losslab.lab.rules import claim_rules
from losslab.lab.runner import run_lab
from losslab.lab.verdicts import decide

CPU = {"device": "cpu", "data_dir": None}


def _both_ways(controls: list[dict]) -> None:
    """Every own control gets its expected verdict, and the controls show both verdicts."""
    assert all(c["got"] == c["expected"] for c in controls), controls
    assert {c["expected"] for c in controls} == {"supported", "refuted"}


# ----------------------------------------------------------------- claim 1
def test_probability_path_agrees_inside_and_not_at_the_ends():
    cell = c01.probability_path({"seed": 1})
    exact = np.asarray(cell["interior"]["scipy.stats.bernoulli (exact)"])
    for name, values in cell["interior"].items():
        assert np.max(np.abs(np.asarray(values) - exact)) < 1e-10, name
    at_zero = {k: v[0] for k, v in cell["boundary"].items()}  # p = 0 for a true label of 1
    assert at_zero["torch binary_cross_entropy"] == 100.0  # torch clamps the log at -100
    assert at_zero["sklearn.metrics.log_loss"] == pytest.approx(-np.log(np.finfo(np.float64).eps))
    assert at_zero["scipy.stats.bernoulli (exact)"] == np.inf


def test_claim_1_smoke(tmp_path):
    res = run_lab(out=tmp_path, profile=get_profile("smoke"), claims=[c01.CLAIM], device="cpu",
                  console=Console(quiet=True))["claims"][0]  # fmt: skip
    assert res["status"] == "ok", res["error"]
    verdicts = {p["rule"]: p["verdict"] for p in res["parts"]}
    assert verdicts == {"c01.gaussian": "supported", "c01.bernoulli": "supported", "c01.categorical": "supported",
                        "c01.probability_path": "supported", "c01.boundary": "refuted"}  # fmt: skip
    assert res["verdict"] == "mixed" and res["controls_ok"] is True and res["kind"] == "identity"


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
    assert e["mean_abs_ce_minus_kl"] == pytest.approx(h1 / 2, abs=1e-12)  # CE - KL is H(p), not 0


def test_identity_errors_detects_a_broken_term(monkeypatch):
    import losslab

    real = losslab.entropy
    monkeypatch.setattr(losslab, "entropy", lambda p, **kw: real(p, **kw) + 1e-6)
    e = c02.identity_errors(np.array([[0.5, 0.5]]), np.array([[0.0, 1.0]]))
    assert e["separate"] == pytest.approx(1e-6, rel=1e-6)
    assert decide(c02.RULES.rule("c02.identity"), e["separate"], name="t").verdict == "refuted"


def test_extra_nats_and_divergence_readings():
    p = np.array([[0.6, 0.3, 0.1]])
    h = -(p * np.log(p)).sum()
    s = c02.self_scores(p, np.log(p))
    assert s["ce"] == pytest.approx(h, abs=1e-12) and abs(s["kl"]) < 1e-15  # at q = p: CE = H(p), KL = 0
    onehot = c02.identity_errors(np.eye(3)[[0]], np.array([[1.0, 0.0, -1.0]]))
    assert onehot["mean_abs_ce_minus_kl"] < 1e-15  # one-hot targets: CE is the KL


def test_decomposition_cell_small_and_controls():
    r = c02.train_decomposition({**CPU, "dataset": "iris", "model": "linear", "alpha": 0.1, "teacher_T": 2.0,
                                 "epochs": 3, "lr": 0.05, "seed": 0})  # fmt: skip
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
    soft = r["targets"]["test/teacher softmax (T=2)"]
    assert soft["mean_abs_ce_minus_kl"] == pytest.approx(soft["mean_entropy"], abs=1e-12) and soft["mean_entropy"] > 0.1
    assert min(v["ce"] for v in r["self"].values()) > 0.1
    _both_ways(c02.controls([r]))


# ----------------------------------------------------------------- claim 3
def test_compare_normalises_per_example():
    rng = np.random.default_rng(0)
    closed = np.array([0.01, -0.02])  # a "mean" gradient over n = 100
    r = c03c.compare(closed, closed + 1e-14, closed, rng, per_example=100)
    assert r["max_rel"] == pytest.approx(1e-12, rel=1e-3)  # 1e-14 per entry is 1e-12 per example
    assert r["zeros"] == 2


def test_gradient_checks_small():
    out = c03c.gradient_checks({**CPU, "dataset": "iris", "epochs": 1, "seed": 1})
    assert set(out) == {f"{k}/{r}" for k in ("mse", "ce", "ce_smoothed", "bce") for r in ("mean", "sum")}
    for key, v in out.items():
        assert v["max_rel"] < 1e-13, key
    assert out["mse/sum"]["max_abs_closed"] > 10  # diabetes residuals are large: the tolerance is relative there
    assert out["ce/sum"]["max_abs_closed"] <= 1.0


def test_extreme_logits_closed_form_exact_naive_broken():
    rows = c03c.extreme_checks()["rows"]
    assert len(rows) == 12
    for r in rows:
        assert r["max_abs_diff"] <= c03c.RTOL * max(1.0, r["max_abs_closed"])
        assert np.isfinite(r["losslab_loss"])
    wrong = [r for r in rows if r["loss"] == "CE" and r["logits"][0] == 500.0 and r["target"] == 1][0]
    assert wrong["losslab_loss"] == pytest.approx(1000.0)  # logsumexp([500, -500, 0]) - (-500)
    assert wrong["autograd"] == pytest.approx([1.0, -1.0, 0.0], abs=1e-15)
    assert not wrong["naive_ok"] and not np.isfinite(wrong["naive_loss"])


def test_error_signal_rule():
    rule = c03c.RULES.rule("c03.mse")
    ok = [{"max_rel": 2e-15}]
    assert decide(rule, c03c.worst_relative(ok, []), name="t").verdict == "supported"
    bad_row = [{"max_abs_diff": 1e-9, "max_abs_closed": 1.0}]
    assert decide(rule, c03c.worst_relative(ok, bad_row), name="t").verdict == "refuted"


def test_uniqueness_of_the_squared_error_signal():
    u = c03c.uniqueness_check(5.0, 201, 1.0)
    assert u["squared_error"] < 1e-12 and u["integral_error"] < 1e-10
    assert set(u["rivals"]) == {"|y - t| (MAE)", "(y - t)^4", "log cosh(y - t)", "Huber (delta=1)"}
    assert all(v["max_abs_diff"] > 1.0 for v in u["rivals"].values())
    assert u["rivals"]["Huber (delta=1)"]["agree_fraction"] == pytest.approx(0.2, abs=0.02)  # equal within delta
    assert c03.uniqueness_holds(u)
    same = c03c.uniqueness_check(2.0, 21, 1.0, rivals={"r^2/2 - t": lambda y, t: (y - t) ** 2 / 2 - t})
    assert not c03.uniqueness_holds(same)  # a rival with the same signal breaks the argument


def test_cancellation_and_links():
    z = np.array([-3.0, 0.5, 2.0, 20.0])
    r = c03c.cancel_check(z, np.array([1.0, 0.0, 1.0, 0.0]), 8.0)
    assert r["n"] == 3 and r["max_abs_diff"] < 1e-15  # |z| = 20 lies beyond z_max and is left out
    o = c03.synthetic_outputs()
    probit = c03c.link_check(o, 2.0)
    assert probit["binary_max_abs_vs_p_minus_y"] > 0.1 and probit["softmax_max_abs_vs_p_minus_y"] > 0.1
    assert probit["binary_closed_form_gap"] < 1e-10 and probit["softmax_closed_form_gap"] < 1e-14
    canonical = c03c.link_check(o, 1.0, binary_link="logit")
    assert max(canonical["binary_max_abs_vs_p_minus_y"], canonical["softmax_max_abs_vs_p_minus_y"]) < 1e-14
    assert c03.link_differs([probit]) and not c03.link_differs([canonical])


def test_error_signal_controls():
    _both_ways(c03.controls())


# ----------------------------------------------------------------- claim 6
def test_binary_second_derivatives_match_closed_forms():
    z = np.linspace(-10, 10, 41)  # includes z = 0 exactly, where a kinked softplus lost its curvature
    for y in (0.0, 1.0):
        d = c06c.binary_second_derivatives(z, y)
        assert np.allclose(d["bce"], d["bce_closed"], atol=1e-14)
        assert np.allclose(d["mse_sigmoid"], d["mse_sigmoid_closed"], atol=1e-14)
        assert min(d["bce"]) >= 0
        assert min(d["mse_sigmoid"]) < -0.05  # the confident side bends down
    d1 = c06c.binary_second_derivatives(np.array([-10.0, 0.0, 10.0]), 1.0)["mse_sigmoid"]
    assert d1[0] < 0 and d1[2] > 0  # concave on the confidently wrong plateau, convex when right


def test_bce_autograd_curvature_at_exactly_zero():
    d = c06c.binary_second_derivatives(np.array([0.0]), 1.0)
    assert d["bce"][0] == pytest.approx(0.25)


def test_hessian_summary_psd_and_known_value():
    z = np.array([[0.0, 0.0], [5.0, -5.0]])
    s = c06c.hessian_summary(z, np.array([0, 1]))
    assert s["ce_closed_form_gap"] < 1e-14 and s["ce_symmetry_gap"] < 1e-14
    assert s["ce_min_eig"] == pytest.approx([0.0, 0.0], abs=1e-15)  # 2 classes: eigenvalues 0 and 2 p (1 - p)
    rng = np.random.default_rng(0)
    zr = rng.standard_normal((200, 5)) * 5
    s = c06c.hessian_summary(zr, rng.integers(0, 5, 200))
    assert min(s["ce_min_eig"]) > -1e-12
    assert min(s["mse_min_eig"]) < -1e-3


def test_second_differences_and_lines():
    assert c06c.second_differences(np.array([0.0, 1.0, 0.0])).tolist() == [-2.0]
    X = np.array([[1.0], [-1.0], [2.0]])
    y = np.array([1.0, 0.0, 1.0])
    w = np.array([[0.0, 0.0], [1.0, 0.0]])
    ce, mse = c06c.line_losses(X, y, w)
    assert ce[0] == pytest.approx(np.log(2)) and mse[0] == pytest.approx(0.25)
    assert ce[1] < ce[0] and mse[1] < mse[0]


def test_convexity_controls_can_refute():
    assert c06c.curvature(lambda a: a**2, np.array([3.0])).tolist() == [2.0]
    _both_ways(c06.controls())
    refuted = {c["rule"] for c in c06.controls() if c["got"] == "refuted"}
    assert refuted == {"c06.ce_convex", "c06.mse_nonconvex", "c06.closed_form"}


# ----------------------------------------------------------------- claim 13
def test_analog_of_the_ce_decomposition():
    rng = np.random.default_rng(2)
    q, p = rng.dirichlet(np.ones(3), size=50), rng.dirichlet(np.ones(3), size=50)
    r = c13c.analog(q, p)
    assert r["gap"] < 1e-14
    direct = np.mean([sum(p[i, c] * np.sum((q[i] - np.eye(3)[c]) ** 2) for c in range(3)) for i in range(50)])
    assert r["expected_mse"] == pytest.approx(direct, abs=1e-12)
    assert c13c.analog(q, p, drop="gini")["gap"] > 0.1
    with pytest.raises(ValueError, match="`drop` must be one of"):
        c13c.analog(q, p, drop="entropy")


def test_bias_variance_exact_and_breakable():
    params = {"seed": 1, "noise_sd": 0.3, "n_train": 20, "n_test": 50, "n_resamples": 30, "n_noise": 4,
              "degrees": (1, 5)}  # fmt: skip
    r = c13c.bias_variance(params)
    for v in r.values():
        assert v["gap"] < 1e-13
        assert v["noise"] == pytest.approx(0.09, abs=1e-12)
        assert v["mse"] == pytest.approx(v["bias2"] + v["variance"] + v["noise"], rel=1e-12)
    assert r["1"]["bias2"] > r["5"]["bias2"] and r["1"]["variance"] < r["5"]["variance"]
    assert c13c.bias_variance(params, drop="variance")["5"]["gap"] > 1e-3


def test_murphy_bregman_and_gaussian_kl():
    rng = np.random.default_rng(3)
    P = rng.dirichlet(np.ones(3), size=300)
    y = np.array([rng.choice(3, p=row) for row in P])
    assert c13c.murphy(P, y, 10)["gap"] < 1e-13
    assert c13c.murphy(P, y, 10, drop="reliability")["gap"] > 1e-4
    pred, t = rng.normal(150, 50, 40), rng.normal(150, 50, 40)
    q, p = rng.dirichlet(np.ones(4), size=40), rng.dirichlet(np.ones(4), size=40)
    assert c13c.bregman(pred, t, q, p)["gap"] < 1e-13
    assert c13c.bregman(pred, t, q, p, drop="-phi(t)")["gap"] > 0.1
    g = c13c.gaussian_kl(pred, t, 2500.0)
    assert g["gap"] < 1e-13 and g["mean_kl"] == pytest.approx(np.mean((pred - t) ** 2) / 5000.0, rel=1e-12)


def test_mse_decomposition_rule_reads_the_negative_statement():
    rid = "c13.analog"
    assert decide(claim_rules("mse-decomposition").rule(rid), c13.no_decomposition(1e-16, rid), name="t").verdict \
        == "refuted"  # fmt: skip
    assert decide(claim_rules("mse-decomposition").rule(rid), c13.no_decomposition(0.2, rid), name="t").verdict \
        == "supported"  # fmt: skip
    _both_ways(c13.controls())


# ----------------------------------------------------------------- smoke runs
SMOKE = {
    "c02": (c02, "mixed", {"c02.identity": "supported", "c02.minimise": "supported", "c02.extra_nats": "refuted",
                           "c02.divergence": "refuted"}),
    "c03": (c03, "supported", {f"c03.{k}": "supported" for k in ("mse", "softmax", "sigmoid", "cancel", "uniqueness",
                                                                "link")}),
    "c06": (c06, "supported", {f"c06.{k}": "supported" for k in ("ce_convex", "mse_nonconvex", "closed_form")}),
    "c13": (c13, "refuted", {f"c13.{k}": "refuted" for k in ("analog", "murphy", "bias_variance", "bregman",
                                                            "gaussian_kl")}),
}  # fmt: skip


@pytest.mark.parametrize("key", list(SMOKE))
def test_smoke_run(key, tmp_path):
    module, verdict, parts = SMOKE[key]
    r = run_lab(out=tmp_path, profile=get_profile("smoke"), claims=[module.CLAIM], jobs=1, fresh=True,
                console=Console(quiet=True))  # fmt: skip
    c = r["claims"][0]
    assert c["status"] == "ok", c.get("error")
    assert c["kind"] == "identity"
    assert {p["rule"]: p["verdict"] for p in c["parts"]} == parts
    assert c["verdict"] == verdict
    assert c["controls_ok"] is True and any(x["source"] == "claim" for x in c["controls"])
    assert c["figures"] and (tmp_path / "figures" / c["figures"][0]["file"]).stat().st_size > 1000
    json.dumps(c["numbers"], allow_nan=False)
