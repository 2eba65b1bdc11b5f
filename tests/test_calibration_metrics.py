"""Calibration metrics: references (sklearn, torchmetrics), identities, weights, streaming, bootstrap."""

import functools

import numpy as np
import pytest
import torch
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss
from torchmetrics.classification import BinaryCalibrationError, MulticlassCalibrationError

import losslab.calibration
from losslab.calibration import CalibrationState, bootstrap_ci, brier_decomposition, ece, reliability_curve


def data(n=500, C=4, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(C, 0.7), n)
    return p, rng.integers(0, C, n)


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
def test_torchmetrics_multiclass(norm):
    p, y = data(2000, 5)
    tm = MulticlassCalibrationError(num_classes=5, n_bins=15, norm=norm)
    ref = float(tm(torch.from_numpy(p), torch.from_numpy(y)))
    assert ece(p, y, n_bins=15, norm=norm) == pytest.approx(ref, abs=1e-6)


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
def test_torchmetrics_binary(norm):
    rng = np.random.default_rng(1)
    p, y = rng.uniform(0.001, 0.999, 1000), rng.integers(0, 2, 1000)
    ref = float(BinaryCalibrationError(n_bins=10, norm=norm)(torch.from_numpy(p), torch.from_numpy(y)))
    assert ece(p, y, n_bins=10, norm=norm, kind="binary") == pytest.approx(ref, abs=1e-6)


def test_confidence_one_differs_from_torchmetrics():
    # torchmetrics puts 1.0 in an extra bin (its issue 3510); losslab closes the last bin.
    p = np.array([1.0, 0.95, 0.95, 0.95])
    y = np.array([1, 0, 0, 1])
    ours = ece(p, y, n_bins=10, kind="binary")
    ref = float(BinaryCalibrationError(n_bins=10)(torch.from_numpy(p), torch.from_numpy(y)))
    # ours: one bin, conf 0.9625, acc 0.5; torchmetrics: {1.0: acc 1} and {0.95 x3: acc 1/3}.
    assert ours == pytest.approx(0.4625, abs=1e-12)
    assert ref == pytest.approx(0.75 * (0.95 - 1 / 3), abs=1e-6)
    c = reliability_curve(p, y, n_bins=10, kind="binary")
    assert c.counts[-1] == 4 and c.counts.shape == (10,)


def test_edges_zero_first_one_last_left_closed():
    c = reliability_curve(np.array([0.0, 0.5, 1.0]), np.array([0, 1, 1]), n_bins=2, kind="binary")
    assert c.counts.tolist() == [1.0, 2.0]  # 0.5 opens the second bin [0.5, 1]
    assert np.isnan(reliability_curve(np.array([0.1]), np.array([0]), n_bins=4, kind="binary").accuracy[1])


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_sklearn_calibration_curve(strategy):
    rng = np.random.default_rng(2)
    B, m = 8, 25
    p, y = rng.uniform(0.01, 0.99, B * m), rng.integers(0, 2, B * m)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=B, strategy=strategy)
    c = reliability_curve(p, y, n_bins=B, binning=strategy, kind="binary")
    keep = c.counts > 0
    np.testing.assert_allclose(c.accuracy[keep], prob_true, atol=1e-12)
    np.testing.assert_allclose(c.mean_confidence[keep], prob_pred, atol=1e-12)
    if strategy == "quantile":
        assert c.counts.tolist() == [m] * B


def test_sklearn_right_closed_difference_pinned():
    # sklearn bins are (lo, hi]: 0.5 joins the first of two bins; losslab's [lo, hi) puts it in the second.
    p, y = np.array([0.2, 0.5, 0.8]), np.array([0, 1, 1])
    prob_true, _ = calibration_curve(y, p, n_bins=2)
    assert prob_true.tolist() == [0.5, 1.0]
    assert reliability_curve(p, y, n_bins=2, kind="binary").accuracy.tolist() == [0.0, 1.0]


