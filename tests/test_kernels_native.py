"""The compiled kernels: the NumPy paths' numbers (ECE to the bit, log loss to rounding), or None."""

from __future__ import annotations

import os

import numpy as np
import pytest

from losslab.calibration import ece, metrics, reliability_curve
from losslab.kernels import native as kc

TOL = 1e-9


def test_built_where_ci_requires_it():
    if os.environ.get("LOSSLAB_REQUIRE_KERNELS") and not kc.AVAILABLE:
        pytest.fail("LOSSLAB_REQUIRE_KERNELS is set but losslab.kernels._native did not build")
    if os.environ.get("LOSSLAB_REQUIRE_KERNELS"):
        from losslab.kernels import fused_ce

        if not fused_ce.AVAILABLE:
            pytest.fail("LOSSLAB_REQUIRE_KERNELS is set but losslab.kernels._ce did not build")


needs_kernel = pytest.mark.skipif(not kc.AVAILABLE, reason="the C kernel did not build here (no compiler)")


def numpy_sums(p, y, n_bins):
    tasks = metrics._Tasks(p, y, None, "top-label")
    _, keys = metrics._binned(tasks, n_bins, "uniform")
    return metrics._sums(keys, tasks.w, tasks.conf, tasks.outcome, n_bins, unit=True)


def edge_case_probs(n_bins):
    """Rows whose maximum sits exactly on every bin edge, at 1.0, and rows with tied maxima."""
    rows = []
    for k in range(1, n_bins + 1):
        top = np.linspace(0, 1, n_bins + 1)[k]
        if top < 1 / 3:
            continue
        rest = (1 - top) / 2
        rows.append([rest, top, rest] if top >= rest else [top, rest, rest])
    rows += [[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.0, 0.0, 1.0], [0.2, 0.4, 0.4]]
    return np.array(rows)


@needs_kernel
@pytest.mark.parametrize("n_bins", [1, 2, 10, 15, 100])
def test_same_sums_as_numpy(n_bins):
    rng = np.random.default_rng(n_bins)
    z = rng.normal(size=(5000, 3)) * 3
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p = np.concatenate([p, edge_case_probs(n_bins)])
    y = rng.integers(0, 3, size=p.shape[0])
    got = kc.top_label_sums(p, y, np.linspace(0, 1, n_bins + 1), TOL)
    np.testing.assert_array_equal(got, numpy_sums(p, y, n_bins))


@needs_kernel
def test_ece_and_curve_identical_with_and_without_kernel(monkeypatch):
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(10) * 0.3, size=20000)
    y = rng.integers(0, 10, size=20000)
    fast = [ece(p, y, norm=nm) for nm in ("l1", "l2", "max")] + [ece(p, y, norm="l2", debiased=True)]
    curve = reliability_curve(p, y)
    monkeypatch.setattr(kc, "_native", None)
    assert kc.top_label_sums(p, y, np.linspace(0, 1, 16), TOL) is None
    slow = [ece(p, y, norm=nm) for nm in ("l1", "l2", "max")] + [ece(p, y, norm="l2", debiased=True)]
    assert fast == slow
    np.testing.assert_array_equal(curve.counts, reliability_curve(p, y).counts)


@needs_kernel
@pytest.mark.parametrize(
    "case",
    ["negative", "nan", "inf", "row_sum", "label_high", "label_negative"],
)
def test_invalid_values_return_none_and_ece_raises_as_before(case):
    p = np.full((4, 3), 1 / 3)
    y = np.array([0, 1, 2, 0])
    if case == "negative":
        p[2] = [-0.1, 0.6, 0.5]
    elif case == "nan":
        p[1, 1] = np.nan
    elif case == "inf":
        p[3, 0] = np.inf
    elif case == "row_sum":
        p[0] = [0.5, 0.5, 0.5]
    elif case == "label_high":
        y[3] = 3
    else:
        y[0] = -1
    assert kc.top_label_sums(p, y, np.linspace(0, 1, 16), TOL) is None
    with pytest.raises(ValueError):
        ece(p, y)


