"""netcal's ECE and MCE as an anchor: the same numbers away from bin edges, a pinned difference on them.

netcal declares heavy dependencies (pyro-ppl, gpytorch, tensorboard) that its
metrics do not import, so CI installs it with ``--no-deps`` (see ``.ci/run``);
elsewhere these tests skip. Its TemperatureScaling also needs pyro-ppl (CI
installs it, small and pure Python) and imports tensorboard's SummaryWriter at
import time only to log; tensorboard would bring grpcio and protobuf, so where
it is absent the test gives netcal a SummaryWriter that does nothing.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from scipy.special import log_softmax

from losslab.calibration import TemperatureScaling, ece

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


@pytest.fixture(scope="module")
def netcal_scaling():
    pytest.importorskip("pyro")
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        stub = types.ModuleType("torch.utils.tensorboard")
        methods = {"__init__": lambda self, *a, **k: None, "__getattr__": lambda self, name: lambda *a, **k: None}
        stub.SummaryWriter = type("SummaryWriter", (), methods)
        sys.modules["torch.utils.tensorboard"] = stub
    import netcal.scaling

    return netcal.scaling


@pytest.mark.parametrize("scale", [0.3, 1.0, 3.0])
def test_temperature_scaling_agrees(netcal_scaling, scale):
    """netcal fits 1/T (its weight) on the log of the probabilities; log-softmax differs from the logits
    by a per-row constant, which a temperature leaves alone, so both fit the same T: to 1e-4, as
    netcal's optimiser stops earlier, and ours is never the worse of the two in NLL."""
    rng = np.random.default_rng(1)
    z = rng.normal(0.0, 2.0, (3000, 6)) * scale
    q = np.exp(z / (2.0 * scale))
    y = ((q / q.sum(1, keepdims=True)).cumsum(1) > rng.random((3000, 1))).argmax(1)
    P = np.exp(z - z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    theirs = netcal_scaling.TemperatureScaling(detection=False, use_cuda=False)
    theirs.fit(P, y)
    ours = TemperatureScaling().fit(z, y)
    T_theirs = 1.0 / float(theirs._sites["weights"]["values"][0])
    assert T_theirs == pytest.approx(ours.temperature_, rel=1e-4)

    def nll(T):
        return -float(np.mean(log_softmax(z / T, axis=1)[np.arange(len(y)), y]))

    assert nll(ours.temperature_) <= nll(T_theirs) + 1e-12
    np.testing.assert_allclose(theirs.transform(P), ours.predict_proba(z), atol=1e-4)
