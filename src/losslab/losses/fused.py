"""Cross-entropy's value and gradient in one pass over the logits: :func:`cross_entropy_and_grad`.

The arithmetic is :func:`~losslab.cross_entropy`'s and its gradient's
(``categorical.py`` holds the formulas); what differs is the memory traffic.
Two calls read the logits twice and compute two exponentials per logit; the
fused C kernel (``kernels/_ce.c``, through :mod:`losslab.kernels.fused_ce`)
reads each row once, keeps it in cache for the softmax and writes the
gradient once, into ``out`` if given, which may be the logits' own buffer.

Only cheap O(rows) work happens here: the labels' range, the ignore mask and
the reduction's coefficients (the one mechanism, :func:`~losslab._reduction.coefficients`,
so loss and gradient agree with the generic path on every weight and
denominator). Anything the kernel does not take (JAX, a class axis that is
not last in memory, traced options, int-valued bool labels...) or any value
it flags (a label out of range, a non-finite row, a soft target row that is
not a distribution) goes to the generic path, which computes the same
numbers or raises its own error, naming the culprit.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, NamedTuple

import numpy as np

from .._kinds import is_numpy, is_torch
from .._reduction import coefficients, is_scalar, prepare_weight
from .._types import Reduction
from .._validation import check_reduction, row_sum_tolerance

__all__ = ["cross_entropy_and_grad"]

_FLOAT = (np.dtype(np.float32), np.dtype(np.float64))


class Plan(NamedTuple):
    """The kernel's arguments for one call, all NumPy, the class axis last and flattened to (N, C)."""

    z: np.ndarray  # (N, C) logits (or the int16 bits of bfloat16 ones)
    target: np.ndarray  # int64 (N,) class indices, or (N, C) probabilities in the compute dtype
    rowc: Any  # the reduction's coefficient per row: a float, or float64 (N,)
    c: Any  # the same coefficient as ``coefficients`` returned it (None, float or an array of the batch shape)
    class_weight: np.ndarray | None
    ignore_index: int | None
    alpha: float
    tol: float
    batch: tuple[int, ...]
    bf16: bool


def _is_bf16(dtype: Any) -> bool:
    return getattr(dtype, "name", "") == "bfloat16" and dtype.itemsize == 2


