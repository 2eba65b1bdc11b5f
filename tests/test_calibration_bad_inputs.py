"""Calibration on hostile input (issue 11): every calibrator says when its fit fails, nothing allocates
what it cannot hold, masked arrays are refused, huge values neither overflow silently nor leak a RuntimeWarning."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
from scipy.optimize import OptimizeResult
from scipy.special import softmax

from losslab.calibration import (
    CalibrationState,
    CalibrationWarning,
    DirichletCalibration,
    HistogramBinning,
    IsotonicCalibration,
    MatrixScaling,
    PlattScaling,
    TemperatureScaling,
    VectorScaling,
    bootstrap_ci,
    brier_decomposition,
    ece,
    reliability_curve,
    scaling,
)
from losslab.calibration import platt as platt_module


def noisy_logits(n=2000, C=3, seed=0, sharp=2.0):
    """Logits whose labels are drawn from softmax(z / sharp): overconfident, with mistakes."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, C)) * 2.0
    u = rng.random((n, 1))
    y = np.minimum((u > np.cumsum(softmax(z / sharp, axis=1), axis=1)).sum(axis=1), C - 1)
    return z, y


def good_fits():
    z, y = noisy_logits()
    s, yb = z[:, 1] - z[:, 0], (y == 1).astype(int)
    p = softmax(z, axis=1)
    rng = np.random.default_rng(1)
    pb = rng.random(3000)
    return [
        (TemperatureScaling(), z, y),
        (PlattScaling(), s, yb),
        (VectorScaling(), z, y),
        (MatrixScaling(), z, y),
        (DirichletCalibration(), p, y),
        (IsotonicCalibration(), p, y),
        (HistogramBinning(n_bins=10), pb, (rng.random(3000) < pb).astype(int)),
    ]


