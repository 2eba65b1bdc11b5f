"""Bootstrap intervals: the row-group bootstrap of CalibrationState against the row bootstrap."""

import functools

import numpy as np
import pytest

from losslab.calibration import CalibrationState, bootstrap_ci, ece
from losslab.calibration.bootstrap import group_counts, row_groups
from losslab.calibration.state import GROUP_SUMS_BUDGET


def overconfident(n, C, seed):
    """Softmax of wide logits, labels drawn from a flatter distribution: a real calibration gap."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, (n, C))
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    q = np.sqrt(p)
    q /= q.sum(1, keepdims=True)
    y = (q.cumsum(1) > rng.random((n, 1))).argmax(1)
    return p, y


@pytest.mark.parametrize("kind, n, C", [("top-label", 20_000, 10), ("classwise", 4_000, 5), ("top-label", 300, 3)])
def test_row_groups_interval_matches_row_bootstrap(kind, n, C):
    p, y = overconfident(n, C, seed=n)
    est, lo, hi = bootstrap_ci(functools.partial(ece, kind=kind), p, y, n_resamples=1000, seed=1)
    g_est, g_lo, g_hi = CalibrationState(kind=kind, bootstrap_groups=2048).update(p, y).bootstrap_ci(seed=2)
    assert g_est == pytest.approx(est, rel=1e-12)
    width = hi - lo
    assert abs(g_lo - lo) < 0.05 * width and abs(g_hi - hi) < 0.05 * width, (lo, hi, g_lo, g_hi)  # measured: <= 0.02


def test_interval_covers_a_shift_of_the_data():
    """Not just any interval: the row-group interval moves with the data's calibration gap."""
    p, y = overconfident(20_000, 4, seed=0)
    a = CalibrationState(bootstrap_groups=1024).update(p, y).bootstrap_ci()
    p2 = 0.5 * p + 0.5 / 4  # shrunk towards uniform: much less overconfident
    b = CalibrationState(bootstrap_groups=1024).update(p2, y).bootstrap_ci()
    assert b[2] < a[1]  # disjoint intervals


def test_chunking_and_merging_do_not_change_the_interval():
    p, y = overconfident(5_000, 6, seed=3)
    whole = CalibrationState(kind="classwise", bootstrap_groups=256).update(p, y)
    chunked = CalibrationState(kind="classwise", bootstrap_groups=256)
    for a in range(0, 5_000, 333):
        chunked.update(p[a : a + 333], y[a : a + 333])
    left = CalibrationState(kind="classwise", bootstrap_groups=256).update(p[:2100], y[:2100])
    right = CalibrationState(kind="classwise", bootstrap_groups=256).update(p[2100:], y[2100:], first_row=2100)
    merged = right.merge(left)
    expected = whole.bootstrap_ci(norm="l2", n_resamples=300, seed=5)
    for state in (chunked, merged):
        assert state.rows == 5_000
        assert state.bootstrap_ci(norm="l2", n_resamples=300, seed=5) == pytest.approx(expected, rel=1e-12)
    assert merged.compute() == pytest.approx(ece(p, y, kind="classwise"), rel=1e-12)


def test_weights_and_seed():
    p, y = overconfident(3_000, 3, seed=4)
    w = np.random.default_rng(0).integers(0, 3, 3_000).astype(float)
    s = CalibrationState(bootstrap_groups=512).update(p, y, w)
    est, lo, hi = s.bootstrap_ci(seed=7)
    assert est == pytest.approx(ece(p, y, weight=w), rel=1e-12)
    assert s.bootstrap_ci(seed=7) == (est, lo, hi)
    assert s.bootstrap_ci(seed=8) != (est, lo, hi)
    b_est, b_lo, b_hi = s.bootstrap_ci(seed=7, method="basic")
    assert (b_lo, b_hi) == pytest.approx((2 * est - hi, 2 * est - lo), rel=1e-12)


def test_row_groups_are_a_fixed_even_partition():
    g = row_groups(0, 200_000, 64)
    assert g.dtype == np.int64 and g.min() == 0 and g.max() == 63
    counts = np.bincount(g, minlength=64)
    expected = 200_000 / 64
    assert np.all(np.abs(counts - expected) < 6 * np.sqrt(expected))  # as even as a random assignment
    assert np.array_equal(np.concatenate([row_groups(0, 777, 64), row_groups(777, 199_223, 64)]), g)
    assert abs(np.corrcoef(g[:-1], g[1:])[0, 1]) < 0.01  # neighbouring rows are not grouped together
    c = group_counts(100, 50, seed=0)
    assert c.shape == (50, 100) and np.all(c.sum(axis=1) == 100)


def test_many_classes_keep_fewer_groups_within_the_budget():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(1000), 50)
    s = CalibrationState(kind="classwise", bootstrap_groups=2048).update(p, rng.integers(0, 1000, 50))
    assert s.groups == GROUP_SUMS_BUDGET // (1000 * 15 * 3)
    assert s._ece_groups.size <= GROUP_SUMS_BUDGET
    assert CalibrationState(bootstrap_groups=2048).update(p, rng.integers(0, 1000, 50)).groups == 2048


def test_bad_options_name_the_parameter():
    p, y = overconfident(50, 3, seed=0)
    for bad in (1, True, 2.5, "8"):
        with pytest.raises(ValueError, match=r"`bootstrap_groups` must be None or an integer >= 2; got"):
            CalibrationState(bootstrap_groups=bad)
    with pytest.raises(ValueError, match=r"keeps no row groups to resample; build it with"):
        CalibrationState().update(p, y).bootstrap_ci()
    with pytest.raises(ValueError, match=r"`first_row` must be a non-negative integer; got -1"):
        CalibrationState(bootstrap_groups=8).update(p, y, first_row=-1)
    with pytest.raises(ValueError, match=r"cannot merge states with different `bootstrap_groups`: 8 and None"):
        CalibrationState(bootstrap_groups=8).update(p, y).merge(CalibrationState().update(p, y))
    with pytest.raises(ValueError, match=r"`n_resamples` must be a positive integer; got 0"):
        CalibrationState(bootstrap_groups=8).update(p, y).bootstrap_ci(n_resamples=0)
    with pytest.raises(ValueError, match=r"holds no data"):
        CalibrationState(bootstrap_groups=8).bootstrap_ci()