def plan(
    z: Any, target: Any, axis: Any, class_weight: Any, ignore_index: Any, label_smoothing: Any, reduction: Any,
    weight: Any, *, bf16: bool = False,
) -> Plan | None:  # fmt: skip
    """The fused kernel's plan for NumPy arguments, or None where the generic path must run.

    ``bf16=True`` says that ``z`` (int16) holds bfloat16 bits (torch's bfloat16 seen through NumPy).
    An argument error raised here is the generic path's own (the same helpers raise it).
    """
    from ..kernels import fused_ce

    if not fused_ce.AVAILABLE or type(z) is not np.ndarray or not z.flags.c_contiguous or z.ndim == 0:
        return None
    if bf16:
        if z.dtype != np.int16:
            return None
    elif _is_bf16(z.dtype):
        bf16 = True
    elif z.dtype not in _FLOAT:
        return None
    if type(axis) is not int or axis not in (-1, z.ndim - 1) or reduction not in ("none", "mean", "sum"):
        return None
    if type(label_smoothing) not in (float, int) or not 0 <= label_smoothing <= 1:
        return None
    if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral)):
        return None
    if type(target) is not np.ndarray or (weight is not None and type(weight) is not np.ndarray):
        return None
    shape = z.shape
    C, batch = shape[-1], shape[:-1]
    N = math.prod(batch)
    if C == 0 or N == 0:
        return None
    cdt = np.dtype(np.float32) if bf16 else z.dtype
    cw = None
    if class_weight is not None:
        if type(class_weight) is not np.ndarray or class_weight.shape != (C,) or class_weight.dtype.kind != "f":
            return None
        cw = np.ascontiguousarray(class_weight, dtype=np.float64)
        if not bool(np.all((cw >= 0) & (cw < math.inf))):
            return None
    check_reduction(reduction)
    w = prepare_weight(np, weight, batch, cdt)
    ii = None if ignore_index is None else int(ignore_index)
    kind = target.dtype.kind
    if kind in "iu" and target.shape == batch:
        y = np.ascontiguousarray(target.reshape(N), dtype=np.int64)
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= C:
            if ii is None or bool(np.any(((y < 0) | (y >= C)) & (y != ii))):
                return None  # the generic path names the label
        mask = None
        if ii is not None and lo <= ii <= hi:
            valid = y != ii
            if not bool(valid.all()):
                mask = valid.reshape(batch).astype(cdt)
        if mask is not None:
            w = mask if w is None else w * mask
        total = None
        if reduction == "mean" and cw is not None:
            safe = y if mask is None else np.where(mask.reshape(N) > 0, y, 0)
            wy = cw.astype(cdt)[safe].reshape(batch)
            total = wy if w is None else wy * w
        zero = "the summed class weights of the targets are 0" if cw is not None else "the total weight is 0"
        if reduction == "mean" and mask is not None and not bool(np.any(mask > 0)):
            zero = "every target is `ignore_index`"
        c = coefficients(np, batch, reduction, w, total=total, zero_total=zero)
        t = y
    elif kind == "f" and target.shape == shape and ii is None and not _is_bf16(target.dtype):
        t = np.ascontiguousarray(target.reshape(N, C), dtype=cdt)
        c = coefficients(np, batch, reduction, w, zero_total="the total weight is 0")
    else:
        return None
    if c is None:
        rowc: Any = 1.0
    elif is_scalar(c):
        rowc = float(c)
    else:
        rowc = np.ascontiguousarray(np.broadcast_to(c, batch).reshape(N), dtype=np.float64)
    # The generic path's tolerance for the logits' own dtype (NumPy has no finfo for bfloat16: eps 2**-7).
    tol = max(1e-4, 8.0 * C * 2.0**-7) if bf16 else row_sum_tolerance(np, cdt, C)
    return Plan(z.reshape(N, C), t, rowc, c, cw, ii, float(label_smoothing), tol, batch, bf16)


def run(p: Plan, out: np.ndarray | None, nthreads: int | None = None) -> np.ndarray | None:
    """The per-row losses (float64, N), the gradient written into ``out`` (N, C) if given; None if flagged."""
    from ..kernels import fused_ce

    res = fused_ce.ce_rows(
        p.z, p.target, rowc=p.rowc, class_weight=p.class_weight, ignore_index=p.ignore_index,
        label_smoothing=p.alpha, out=out, tol=p.tol, nthreads=nthreads, bfloat16=p.bf16,
    )  # fmt: skip
    if res is None or res[1] != 0:
        return None
    return res[0]


def reduce_rows(p: Plan, rows: np.ndarray, reduction: str) -> Any:
    """The reduced (float64) or per-sample (batch-shaped, float64) loss from the kernel's rows."""
    if reduction == "none":
        out = rows if p.c is None else rows * np.broadcast_to(p.c, p.batch).reshape(-1)
        return out.reshape(p.batch)
    if isinstance(p.rowc, float):
        return float(rows.sum()) * p.rowc
    return float(np.dot(rows, p.rowc))


def _numpy(logits, target, axis, class_weight, ignore_index, label_smoothing, reduction, weight, out, grad):
    """``(loss, grad)`` (grad None unless asked) from the kernel on NumPy inputs, or None."""
    p = plan(logits, target, axis, class_weight, ignore_index, label_smoothing, reduction, weight)
    if p is None:
        return None
    g = None
    if grad:
        g = np.empty_like(logits) if out is None else out
    rows = run(p, None if g is None else g.reshape(p.z.shape))
    if rows is None:
        return None
    cdt = np.dtype(np.float32) if p.bf16 else logits.dtype
    value = reduce_rows(p, rows, reduction)
    loss = value.astype(logits.dtype) if reduction == "none" else cdt.type(value)
    return loss, g


