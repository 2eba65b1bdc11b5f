"""Post-hoc calibrators: losslab.calibration.scaling and losslab.calibration.binning."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV, _sigmoid_calibration
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.isotonic import IsotonicRegression

import losslab
from losslab.calibration.binning import HistogramBinning, IsotonicCalibration
from losslab.calibration.scaling import (
    DirichletCalibration,
    MatrixScaling,
    PlattScaling,
    TemperatureScaling,
    VectorScaling,
)


# ------------------------------------------------------------------ data
def sample_labels(rng, probs):
    u = rng.random((probs.shape[0], 1))
    return np.minimum((u > np.cumsum(probs, axis=1)).sum(axis=1), probs.shape[1] - 1)


def logits_data(n=3000, C=3, seed=0, scale=2.0):
    """True logits, labels drawn from their softmax."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, C)) * scale
    return z, sample_labels(rng, softmax(z, axis=1))


def binary_scores(n=2000, seed=1):
    rng = np.random.default_rng(seed)
    s = rng.normal(size=n) * 2.0
    y = (rng.random(n) < expit(0.7 * s - 0.4)).astype(int)
    return s, y


def probs_data(n=2000, C=3, seed=2):
    z, y = logits_data(n, C, seed)
    return softmax(1.8 * z, axis=1), y  # overconfident probabilities


def fit_input(name):
    """(estimator, X, y) for each calibrator, X in the form it takes."""
    z, y = logits_data(600, 3, seed=5)
    s, yb = binary_scores(600)
    p, yp = probs_data(600)
    return {
        "temperature": (TemperatureScaling(), 2.0 * z, y),
        "platt": (PlattScaling(), s, yb),
        "vector": (VectorScaling(), 2.0 * z, y),
        "matrix": (MatrixScaling(reg=1e-2), 2.0 * z, y),
        "dirichlet": (DirichletCalibration(reg_lambda=1e-2, reg_mu=1e-2), p, yp),
        "isotonic": (IsotonicCalibration(), p, yp),
        "histogram": (HistogramBinning(n_bins=8), p, yp),
    }[name]


ALL = ["temperature", "platt", "vector", "matrix", "dirichlet", "isotonic", "histogram"]


# ------------------------------------------------------------ estimator API
@pytest.mark.parametrize("name", ALL)
def test_sklearn_estimator_api(name):
    est, X, y = fit_input(name)
    with pytest.raises(NotFittedError):
        est.predict_proba(X)
    params = est.get_params()
    twin = clone(est)
    assert twin.get_params() == params and twin is not est
    assert est.fit(X, y) is est
    P = est.predict_proba(X)
    assert P.shape == X.shape and np.all((P >= 0) & (P <= 1))
    if P.ndim == 2:
        np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    assert not hasattr(clone(est), "n_classes_")  # clone drops fitted state
    fitted = [k for k in vars(est) if k.endswith("_") and not k.startswith("_")]
    assert fitted and not set(fitted) & set(params)


def test_set_params_round_trip():
    m = MatrixScaling().set_params(reg=0.5)
    assert m.reg == 0.5 and clone(m).reg == 0.5
    d = DirichletCalibration(reg_lambda=0.1, reg_mu=0.2)
    assert d.get_params() == {"reg_lambda": 0.1, "reg_mu": 0.2}
    assert HistogramBinning(n_bins=7).get_params() == {"n_bins": 7}


@pytest.mark.parametrize("name", ALL)
def test_integer_sample_weight_equals_repetition(name):
    est, X, y = fit_input(name)
    rng = np.random.default_rng(3)
    w = rng.integers(0, 4, size=X.shape[0])
    w[:2] = 1  # both classes present
    weighted = clone(est).fit(X, y, sample_weight=w.astype(float))
    repeated = clone(est).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=2e-6)


@pytest.mark.parametrize("name", ALL)
def test_report_nll_accuracy(name, monkeypatch):
    est, X, y = fit_input(name)
    est.fit(X, y)
    monkeypatch.setitem(sys.modules, "losslab.calibration.metrics", None)  # import fails
    r = est.report(X, y)
    assert set(r) == {"nll_before", "nll_after", "accuracy_before", "accuracy_after"}
    assert r["nll_after"] <= r["nll_before"] + 1e-12  # fitted on the same data by minimising the NLL (or binning)
    fake = types.ModuleType("losslab.calibration.metrics")
    fake.ece = lambda probs, target, *, n_bins=15: float(np.mean(np.max(probs, axis=1)))
    monkeypatch.setitem(sys.modules, "losslab.calibration.metrics", fake)
    r2 = est.report(X, y)
    assert set(r2) == set(r) | {"ece_before", "ece_after"}
    assert {k: r2[k] for k in r} == r


