r"""The fused softmax cross-entropy kernel (loss rows and gradient in one read of the logits), and its gate.

``_ce`` is a C extension (``_ce.c``) built at install time; it is optional:
where it did not build, :data:`AVAILABLE` is False, :func:`ce_rows` returns
None and the caller's NumPy path computes the same numbers.

Per row :math:`i` of logits :math:`z` (classes along the last axis), with
:math:`\mathrm{lse} = m + \log\sum_c e^{z_c - m}` (:math:`m` the row maximum)
and :math:`s = \mathrm{softmax}(z)`:

- class index :math:`y`, class weights :math:`w` (ones if None),
  :math:`W = \sum_c w_c`, label smoothing :math:`a`:

  .. math:: l = (1 - a)\, w_y (\mathrm{lse} - z_y) + \tfrac{a}{C} \sum_c w_c (\mathrm{lse} - z_c)

  .. math:: g_c = r \left(s_c \big((1 - a) w_y + a W / C\big) - \tfrac{a}{C} w_c - (1 - a) w_y [c = y]\right)

- probabilities :math:`t`, :math:`t'_c = ((1 - a) t_c + a / C)\, w_c`, :math:`T = \sum_c t'_c`:
  :math:`l = \sum_{c:\, t'_c > 0} t'_c (\mathrm{lse} - z_c)`, :math:`g_c = r (s_c T - t'_c)`,

where :math:`r` is the per-row gradient scale ``rowc`` (the reduction's coefficient); the formulas of
:func:`losslab.cross_entropy` and its gradient.

Numerics: float32 and bfloat16 logits compute in float32 (bfloat16 widened exactly, the gradient
rounded back to nearest-even), float64 in double; the row maximum is subtracted, so logits of
:math:`\pm 10^4` are exact; the log-sum-exp, the loss rows and the target class's gradient are
computed in double. ``-inf`` logits mask classes; a row whose loss is not finite (a NaN or ``+inf``
logit, all ``-inf``, a ``-inf`` logit the target or the smoothing needs) is reported, not computed.
The exponentials are the kernel's own polynomials (float32: relative error about 1.2e-7; float64:
about 1 ulp; AVX-512 or AVX2 chosen at run time, libm elsewhere), and sums run in another order than
NumPy's, so results agree with the NumPy path to rounding, not to the bit; they do not depend on the
number of threads, nor on whether ``out`` is given or is ``z``.

Threads: :func:`threads` (the user's setting, fewer for small inputs); the GIL is released throughout.
On the 2-core development machine (``benchmarks/bench_fused_ce_kernel.py``, 4096 x 32000 float32,
2 threads) the in-place gradient takes about 0.8x the time of a warm ``np.copyto`` of the logits, and
into a fresh buffer about 0.7x ``np.array(z)``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

try:
    from . import _ce  # type: ignore[attr-defined,unused-ignore]  # the C extension; its stub is _ce.pyi
except ImportError:  # no compiler at install time: the NumPy paths serve
    _ce = None  # type: ignore[assignment]  # AVAILABLE says which

__all__ = ["AVAILABLE", "MIN_WORK_PER_THREAD", "OK", "BAD_LABEL", "NONFINITE", "BAD_SOFT_ROW", "ce_rows", "threads"]

#: Whether the compiled kernel is importable.
AVAILABLE = _ce is not None

#: Status codes of :func:`ce_rows`: all rows computed; a label outside [0, C) that is not ``ignore_index``
#: (nothing written; the index is the label's); some rows with no finite loss (those rows not written,
#: their loss NaN; the index is the first); a soft-target row with an entry outside [0, 1] or a sum off 1
#: (the index is the first such row).
OK, BAD_LABEL, NONFINITE, BAD_SOFT_ROW = 0, 1, 2, 3

#: Below this many logits per thread, a thread costs more (tens of microseconds) than it saves.
MIN_WORK_PER_THREAD = 2**16

_KINDS = {np.dtype(np.float32): 0, np.dtype(np.float64): 1}
_BF16 = 2


def _env_threads(name: str) -> int | None:
    try:
        n = int(os.environ.get(name, "").split(",")[0])  # OMP_NUM_THREADS may be a list per nesting level
    except ValueError:
        return None
    return n if n >= 1 else None


def _user_threads() -> int:
    """The user's thread setting: ``LOSSLAB_NUM_THREADS``, else ``OMP_NUM_THREADS``, else the usable CPUs."""
    for name in ("LOSSLAB_NUM_THREADS", "OMP_NUM_THREADS"):
        n = _env_threads(name)
        if n is not None:
            return n
    if hasattr(os, "sched_getaffinity"):  # the CPUs this process may run on (containers, taskset)
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def threads(work: int, requested: int | None = None) -> int:
    """The number of threads for ``work`` logits: ``requested`` (e.g. ``torch.get_num_threads()``) or the
    user's setting (``LOSSLAB_NUM_THREADS``, else ``OMP_NUM_THREADS``, else the CPUs this process may use),
    capped so that each thread has at least :data:`MIN_WORK_PER_THREAD` logits; at least 1.

    >>> threads(10, requested=8), threads(2**20, requested=4), threads(2**20, requested=0)
    (1, 4, 1)
    """
    n = _user_threads() if requested is None else int(requested)
    return max(1, min(n, int(work) // MIN_WORK_PER_THREAD))


def _bf16_bits(a: Any, bfloat16: bool) -> np.ndarray | None:
    """A bfloat16 array's bits as uint16 (a view), or None: ml_dtypes' bfloat16, or int16/uint16 given as bf16."""
    if a.dtype.name == "bfloat16" and a.dtype.itemsize == 2:
        return a.view(np.uint16)
    if bfloat16 and a.dtype in (np.dtype(np.int16), np.dtype(np.uint16)):
        return a
    return None


def _number(x: Any) -> float | None:
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        return None
    return float(x)


def ce_rows(
    z: Any,
    target: Any,
    *,
    rowc: Any,
    class_weight: Any = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    out: Any = None,
    tol: float | None = None,
    nthreads: int | None = None,
    bfloat16: bool = False,
) -> tuple[np.ndarray, int, int] | None:
    """Per-row softmax cross-entropy of ``z`` (N, C) and, into ``out``, its gradient times ``rowc``.

    Parameters
    ----------
    z : C-contiguous float32, float64 or bfloat16 ndarray (N, C); bfloat16 is ``ml_dtypes.bfloat16`` or
        int16/uint16 holding the bits with ``bfloat16=True``.
    target : integer class indices (N,) (cast to int64, O(N)), or probabilities (N, C), C-contiguous,
        float64 for float64 logits and float32 otherwise.
    rowc : float, or array (N,) (cast to float64): each row's gradient scale.
    class_weight : array (C,), finite and non-negative, optional.
    ignore_index : int, optional: rows with this label get loss 0 and gradient 0, their logits unread.
    label_smoothing : float in [0, 1].
    out : None (loss rows only), or a writable C-contiguous array like ``z`` (``z`` itself: in place).
    tol : how far a probability row may sum from 1; default that of :func:`losslab.cross_entropy`,
        ``max(1e-4, 8 C eps)`` of the logits' dtype.
    nthreads : threads to use; default :func:`threads` of ``N * C``.

    Returns ``(loss_rows, status, index)`` (see :data:`OK` ...: a row the kernel could not compute is
    NaN in ``loss_rows`` and unwritten in ``out``), or None, touching nothing, when the kernel is not
    built or the inputs are not plain (a dtype, layout or shape other than the above, C = 0, an option
    out of its range): the caller's general path then computes or raises.

    >>> import numpy as np
    >>> z = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, -np.inf]])
    >>> g = np.empty_like(z)
    >>> r = ce_rows(z, np.array([0, 1]), rowc=1.0, out=g)
    >>> r is None or (r[1:] == (0, -1) and r[0].round(4).tolist() == [0.1698, 0.6931])
    True
    >>> r is None or g[1].tolist() == [0.5, -0.5, 0.0]
    True
    """
    if _ce is None or type(z) is not np.ndarray or z.ndim != 2 or not (z.flags.c_contiguous and z.flags.aligned):
        return None
    N, C = z.shape
    if C == 0:
        return None
    kind = _KINDS.get(z.dtype)
    eps = float(np.finfo(z.dtype).eps) if kind is not None else 2.0**-7
    if kind is None:
        bits = _bf16_bits(z, bfloat16)
        if bits is None:
            return None
        z, kind = bits, _BF16
    alpha = _number(label_smoothing)
    if alpha is None or not 0.0 <= alpha <= 1.0:
        return None
    if type(target) is not np.ndarray:
        return None
    if target.ndim == 1 and target.shape[0] == N and (target.dtype.kind in "iu" or target.dtype == np.bool_):
        if target.dtype == np.uint64 and target.size and int(target.max()) >= 2**63:
            return None  # would wrap negative in int64
        target = np.ascontiguousarray(target, dtype=np.int64)
    elif target.shape == (N, C) and target.dtype == (np.float64 if kind == 1 else np.float32):
        if not (target.flags.c_contiguous and target.flags.aligned) or ignore_index is not None:
            return None
    else:
        return None
    if ignore_index is not None:
        if isinstance(ignore_index, (bool, np.bool_)) or not isinstance(ignore_index, (int, np.integer)):
            return None
        ignore_index = int(ignore_index)
        if not -(2**63) <= ignore_index < 2**63:
            return None
    scale = _number(rowc)
    if scale is None:
        if type(rowc) is not np.ndarray or rowc.shape != (N,):
            return None
        rowc_arg: Any = np.ascontiguousarray(rowc, dtype=np.float64)
    else:
        rowc_arg = scale
    cw = None
    if class_weight is not None:
        if type(class_weight) is not np.ndarray or class_weight.shape != (C,):
            return None
        cw = np.ascontiguousarray(class_weight, dtype=np.float64)
        if not bool(np.all((cw >= 0) & (cw < np.inf))):
            return None
    if out is not None:
        if type(out) is not np.ndarray or out.shape != (N, C):
            return None
        if not (out.flags.c_contiguous and out.flags.aligned and out.flags.writeable):
            return None
        if kind == _BF16:
            bits = _bf16_bits(out, True)
            if bits is None:
                return None
            out = bits
        if out.dtype != z.dtype and not (kind == _BF16 and out.dtype.itemsize == 2):
            return None
        if kind == _BF16 and out.dtype != z.dtype:
            out = out.view(z.dtype)  # int16 and uint16 bits alike
        if np.may_share_memory(out, z) and not _same_start(out, z):
            return None  # a shifted view of z: each row would overwrite logits not yet read
    if tol is None:
        tol = max(1e-4, 8.0 * C * eps)
    n = threads(N * C) if nthreads is None else max(1, int(nthreads))
    loss_rows = np.empty(N, dtype=np.float64)
    status, index = _ce.ce_rows(z, kind, target, rowc_arg, cw, alpha, ignore_index, float(tol), out, loss_rows, n)
    return loss_rows, status, index


def _same_start(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays start at the same address (``out`` is ``z``, or a view of all of it)."""
    return bool(a.__array_interface__["data"][0] == b.__array_interface__["data"][0])
