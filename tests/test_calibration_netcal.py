"""netcal's ECE and MCE as an anchor: the same numbers away from bin edges, a pinned difference on them.

netcal declares heavy dependencies (pyro-ppl, gpytorch, tensorboard) that its
metrics do not import, so CI installs it with ``--no-deps`` (see ``.ci/run``);
elsewhere these tests skip. Its TemperatureScaling imports tensorboard and is
not an anchor here: temperature scaling is checked against scikit-learn's
method="temperature" and a brute-force scan in test_calibrators.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from losslab.calibration import ece

netcal_metrics = pytest.importorskip("netcal.metrics")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(5) * 0.5, size=5000)
    y = rng.integers(0, 5, size=5000)
    return p, y


@pytest.mark.parametrize("n_bins", [5, 10, 15, 20])
def test_top_label_ece_and_mce_agree(data, n_bins):
    p, y = data
    assert netcal_metrics.ECE(bins=n_bins).measure(p, y) == pytest.approx(ece(p, y, n_bins=n_bins), abs=1e-12)
    assert netcal_metrics.MCE(bins=n_bins).measure(p, y) == pytest.approx(
        ece(p, y, n_bins=n_bins, norm="max"), abs=1e-12
    )


def test_binary_ece_agrees(data):
    p, y = data
    b, yb = p[:, 0], (y == 0).astype(np.int64)
    assert netcal_metrics.ECE(bins=15).measure(b, yb) == pytest.approx(ece(b, yb, kind="binary"), abs=1e-12)


def test_deliberate_difference_at_an_inner_bin_edge():
    """A confidence exactly on an inner edge (2/3 with 3 bins): losslab's bins are [lo, hi), netcal's put it below.

    losslab: bin [1/3, 2/3) holds 0.6 (wrong), bin [2/3, 1] holds 2/3, 0.8, 1.0 (right):
    ECE = 1/4 |0 - 0.6| + 3/4 |1 - 37/45| = 0.28333. netcal counts 2/3 with 0.6: 0.11667.
    """
    q = np.array([[1.0, 0.0], [0.6, 0.4], [2 / 3, 1 / 3], [0.8, 0.2]])
    y = np.array([0, 1, 0, 0])
    assert ece(q, y, n_bins=3) == pytest.approx(0.25 * 0.6 + 0.75 * (1 - 37 / 45), abs=1e-12)
    assert netcal_metrics.ECE(bins=3).measure(q, y) == pytest.approx(0.5 * (0.6333333333333333 - 0.5) + 0.5 * 0.1)
    nudged = q.copy()
    nudged[2] = [2 / 3 + 1e-9, 1 / 3 - 1e-9]  # off the edge the two agree again
    assert netcal_metrics.ECE(bins=3).measure(nudged, y) == pytest.approx(ece(nudged, y, n_bins=3), abs=1e-8)