# --------------------------------------------------------------- temperature
def test_temperature_matches_grid_scan():
    z, y = logits_data(2000, 4, seed=7)
    X = 3.0 * z
    w = np.random.default_rng(0).random(X.shape[0])
    T = TemperatureScaling().fit(X, y, sample_weight=w).temperature_

    def nll(ts):
        return np.array([float(losslab.cross_entropy(X / t, y, weight=w)) for t in ts])

    grid = np.exp(np.linspace(np.log(1e-2), np.log(1e2), 2001))
    best = grid[np.argmin(nll(grid))]
    fine = np.linspace(best * 0.99, best * 1.01, 4001)
    T_grid = fine[np.argmin(nll(fine))]
    assert abs(T - T_grid) / T_grid < 1e-4
    assert nll([T])[0] <= nll([T_grid])[0] + 1e-15


class _LogitsClassifier(ClassifierMixin, BaseEstimator):
    """A 'classifier' whose decision function is its input: hands fixed logits to scikit-learn."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def decision_function(self, X):
        return X[:, 0] if X.shape[1] == 1 else X

    def predict(self, X):
        return self.classes_[np.argmax(X, axis=1)]


def test_temperature_matches_sklearn_calibrated_classifier():
    z, y = logits_data(3000, 3, seed=11)
    X = 2.2 * z
    clf = _LogitsClassifier().fit(X, y)
    cal = CalibratedClassifierCV(FrozenEstimator(clf), method="temperature").fit(X, y)
    T_sk = 1.0 / float(cal.calibrated_classifiers_[0].calibrators[0].beta_)
    ours = TemperatureScaling().fit(X, y)
    assert abs(ours.temperature_ - T_sk) / T_sk < 1e-4
    np.testing.assert_allclose(ours.predict_proba(X), cal.predict_proba(X), atol=1e-6)


def test_temperature_recovers_overconfidence_and_keeps_accuracy():
    z, y = logits_data(20000, 5, seed=3)
    X = 2.5 * z  # overconfident by T = 2.5
    ts = TemperatureScaling().fit(X, y)
    assert abs(ts.temperature_ - 2.5) / 2.5 < 0.05
    r = ts.report(X, y)
    assert r["accuracy_after"] == r["accuracy_before"]
    assert r["nll_after"] < r["nll_before"] - 0.05
    np.testing.assert_array_equal(np.argmax(ts.predict_proba(X), axis=1), np.argmax(X, axis=1))
    # a calibrated model stays put
    assert abs(TemperatureScaling().fit(z, y).temperature_ - 1.0) < 0.05


# --------------------------------------------------------------------- Platt
def test_platt_matches_sklearn_sigmoid():
    s, y = binary_scores(3000)
    w = np.random.default_rng(4).random(s.shape[0]) + 0.5
    A, B = _sigmoid_calibration(s, y, sample_weight=w)
    ps = PlattScaling().fit(s, y, sample_weight=w)
    np.testing.assert_allclose([ps.coef_, ps.intercept_], [-A, -B], atol=1e-4)
    np.testing.assert_allclose(ps.predict_proba(s), expit(-(A * s + B)), atol=1e-5)
    X = s[:, None]
    cal = CalibratedClassifierCV(FrozenEstimator(_LogitsClassifier().fit(X, y)), method="sigmoid").fit(X, y)
    np.testing.assert_allclose(PlattScaling().fit(s, y).predict_proba(s), cal.predict_proba(X)[:, 1], atol=1e-5)


def test_platt_smoothed_targets_and_two_column_logits():
    s, y = binary_scores(800)
    Z = np.stack([-0.3 * s, 0.7 * s], axis=1)  # difference is s
    a = PlattScaling().fit(s, y)
    b = PlattScaling().fit(Z, y)
    assert a.coef_ == pytest.approx(b.coef_, rel=1e-6) and a.intercept_ == pytest.approx(b.intercept_, abs=1e-7)
    P = b.predict_proba(Z)
    assert P.shape == (800, 2)
    np.testing.assert_allclose(P[:, 1], a.predict_proba(s), atol=1e-10)
    # separable data: smoothed targets keep the slope finite
    s2 = np.array([-2.0, -1.0, 1.0, 2.0])
    fit = PlattScaling().fit(s2, np.array([0, 0, 1, 1]))
    assert np.isfinite(fit.coef_) and fit.predict_proba(np.array([2.0]))[0] < 1 - 1e-3


def test_platt_large_scores_rescaled():
    s, y = binary_scores(1000)
    a = PlattScaling().fit(s, y)
    b = PlattScaling().fit(100.0 * s, y)
    assert b.coef_ * 100 == pytest.approx(a.coef_, rel=1e-5)
    assert b.intercept_ == pytest.approx(a.intercept_, abs=1e-5)


# -------------------------------------------------- vector / matrix / Dirichlet
def affine_data(n=20000, C=3, seed=8):
    """Observed logits x with true logits W x + b (a known affine miscalibration)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, C)) * 1.5
    W = np.array([[0.6, 0.2, 0.0], [0.0, 0.5, -0.2], [0.1, 0.0, 0.8]])
    b = np.array([0.3, -0.2, 0.0])
    return x, sample_labels(rng, softmax(x @ W.T + b, axis=1)), W, b