def test_kinds():
    p, y = data(300, 3)
    conf, correct = p.max(1), p.argmax(1) == y
    assert ece(p, y, kind="top-label") == pytest.approx(ece(conf, correct.astype(int), kind="binary"), abs=1e-15)
    cw = np.mean([ece(p[:, c], (y == c).astype(int), kind="binary") for c in range(3)])
    assert ece(p, y, kind="classwise") == pytest.approx(cw, abs=1e-15)
    assert ece(p, y, n_bins=1000) >= 0  # more bins than samples


def test_debiased():
    p, y = data(400, 3)
    biased, deb = ece(p, y, norm="l2"), ece(p, y, norm="l2", debiased=True)
    curve = reliability_curve(p, y)
    keep = curve.counts > 1
    a, g = curve.accuracy[keep], curve.accuracy[keep] - curve.mean_confidence[keep]
    sq = np.sum(curve.counts[keep] / 400 * (g**2 - a * (1 - a) / (curve.counts[keep] - 1)))
    assert deb == pytest.approx(np.sqrt(max(sq, 0)), abs=1e-14) and deb <= biased


@pytest.mark.parametrize("binning", ["uniform", "quantile"])
@pytest.mark.parametrize("kind", ["top-label", "classwise"])
def test_weights_are_repetition_and_zero_drops(binning, kind):
    p, y = data(60, 3)
    w = np.random.default_rng(3).integers(0, 4, 60)
    rep = np.repeat(np.arange(60), w)
    for norm in ("l1", "l2", "max"):
        a = ece(p, y, weight=w, binning=binning, kind=kind, norm=norm, n_bins=7)
        assert a == pytest.approx(ece(p[rep], y[rep], binning=binning, kind=kind, norm=norm, n_bins=7), abs=1e-12)
    keep = w > 0
    assert ece(p, y, weight=keep * 1.0, binning=binning, kind=kind) == pytest.approx(
        ece(p[keep], y[keep], binning=binning, kind=kind), abs=1e-12
    )
    d, r = brier_decomposition(p, y, weight=w, n_bins=7), brier_decomposition(p[rep], y[rep], n_bins=7)
    for f in ("reliability", "resolution", "uncertainty", "within_bin_variance", "within_bin_covariance", "brier"):
        assert getattr(d, f) == pytest.approx(getattr(r, f), abs=1e-12)


@pytest.mark.parametrize("C", [None, 2, 5])
def test_brier_identity(C):
    if C is None:
        rng = np.random.default_rng(4)
        p, y = rng.uniform(size=300), rng.integers(0, 2, 300)
    else:
        p, y = data(300, C)
    d = brier_decomposition(p, y, n_bins=10)
    total = d.reliability - d.resolution + d.uncertainty + d.within_bin_variance - d.within_bin_covariance
    assert total == pytest.approx(d.brier, abs=1e-12)
    if C is None:
        assert d.brier == pytest.approx(brier_score_loss(y, p), abs=1e-15)


def test_brier_bin_centres_no_within_bin_terms():
    rng = np.random.default_rng(5)
    p = (rng.integers(0, 10, 200) + 0.5) / 10
    y = (rng.uniform(size=200) < p).astype(int)
    d = brier_decomposition(p, y, n_bins=10)
    assert abs(d.within_bin_variance) < 1e-15 and abs(d.within_bin_covariance) < 1e-15
    assert d.reliability - d.resolution + d.uncertainty == pytest.approx(brier_score_loss(y, p), abs=1e-12)


