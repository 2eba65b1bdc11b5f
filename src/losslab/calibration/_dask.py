"""Dask arrays in the calibration metrics: one :class:`CalibrationState` per block, merged.

A Dask array may be larger than memory, so it is never gathered: every block
of rows becomes a state of per-bin sums (O(bins x classes)), the blocks are
computed by Dask's scheduler, and the states merge. The result is the same
number as the in-memory metric to rounding. Uniform bins only, as for any
streamed state: quantile edges would need every confidence at once.

Blocks of zero rows (``chunks=((0, 5, 0, 3), (C,))``, or what a filter leaves)
are skipped; only an array with no rows at all is an error. The blocks are
computed a batch at a time, so that the states held at once stay within the
bin-memory limit of :mod:`._guards` whatever the number of blocks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._guards import BIN_MEMORY_LIMIT

__all__ = ["any_dask", "dask_state"]


def _is_dask(x: Any) -> bool:
    return x is not None and type(x).__module__.split(".")[0] == "dask"


def any_dask(*arrays: Any) -> bool:
    """Whether any argument is a Dask collection (checked by type, so Dask need not be importable)."""
    return any(_is_dask(a) for a in arrays)


def _block_state(probs: Any, target: Any, weight: Any, n_bins: int, kind: str) -> Any:
    """The block's state, or None for a block of zero rows (its size may be unknown until computed)."""
    from .state import CalibrationState

    if np.shape(probs)[0] == 0:
        return None
    return CalibrationState(n_bins, kind=kind).update(probs, target, weight)


def dask_state(probs: Any, target: Any, weight: Any, *, n_bins: int, kind: str, binning: str) -> Any:
    """The merged :class:`CalibrationState` of Dask (or mixed Dask / NumPy) inputs, row block by row block."""
    import dask
    import dask.array as da

    from .state import CalibrationState

    if binning != "uniform":
        raise ValueError(
            f"`binning={binning!r}` needs every confidence at once, which a Dask array is not: use "
            "binning='uniform', or compute the array into memory first (x.compute())"
        )
    p = da.asarray(probs)
    if p.ndim not in (1, 2):
        raise ValueError(f"`probs` must be 1-d (binary) or 2-d (n, C); got a Dask array of shape {p.shape}")
    if p.ndim == 2:
        p = p.rechunk({1: -1})  # a block must hold whole rows
    rows = p.chunks[0]
    t = da.asarray(target)
    if t.shape[:1] != p.shape[:1]:
        raise ValueError(f"`target` must have one label per row of `probs` ({p.shape[0]}); got shape {t.shape}")
    t = t.rechunk((rows,) + t.chunks[1:])
    w = None if weight is None else da.asarray(weight)
    if w is not None:
        if w.shape != t.shape[:1]:
            raise ValueError(f"`weight` must have one entry per row of `probs` ({p.shape[0]}); got shape {w.shape}")
        w = w.rechunk((rows,))
    if p.shape[0] == 0:
        raise ValueError(f"`probs` is empty (a Dask array of shape {p.shape}); the metric needs at least one sample")
    C = int(p.shape[1]) if p.ndim == 2 else 2
    out = CalibrationState(n_bins, kind=kind, num_classes=C if C >= 2 else None)  # refuses too many bins
    pb, tb = p.to_delayed().ravel(), t.to_delayed().ravel()
    wb = [None] * len(pb) if w is None else w.to_delayed().ravel()
    blocks = [(a, b, c) for a, b, c, k in zip(pb, tb, wb, rows, strict=True) if k != 0]  # NaN (unknown): kept
    parts = [dask.delayed(_block_state)(a, b, c, n_bins, kind) for a, b, c in blocks]
    T = C if kind == "classwise" else 1
    per_state = 8 * n_bins * (3 * T + 5 * (C if p.ndim == 2 else 1))  # a block's ECE and Brier sums
    batch = max(1, min(len(parts), BIN_MEMORY_LIMIT // (2 * per_state)))
    for i in range(0, len(parts), batch):
        for s in dask.compute(*parts[i : i + batch]):
            if s is not None:
                out = out.merge(s)
    if out._ece is None:
        raise ValueError(f"`probs` is empty (a Dask array of shape {p.shape}); the metric needs at least one sample")
    return out