def test_vector_scaling_recovers_diagonal():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(20000, 3)) * 1.5
    w, b = np.array([0.5, 0.8, 0.3]), np.array([0.4, -0.2, 0.0])
    y = sample_labels(rng, softmax(x * w + b, axis=1))
    vs = VectorScaling().fit(x, y)
    # b is identified up to a common shift
    np.testing.assert_allclose(vs.coef_, w, atol=0.05)
    np.testing.assert_allclose(vs.intercept_ - vs.intercept_.mean(), b - b.mean(), atol=0.05)
    r = vs.report(x, y)
    assert r["nll_after"] < r["nll_before"]


def test_matrix_scaling_recovers_affine_map():
    x, y, W, b = affine_data()
    ms = MatrixScaling(reg=1e-4).fit(x, y)
    # softmax is invariant to adding one vector to every row of W (and a constant to b): compare centred
    np.testing.assert_allclose(ms.coef_ - ms.coef_.mean(axis=0), W - W.mean(axis=0), atol=0.06)
    np.testing.assert_allclose(ms.intercept_ - ms.intercept_.mean(), b - b.mean(), atol=0.06)
    r = ms.report(x, y)
    assert r["nll_after"] < r["nll_before"] - 0.05


def test_dirichlet_recovers_map_on_log_probs():
    x, y, W, b = affine_data(seed=12)
    p = softmax(x, axis=1)  # labels from softmax(W log p + b), the Dirichlet calibration map itself
    rng = np.random.default_rng(13)
    y = sample_labels(rng, softmax(np.log(p) @ W.T + b, axis=1))
    dc = DirichletCalibration(reg_lambda=1e-4, reg_mu=1e-4).fit(p, y)
    np.testing.assert_allclose(dc.coef_ - dc.coef_.mean(axis=0), W - W.mean(axis=0), atol=0.06)
    # the bias is poorly identified against W (log p has a large common offset): compare the map itself
    np.testing.assert_allclose(dc.predict_proba(p), softmax(np.log(p) @ W.T + b, axis=1), atol=0.03)


def test_dirichlet_identity_stays_put():
    z, y = logits_data(20000, 3, seed=14)
    p = softmax(z, axis=1)  # calibrated by construction
    dc = DirichletCalibration().fit(p, y)
    np.testing.assert_allclose(dc.coef_, np.eye(3), atol=0.06)
    diff = np.abs(dc.predict_proba(p) - p)
    assert diff.mean() < 0.01 and diff.max() < 0.06
    # zero probabilities are clipped at eps, not -inf
    q = np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])
    assert np.all(np.isfinite(dc.predict_proba(q)))


def test_dirichlet_binary_1d_layout():
    p, y = probs_data(1000, 2)
    a = DirichletCalibration().fit(p[:, 1], y)
    b = DirichletCalibration().fit(p, y)
    assert a.predict_proba(p[:, 1]).shape == (1000,)
    np.testing.assert_allclose(a.predict_proba(p[:, 1]), b.predict_proba(p)[:, 1], atol=1e-6)