@needs_kernel
def test_inputs_it_does_not_take():
    p = np.full((4, 3), 1 / 3)
    y = np.array([0, 1, 2, 0])
    edges = np.linspace(0, 1, 16)
    assert kc.top_label_sums(p.astype(np.float32), y, edges, TOL) is None
    assert kc.top_label_sums(p, y.astype(np.int32), edges, TOL) is None
    assert kc.top_label_sums(np.asfortranarray(np.full((4, 3), 1 / 3)), y, edges, TOL) is None
    assert kc.top_label_sums(p[:0], y[:0], edges, TOL) is None
    assert kc.top_label_sums(p[:, :1] * 3, y * 0, edges, TOL) is None  # one class
    assert ece(p.astype(np.float32), y) == pytest.approx(ece(p, y))  # the general path still answers
    with pytest.raises(TypeError):
        kc._native.top_label_bins(p, y.astype(np.int32), edges, *(np.empty(15, np.int64),) * 3, TOL)


# ------------------------------------------------------------------ log loss
@needs_kernel
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_log_loss_agrees_with_the_numpy_path(monkeypatch, reduction):
    import losslab

    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(7) * 0.2, size=10_001)
    p[:3] = np.eye(7)[[0, 1, 2]]  # a certain hit costs exactly 0 ...
    y = rng.integers(0, 7, size=10_001)
    y[:3] = [0, 2, 2]  # ... and a certain miss -log(eps)
    fast = losslab.log_loss(p, y, reduction=reduction)
    assert kc.log_loss_sum(p, y, np.finfo(np.float64).eps, 1e-4) is not None
    monkeypatch.setattr(kc, "_native", None)
    slow = losslab.log_loss(p, y, reduction=reduction)
    assert type(fast) is type(slow) is np.float64
    assert fast == pytest.approx(slow, rel=1e-13)


# ------------------------------------------------------------------ Brier score
@needs_kernel
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_brier_agrees_with_the_numpy_path(monkeypatch, reduction):
    import losslab

    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(4) * 0.3, size=10_001)
    p[:2] = np.eye(4)[[1, 3]]  # exactly right: 0; exactly wrong: 2
    y = rng.integers(0, 4, size=10_001)
    y[:2] = [1, 0]
    fast = losslab.brier_score(p, y, reduction=reduction)
    assert kc.brier_sum(p, y, 1e-4) is not None
    assert kc.brier_sum(p[:2], y[:2], 1e-4) == 2.0
    monkeypatch.setattr(kc, "_native", None)
    slow = losslab.brier_score(p, y, reduction=reduction)
    assert type(fast) is type(slow) is np.float64
    assert fast == pytest.approx(slow, rel=1e-13)


_P, _Y = np.full((4, 3), 1 / 3), np.array([0, 1, 2, 0])


@needs_kernel
@pytest.mark.parametrize(
    "score, kernel, bad_p, bad_y",
    [
        ("log_loss", lambda p, y: kc.log_loss_sum(p, y, 1e-16, 1e-4), np.where(np.eye(4, 3) > 0, np.nan, _P), _Y),
        ("log_loss", lambda p, y: kc.log_loss_sum(p, y, 1e-16, 1e-4), _P * 1.1, _Y),
        ("log_loss", lambda p, y: kc.log_loss_sum(p, y, 1e-16, 1e-4), _P, _Y + 1),
        ("brier_score", lambda p, y: kc.brier_sum(p, y, 1e-4), np.where(np.eye(4, 3) > 0, -0.1, _P), _Y),
        ("brier_score", lambda p, y: kc.brier_sum(p, y, 1e-4), _P * 0.9, _Y),
        ("brier_score", lambda p, y: kc.brier_sum(p, y, 1e-4), _P, _Y - 1),
    ],
)
def test_invalid_input_falls_back_to_the_same_errors(monkeypatch, score, kernel, bad_p, bad_y):
    import losslab

    assert kernel(bad_p, bad_y) is None
    with pytest.raises(ValueError) as fast:
        getattr(losslab, score)(bad_p, bad_y)
    monkeypatch.setattr(kc, "_native", None)
    with pytest.raises(ValueError) as slow:
        getattr(losslab, score)(bad_p, bad_y)
    assert str(fast.value) == str(slow.value)