@pytest.mark.parametrize("kind", ["top-label", "classwise"])
def test_streaming_merge_equals_one_shot(kind):
    p, y = data(1000, 4)
    w = np.random.default_rng(6).uniform(0, 2, 1000)
    cuts = [0, 100, 350, 351, 1000]
    parts = [
        CalibrationState(10, kind=kind).update(p[a:b], y[a:b], w[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)
    ]
    m1 = parts[0].merge(parts[1]).merge(parts[2]).merge(parts[3])
    m2 = parts[3].merge(parts[1].merge(parts[0])).merge(parts[2])
    for norm in ("l1", "l2", "max"):
        ref = ece(p, y, n_bins=10, kind=kind, weight=w, norm=norm)
        assert m1.compute(norm=norm) == pytest.approx(ref, abs=1e-12)
        assert m2.compute(norm=norm) == pytest.approx(ref, abs=1e-12)
    ref = brier_decomposition(p, y, n_bins=10, weight=w)
    got = m2.brier_decomposition()
    for f in ("reliability", "resolution", "uncertainty", "within_bin_variance", "within_bin_covariance", "brier"):
        assert getattr(got, f) == pytest.approx(getattr(ref, f), abs=1e-12)
    np.testing.assert_allclose(
        m1.reliability_curve().counts, reliability_curve(p, y, n_bins=10, kind=kind, weight=w).counts, atol=1e-12
    )


def test_streaming_errors():
    with pytest.raises(ValueError, match="`binning='quantile'` cannot be streamed"):
        CalibrationState(binning="quantile")
    p, y = data(20, 3)
    a = CalibrationState().update(p, y)
    with pytest.raises(ValueError, match="different `n_bins`: 15 and 10"):
        a.merge(CalibrationState(10))
    with pytest.raises(ValueError, match="different `num_classes`: 3"):
        a.merge(CalibrationState().update(*data(20, 4)))
    with pytest.raises(ValueError, match="`num_classes`=3"):
        a.update(*data(20, 4))
    with pytest.raises(ValueError, match="holds no data"):
        CalibrationState().compute()


def test_bootstrap_vectorised_equals_loop():
    p, y = data(200, 3)
    w = np.random.default_rng(7).uniform(0, 1, 200)
    fast = bootstrap_ci(functools.partial(ece, norm="l2", n_bins=8), p, y, n_resamples=60, weight=w, seed=3)
    slow = bootstrap_ci(
        lambda a, b, weight: ece(a, b, norm="l2", n_bins=8, weight=weight), p, y, n_resamples=60, weight=w, seed=3
    )
    assert fast == pytest.approx(slow, abs=1e-12)
    assert fast[1] <= fast[0] <= fast[2]
    assert bootstrap_ci(ece, p, y, n_resamples=40) == bootstrap_ci(ece, p, y, n_resamples=40)
    est, lo, hi = bootstrap_ci(ece, p, y, n_resamples=40, method="basic")
    e2, lo2, hi2 = bootstrap_ci(ece, p, y, n_resamples=40)
    assert lo == pytest.approx(2 * est - hi2) and hi == pytest.approx(2 * est - lo2)


@pytest.mark.parametrize(
    "kwargs, exc, msg",
    [
        ({"n_bins": 0}, ValueError, r"`n_bins` must be a positive integer; got 0"),
        ({"n_bins": 2.5}, ValueError, r"`n_bins` must be a positive integer; got 2.5"),
        ({"binning": "equal"}, ValueError, r"`binning` must be one of 'uniform' or 'quantile'; got 'equal'"),
        ({"norm": "l3"}, ValueError, r"`norm` must be one of 'l1', 'l2' or 'max'; got 'l3'"),
        ({"kind": "x"}, ValueError, r"`kind` must be one of 'top-label', 'classwise' or 'binary'; got 'x'"),
        ({"kind": "binary"}, ValueError, r"`kind='binary'` needs 1-d `probs`"),
        ({"debiased": True}, ValueError, r"`debiased=True` applies only to norm='l2'"),
        (
            {"weight": np.array([1.0, -1.0])},
            ValueError,
            r"`weight` must be finite and non-negative; got -1.0 at index 1",
        ),
        ({"weight": np.zeros(2)}, ValueError, r"the total `weight` is 0"),
    ],
)
def test_bad_options(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        ece(np.array([[0.5, 0.5], [0.2, 0.8]]), np.array([0, 1]), **kwargs)


def test_bad_inputs_reuse_scored_messages():
    with pytest.raises(ValueError, match=r"`probs` rows must sum to 1"):
        ece(np.array([[0.5, 0.6]]), np.array([0]))
    with pytest.raises(ValueError, match=r"`target` must hold class indices in \[0, 1\]"):
        ece(np.array([0.5]), np.array([2]))
    with pytest.raises(ValueError, match=r"`n_resamples` must be a positive integer; got 0"):
        bootstrap_ci(ece, np.array([0.5]), np.array([1]), n_resamples=0)
    with pytest.raises(ValueError, match=r"`confidence` must be in \(0, 1\); got 1"):
        bootstrap_ci(ece, np.array([0.5]), np.array([1]), confidence=1)


# ------------------------------------------- the unweighted top-label fast path
@pytest.mark.parametrize("round_to", [None, 0.1])  # 0.1: many rows with tied maxima
@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
def test_fast_path_equals_general_path(round_to, norm):
    """Unweighted float64 top-label ECE takes a blocked fast path (4096-row blocks);
    weight=ones takes the general one. Ties must keep argmax's first-maximum rule."""
    rng = np.random.default_rng(11)
    n, c = 10_000, 5  # three blocks, the last one ragged
    p = rng.dirichlet(np.ones(c), size=n)
    if round_to:
        p = np.round(p / round_to) * round_to
        p[:, -1] = 1.0 - p[:, :-1].sum(axis=1)
        p = np.clip(p, 0.0, 1.0)
        p /= p.sum(axis=1, keepdims=True)
    y = rng.integers(0, c, n)
    fast = losslab.calibration.ece(p, y, norm=norm)
    general = losslab.calibration.ece(p, y, norm=norm, weight=np.ones(n))
    assert fast == pytest.approx(general, rel=1e-12, abs=1e-15)


def test_fast_path_rejects_like_the_general_path():
    rng = np.random.default_rng(12)
    p = rng.dirichlet(np.ones(4), size=5000)
    y = rng.integers(0, 4, 5000)
    bad = p.copy()
    bad[4321] *= 1.01
    with pytest.raises(ValueError, match=r"`probs` rows must sum to 1 .* row 4321"):
        losslab.calibration.ece(bad, y)
    bad = p.copy()
    bad[17, 0] = np.nan
    with pytest.raises(ValueError, match=r"`probs`"):
        losslab.calibration.ece(bad, y)
    with pytest.raises(ValueError, match=r"`target`"):
        losslab.calibration.ece(p, np.where(np.arange(5000) == 99, 4, y))


@pytest.mark.parametrize("kind", ["top-label", "classwise"])
def test_state_without_brier_sums_gives_the_same_ece(kind):
    p, y = data(300, 4)
    w = np.random.default_rng(1).random(300)
    full = CalibrationState(10, kind=kind).update(p, y, w)
    lean = CalibrationState(10, kind=kind, brier=False).update(p[:100], y[:100], w[:100])
    lean = lean.merge(CalibrationState(10, kind=kind, brier=False).update(p[100:], y[100:], w[100:]))
    assert lean.compute() == pytest.approx(full.compute(), rel=1e-12)
    assert full.compute() == pytest.approx(ece(p, y, n_bins=10, kind=kind, weight=w), rel=1e-12)
    with pytest.raises(ValueError, match=r"built with brier=False and keeps no Brier sums"):
        lean.brier_decomposition()
    with pytest.raises(ValueError, match=r"cannot merge states with different `brier`: True and False"):
        full.merge(lean)
    with pytest.raises(TypeError, match=r"`brier` must be True or False; got 'no'"):
        CalibrationState(brier="no")


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64])
def test_narrow_integer_labels_give_the_same_ece_as_int64(dtype):
    """Labels are used as indices into row blocks: narrow types once overflowed (int16: ECE 0.075 for 0.402)."""
    rng = np.random.default_rng(0)
    n, k = 10_000, 20
    probs = rng.dirichlet(np.ones(k) * 0.3, n)
    y = rng.integers(0, k, n)
    want = ece(probs, y)
    got = ece(probs, y.astype(dtype))
    assert got == pytest.approx(want, abs=1e-15)
    assert np.allclose(reliability_curve(probs, y.astype(dtype)).accuracy,
                       reliability_curve(probs, y).accuracy, equal_nan=True)  # fmt: skip
    state = CalibrationState(n_bins=15).update(probs, y.astype(dtype))
    assert state.compute() == pytest.approx(want, abs=1e-15)
    narrow = bootstrap_ci(ece, probs, y.astype(dtype), n_resamples=20, seed=0)
    assert narrow == bootstrap_ci(ece, probs, y, n_resamples=20, seed=0)