@pytest.mark.parametrize(
    "est", [VectorScaling(), MatrixScaling(reg=0.3), DirichletCalibration(reg_lambda=0.2, reg_mu=0.7)]
)
def test_affine_gradient_matches_finite_differences(est):
    rng = np.random.default_rng(15)
    C = 4
    Z = rng.normal(size=(50, C))
    y = rng.integers(0, C, size=50)
    w = rng.random(50)
    k = C + C if isinstance(est, VectorScaling) else C * C + C
    theta = rng.normal(size=k)
    f, g = est._loss_grad(theta, Z, y, w)
    h = 1e-6

    def f_at(t):
        return est._loss_grad(t, Z, y, w)[0]

    fd = np.array([(f_at(theta + h * e) - f_at(theta - h * e)) / (2 * h) for e in np.eye(k)])
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------ binning
def test_isotonic_matches_sklearn_binary_and_multiclass():
    p, y = probs_data(1500, 3)
    w = np.random.default_rng(16).random(1500)
    pb, yb = p[:, 0], (y == 0).astype(int)
    ref = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(pb, yb, sample_weight=w)
    ic = IsotonicCalibration().fit(pb, yb, sample_weight=w)
    grid = np.linspace(0, 1, 101)
    np.testing.assert_allclose(ic.predict_proba(grid), ref.predict(grid), atol=1e-12)
    mc = IsotonicCalibration().fit(p, y)
    iso = [IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(p[:, c], y == c) for c in range(3)]
    cols = np.stack([m.predict(p[:, c]) for c, m in enumerate(iso)], axis=1)
    np.testing.assert_allclose(mc.predict_proba(p), cols / cols.sum(axis=1, keepdims=True), atol=1e-12)