# ---------------------------------------------------------- a good fit is silent
@pytest.mark.parametrize(("est", "X", "y"), good_fits(), ids=lambda v: type(v).__name__ if hasattr(v, "fit") else "")
def test_a_good_fit_warns_nothing_and_says_so(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.fit(X, y)
        est.predict_proba(X)
    assert est.fit_warnings_ == []


# ---------------------------------------------------------- the optimiser did not converge
def _capped(real, **caps):
    def run(*args, **kwargs):
        kwargs["options"] = {**kwargs.get("options", {}), **caps}
        return real(*args, **kwargs)

    return run


@pytest.mark.parametrize("cls", [VectorScaling, MatrixScaling])
def test_an_optimiser_that_stops_early_is_named(cls, monkeypatch):
    monkeypatch.setattr(scaling, "minimize", _capped(scaling.minimize, maxiter=1))
    z, y = noisy_logits(600)
    with pytest.warns(CalibrationWarning, match=rf"{cls.__name__}: the optimiser \(L-BFGS-B\) did not converge after 1 "
                      r"iterations \(SciPy: STOP: TOTAL NO\.? ?OF ITERATIONS REACHED LIMIT; largest gradient entry "
                      r"[\d.e+-]+\), so the fitted map may be far from the best one\. Rescale the inputs"):  # fmt: skip
        est = cls().fit(z, y)
    assert len(est.fit_warnings_) == 1 and "did not converge" in est.fit_warnings_[0]


def test_temperature_that_stops_early_is_named(monkeypatch):
    monkeypatch.setattr(scaling, "minimize_scalar", _capped(scaling.minimize_scalar, maxiter=1))
    monkeypatch.setattr(scaling, "minimize", _capped(scaling.minimize, maxiter=1))
    z, y = noisy_logits(600)
    with pytest.warns(CalibrationWarning, match=r"TemperatureScaling: the optimiser \(L-BFGS-B\) did not converge"):
        ts = TemperatureScaling().fit(z, y)
    assert not ts.at_bound_ and ts.fit_warnings_


def test_platt_that_cannot_polish_is_named(monkeypatch):
    def singular(*args, **kwargs):
        raise np.linalg.LinAlgError("singular")

    monkeypatch.setattr(platt_module, "minimize", _capped(platt_module.minimize, maxiter=1))
    monkeypatch.setattr(np.linalg, "solve", singular)  # the Newton polish gives up too
    z, y = noisy_logits(600)
    with pytest.warns(CalibrationWarning, match=r"PlattScaling: the optimiser \(L-BFGS-B\) did not converge after 1 "
                      r"iterations .*Rescale the scores or fit on more data"):  # fmt: skip
        PlattScaling().fit(z[:, 1] - z[:, 0], (y == 1).astype(int))


def test_an_abnormal_stop_at_the_optimum_is_not_a_failure(monkeypatch):
    """L-BFGS-B reports an abnormal line search when rounding stops it at the optimum: the gradient decides."""

    def abnormal(*args, **kwargs):
        res = real(*args, **kwargs)
        res.success, res.message = False, "ABNORMAL: "
        return res

    real = scaling.minimize
    monkeypatch.setattr(scaling, "minimize", abnormal)
    z, y = noisy_logits(600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert VectorScaling().fit(z, y).fit_warnings_ == []


# ---------------------------------------------------------- the fit raised the NLL
@pytest.mark.parametrize("cls", [VectorScaling, MatrixScaling, DirichletCalibration])
def test_a_fit_that_raises_the_nll_is_named(cls, monkeypatch):
    def broken(fun, x0, args=(), **kwargs):  # "converged" far from the start, at a worse map
        return OptimizeResult(x=np.asarray(x0) * 3.0 + 1.0, success=True, message="fake", nit=1, jac=np.zeros(len(x0)))

    monkeypatch.setattr(scaling, "minimize", broken)
    z, y = noisy_logits(600)
    X = softmax(z, axis=1) if cls is DirichletCalibration else z
    msg = (rf"{cls.__name__}: the fitted map raised the NLL of its own fitting set from [\d.]+ \(the identity map, "
           r"no calibration\) to [\d.]+, which a successful fit cannot do: the fit failed")  # fmt: skip
    with pytest.warns(CalibrationWarning, match=msg):
        cls().fit(X, y)


def test_a_platt_fit_that_raises_its_objective_is_named(monkeypatch):
    def broken(fun, x0, args=(), **kwargs):
        return OptimizeResult(x=np.array([-5.0, 3.0]), success=True, message="fake", nit=1, jac=np.zeros(2))

    monkeypatch.setattr(platt_module, "minimize", broken)
    monkeypatch.setattr(np.linalg, "solve", lambda *a: (_ for _ in ()).throw(np.linalg.LinAlgError()))
    z, y = noisy_logits(600)
    with pytest.warns(CalibrationWarning, match=r"PlattScaling: the fitted map raised the smoothed-target NLL of its "
                      r"own fitting set from [\d.]+ \(the identity map, no calibration\)"):  # fmt: skip
        PlattScaling().fit(z[:, 1] - z[:, 0], (y == 1).astype(int))


# ---------------------------------------------------------- a set without mistakes
@pytest.mark.parametrize("est", [VectorScaling(), MatrixScaling(), DirichletCalibration()])
def test_a_set_without_mistakes_is_named(est):
    z, _ = noisy_logits(300)
    X = softmax(z, axis=1) if isinstance(est, DirichletCalibration) else z
    msg = (rf"{type(est).__name__}: the fit drove the NLL of its fitting set to [\d.e-]+ with coefficients up to "
           r"[\d.e+]+: the set holds no mistake the map could soften")  # fmt: skip
    with pytest.warns(CalibrationWarning, match=msg):
        est.fit(X, z.argmax(axis=1))
    assert est.fit_warnings_ and "held-out predictions that include mistakes" in est.fit_warnings_[0]


def test_temperature_at_a_bound_keeps_at_bound_and_lists_the_warning():
    z, _ = noisy_logits(300)
    with pytest.warns(CalibrationWarning, match="lower bound"):
        ts = TemperatureScaling().fit(z, z.argmax(axis=1))
    assert ts.at_bound_ and len(ts.fit_warnings_) == 1 and "sits at the lower bound" in ts.fit_warnings_[0]
    with pytest.warns(CalibrationWarning, match=r"upper bound .* or are on a far larger scale than log-odds "
                      r"\(largest \|logit\| [\d.e+]+: divide them first\)"):  # fmt: skip
        TemperatureScaling().fit(z * 1e30, noisy_logits(300)[1])


# ---------------------------------------------------------- histogram binning
def test_histogram_names_its_empty_bins():
    p = np.array([0.05, 0.1, 0.15, 0.6, 0.65, 1.0, 0.99])
    y = np.array([0, 1, 1, 1, 0, 1, 1])
    with pytest.warns(CalibrationWarning, match=r"HistogramBinning: 1 of 4 bins received no fitting sample; it maps to "
                      r"its bin centre \(k \+ 0\.5\) / n_bins, a placeholder"):  # fmt: skip
        hb = HistogramBinning(n_bins=4).fit(p, y)
    assert hb.empty_bins_ == 1 and len(hb.fit_warnings_) == 1
    P = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    with pytest.warns(CalibrationWarning, match=r"HistogramBinning: 8 of 15 bins \(5 bins x 3 classes\) received no "
                      r"fitting sample \(n_bins=5 exceeds the 3 fitting samples, so at least 2 per class are empty\); "
                      r"they map to their bin centre"):  # fmt: skip
        HistogramBinning(n_bins=5).fit(P, np.array([0, 1, 2]))


def test_histogram_set_params_after_fit_keeps_the_fitted_bins():
    """scikit-learn's semantics: set_params does not refit; the fitted map keeps its bins (was an IndexError)."""
    rng = np.random.default_rng(3)
    p = rng.random(500)
    y = (rng.random(500) < p).astype(int)
    hb = HistogramBinning(n_bins=4).fit(p, y)
    before = hb.predict_proba(p)
    hb.set_params(n_bins=1000)
    np.testing.assert_array_equal(hb.predict_proba(p), before)
    assert hb.bin_edges_.shape == (5,) and hb.n_bins == 1000
    hb.set_params(n_bins=2)
    np.testing.assert_array_equal(hb.predict_proba(p), before)
    assert hb.fit(p, y).bin_edges_.shape == (3,)  # the next fit uses the new value


def test_histogram_refuses_bins_it_cannot_hold_before_allocating():
    """n_bins=10**9 on 200 samples was killed by the kernel at 18 GB."""
    p = np.random.default_rng(0).random(200)
    with pytest.raises(ValueError, match=r"`n_bins`=1000000000 would need about [\d.]+ GiB for HistogramBinning's 1 "
                       r"bin map\(s\) and their sums, over the limit of 1.0 GiB .*use at most \d+ bins"):  # fmt: skip
        HistogramBinning(n_bins=10**9).fit(p, (p > 0.5).astype(int))
    with pytest.raises(ValueError, match=r"`n_bins`=\d+ would need about .* TiB for HistogramBinning's 3 bin map"):
        HistogramBinning(n_bins=10**12).fit(softmax(np.zeros((4, 3)), axis=1), np.array([0, 1, 2, 0]))


# ---------------------------------------------------------- memory of the metrics
P_SMALL = softmax(np.random.default_rng(4).normal(size=(200, 3)), axis=1)
Y_SMALL = np.random.default_rng(5).integers(0, 3, 200)


@pytest.mark.parametrize(
    ("call", "what"),
    [
        (lambda n: ece(P_SMALL, Y_SMALL, n_bins=n), r"the per-bin sums of ece \(kind='top-label': 1 task\)"),
        (lambda n: ece(P_SMALL, Y_SMALL, n_bins=n, kind="classwise", binning="quantile"),
         r"the per-bin sums of ece \(kind='classwise': 3 tasks\)"),
        (lambda n: reliability_curve(P_SMALL, Y_SMALL, n_bins=n), r"the per-bin sums of reliability_curve"),
        (lambda n: brier_decomposition(P_SMALL, Y_SMALL, n_bins=n), r"the per-bin sums of brier_decomposition \(3 "),
        (lambda n: bootstrap_ci(functools.partial(ece, n_bins=n), P_SMALL, Y_SMALL), r"the per-bin sums of ece"),
        (lambda n: CalibrationState(n_bins=n), r"a CalibrationState's per-bin sums \(kind='top-label': 1 task, 1 "),
    ],
)  # fmt: skip
def test_metrics_refuse_bins_they_cannot_hold(call, what):
    """ece(n_bins=10**12) raised MemoryError; now a ValueError naming the option, the memory and the limit."""
    msg = (rf"`n_bins`=1000000000000 would need about [\d.]+ TiB for {what}.*, over the limit of 1.0 GiB "
           r"\(losslab.calibration._guards.BIN_MEMORY_LIMIT\); use at most \d+ bins")  # fmt: skip
    with pytest.raises(ValueError, match=msg):
        call(10**12)


def test_state_checks_memory_again_once_it_knows_the_classes():
    st = CalibrationState(n_bins=10**5, kind="classwise", bootstrap_groups=64)  # fits while the classes are unknown
    P = softmax(np.random.default_rng(6).normal(size=(50, 200)), axis=1)
    msg = (r"`n_bins`=100000 would need about [\d.]+ GiB for a CalibrationState's per-bin sums "
           r"\(kind='classwise': 200 tasks, 200 Brier tasks, 64 bootstrap groups\)")  # fmt: skip
    with pytest.raises(ValueError, match=msg):
        st.update(P, np.zeros(50, dtype=np.int64))
    assert st.rows == 0 and st._ece is None  # nothing was added


def test_many_bins_within_the_limit_still_work():
    assert ece(P_SMALL, Y_SMALL, n_bins=10**6) == pytest.approx(ece(P_SMALL, Y_SMALL, n_bins=10**6, binning="quantile"))
    est, lo, hi = bootstrap_ci(functools.partial(ece, n_bins=10**5), P_SMALL, Y_SMALL, n_resamples=30)
    assert lo <= est <= hi


# ---------------------------------------------------------- huge logits
@pytest.mark.parametrize("M", [1e30, 1e300, 1e307])
@pytest.mark.parametrize("cls", [VectorScaling, functools.partial(MatrixScaling, reg=0.0)])
def test_vector_and_matrix_scaling_fit_huge_logits(cls, M):
    """Was "`logits` contains NaN": the gradient's squares overflowed inside L-BFGS-B. Fitted on z / 2**k, the
    same map (softmax(z W^T + b) is invariant under z -> z / s, W -> s W), so the answer is the unscaled one's."""
    z, y = noisy_logits(500, seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        big = cls().fit(z * M, y)
        small = cls().fit(z, y)
        np.testing.assert_allclose(big.predict_proba(z * M), small.predict_proba(z), atol=1e-6)
    assert np.all(np.isfinite(big.coef_))


def test_huge_logits_that_cannot_be_fitted_say_why():
    z, y = noisy_logits(200)
    msg = r"TemperatureScaling: logits of magnitude [\d.]+e\+307 overflow float64 in its fit \(X / T for T down to 0.01"
    with pytest.raises(ValueError, match=msg + r".*\); rescale them"):
        TemperatureScaling().fit(z * 1e307, y)
    two = np.column_stack([-z[:, 0], z[:, 0]]) / np.abs(z[:, 0]).max() * 1.5e308
    with pytest.raises(ValueError, match=r"PlattScaling: the two-class logits of row \d+ \(.*\) differ by more than "
                       r"float64 holds; rescale `X`"):  # fmt: skip
        PlattScaling().fit(two, (z[:, 0] > 0).astype(int))
    s = z[:, 0] * 1e-310
    with pytest.raises(ValueError, match=r"PlattScaling: the fitted slope .* overflows float64: the scores are too "
                       r"small to calibrate \(largest \|score\| [\d.]+e-310\)"):  # fmt: skip
        PlattScaling().fit(s, (z[:, 0] + np.random.default_rng(0).normal(size=200) > 0).astype(int))
    under, yu = noisy_logits(2000, sharp=0.3)  # underconfident logits: the fitted W is about 3
    vs = VectorScaling().fit(under, yu)
    assert np.all(vs.coef_ > 1)
    with pytest.raises(ValueError, match=r"VectorScaling: the calibrated logits X W\^T \+ b overflow float64 \(largest "
                       r"\|X\| 1.5e\+308"):  # fmt: skip
        vs.predict_proba(np.array([[1.5e308, 0.0, 0.0]]))


def test_huge_inputs_predict_exact_limits_without_runtime_warnings():
    z, y = noisy_logits(500)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ts = TemperatureScaling().fit(z, y)
        np.testing.assert_array_equal(ts.predict_proba(np.array([[1e308, -1e308, 0.0]])), [[1.0, 0.0, 0.0]])
        r = ts.report(z * 1e300, y)
        assert np.isfinite(r["nll_after"])
        pl = PlattScaling().fit(z[:, 0], (y == 0).astype(int))
        np.testing.assert_array_equal(pl.predict_proba(np.array([1e308, -1e308])), [1.0, 0.0])
        big = PlattScaling().fit(z[:, 0] * 1e300, (y == 0).astype(int))
        np.testing.assert_allclose(big.predict_proba(z[:, 0] * 1e300), pl.predict_proba(z[:, 0]), atol=1e-9)


# ---------------------------------------------------------- huge weights
def test_weights_whose_sum_overflows_act_as_their_ratios():
    z, y = noisy_logits(300)
    p = softmax(z, axis=1)
    W = np.full(300, 1e308)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for kind in ("top-label", "classwise"):
            assert ece(p, y, weight=W, kind=kind) == pytest.approx(ece(p, y, kind=kind), abs=1e-12)
        assert brier_decomposition(p, y, weight=W).reliability == pytest.approx(brier_decomposition(p, y).reliability)
        curve = reliability_curve(p, y, weight=W)
        assert np.all((curve.counts == 0) | (curve.counts >= 1e308))  # the summed weights as given (inf past float64)
        est, lo, hi = bootstrap_ci(ece, p, y, weight=W, n_resamples=20)
        assert (est, lo, hi) == pytest.approx(bootstrap_ci(ece, p, y, n_resamples=20), abs=1e-12)
        for est_, X in [(TemperatureScaling(), z), (VectorScaling(), z), (DirichletCalibration(), p),
                        (HistogramBinning(n_bins=3), p), (IsotonicCalibration(), p)]:  # fmt: skip
            a = est_.fit(X, y, sample_weight=W).predict_proba(X)
            np.testing.assert_allclose(a, est_.fit(X, y).predict_proba(X), atol=1e-7)  # weighted path: rounding
    with pytest.raises(ValueError, match=r"the summed `weight` of this CalibrationState overflows float64; rescale"):
        CalibrationState().update(p, y, W)


def test_tiny_weights_keep_their_precision():
    """Weights of 1e-320 hold three digits: their products with probabilities were rounded (ECE off by 1e-5)."""
    z, y = noisy_logits(300)
    p = softmax(z, axis=1)
    t = np.full(300, 1e-320)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for kind in ("top-label", "classwise"):
            assert ece(p, y, weight=t, kind=kind) == pytest.approx(ece(p, y, kind=kind), abs=1e-15)
        assert ece(p, y, weight=t, norm="l2", debiased=True) == 0.0  # bins of summed weight <= 1 contribute 0
        b, u = brier_decomposition(p, y, weight=t), brier_decomposition(p, y)
        assert (b.reliability, b.resolution) == pytest.approx((u.reliability, u.resolution), abs=1e-15)
        curve = reliability_curve(p, y, weight=t)
        np.testing.assert_allclose(curve.counts, reliability_curve(p, y).counts * 1e-320, rtol=1e-2)
        a = VectorScaling().fit(z, y, sample_weight=t).predict_proba(z)
        np.testing.assert_allclose(a, VectorScaling().fit(z, y).predict_proba(z), atol=1e-7)
        # Platt's smoothed targets count the weights: a total weight of 3e-318 leaves both targets at 1/2
        assert PlattScaling().fit(z[:, 0], (y == 0).astype(int), sample_weight=t).coef_ == 0.0
    with pytest.raises(ValueError, match=r"the `weight` values of this batch are all below 6.22e-61: .* rescale"):
        CalibrationState().update(p, y, t)


# ---------------------------------------------------------- masked arrays
MASKED_MSG = r"`{}` is a NumPy masked array; losslab does not honour masks .*`{}.filled\(value\)`.*`{}.compressed\(\)`"


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda m: ece(np.ma.masked_array(P_SMALL, mask=m), Y_SMALL), "probs"),
        (lambda m: ece(P_SMALL, np.ma.masked_array(Y_SMALL, mask=m[:, 0])), "target"),
        (lambda m: ece(P_SMALL, Y_SMALL, weight=np.ma.masked_array(np.ones(200), mask=m[:, 0])), "weight"),
        (lambda m: reliability_curve(np.ma.masked_array(P_SMALL, mask=m), Y_SMALL), "probs"),
        (lambda m: brier_decomposition(np.ma.masked_array(P_SMALL, mask=m), Y_SMALL), "probs"),
        (lambda m: bootstrap_ci(ece, np.ma.masked_array(P_SMALL, mask=m), Y_SMALL), "probs"),
        (lambda m: CalibrationState().update(P_SMALL, np.ma.masked_array(Y_SMALL, mask=m[:, 0])), "target"),
        (lambda m: TemperatureScaling().fit(np.ma.masked_array(np.log(P_SMALL), mask=m), Y_SMALL), "X"),
        (lambda m: VectorScaling().fit(np.log(P_SMALL), np.ma.masked_array(Y_SMALL, mask=m[:, 0])), "y"),
        (lambda m: PlattScaling().fit(P_SMALL[:, 0], Y_SMALL % 2, sample_weight=np.ma.masked_array(np.ones(200))),
         "sample_weight"),
        (lambda m: HistogramBinning().fit(np.ma.masked_array(P_SMALL, mask=m), Y_SMALL), "X"),
        (lambda m: IsotonicCalibration().fit(P_SMALL, Y_SMALL).predict_proba(np.ma.masked_array(P_SMALL)), "X"),
        (lambda m: DirichletCalibration().fit(P_SMALL, Y_SMALL).report(P_SMALL, np.ma.masked_array(Y_SMALL)), "y"),
    ],
)  # fmt: skip
def test_masked_arrays_are_refused_by_name(call, name):
    """np.asarray drops a mask: the masked entries would have counted. Refused as the losses refuse them."""
    mask = np.zeros(P_SMALL.shape, dtype=bool)
    mask[3] = True
    with pytest.raises(TypeError, match=MASKED_MSG.format(name, name, name)):
        call(mask)
