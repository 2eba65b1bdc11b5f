"""The row-chunk sweep behind :func:`losslab.losses.linear.linear_cross_entropy`.

A :class:`Plan` holds the checked inputs, flattened to ``N`` rows. :func:`sweep` walks them in
chunks of ``chunk`` rows: one ``(chunk, V)`` buffer receives the chunk's logits
``H_chunk @ W.T + b``, :func:`_chunk_step` turns it in place into the gradient rows ``G``
(returning the per-row losses), and the gradients follow by two matrix products, ``dH_chunk =
G @ W`` and ``dW += G.T @ H_chunk`` (``db += G.sum(0)``), accumulated in place (``addmm_``; BLAS
``gemm`` with ``beta=1`` for NumPy). No ``N x V`` array exists, nor any ``V x H`` temporary: the
peak extra memory is the gradients plus one chunk. The chunk step is a handful of whole-chunk
operations, not a loop over small slices: each parallel operation is a barrier for torch's
threads, and on a busy machine thousands of them cost more than the cache they would save.

Per row, with ``z' = z - max(z)`` (so every ``lse' - z'_c >= 0``: no cancellation), ``lse' =
log sum exp z'``, class weights ``w`` and smoothing ``a`` (``t' = (1 - a) onehot(y) + a / V``):

    hard:  l = (1 - a) w_y (lse' - z'_y) + a (sum(w) lse' - w . z') / V
           g = r [softmax(z) ((1 - a) w_y + a sum(w) / V) - (1 - a) w_y onehot(y) - a w / V]
    soft:  l = sum_c u_c (lse' - z'_c),  u = w * ((1 - a) t + a / V)   (terms with u_c = 0 are 0)
           g = r [softmax(z) sum(u) - u]

``r`` is the row's reduction coefficient (see :mod:`losslab._reduction`; 0 for ignored rows).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from .._kinds import is_torch
from .._validation import first_error, fmt, nonfinite_error, overflow_error, position, value_at
from ._classes import _row

__all__: list[str] = []

_LOGITS = "the logits `hidden @ weight.T + bias`"
# One chunk of logits stays under this many bytes (the default ``chunk_rows``). Tuned on
# benchmarks/bench_linear_ce.py (N=4096, H=1024, V=32000 float32, 2 cores): 64 MiB chunks ran
# 0.8-0.9x the time of the materialised logits where 32 MiB ran 0.9-1.0x (the V x H gradient is
# read and written once per chunk), at 0.14x the peak memory (0.12x with 32 MiB).
CHUNK_BYTES = 64 << 20


@dataclasses.dataclass
class Plan:
    """Checked inputs as rows: ``hidden`` (N, H) and ``weight`` (V, H) in the matmul dtype, ``bias`` (V,)
    or None, ``target`` (N,) raw class indices or (N, V) probabilities, ``cw`` (V,) in ``cdt``."""

    hidden: Any
    weight: Any
    bias: Any
    target: Any
    hard: bool
    cw: Any
    ignore_index: int | None
    alpha: float
    cdt: Any  # the compute dtype of the chunk buffer (float32 for half precision)
    out_dtype: Any  # the inputs' dtype: that of the gradients
    batch: tuple[int, ...]
    chunk: int

    @property
    def n(self) -> int:
        return int(self.hidden.shape[0])


def default_chunk_rows(num_classes: int, itemsize: int) -> int:
    """As many rows as keep one chunk of logits under :data:`CHUNK_BYTES`, at least 1."""
    return max(1, CHUNK_BYTES // max(1, num_classes * itemsize))


def _col(x: Any) -> Any:
    """A per-row value as a column (a scalar as it is)."""
    return x[:, None] if getattr(x, "ndim", 0) else x


def _chunk_step(z: Any, target_chunk: Any, rowc_chunk: Any, class_weight: Any, ignore_index: Any, alpha: float,
                *, grad: bool = True) -> Any:  # fmt: skip
    """Per-row losses of one chunk of logits ``z`` (B, V); the gradient rows are written into ``z``.

    ``target_chunk``: (B,) class indices (``ignore_index`` ones allowed) or (B, V) probabilities;
    ``rowc_chunk``: None (1), a number or (B,) coefficients scaling the gradient rows (not the
    returned losses, which are the unscaled ``l`` of the module docstring; ignored rows give 0
    and a gradient row of 0 whatever their logits). With ``grad=False`` ``z`` is left unspecified.
    Non-finite losses are returned as they come (the caller diagnoses them).
    """
    if is_torch(z):
        return _step_torch(z, target_chunk, rowc_chunk, class_weight, ignore_index, alpha, grad)
    return _step_numpy(z, target_chunk, rowc_chunk, class_weight, ignore_index, alpha, grad)


def _step_numpy(z, t, r, cw, ignore_index, alpha, grad):
    B, V = z.shape
    r = 1.0 if r is None else r
    hard = t.ndim == 1
    valid = None
    if hard and ignore_index is not None:
        ignored = t == ignore_index
        if ignored.any():  # their logits (NaN, -inf) never reach the arithmetic
            z[ignored] = 0
            t = np.where(ignored, 0, t)
            valid = ~ignored
            r = r * valid.astype(z.dtype)
    m = z.max(axis=1)
    np.copyto(m, 0, where=~np.isfinite(m))  # a row of -inf (or inf/NaN) is diagnosed from its loss
    z -= m[:, None]
    if hard:
        zy = np.take_along_axis(z, t[:, None], axis=1)[:, 0]
        wy = None if cw is None else cw[t]
        if alpha:
            zbar = z.sum(axis=1) if cw is None else z @ cw
    else:
        u = (1.0 - alpha) * t + alpha / V if alpha else t
        if cw is not None:
            u = u * cw
        uz = u * z
        np.copyto(uz, 0, where=u == 0)  # 0 * (-inf): a class the target does not use
        usum, uz = u.sum(axis=1), uz.sum(axis=1)
    np.exp(z, out=z)
    s = z.sum(axis=1)
    lse = np.log(s)
    if hard:
        loss = lse - zy if wy is None else wy * (lse - zy)
        if alpha:
            uniform = lse - zbar / V if cw is None else (cw.sum() * lse - zbar) / V
            loss = (1.0 - alpha) * loss + alpha * uniform
        if valid is not None:
            loss = np.where(valid, loss, 0)
    else:
        loss = lse * usum - uz
    if grad:
        if hard:
            k = (1.0 - alpha) if wy is None else (1.0 - alpha) * wy
            p = 1.0 if cw is None else k + alpha * cw.sum() / V
            z *= _col(r * p / s)
            z[np.arange(B), t] -= r * k
            if alpha:
                z -= _col(r * (alpha / V)) if cw is None else np.multiply.outer(r * (alpha / V), cw)
        else:
            z *= _col(r * usum / s)
            z -= _col(r) * u
    return loss


def _step_torch(z, t, r, cw, ignore_index, alpha, grad):
    import torch

    B, V = z.shape
    r = 1.0 if r is None else r
    hard = t.ndim == 1
    valid = None
    if hard and ignore_index is not None:
        ignored = t == ignore_index
        if bool(ignored.any()):
            z.masked_fill_(ignored[:, None], 0)
            t = t.masked_fill(ignored, 0)
            valid = ~ignored
            r = r * valid.to(z.dtype)
    m = z.amax(dim=1)  # not torch.logsumexp: it allocates a temporary of the chunk's size
    m.masked_fill_(~torch.isfinite(m), 0)  # a row of -inf (or inf/NaN) is diagnosed from its loss
    z.sub_(m[:, None])  # z' = z - max <= 0: every loss term below is a sum of non-negative parts
    if hard:
        zy = z.gather(1, t[:, None])[:, 0]
        wy = None if cw is None else cw[t]
        if alpha:
            zbar = z.sum(dim=1) if cw is None else z @ cw
    else:
        u = (1.0 - alpha) * t + alpha / V if alpha else t
        if cw is not None:
            u = u * cw
        usum, uz = u.sum(dim=1), (u * z).masked_fill_(u == 0, 0).sum(dim=1)  # 0 * (-inf): an unused class
    z.exp_()
    s = z.sum(dim=1)
    lse = s.log()
    if hard:
        loss = lse - zy if wy is None else wy * (lse - zy)
        if alpha:
            uniform = lse - zbar / V if cw is None else (cw.sum() * lse - zbar) / V
            loss = (1.0 - alpha) * loss + alpha * uniform
        if valid is not None:
            loss = loss.masked_fill(~valid, 0)
    else:
        loss = lse * usum - uz
    if grad:
        if hard:
            k = (1.0 - alpha) if wy is None else (1.0 - alpha) * wy
            p = 1.0 if cw is None else k + alpha * cw.sum() / V
            z.mul_(_col(r * p / s))
            picked = torch.as_tensor(r * k, dtype=z.dtype, device=z.device).expand(B)
            z.scatter_add_(1, t[:, None], -picked[:, None])
            if alpha:
                if cw is None:
                    z.sub_(_col(r * (alpha / V)))
                else:
                    rr = torch.as_tensor(r, dtype=z.dtype, device=z.device).expand(B)
                    z.addr_(rr, cw, alpha=-alpha / V)
        else:
            z.mul_(_col(r * usum / s))
            z.sub_(_col(r) * u)
    return loss


def sweep(P: Plan, rowc: Any, need: tuple[bool, bool, bool]) -> tuple[Any, Any, Any, Any]:
    """``(loss_rows (N,), dH (N, H), dW (V, H), db (V,))``, the gradients of ``sum_i rowc_i l_i``
    (None where ``need`` says so; ``rowc`` None, a number or (N,)). One pass over the rows."""
    if is_torch(P.hidden):
        return _sweep_torch(P, rowc, need)
    return _sweep_numpy(P, rowc, need)


def _rows(rowc: Any, lo: int, hi: int) -> Any:
    return rowc[lo:hi] if getattr(rowc, "ndim", 0) else rowc


def _sweep_numpy(P, rowc, need):
    from scipy.linalg.blas import get_blas_funcs

    h, W, b, N = P.hidden, P.weight, P.bias, P.n
    V, H = W.shape
    grad = any(need)
    B = max(1, min(P.chunk, N))
    buf = np.empty((B, V), P.cdt)
    loss = np.empty(N, P.cdt)
    dH = np.empty((N, H), P.cdt) if need[0] else None
    dW = (np.empty if N else np.zeros)((V, H), P.cdt) if need[1] else None  # the first chunk overwrites it
    db = np.zeros(V, P.cdt) if need[2] else None
    gemm = get_blas_funcs("gemm", dtype=P.cdt) if dW is not None else None
    for lo in range(0, N, B):
        hi = min(lo + B, N)
        z, hc = buf[: hi - lo], h[lo:hi]
        np.matmul(hc, W.T, out=z)
        if b is not None:
            z += b
        loss[lo:hi] = _chunk_step(z, P.target[lo:hi], _rows(rowc, lo, hi), P.cw, P.ignore_index, P.alpha, grad=grad)
        if dH is not None:
            np.matmul(z, W, out=dH[lo:hi])
        if gemm is not None:  # dW.T (Fortran order) += hc.T @ z, in place: no V x H temporary
            gemm(1.0, hc.T, z.T, beta=float(lo > 0), c=dW.T, trans_b=1, overwrite_c=1)
        if db is not None:
            db += z.sum(axis=0)
    out = tuple(None if g is None else g.astype(P.out_dtype, copy=False) for g in (dH, dW, db))
    return (loss, *out)


def _sweep_torch(P, rowc, need):
    import torch

    h, W, b, N = P.hidden, P.weight, P.bias, P.n
    V, H = W.shape
    grad, half = any(need), P.cdt != h.dtype
    B = max(1, min(P.chunk, N))
    dev = h.device
    buf = torch.empty((B, V), dtype=P.cdt, device=dev)
    mbuf = torch.empty((B, V), dtype=h.dtype, device=dev) if half else buf
    loss = torch.empty(N, dtype=P.cdt, device=dev)
    dH = torch.empty((N, H), dtype=h.dtype, device=dev) if need[0] else None
    dW = (torch.empty if N else torch.zeros)((V, H), dtype=P.cdt, device=dev) if need[1] else None  # see below
    db = torch.zeros(V, dtype=P.cdt, device=dev) if need[2] else None
    for lo in range(0, N, B):
        hi = min(lo + B, N)
        z, zm, hc = buf[: hi - lo], mbuf[: hi - lo], h[lo:hi]
        if b is None:
            torch.mm(hc, W.t(), out=zm)
        else:
            torch.addmm(b, hc, W.t(), out=zm)
        if half:
            z.copy_(zm)
        loss[lo:hi] = _chunk_step(z, P.target[lo:hi], _rows(rowc, lo, hi), P.cw, P.ignore_index, P.alpha, grad=grad)
        if half and (dH is not None or dW is not None):
            zm.copy_(z)  # G in the inputs' dtype for the products
        if dH is not None:
            torch.mm(zm, W, out=dH[lo:hi])
        if dW is not None:
            if half:  # a (V, H) product in half precision (a temporary), accumulated in float32
                part = torch.mm(zm.t(), hc)
                (dW.add_ if lo else dW.copy_)(part)
            else:
                dW.addmm_(z.t(), hc, beta=float(lo > 0))  # beta 0 first: the buffer was never zeroed
        if db is not None:
            db.add_(z.sum(dim=0))
    out = tuple(None if g is None else g.to(P.out_dtype) for g in (dH, dW, db))
    return (loss, *out)


def diagnose(xp, P: Plan, loss_rows) -> Exception | None:
    """Name the reason the first non-finite row loss is not finite (its logits are recomputed)."""
    i = position(xp, ~xp.isfinite(loss_rows))[0]
    pos = tuple(int(k) for k in np.unravel_index(i, P.batch)) if P.batch else ()
    h_i = P.hidden[i]

    def entry():
        bad = ~xp.isfinite(h_i)
        if not bool(xp.any(bad)):
            return None
        j = position(xp, bad)
        v = value_at(h_i, j)
        what = "NaN" if math.isnan(v) else repr(v)
        return ValueError(
            f"`hidden` contains {what} at index {fmt(pos + j)}; the loss is undefined there: "
            f"drop or impute non-finite entries first"
        )

    def logits():
        z = xp.reshape(xp.reshape(h_i, (1, -1)) @ xp.permute_dims(P.weight, (1, 0)), (-1,))
        z = xp.astype(z if P.bias is None else z + P.bias, P.cdt)
        neg = z == -math.inf
        spurious = neg if P.bias is None else neg & (P.bias > -math.inf)  # -inf not set by the bias
        if bool(xp.any(xp.isnan(z) | (z == math.inf) | spurious)):
            return overflow_error(_LOGITS[4:], P.out_dtype)
        if bool(xp.all(neg)):
            return ValueError(f"{_row(pos)} of {_LOGITS} is -inf for every class; no distribution remains")
        if P.hard:
            y = int(P.target[i])
            if bool(neg[y]):
                return ValueError(
                    f"the target class {y} of {_row(pos, 'sample')} has logit -inf (probability 0), so its "
                    f"cross-entropy is infinite; unmask the target class"
                )
            if P.alpha > 0 and bool(xp.any(neg)):
                return ValueError(
                    "`label_smoothing` puts probability on every class, but some logits are -inf "
                    "(masked): the smoothed cross-entropy is infinite; drop masked classes or "
                    "use label_smoothing=0"
                )
        elif bool(xp.any(neg & (P.target[i] > 0))):
            return ValueError(f"`target` gives positive probability to a class whose logit is -inf in {_row(pos)}")
        return None

    return first_error(
        entry,
        lambda: nonfinite_error(xp, "weight", P.weight),
        lambda: nonfinite_error(xp, "bias", P.bias, allow_neg_inf=True),
        logits,
        lambda: overflow_error("cross-entropy", P.out_dtype),
    )