def test_histogram_binning_by_hand():
    p = np.array([0.05, 0.1, 0.15, 0.6, 0.65, 1.0, 0.99])
    y = np.array([0, 1, 1, 1, 0, 1, 1])
    w = np.array([1.0, 2.0, 1.0, 1.0, 3.0, 1.0, 1.0])
    from losslab.calibration import CalibrationWarning

    with pytest.warns(CalibrationWarning, match=r"1 of 4 bins received no fitting sample; it maps to its bin centre"):
        hb = HistogramBinning(n_bins=4).fit(p, y, sample_weight=w)
    # bins [0, .25): w 1, 2, 1 -> 3/4; [.25, .5): empty -> centre .375; [.5, .75): 1/(1+3); [.75, 1]: 1
    np.testing.assert_allclose(hb.calibrators_[0], [0.75, 0.375, 0.25, 1.0])
    np.testing.assert_allclose(hb.bin_edges_, [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(hb.predict_proba(np.array([0.0, 0.3, 0.5, 1.0])), [0.75, 0.375, 0.25, 1.0])


def test_histogram_multiclass_renormalised():
    p, y = probs_data(1500, 3)
    hb = HistogramBinning(n_bins=10).fit(p, y)
    P = hb.predict_proba(p)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    raw = np.stack([hb.calibrators_[c][np.minimum((p[:, c] * 10).astype(int), 9)] for c in range(3)], axis=1)
    np.testing.assert_allclose(P, raw / raw.sum(axis=1, keepdims=True))


# -------------------------------------------------------------- bad input
Z3 = np.array([[1.0, 0.0, -1.0], [0.5, 0.2, 0.1]])


@pytest.mark.parametrize(
    ("est", "X", "y", "exc", "match"),
    [
        (TemperatureScaling(), np.zeros(3), [0, 1, 0], ValueError,
         r"`X` must be logits of shape \(n_samples, n_classes\) with n_classes >= 2; got shape \(3,\)"),
        (MatrixScaling(), np.zeros((2, 1)), [0, 0], ValueError, r"n_classes >= 2; got shape \(2, 1\)"),
        (TemperatureScaling(), Z3, [0, 3], ValueError,
         r"`y` must hold class indices in \[0, 2\] \(columns of `X`\); got 3 at index 1"),
        (VectorScaling(), Z3, [0, -1], ValueError, r"got -1 at index 1"),
        (TemperatureScaling(), Z3, [0, 1, 2], ValueError,
         r"`y` must have shape \(2,\) \(one label per row of `X`\); got \(3,\)"),
        (TemperatureScaling(), Z3, [0.0, 1.5], ValueError,
         r"`y` must hold integer class indices \(or integral floats\); got 1.5 at index 1"),
        (TemperatureScaling(), Z3, [0.0, 1e300], ValueError, r"in \[0, 2\] \(columns of `X`\); got 1e\+300 at index 1"),
        (TemperatureScaling(), Z3, ["a", "b"], TypeError, r"`y` must hold integer class indices; got dtype <U1"),
        (VectorScaling(), np.array([[1.0, np.nan], [0.0, 1.0]]), [0, 1], ValueError,
         r"`X` contains NaN at index \(0, 1\)"),
        (PlattScaling(), np.array([0.1, np.inf]), [0, 1], ValueError, r"`X` contains inf at index 1"),
        (DirichletCalibration(), np.array([[0.5, 0.4], [0.3, 0.7]]), [0, 1], ValueError,
         r"`X` rows must be probabilities summing to 1 \(within 0.0001\); row 0 sums to 0.9"),
        (IsotonicCalibration(), np.array([0.2, 1.5]), [0, 1], ValueError,
         r"`X` must hold probabilities in \[0, 1\]; got 1.5 at index 1"),
        (HistogramBinning(), np.array([[0.2, 0.9], [0.5, 0.5]]), [0, 1], ValueError, r"row 0 sums to 1.1"),
        (PlattScaling(), np.array([0.1, 0.2, 0.3]), [1, 1, 1], ValueError,
         r"`y` holds only class 1 \(all 3 samples\); Platt scaling needs both classes"),
        (PlattScaling(), np.zeros((3, 3)), [0, 1, 0], ValueError,
         r"`X` must be binary scores of shape \(n_samples,\) or two-class logits \(n_samples, 2\); got shape \(3, 3\)"),
        (MatrixScaling(reg=-1.0), Z3, [0, 1], ValueError, r"`reg` must be positive and finite; got -1.0"),
        (HistogramBinning(n_bins=0), np.array([0.2, 0.4]), [0, 1], ValueError,
         r"`n_bins` must be a positive integer; got 0"),
    ],
)  # fmt: skip
def test_bad_input_messages(est, X, y, exc, match):
    with pytest.raises(exc, match=match):
        est.fit(X, np.asarray(y))


def test_bad_sample_weight_and_predict_shape():
    with pytest.raises(ValueError, match=r"`sample_weight` must have shape \(2,\) \(one per sample\); got \(3,\)"):
        TemperatureScaling().fit(Z3, np.array([0, 1]), sample_weight=np.ones(3))
    with pytest.raises(ValueError, match=r"`sample_weight` must be finite and non-negative; got -1.0 at index 0"):
        TemperatureScaling().fit(Z3, np.array([0, 1]), sample_weight=np.array([-1.0, 1.0]))
    with pytest.raises(ValueError, match=r"`sample_weight` sums to 0"):
        IsotonicCalibration().fit(np.array([0.2, 0.4]), np.array([0, 1]), sample_weight=np.zeros(2))
    ts = TemperatureScaling().fit(Z3, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"`X` has 2 classes \(columns\) but the calibrator was fitted on 3"):
        ts.predict_proba(np.zeros((2, 2)))
    ic = IsotonicCalibration().fit(np.array([0.2, 0.4]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"fitted on 1-d binary probabilities"):
        ic.predict_proba(np.array([[0.2, 0.8]]))


def test_temperature_at_its_bound_warns_and_says_so():
    """A fitting set without a single mistake drives T to its lower bound (lab claim 10 saw NLL 0.20 -> 4.5)."""
    from losslab.calibration import CalibrationWarning

    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 3))
    y = z.argmax(axis=1)  # every prediction right: sharpening lowers the NLL without limit
    with pytest.warns(CalibrationWarning, match=r"sits at the lower bound of its search \[0.01, 100\]"):
        ts = TemperatureScaling().fit(z, y)
    assert ts.at_bound_ and ts.temperature_ == pytest.approx(0.01, rel=1e-3)
    # every prediction wrong, the true class always the least likely: only a flat (T -> inf) forecast helps
    with pytest.warns(CalibrationWarning, match="upper bound"):
        assert TemperatureScaling().fit(z, z.argmin(axis=1)).at_bound_


def test_temperature_inside_its_range_is_silent():
    import warnings

    rng = np.random.default_rng(1)
    z = rng.normal(size=(3000, 3)) * 2.0
    y = np.array([rng.choice(3, p=np.exp(r / 2) / np.exp(r / 2).sum()) for r in z])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ts = TemperatureScaling().fit(z, y)
    assert not ts.at_bound_ and 1.5 < ts.temperature_ < 2.5 and ts.fit_warnings_ == []


def test_integral_float_labels_fit_as_integer_labels():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((200, 3)) * 2
    y = rng.integers(0, 3, 200)
    for cal in (TemperatureScaling, VectorScaling):
        a = cal().fit(z, y).predict_proba(z)
        b = cal().fit(z, y.astype(np.float64)).predict_proba(z)
        np.testing.assert_array_equal(a, b)
