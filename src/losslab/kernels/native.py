"""The compiled one-pass kernels (top-label ECE, log loss, Brier score) and the gates in front of them.

``_native`` is a small C extension (``_native.c``) built at install time; it is
optional: where it did not build, the functions here return None and the NumPy
paths compute the same numbers (the ECE to the bit, the scores to rounding),
a few times slower.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    from . import _native  # type: ignore[attr-defined,unused-ignore]  # the C extension; its stub is _native.pyi
except ImportError:  # no compiler at install time: the NumPy paths serve
    _native = None  # type: ignore[assignment]  # AVAILABLE says which

__all__ = ["AVAILABLE", "brier_sum", "log_loss_sum", "top_label_sums"]

#: Whether the compiled kernel is importable.
AVAILABLE = _native is not None


def _plain(probs: Any, target: Any, min_classes: int) -> bool:
    """Whether the kernels take these inputs: C-contiguous float64 (n, C) NumPy array, int64 (n,) target."""
    return (
        _native is not None and type(probs) is np.ndarray and type(target) is np.ndarray
        and probs.ndim == 2 and target.ndim == 1 and probs.dtype == np.float64 and target.dtype == np.int64
        and probs.flags.c_contiguous and target.flags.c_contiguous and probs.shape[1] >= min_classes
        and 0 < target.shape[0] == probs.shape[0]
    )  # fmt: skip


def log_loss_sum(probs: Any, target: Any, eps: float, tol: float) -> float | None:
    r""":math:`\sum_i -\log \max(p_{i, y_i}, eps)` in one pass, or None (see :func:`top_label_sums`).

    >>> import numpy as np
    >>> s = log_loss_sum(np.array([[0.5, 0.5], [1.0, 0.0]]), np.array([1, 1]), 2.0**-52, 1e-9)
    >>> s is None or round(s, 6) == round(float(-np.log(0.5) - np.log(2.0**-52)), 6)
    True
    """
    if not _plain(probs, target, 1):
        return None
    total, bad = _native.sum_log_true(probs, target, float(eps), float(tol))
    return None if bad else total


def brier_sum(probs: Any, target: Any, tol: float) -> float | None:
    r""":math:`\sum_i \sum_c (p_{ic} - [y_i = c])^2` in one pass, or None (see :func:`top_label_sums`).

    >>> import numpy as np
    >>> s = brier_sum(np.array([[0.5, 0.5], [1.0, 0.0]]), np.array([1, 0]), 1e-9)
    >>> s is None or s == 0.5
    True
    """
    if not _plain(probs, target, 1):
        return None
    total, bad = _native.sum_brier(probs, target, float(tol))
    return None if bad else total


def top_label_sums(probs: Any, target: Any, edges: np.ndarray, tol: float) -> np.ndarray | None:
    """Per-bin (count, sum of confidence, number correct) of the top label, shape (B, 3), in one pass.

    Returns None, touching nothing, when the kernel is not built, the input is
    not a C-contiguous float64 (n, C) ndarray with an int64 (n,) target, or a
    value is invalid (negative, NaN, a row sum off 1 by more than ``tol``, a
    label out of range): the caller's general path then computes or raises.

    >>> import numpy as np
    >>> s = top_label_sums(np.array([[0.9, 0.1], [0.4, 0.6]]), np.array([0, 0]), np.linspace(0, 1, 3), 1e-9)
    >>> s is None or s.tolist() == [[0.0, 0.0, 0.0], [2.0, 1.5, 1.0]]
    True
    """
    if not _plain(probs, target, 2):
        return None
    B = edges.shape[0] - 1
    counts, correct = np.empty(B, dtype=np.int64), np.empty(B, dtype=np.int64)
    sum_conf = np.empty(B)
    if _native.top_label_bins(probs, target, np.ascontiguousarray(edges, np.float64), counts, sum_conf, correct,
                                   float(tol)):  # fmt: skip
        return None
    return np.stack([counts.astype(np.float64), sum_conf, correct.astype(np.float64)], axis=1)
