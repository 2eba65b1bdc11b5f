"""Every metric of ``losslab evaluate`` from in-memory probabilities and labels."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from ..calibration import bootstrap_ci, brier_decomposition, ece
from ..losses import brier_score, log_loss

CONFIDENCE = 0.95


def _json_float(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def compute_metrics(P: np.ndarray, y: np.ndarray, *, n_bins: int, n_resamples: int, seed: int) -> dict[str, Any]:
    """Every metric of probabilities ``P`` ((n,) of class 1, or (n, C)) against labels ``y``."""
    pred = (P > 0.5).astype(np.int64) if P.ndim == 1 else np.argmax(P, axis=1)
    d = brier_decomposition(P, y, n_bins=n_bins)
    out: dict[str, Any] = {
        "n": int(y.shape[0]),
        "accuracy": float(np.mean(pred == y)),
        "log_loss": float(log_loss(P, y)),
        "brier": float(brier_score(P, y)),
        "brier_decomposition": {
            k: float(getattr(d, k))
            for k in ("reliability", "resolution", "uncertainty", "within_bin_variance", "within_bin_covariance")
        },
    }
    for kind in ("top-label", "classwise"):
        est, lo, hi = bootstrap_ci(
            functools.partial(ece, n_bins=n_bins, kind=kind),
            P,
            y,
            n_resamples=n_resamples,
            confidence=CONFIDENCE,
            seed=seed,
        )
        out[f"ece_{kind.replace('-', '_')}"] = {"estimate": est, "ci_low": lo, "ci_high": hi}
    out["mce"] = float(ece(P, y, n_bins=n_bins, norm="max", kind="top-label"))
    return out
