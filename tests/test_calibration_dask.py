"""Dask arrays in the calibration metrics: the same numbers as NumPy, block by block, never gathered."""

from __future__ import annotations

import numpy as np
import pytest

from losslab.calibration import brier_decomposition, ece, reliability_curve

da = pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(1003, 5)) * 2.0
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    y = rng.integers(0, 5, size=1003)
    w = rng.uniform(0.1, 2.0, size=1003)
    return p, y, w


@pytest.mark.parametrize("kind", ["top-label", "classwise"])
@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
def test_ece_equals_numpy(data, kind, norm):
    p, y, w = data
    P, Y, W = da.from_array(p, chunks=(200, 2)), da.from_array(y, chunks=150), da.from_array(w, chunks=333)
    assert ece(P, Y, kind=kind, norm=norm) == pytest.approx(ece(p, y, kind=kind, norm=norm), abs=1e-12)
    assert ece(P, Y, kind=kind, norm=norm, weight=W) == pytest.approx(
        ece(p, y, kind=kind, norm=norm, weight=w), abs=1e-12
    )


def test_debiased_binary_and_mixed_inputs(data):
    p, y, _ = data
    b, yb = p[:, 0], (y == 0).astype(np.int64)
    B = da.from_array(b, chunks=100)
    assert ece(B, yb, kind="binary", norm="l2", debiased=True) == pytest.approx(
        ece(b, yb, kind="binary", norm="l2", debiased=True), abs=1e-12
    )
    assert ece(p, da.from_array(y, chunks=500)) == pytest.approx(ece(p, y), abs=1e-12)  # NumPy probs, Dask labels


def test_reliability_curve_and_brier_decomposition(data):
    p, y, w = data
    P, Y = da.from_array(p, chunks=(256, 5)), da.from_array(y, chunks=256)
    got, want = reliability_curve(P, Y, n_bins=10), reliability_curve(p, y, n_bins=10)
    np.testing.assert_array_equal(got.counts, want.counts)
    np.testing.assert_allclose(got.accuracy, want.accuracy, atol=1e-12)
    np.testing.assert_allclose(got.mean_confidence, want.mean_confidence, atol=1e-12)
    np.testing.assert_array_equal(got.edges, want.edges)
    for probs, labels in ((P, Y), (P[:, 1], (Y == 1).astype(np.int64))):
        probs_np, labels_np = probs.compute(), labels.compute()
        d, e = brier_decomposition(probs, labels, weight=None), brier_decomposition(probs_np, labels_np)
        for k in ("reliability", "resolution", "uncertainty", "within_bin_variance", "within_bin_covariance", "brier"):
            assert getattr(d, k) == pytest.approx(getattr(e, k), abs=1e-12), k


def test_the_array_is_never_gathered(data, monkeypatch):
    """Every block is summed on its own: no call sees more rows than a block holds."""
    import losslab.calibration._dask as mod

    p, y, _ = data
    seen = []
    real = mod._block_state

    def spy(probs, target, weight, n_bins, kind):
        seen.append(probs.shape[0])
        return real(probs, target, weight, n_bins, kind)

    monkeypatch.setattr(mod, "_block_state", spy)
    ece(da.from_array(p, chunks=(100, 5)), da.from_array(y, chunks=100))
    assert len(seen) == 11 and max(seen) == 100


def test_bad_input(data):
    p, y, _ = data
    P, Y = da.from_array(p, chunks=(200, 5)), da.from_array(y, chunks=200)
    with pytest.raises(ValueError, match="binning='quantile'.*x.compute"):
        ece(P, Y, binning="quantile")
    with pytest.raises(ValueError, match=r"one label per row of `probs` \(1003\); got shape \(1000,\)"):
        ece(P, Y[:1000])
    with pytest.raises(ValueError, match="`weight` must have one entry per row"):
        ece(P, Y, weight=da.ones(5, chunks=5))
    with pytest.raises(ValueError, match="`kind` must be one of"):
        ece(P, Y, kind="top")
    bad = da.from_array(np.where(np.arange(1003)[:, None] == 700, 2.0, p), chunks=(200, 5))
    with pytest.raises(ValueError, match="probs"):
        ece(bad, Y)


@pytest.mark.parametrize("kind", ["top-label", "classwise"])
def test_zero_length_blocks_are_skipped(data, kind):
    """Blocks of zero rows (as a filter or a concatenation leaves them) hold nothing; they used to raise
    "`probs` is empty"."""
    p, y, w = data[0][:8], data[1][:8], data[2][:8]
    P = da.from_array(p, chunks=((0, 5, 0, 3), (5,)))
    Y, W = da.from_array(y, chunks=((0, 5, 0, 3),)), da.from_array(w, chunks=((0, 5, 0, 3),))
    assert P.chunks[0] == (0, 5, 0, 3)
    assert ece(P, Y, kind=kind) == pytest.approx(ece(p, y, kind=kind), abs=1e-12)
    assert ece(P, Y, kind=kind, weight=W) == pytest.approx(ece(p, y, kind=kind, weight=w), abs=1e-12)
    np.testing.assert_allclose(reliability_curve(P, Y).counts, reliability_curve(p, y).counts)
    a, b = brier_decomposition(P, Y), brier_decomposition(p, y)
    assert a.brier == pytest.approx(b.brier, abs=1e-12) and a.reliability == pytest.approx(b.reliability, abs=1e-12)
    b1 = da.from_array(p[:, 1], chunks=((0, 5, 0, 3),))  # 1-d binary, a zero-length block first
    Yb = da.from_array(y % 2, chunks=((0, 5, 0, 3),))
    assert ece(b1, Yb, kind="binary") == pytest.approx(ece(p[:, 1], y % 2, kind="binary"), abs=1e-12)


def test_only_a_wholly_empty_array_is_empty(data):
    P = da.from_array(np.empty((0, 5)), chunks=((0,), (5,)))
    with pytest.raises(ValueError, match=r"`probs` is empty \(a Dask array of shape \(0, 5\)\)"):
        ece(P, da.from_array(np.empty(0, dtype=np.int64), chunks=((0,),)))


def test_dask_n_bins_memory_and_masked_neighbours(data):
    p, y, _ = data
    P, Y = da.from_array(p, chunks=(200, 5)), da.from_array(y, chunks=200)
    with pytest.raises(ValueError, match=r"`n_bins`=1000000000000 would need about [\d.]+ TiB .* limit of 1.0 GiB"):
        ece(P, Y, n_bins=10**12)
    with pytest.raises(TypeError, match=r"`target` is a NumPy masked array.*target.filled\(value\).*compressed\(\)"):
        ece(P, np.ma.masked_array(y))