def _check_out(logits: Any, out: Any) -> None:
    if is_numpy(logits):
        if type(out) is not np.ndarray:
            raise TypeError(f"`out` must be a NumPy array like `logits`; got {type(out).__name__}")
        if not out.flags.writeable:
            raise ValueError("`out` must be writable; got a read-only array")
        overlap = np.shares_memory(out, logits)
        same = out.__array_interface__["data"][0] == logits.__array_interface__["data"][0]
    elif is_torch(logits):
        import torch

        if not isinstance(out, torch.Tensor):
            raise TypeError(f"`out` must be a torch tensor like `logits`; got {type(out).__name__}")
        if out.device != logits.device:
            raise ValueError(f"`out` must be on the logits' device {logits.device}; got {out.device}")
        if out.requires_grad:
            raise ValueError("`out` must not require grad (the gradient is written into it)")
        overlap = out.untyped_storage().data_ptr() == logits.untyped_storage().data_ptr()
        same = out.data_ptr() == logits.data_ptr() and out.stride() == logits.stride()
    else:
        raise TypeError(
            f"`out` is supported for NumPy arrays and torch tensors; got logits of type {type(logits).__name__} "
            "(JAX arrays are immutable: use the returned gradient)"
        )
    if tuple(out.shape) != tuple(logits.shape) or out.dtype != logits.dtype:
        raise ValueError(
            f"`out` must have the logits' shape {tuple(logits.shape)} and dtype {logits.dtype}; "
            f"got {tuple(out.shape)} and {out.dtype}"
        )
    if overlap and not same:
        raise ValueError("`out` overlaps `logits` without being it: pass out=logits, or a separate buffer")


def cross_entropy_and_grad(
    logits: Any,
    target: Any,
    *,
    axis: int = -1,
    class_weight: Any = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    weight: Any = None,
    out: Any = None,
) -> tuple[Any, Any]:
    r""":func:`~losslab.cross_entropy` and its gradient w.r.t. the logits, from one pass over them.

    .. math:: l_i = \log\sum_c e^{z_{ic}} - \sum_c t_{ic} z_{ic}, \qquad
              \frac{\partial L}{\partial z_{ic}} = c_i\,(\mathrm{softmax}(z_i)_c \textstyle\sum_k t_{ik} - t_{ic})

    with the smoothed, class-weighted targets and the reduction's coefficients
    :math:`c_i` of :func:`~losslab.cross_entropy` (all its options, the same
    values: ``loss`` equals ``cross_entropy(...)`` and ``grad`` equals
    ``grad.cross_entropy(...)`` to rounding).

    Parameters
    ----------
    logits, target, axis, class_weight, ignore_index, label_smoothing, reduction, weight
        As for :func:`~losslab.cross_entropy`.
    out : array like ``logits``, optional
        Where to write the gradient; ``out=logits`` overwrites the logits with
        it, so the call needs no memory beyond the inputs (Liger-Kernel's trick).
        If an error is raised, ``out``'s contents are unspecified (the rows
        named by the error keep their values).

    Returns
    -------
    (loss, grad)
        ``grad`` is ``out`` when given.

    Numerics: the fused kernel (NumPy float32, float64 and bfloat16 arrays,
    and CPU torch tensors, class axis last and C-contiguous) subtracts each
    row's maximum, computes its exponentials once in float32 SIMD (float64 for
    float64) and accumulates the row's loss in float64. Other inputs (JAX,
    other layouts, a machine where the kernel did not build) take the
    generic two-call path, which gives the same values.

    >>> import numpy as np
    >>> loss, g = cross_entropy_and_grad(np.array([[0.0, 0.0]]), np.array([0]))
    >>> round(float(loss), 6), g.tolist()
    (0.693147, [[-0.5, 0.5]])
    """
    from . import categorical

    if out is not None:
        _check_out(logits, out)
    args = (logits, target, axis, class_weight, ignore_index, label_smoothing, reduction, weight)
    if is_numpy(logits):
        res = _numpy(*args, out, True)
        if res is not None:
            return res
    elif is_torch(logits):
        from ..kernels import torch_ce

        res = torch_ce.value_and_grad(*args, out)
        if res is not None:
            return res
    loss = categorical._cross_entropy(*args, False)
    g = categorical._cross_entropy(*args, True)
    if out is None:
        return loss, g
    if is_numpy(out):
        np.copyto(out, g)
    else:
        out.copy_(g)
    return loss, out
