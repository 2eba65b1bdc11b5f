"""Input guards shared by the calibration metrics and calibrators: masked arrays, bin memory, huge weights.

* NumPy masked arrays are refused (the message of :mod:`losslab._array`,
  naming ``.filled()`` and ``.compressed()``), as the losses refuse them:
  ``np.asarray`` would drop the mask and count the masked entries.
* ``n_bins`` is checked against memory **before** anything is allocated: the
  per-bin arrays one call needs must fit in :data:`BIN_MEMORY_LIMIT` bytes
  (1 GiB). The rule is on memory, not on the number of samples, because the
  memory is what fails (a classwise ECE over 1000 classes with 10**6 bins
  needs 24 GB, a top-label one 100 MB); more bins than samples is allowed and
  merely leaves bins empty.
* Weights are divided by a power of two (exactly, so no ratio changes) when
  their sum would overflow float64, or multiplied by one when they are all so
  small (below 2**-200) that their products with probabilities would lose
  precision as subnormal numbers (weights of 1e-320 hold three digits).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._array import _masked_error

__all__ = ["BIN_MEMORY_LIMIT", "check_bin_memory", "fmt_bytes", "refuse_masked", "weight_exponent"]

BIN_MEMORY_LIMIT = 1 << 30  # bytes of per-bin arrays that one call may allocate


def refuse_masked(**arrays: Any) -> None:
    """TypeError for the first NumPy masked array among ``arrays`` (name=value)."""
    for name, a in arrays.items():
        if isinstance(a, np.ma.MaskedArray):
            raise _masked_error(name)


def fmt_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'; the unit grows up to EiB."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.3g} EiB"


def check_bin_memory(n_bins: int, per_bin: int, what: str) -> None:
    """ValueError when ``n_bins`` bins x ``per_bin`` float64 entries per bin exceed :data:`BIN_MEMORY_LIMIT`.

    ``per_bin`` counts every float64 a bin costs at the call's peak (its sums
    and the temporaries of the same size); ``what`` names the call's arrays.
    """
    need = 8 * int(n_bins) * int(per_bin)  # Python integers: n_bins=10**400 is refused, not an OverflowError
    if need > BIN_MEMORY_LIMIT:
        most = max(1, BIN_MEMORY_LIMIT // (8 * int(per_bin)))
        size = fmt_bytes(float(need)) if need < 2**1000 else f"10**{len(str(need)) - 1} bytes"
        shown = str(n_bins) if n_bins < 10**18 else f"{str(n_bins)[0]}e{len(str(n_bins)) - 1} (about)"
        raise ValueError(
            f"`n_bins`={shown} would need about {size} for {what}, over the limit of "
            f"{fmt_bytes(BIN_MEMORY_LIMIT)} (losslab.calibration._guards.BIN_MEMORY_LIMIT); use at most {most} "
            f"bins here (a few tens are usual: more bins than samples only leaves bins empty)"
        )


TINY_WEIGHT = 2.0**-200


def weight_exponent(w: np.ndarray) -> int:
    """``e`` such that ``np.ldexp(w, -e)`` (exact) has its largest entry in [0.5, 1) when ``w`` needs it:
    when its sum could overflow float64 or its entries are all below :data:`TINY_WEIGHT`; 0 otherwise.

    ``w`` is finite and non-negative (checked by the caller).
    """
    if w.size == 0:
        return 0
    top = float(np.max(w))
    if not top > 0 or TINY_WEIGHT <= top < np.finfo(np.float64).max / (4 * w.size):
        return 0
    return math.frexp(top)[1]
